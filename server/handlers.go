package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/stacklens/stacklens/sourcemaps"
)

// uploadBody limits r's body to the upload limit, failing at once when the
// announced length is already over it.
func (s *Server) uploadBody(w http.ResponseWriter, r *http.Request) (io.Reader, error) {
	limit := int64(s.cfg.MaxUploadSize)
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	return http.MaxBytesReader(w, r.Body, limit), nil
}

var artifactTypes = map[sourcemaps.ArtifactType]bool{
	"": true, sourcemaps.TypeMinified: true, sourcemaps.TypeSourceMap: true,
	sourcemaps.TypeSource: true, sourcemaps.TypeRAMBundle: true,
}

func (s *Server) putFile(w http.ResponseWriter, r *http.Request, project string) error {
	if s.deps.JS == nil {
		return errNotConfigured("JavaScript artifact uploads")
	}
	q := r.URL.Query()
	f := sourcemaps.FileUpload{
		URL:       q.Get("url"),
		Release:   q.Get("release"),
		Dist:      q.Get("dist"),
		Type:      sourcemaps.ArtifactType(q.Get("type")),
		SourceMap: q.Get("sourcemap"),
		DebugID:   q.Get("debug_id"),
	}
	if !artifactTypes[f.Type] {
		return badRequest("type %q: want minified_source, source_map, source or indexed_ram_bundle (or none to detect it)", f.Type)
	}
	if f.Dist != "" && f.Release == "" {
		return badRequest("dist %q given without a release", f.Dist)
	}
	if f.SourceMap == "" {
		f.SourceMap = r.Header.Get("SourceMap")
	}
	if f.SourceMap == "" {
		f.SourceMap = r.Header.Get("X-SourceMap")
	}
	body, err := s.uploadBody(w, r)
	if err != nil {
		return err
	}
	rec, err := s.deps.JS.PutFile(r.Context(), project, f, body)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusCreated, rec)
	return nil
}

// postBundle spools the zip to a temporary file, because reading a zip needs
// random access (io.ReaderAt) and the body may be far larger than memory.
func (s *Server) postBundle(w http.ResponseWriter, r *http.Request, project string) error {
	if s.deps.JS == nil {
		return errNotConfigured("artifact bundle uploads")
	}
	q := r.URL.Query()
	body, err := s.uploadBody(w, r)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.cfg.TempDir(), "bundle-*.zip")
	if err != nil {
		return fmt.Errorf("spooling bundle: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	size, err := io.Copy(f, body)
	if err != nil {
		return spoolError(err)
	}
	if size == 0 {
		return badRequest("empty request body: want an artifact bundle zip")
	}
	sum, err := s.deps.JS.PutBundle(r.Context(), project, q.Get("release"), q.Get("dist"), f, size)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusCreated, sum)
	return nil
}

// spoolError keeps request-side failures (too large, truncated) recognisable
// and marks the rest as local I/O failures.
func spoolError(err error) error {
	var maxBytes *http.MaxBytesError
	if errors.As(err, &maxBytes) || errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	return fmt.Errorf("spooling request body: %w", err)
}

func (s *Server) postDebugFiles(w http.ResponseWriter, r *http.Request, project string) error {
	if s.deps.DebugFiles == nil {
		return errNotConfigured("debug file uploads")
	}
	body, err := s.uploadBody(w, r)
	if err != nil {
		return err
	}
	files, err := s.deps.DebugFiles.Upload(r.Context(), project, body)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusCreated, nonNil(files))
	return nil
}

func (s *Server) listDebugFiles(w http.ResponseWriter, r *http.Request, project string) error {
	if s.deps.DebugFiles == nil {
		return errNotConfigured("debug files")
	}
	files, err := s.deps.DebugFiles.List(r.Context(), project, r.URL.Query().Get("debug_id"))
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, nonNil(files))
	return nil
}

func (s *Server) deleteDebugFiles(w http.ResponseWriter, r *http.Request, project string) error {
	if s.deps.DebugFiles == nil {
		return errNotConfigured("debug files")
	}
	id := r.URL.Query().Get("debug_id")
	if id == "" {
		return badRequest("missing debug_id query parameter")
	}
	n, err := s.deps.DebugFiles.Delete(r.Context(), project, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return &requestError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("project %q has no debug file with debug_id %q", project, id)}
	}
	s.writeJSON(w, r, http.StatusOK, map[string]int{"deleted": n})
	return nil
}

func (s *Server) listReleaseFiles(w http.ResponseWriter, r *http.Request, project string) error {
	if s.deps.JS == nil {
		return errNotConfigured("JavaScript artifacts")
	}
	release := r.PathValue("release")
	if release == "" {
		return badRequest("empty release")
	}
	files, err := s.deps.JS.ListReleaseFiles(r.Context(), project, release)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, nonNil(files))
	return nil
}

func (s *Server) symbolicate(w http.ResponseWriter, r *http.Request, project string) error {
	if s.deps.Symbolicator == nil {
		return errNotConfigured("symbolication")
	}
	limit := int64(s.cfg.MaxEventSize)
	if r.ContentLength > limit {
		return &http.MaxBytesError{Limit: limit}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return badRequest("empty request body: want a Sentry event JSON object")
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The socket error names addresses; say only what happened.
			return &requestError{status: http.StatusRequestTimeout, code: "timeout", msg: "timeout: the request body did not arrive within the time limit"}
		}
		return badRequest("request body is not valid JSON: %v", err)
	}
	event, ok := v.(map[string]any)
	if !ok {
		return badRequest("request body must be a JSON object (the Sentry event), not %s", jsonKind(v))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			return err
		}
		return badRequest("unexpected data after the event JSON object")
	}
	out, err := s.deps.Symbolicator.Process(r.Context(), project, event)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
