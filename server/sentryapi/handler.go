// Package sentryapi serves the subset of Sentry's web API that the
// unmodified sentry-cli (3.x) uses to upload source maps, artifact bundles
// and native debug files, so that `sentry-cli --url http://stacklens…`
// works: chunked uploads, assembly of the chunks into files, and a few
// release endpoints that CI scripts call. The stacklens project is the
// Sentry project slug; the organization is accepted and ignored.
//
// Errors use Sentry's shape, {"detail": "…"}, which sentry-cli prints.
package sentryapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/server/auth"
	"github.com/stacklens/stacklens/sourcemaps"
	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/blobstore"
)

// BundleUploader stores an assembled artifact bundle (sourcemaps.Uploader
// satisfies it).
type BundleUploader interface {
	PutBundle(ctx context.Context, project, release, dist string, zip io.ReaderAt, size int64) (sourcemaps.BundleSummary, error)
}

// DebugFileUploader stores an assembled debug file and reports the objects
// it holds (the debug files store satisfies it).
type DebugFileUploader interface {
	Upload(ctx context.Context, project string, body io.Reader) ([]debugfiles.FileMeta, error)
}

// Deps are what the API needs. Bucket holds the chunks and the API's small
// JSON records (assembly states, releases) under chunks/ and sentry/; when
// it is nil, Blobs' bucket is used. Bundles and DebugFiles may be nil: their
// endpoints then answer 501.
type Deps struct {
	Bucket     storage.Bucket
	Blobs      *blobstore.Store
	Bundles    BundleUploader
	DebugFiles DebugFileUploader
	Logger     *slog.Logger
	Config     Config
}

type handler struct {
	deps Deps
	cfg  Config
	log  *slog.Logger
	mux  *http.ServeMux

	slots chan struct{} // one per assembly allowed to run at once

	mu       sync.Mutex
	inflight map[string]*assembly // by state record key
}

// New returns the handler of the /api/0/ tree. It expects the caller's
// auth.Principal in the request context (auth.NewContext); without one every
// project-scoped action is forbidden.
func New(deps Deps) http.Handler {
	h := &handler{
		deps:     deps,
		cfg:      deps.Config.withDefaults(),
		log:      deps.Logger,
		inflight: make(map[string]*assembly),
	}
	h.slots = make(chan struct{}, h.cfg.MaxAssemblies)
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.deps.Bucket == nil && h.deps.Blobs != nil {
		h.deps.Bucket = h.deps.Blobs.Bucket()
	}
	mux := http.NewServeMux()
	// Methods are dispatched inside the handlers so that a wrong method
	// gets Sentry's JSON error shape rather than ServeMux's plain text.
	mux.HandleFunc("/api/0/{$}", h.serveInfo)
	mux.HandleFunc("/api/0/organizations/{org}/chunk-upload/{$}", h.serveChunkUpload)
	mux.HandleFunc("/api/0/organizations/{org}/artifactbundle/assemble/{$}", h.serveBundleAssemble)
	mux.HandleFunc("/api/0/projects/{org}/{project}/files/difs/assemble/{$}", h.serveDIFAssemble)
	mux.HandleFunc("/api/0/organizations/{org}/releases/{$}", h.serveOrgReleases)
	mux.HandleFunc("/api/0/organizations/{org}/releases/{version}/{$}", h.serveOrgRelease)
	mux.HandleFunc("/api/0/projects/{org}/{project}/releases/{$}", h.serveProjectReleases)
	mux.HandleFunc("/api/0/projects/{org}/{project}/releases/{version}/{$}", h.serveProjectRelease)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeDetail(w, http.StatusNotFound, "The requested resource does not exist")
	})
	h.mux = mux
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// serveInfo answers `sentry-cli info` (and its login check).
func (h *handler) serveInfo(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"version": "0",
		"auth":    nil,
		"user":    nil,
	})
}

func allowMethod(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeDetail(w, http.StatusMethodNotAllowed, "Method \""+r.Method+"\" not allowed.")
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"detail":"internal error encoding the response"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// WriteError writes an error in Sentry's shape, {"detail": "…"}, plus the
// stacklens API's own {"error": {"code", "message"}} beside it, so that one
// client can read every error of the server the same way. The server's auth
// middleware in front of this API should use it: sentry-cli prints the
// detail as the reason ("sentry reported an error: Invalid token (http
// status: 401)"), while a body without "detail" is dumped raw with a
// backtrace; it ignores the extra key.
func WriteError(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, errorBody{Detail: detail})
}

// errorBody is Sentry's error shape: sentry-cli prints Detail as the reason
// and dumps any other shape raw.
type errorBody struct {
	Detail string `json:"detail"`
}

func writeDetail(w http.ResponseWriter, status int, detail string) { WriteError(w, status, detail) }

// decodeJSON reads a bounded JSON request body into v, replying 400/413
// itself when it cannot.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	body := http.MaxBytesReader(w, r.Body, limit)
	if err := json.NewDecoder(body).Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeDetail(w, http.StatusRequestEntityTooLarge, "request body is too large")
			return false
		}
		writeDetail(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

// allowed reports whether the caller may act with scope on project,
// replying 403 itself when not.
func allowed(w http.ResponseWriter, r *http.Request, scope auth.Scope, project string) bool {
	if !auth.ValidProject(project) {
		writeDetail(w, http.StatusBadRequest, "invalid project slug \""+project+"\"")
		return false
	}
	if !auth.FromContext(r.Context()).Allows(scope, project) {
		writeDetail(w, http.StatusForbidden, "You do not have permission to perform this action (needs scope \""+string(scope)+"\" on project \""+project+"\").")
		return false
	}
	return true
}
