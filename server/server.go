// Package server is stacklens's HTTP API: the v1 upload, listing and
// symbolicate endpoints, the mount point of the Sentry-compatible API,
// health and Prometheus endpoints, authentication, limits and graceful
// shutdown. It depends on small interfaces (declared here) rather than on
// the concrete stores, so it is tested with fakes.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/server/auth"
	"github.com/stacklens/stacklens/sourcemaps"
)

// Pinger is the object store, as far as /readyz is concerned.
type Pinger interface {
	Ping(ctx context.Context) error
}

// JSArtifacts stores and lists JavaScript artifacts (sourcemaps.Service).
type JSArtifacts interface {
	PutFile(ctx context.Context, project string, f sourcemaps.FileUpload, body io.Reader) (sourcemaps.FileRecord, error)
	PutBundle(ctx context.Context, project, release, dist string, zip io.ReaderAt, size int64) (sourcemaps.BundleSummary, error)
	ListReleaseFiles(ctx context.Context, project, release string) ([]sourcemaps.FileRecord, error)
}

// DebugFiles stores, lists and deletes native debug files (debugfiles/store).
type DebugFiles interface {
	// Upload stores a raw object file or a zip of them, streamed from body.
	Upload(ctx context.Context, project string, body io.Reader) ([]debugfiles.FileMeta, error)
	// List returns the project's files, only those of debugID when it is not "".
	List(ctx context.Context, project, debugID string) ([]debugfiles.FileMeta, error)
	// Delete removes every file of debugID and returns how many there were.
	Delete(ctx context.Context, project, debugID string) (int, error)
}

// Symbolicator enriches events (symbolicate.Symbolicator).
type Symbolicator interface {
	Process(ctx context.Context, project string, event map[string]any) (map[string]any, error)
}

// Deps are the components the server serves. Store is required; an absent
// component makes its endpoints answer 501.
type Deps struct {
	Store        Pinger
	JS           JSArtifacts
	DebugFiles   DebugFiles
	Symbolicator Symbolicator
	// SentryAPI serves /api/0/ (the Sentry-compatible upload API) behind
	// authentication; nil makes /api/0/ answer 404.
	SentryAPI http.Handler
	// Viewer serves the web viewer at / and /assets/; nil leaves them 404.
	Viewer http.Handler
	// Auth checks tokens; nil loads them from Config.TokensFile and Config.Tokens.
	Auth *auth.Authenticator
}

// Server is the HTTP API. Create with New.
type Server struct {
	cfg      Config
	deps     Deps
	auth     *auth.Authenticator
	logger   *slog.Logger
	registry *prometheus.Registry
	metrics  *httpMetrics
	handler  http.Handler
}

// New validates cfg, loads the tokens and builds the routes. It refuses a
// configuration without tokens that listens on a non-loopback address.
func New(cfg Config, deps Deps, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil {
		return nil, errors.New("server: Deps.Store is required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := deps.Auth
	if a == nil {
		var err error
		if a, err = auth.Load(cfg.TokensFile, cfg.Tokens); err != nil {
			return nil, err
		}
	}
	if a.Open() && !IsLoopback(cfg.Listen) {
		return nil, fmt.Errorf("refusing to listen on %s without authentication: configure tokens (--tokens-file or STACKLENS_TOKENS) or listen on a loopback address such as 127.0.0.1:8080", cfg.Listen)
	}
	if err := os.MkdirAll(cfg.TempDir(), 0o700); err != nil {
		return nil, fmt.Errorf("creating spool directory: %w", err)
	}
	s := &Server{cfg: cfg, deps: deps, auth: a, logger: logger, registry: prometheus.NewRegistry()}
	s.metrics = newHTTPMetrics(s.registry)
	s.handler = s.routes()
	return s, nil
}

// Handler returns the server's root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Registry is the server's own Prometheus registry, served at /metrics;
// other components may register their collectors on it.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// OpenAuth reports whether the server runs without tokens.
func (s *Server) OpenAuth() bool { return s.auth.Open() }

// ListenAndServe listens on Config.Listen and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve answers requests on ln until ctx is done, then stops accepting
// connections and lets in-flight requests finish for at most
// Config.ShutdownTimeout. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		// Request contexts must not derive from ctx: a shutdown signal has to
		// let in-flight requests finish, not cancel them.
		BaseContext: func(net.Listener) context.Context { return context.Background() },
	}
	s.logger.Info("listening", "addr", ln.Addr().String(), "auth", !s.auth.Open(), "storage", s.cfg.Storage)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	s.logger.Info("shutting down; finishing in-flight requests", "timeout", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	if err != nil {
		_ = hs.Close()
		return fmt.Errorf("shutdown: in-flight requests did not finish within %s: %w", s.cfg.ShutdownTimeout, err)
	}
	s.logger.Info("stopped")
	return nil
}
