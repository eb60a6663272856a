package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/stacklens/stacklens/server/auth"
)

// routes builds the mux and wraps it in the server-wide middleware.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", metricsHandler(s.registry))

	upload, read := s.cfg.UploadTimeout, s.cfg.RequestTimeout
	uploadScope := []auth.Scope{auth.ScopeUpload}
	listScope := []auth.Scope{auth.ScopeUpload, auth.ScopeSymbolicate}
	const p = "/api/v1/projects/{project}"
	mux.Handle("PUT "+p+"/files", s.project(uploadScope, upload, s.putFile))
	mux.Handle("POST "+p+"/artifact-bundles", s.project(uploadScope, upload, s.postBundle))
	mux.Handle("POST "+p+"/debug-files", s.project(uploadScope, upload, s.postDebugFiles))
	mux.Handle("GET "+p+"/debug-files", s.project(listScope, read, s.listDebugFiles))
	mux.Handle("DELETE "+p+"/debug-files", s.project([]auth.Scope{auth.ScopeAdmin}, read, s.deleteDebugFiles))
	mux.Handle("GET "+p+"/releases/{release}/files", s.project(listScope, read, s.listReleaseFiles))
	mux.Handle("POST "+p+"/symbolicate", s.project([]auth.Scope{auth.ScopeSymbolicate}, read, s.symbolicate))
	mux.Handle("/api/0/", s.sentryAPI())
	if s.deps.Viewer != nil {
		mux.Handle("GET /{$}", s.deps.Viewer)
		mux.Handle("GET /assets/", s.deps.Viewer)
	}
	return s.outer(mux)
}

// projectHandler serves one v1 route for an authenticated, authorised caller
// and a valid project name. A returned error becomes the JSON error reply.
type projectHandler func(w http.ResponseWriter, r *http.Request, project string) error

// project wraps h with authentication (401), project-name validation (400),
// authorisation for any of scopes (403) and a time limit.
func (s *Server) project(scopes []auth.Scope, timeout time.Duration, h projectHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		principal, err := s.auth.Authenticate(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		project := r.PathValue("project")
		if !auth.ValidProject(project) {
			s.writeError(w, r, badRequest("invalid project name %q: want 1 to 64 of A-Z a-z 0-9 . _ - (not . or ..)", project))
			return
		}
		if !principal.AllowsAny(project, scopes...) {
			names := make([]string, len(scopes))
			for i, sc := range scopes {
				names[i] = string(sc)
			}
			s.writeError(w, r, fmt.Errorf("%w: the token needs the %s scope for project %q", auth.ErrForbidden, strings.Join(names, " or "), project))
			return
		}
		ctx, cancel := context.WithTimeout(auth.NewContext(r.Context(), principal), timeout)
		defer cancel()
		// Reading the body does not watch the context: a deadline on the
		// connection stops a client that sends too slowly.
		if deadline, ok := ctx.Deadline(); ok {
			_ = http.NewResponseController(w).SetReadDeadline(deadline)
		}
		if err := h(w, r.WithContext(ctx), project); err != nil {
			s.writeError(w, r.WithContext(ctx), err)
		}
	})
}

// sentryAPI authenticates requests to /api/0/ and hands them to
// Deps.SentryAPI, which checks scopes itself with auth.FromContext.
func (s *Server) sentryAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		principal, err := s.auth.Authenticate(r)
		if err != nil {
			// Sentry's API answers {"detail": …}; sentry-cli prints that
			// string as the reason, but dumps any other shape raw.
			status, _ := classify(err)
			body, _ := json.Marshal(map[string]string{"detail": err.Error()})
			writeBody(w, status, body)
			return
		}
		if s.deps.SentryAPI == nil {
			writeJSONError(w, http.StatusNotFound, "not_found", "the Sentry-compatible API is not available in this build")
			return
		}
		ctx, cancel := context.WithTimeout(auth.NewContext(r.Context(), principal), s.cfg.UploadTimeout)
		defer cancel()
		s.deps.SentryAPI.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := s.deps.Store.Ping(ctx); err != nil {
		s.logger.WarnContext(ctx, "object store unreachable", "err", err)
		writeJSONError(w, http.StatusServiceUnavailable, "store_unavailable", "the object store is unreachable")
		return
	}
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

// outer is the server-wide middleware: metrics by route pattern, access
// log, panic logging, and JSON bodies for the mux's own 404/405 replies.
func (s *Server) outer(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		_, pattern := mux.Handler(r)
		route := pattern
		if route == "" {
			route = "unmatched"
		}
		rec := &statusRecorder{ResponseWriter: w}
		s.metrics.inFlight.Inc()
		defer func() {
			s.metrics.inFlight.Dec()
			v := recover()
			if v != nil && v != http.ErrAbortHandler {
				s.logger.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if !rec.wroteHeader {
					writeJSONError(rec, http.StatusInternalServerError, "internal", "internal error; the server log has the details")
				}
			}
			elapsed := time.Since(start)
			s.metrics.observe(route, rec.code(), elapsed)
			level := s.accessLogLevel(route, rec.code())
			s.logger.Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path, "route", route,
				"status", rec.code(), "bytes", rec.bytes, "duration_ms", float64(elapsed.Microseconds())/1000)
			if v == http.ErrAbortHandler {
				panic(v)
			}
		}()
		var out http.ResponseWriter = rec
		if pattern == "" {
			out = &muxErrorWriter{ResponseWriter: rec}
		}
		mux.ServeHTTP(out, r)
	})
}

func (s *Server) accessLogLevel(route string, status int) slog.Level {
	switch {
	case status >= 500:
		return slog.LevelWarn
	case route == "GET /healthz" || route == "GET /readyz" || route == "GET /metrics":
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// statusRecorder remembers the status and size of a reply.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusRecorder) code() int {
	if !w.wroteHeader {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the connection (flush, deadlines).
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// muxErrorWriter replaces the plain-text 404/405 bodies of http.ServeMux by
// the API's JSON error shape.
type muxErrorWriter struct {
	http.ResponseWriter
	wroteHeader bool
	replaced    bool
}

func (w *muxErrorWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	switch code {
	case http.StatusNotFound:
		w.replaced = true
		writeJSONError(w.ResponseWriter, code, "not_found", "no such endpoint; see the API in README.md")
	case http.StatusMethodNotAllowed:
		w.replaced = true
		allow := w.Header().Get("Allow")
		writeJSONError(w.ResponseWriter, code, "method_not_allowed", "method not allowed; allowed: "+allow)
	default:
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *muxErrorWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// errNotConfigured makes an endpoint whose component is absent answer 501.
func errNotConfigured(what string) error {
	return &requestError{status: http.StatusNotImplemented, code: "not_implemented", msg: what + " are not available in this build"}
}
