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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stacklens/stacklens/cache"
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
	// cacheDir and diskCacheSize configure the disk cache of derived
	// indexes shared by every component.
	cacheDir      string
	diskCacheSize server.ByteSize
}

// defaultDiskCacheSize bounds the disk cache of derived indexes.
const defaultDiskCacheSize = 10 << 30

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
	f.diskCacheSize = defaultDiskCacheSize
	f.fs.StringVar(&f.cacheDir, "cache-dir", "", "`dir`ectory of the disk cache of derived indexes (parsed source maps, scopes, symcaches), memory-mapped; one process per directory (default: DATA/cache)")
	f.fs.Var(&f.diskCacheSize, "disk-cache-size", "disk budget of --cache-dir (`bytes`, e.g. 10GiB); least recently used files go first")
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
	if f.cacheDir == "" {
		f.cacheDir = filepath.Join(f.server.DataDir, "cache")
	}
	if f.diskCacheSize <= 0 {
		return &usageError{msg: "--disk-cache-size must be positive"}
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
	// The cache metrics exist before the server (components take their
	// observers at construction) and join its registry once it does.
	var cacheCollectors deferredRegisterer
	cacheMetrics, err := cache.NewMetrics(&cacheCollectors)
	if err != nil {
		return err
	}
	// One disk cache (one byte budget, one LRU) for the derived indexes of
	// every component; each writes its own formats into it, and writes
	// them back to the bucket so other replicas skip the parse.
	disk, err := cache.OpenDisk(f.cacheDir, int64(f.diskCacheSize), cache.WithDiskObserver(cacheMetrics.Observer("derived", "disk")))
	if err != nil {
		return fmt.Errorf("disk cache: %w", err)
	}
	defer disk.Close()
	layers := []cache.LayerOption{cache.WithDisk(disk), cache.WithMetrics(cacheMetrics), cache.WithSharedBucket(bucket)}
	js := sourcemaps.New(f.js, blobs, logger.With("component", "sourcemaps"), layers...)
	debugFiles := debugstore.New(f.debug, blobs, logger.With("component", "debugfiles"), layers...)
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
	for _, c := range cacheCollectors {
		if err := srv.Registry().Register(c); err != nil {
			return fmt.Errorf("registering cache metrics: %w", err)
		}
	}
	sigctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return srv.ListenAndServe(sigctx)
}

// deferredRegisterer keeps the collectors registered on it until the real
// registry exists.
type deferredRegisterer []prometheus.Collector

func (d *deferredRegisterer) Register(c prometheus.Collector) error {
	*d = append(*d, c)
	return nil
}

func (d *deferredRegisterer) MustRegister(cs ...prometheus.Collector) { *d = append(*d, cs...) }

func (d *deferredRegisterer) Unregister(c prometheus.Collector) bool {
	for i, x := range *d {
		if x == c {
			*d = append((*d)[:i], (*d)[i+1:]...)
			return true
		}
	}
	return false
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
