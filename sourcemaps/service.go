package sourcemaps

import (
	"flag"
	"log/slog"

	"github.com/stacklens/stacklens/cache"
	"github.com/stacklens/stacklens/storage/blobstore"
)

// Config bounds what the service accepts and keeps in memory.
type Config struct {
	// CacheBytes bounds the parsed maps, minified files and scope indexes
	// kept in memory.
	CacheBytes int64
	// MaxArtifactSize bounds one uploaded file (and one file inside a bundle).
	MaxArtifactSize int64
	// MaxBundleSize bounds the total decompressed size of an artifact bundle.
	MaxBundleSize int64
	// MaxBundleFiles bounds the number of entries in an artifact bundle.
	MaxBundleFiles int64
}

// DefaultConfig returns the defaults the flags start from.
func DefaultConfig() Config {
	return Config{
		CacheBytes:      512 << 20,
		MaxArtifactSize: 256 << 20,
		MaxBundleSize:   1 << 30,
		MaxBundleFiles:  20000,
	}
}

// RegisterFlags adds the sourcemaps.* flags to f, defaulting to the values
// already in c (or DefaultConfig's where c holds zero).
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	d := DefaultConfig()
	def := func(v, dv int64) int64 {
		if v > 0 {
			return v
		}
		return dv
	}
	f.Int64Var(&c.CacheBytes, "sourcemaps.cache-bytes", def(c.CacheBytes, d.CacheBytes),
		"bytes of parsed source maps, minified files and scope indexes kept in memory")
	f.Int64Var(&c.MaxArtifactSize, "sourcemaps.max-artifact-size", def(c.MaxArtifactSize, d.MaxArtifactSize),
		"largest accepted JS artifact (minified file, map or source), in bytes")
	f.Int64Var(&c.MaxBundleSize, "sourcemaps.max-bundle-size", def(c.MaxBundleSize, d.MaxBundleSize),
		"largest total decompressed size of an artifact bundle, in bytes")
	f.Int64Var(&c.MaxBundleFiles, "sourcemaps.max-bundle-files", def(c.MaxBundleFiles, d.MaxBundleFiles),
		"most files accepted in one artifact bundle")
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.CacheBytes <= 0 {
		c.CacheBytes = d.CacheBytes
	}
	if c.MaxArtifactSize <= 0 {
		c.MaxArtifactSize = d.MaxArtifactSize
	}
	if c.MaxBundleSize <= 0 {
		c.MaxBundleSize = d.MaxBundleSize
	}
	if c.MaxBundleFiles <= 0 {
		c.MaxBundleFiles = d.MaxBundleFiles
	}
	return c
}

// Service stores JS artifacts and resolves JS stack traces against them.
// Safe for concurrent use.
type Service struct {
	cfg    Config
	blobs  *blobstore.Store
	logger *slog.Logger
	// parsed holds ready-to-query artifacts keyed by kind + blob sha256:
	// one byte budget shared by maps, texts and scope indexes.
	parsed *cache.Memory[any]
}

var _ Uploader = (*Service)(nil)

// New returns a Service over blobs. A zero Config field takes its default.
func New(cfg Config, blobs *blobstore.Store, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	return &Service{
		cfg:    cfg,
		blobs:  blobs,
		logger: logger,
		parsed: cache.NewMemory[any](cfg.CacheBytes),
	}
}

// CacheStats reports the parsed-artifact cache's counters (for metrics).
func (s *Service) CacheStats() cache.Stats { return s.parsed.Stats() }
