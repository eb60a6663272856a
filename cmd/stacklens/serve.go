package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	debugstore "github.com/stacklens/stacklens/debugfiles/store"
	"github.com/stacklens/stacklens/server"
	"github.com/stacklens/stacklens/server/sentryapi"
	"github.com/stacklens/stacklens/server/viewer"
	"github.com/stacklens/stacklens/sourcemaps"
	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/blobstore"
	"github.com/stacklens/stacklens/storage/fsstore"
	"github.com/stacklens/stacklens/storage/s3store"
	"github.com/stacklens/stacklens/symbolicate"
)

// serveFlags is everything "stacklens serve" configures.
type serveFlags struct {
	fs     *flag.FlagSet
	server server.Config
	s3     s3store.Config
	js     sourcemaps.Config
	sym    symbolicate.Config
	sentry sentryapi.Config
	debug  debugstore.Config
}

func newServeFlags(stderr io.Writer) *serveFlags {
	f := &serveFlags{fs: newFlagSet("serve", stderr), server: server.DefaultConfig(), js: sourcemaps.DefaultConfig(), sentry: sentryapi.DefaultConfig(), debug: debugstore.DefaultConfig()}
	// The component defaults shown by -h follow the general flags' defaults.
	f.js.CacheBytes = int64(f.server.CacheSize) / 2
	f.js.MaxBundleSize = int64(f.server.MaxDecompressedSize)
	f.debug.CacheBytes = int64(f.server.CacheSize) / 2
	f.debug.MaxDecompressed = int64(f.server.MaxDecompressedSize)
	f.server.RegisterFlags(f.fs)
	f.s3.RegisterFlags(f.fs)
	f.js.RegisterFlags(f.fs)
	f.sentry.RegisterFlags(f.fs)
	// --max-frames is the one frame limit; the pipeline's own flag for it
	// would only be a second name for the same thing.
	copyFlags(f.fs, f.sym.RegisterFlags, "symbolicate.max-frames")
	// Likewise --max-upload-size is the one limit of an upload request body.
	copyFlags(f.fs, f.debug.RegisterFlags, "debugfiles.max-upload-size")
	f.fs.Usage = func() {
		fmt.Fprintf(f.fs.Output(), "usage: stacklens serve [flags]\n\nRuns the HTTP API. Every flag can also be set as STACKLENS_<FLAG>.\n\nflags:\n")
		f.fs.PrintDefaults()
	}
	return f
}

// copyFlags registers on dst the flags register would add, except skip.
func copyFlags(dst *flag.FlagSet, register func(*flag.FlagSet), skip ...string) {
	scratch := flag.NewFlagSet("", flag.ContinueOnError)
	register(scratch)
	skipped := map[string]bool{}
	for _, s := range skip {
		skipped[s] = true
	}
	scratch.VisitAll(func(fl *flag.Flag) {
		if !skipped[fl.Name] {
			dst.Var(fl.Value, fl.Name, fl.Usage)
		}
	})
}

// parse reads args and the environment, then derives the component
// settings that follow the general flags unless they were set themselves.
func (f *serveFlags) parse(args []string) error {
	if err := parseFlags(f.fs, args); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("serve takes no arguments, got %q", f.fs.Args())}
	}
	if !flagGiven(f.fs, "storage") && f.s3.Endpoint != "" {
		f.server.Storage = "s3"
	}
	if f.server.Storage == "fs" && f.s3.Endpoint != "" {
		return &usageError{msg: "--s3.endpoint is set but --storage is fs; use --storage s3"}
	}
	f.sym.MaxFrames = f.server.MaxFrames
	f.debug.MaxUploadSize = int64(f.server.MaxUploadSize)
	// Component flags not given follow the general ones. The memory budget
	// is split between the two parsed-artifact caches.
	derive := map[string]string{
		"sourcemaps.cache-bytes":      strconv.FormatInt(int64(f.server.CacheSize)/2, 10),
		"debugfiles.cache-bytes":      strconv.FormatInt(int64(f.server.CacheSize)/2, 10),
		"sourcemaps.max-bundle-size":  strconv.FormatInt(int64(f.server.MaxDecompressedSize), 10),
		"debugfiles.max-decompressed": strconv.FormatInt(int64(f.server.MaxDecompressedSize), 10),
		"sentry.tmp-dir":              f.server.TempDir(),
		"debugfiles.tmp-dir":          f.server.TempDir(),
	}
	for name, v := range derive {
		if f.fs.Lookup(name) != nil && !flagGiven(f.fs, name) {
			if err := f.fs.Set(name, v); err != nil {
				return err
			}
		}
	}
	return f.server.Validate()
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newServeFlags(stderr)
	if err := f.parse(args); err != nil {
		return err
	}
	cfg := f.server
	logger, err := server.NewLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	if err := prepareDataDir(cfg); err != nil {
		return err
	}
	bucket, err := openBucket(ctx, f)
	if err != nil {
		return err
	}
	defer bucket.Close()

	blobs := blobstore.New(bucket, cfg.TempDir())
	js := sourcemaps.New(f.js, blobs, logger.With("component", "sourcemaps"))
	debugFiles := debugstore.New(f.debug, blobs, logger.With("component", "debugfiles"))
	deps := server.Deps{
		Store:        bucket,
		JS:           js,
		DebugFiles:   debugFiles,
		Symbolicator: symbolicate.New(f.sym, js, debugFiles),
		Viewer:       viewer.Handler(),
	}
	deps.SentryAPI = sentryapi.New(sentryapi.Deps{
		Bucket:     bucket,
		Blobs:      blobs,
		Bundles:    js,
		DebugFiles: debugFiles,
		Logger:     logger.With("component", "sentryapi"),
		Config:     f.sentry,
	})
	srv, err := server.New(cfg, deps, logger)
	if err != nil {
		return err
	}
	if err := srv.RegisterCacheStats("sourcemaps", js.CacheStats); err != nil {
		return err
	}
	if err := srv.RegisterCacheStats("debugfiles", debugFiles.CacheStats); err != nil {
		return err
	}
	sigctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return srv.ListenAndServe(sigctx)
}

// staleSpoolAge is how old a spool file must be before startup deletes it:
// a crash leaves them behind, while a live upload keeps writing to its own.
const staleSpoolAge = time.Hour

// prepareDataDir creates the data and spool directories and deletes spool
// files a crashed process left behind.
func prepareDataDir(cfg server.Config) error {
	if err := os.MkdirAll(cfg.TempDir(), 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	entries, err := os.ReadDir(cfg.TempDir())
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	cutoff := time.Now().Add(-staleSpoolAge)
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if info.ModTime().Before(cutoff) {
			if err := os.RemoveAll(filepath.Join(cfg.TempDir(), e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("removing stale spool file: %w", err)
			}
		}
	}
	return nil
}

// objectsDir is where the filesystem store keeps objects inside --data.
func objectsDir(dataDir string) string { return filepath.Join(dataDir, "objects") }

func openBucket(ctx context.Context, f *serveFlags) (storage.Bucket, error) {
	switch f.server.Storage {
	case "s3":
		b, err := s3store.New(ctx, f.s3)
		if err != nil {
			return nil, fmt.Errorf("opening S3 store: %w", err)
		}
		return b, nil
	default:
		b, err := fsstore.New(objectsDir(f.server.DataDir))
		if err != nil {
			return nil, fmt.Errorf("opening filesystem store: %w", err)
		}
		return b, nil
	}
}
