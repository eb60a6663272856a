package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/server/auth"
	"github.com/stacklens/stacklens/sourcemaps"
	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/blobstore"
	"github.com/stacklens/stacklens/symbolicate"
)

// ErrorBody is the JSON shape of every error reply:
// {"error": {"code": "…", "message": "…"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// requestError is an error the server itself detected in a request, with
// the status and code to reply.
type requestError struct {
	status int
	code   string
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{status: http.StatusBadRequest, code: "invalid_input", msg: fmt.Sprintf(format, args...)}
}

// classify maps an error to an HTTP status and an error code. Errors without
// a known meaning are internal (500).
func classify(err error) (status int, code string) {
	var re *requestError
	var maxBytes *http.MaxBytesError
	switch {
	case errors.As(err, &re):
		return re.status, re.code
	case errors.Is(err, auth.ErrUnauthenticated):
		return http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, auth.ErrForbidden):
		return http.StatusForbidden, "forbidden"
	case errors.As(err, &maxBytes), errors.Is(err, blobstore.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, symbolicate.ErrTooManyFrames):
		return http.StatusRequestEntityTooLarge, "too_many_frames"
	case errors.Is(err, symbolicate.ErrInvalidEvent):
		return http.StatusBadRequest, "invalid_event"
	case errors.Is(err, sourcemaps.ErrInvalidInput), errors.Is(err, debugfiles.ErrInvalidInput):
		return http.StatusBadRequest, "invalid_input"
	case errors.Is(err, storage.ErrInvalidKey):
		return http.StatusBadRequest, "invalid_key"
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, sourcemaps.ErrNotFound), errors.Is(err, debugfiles.ErrMissing):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, io.ErrUnexpectedEOF):
		// The client stopped sending before the body it announced was complete.
		return http.StatusBadRequest, "truncated_body"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return http.StatusRequestTimeout, "timeout"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "timeout"
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, "canceled"
	}
	return http.StatusInternalServerError, "internal"
}

// writeError replies err as JSON. Internal errors are logged with their
// detail and replied with a generic message, so internals never leak.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := classify(err)
	msg := err.Error()
	switch {
	case status >= 500 && code == "internal":
		s.logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error; the server log has the details"
	case status >= 500:
		s.logger.WarnContext(r.Context(), "request did not finish", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="stacklens"`)
	}
	writeJSONError(w, status, code, msg)
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	// An ErrorBody of two strings always encodes.
	body, _ := json.Marshal(ErrorBody{Error: ErrorDetail{Code: code, Message: msg}})
	writeBody(w, status, body)
}

// writeJSON replies v as JSON with status.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("encoding response: %w", err))
		return
	}
	writeBody(w, status, body)
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
