package sourcemaps

import (
	"flag"
	"log/slog"
	"time"

	"github.com/stacklens/stacklens/cache"
	"github.com/stacklens/stacklens/sourcemaps/mapping"
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
	// NegativeTTL is how long a record look-up that found nothing (no
	// artifact for this debug ID / release URL) is remembered. An upload
	// to the project on this replica forgets them at once; other replicas
	// see it when the entry expires. Negative disables the cache.
	NegativeTTL time.Duration
	// RecordTTL is how long a record found is remembered, sparing the
	// object-store round trips of a stack whose artifacts are already in
	// memory. Re-uploads on this replica replace them at once; other
	// replicas may serve the previous record for up to RecordTTL.
	// Negative disables the cache.
	RecordTTL time.Duration
	// RecordCacheEntries bounds each record cache (found and not found).
	RecordCacheEntries int
}

// DefaultConfig returns the defaults the flags start from.
func DefaultConfig() Config {
	return Config{
		CacheBytes:      512 << 20,
		MaxArtifactSize: 256 << 20,
		MaxBundleSize:   1 << 30,
		MaxBundleFiles:  20000,
		NegativeTTL:     30 * time.Second,
		RecordTTL:       10 * time.Second,
		// A record is ~0.5 KiB: 100k of them stay well under the budget of
		// the parsed artifacts.
		RecordCacheEntries: 100000,
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
	defDur := func(v, dv time.Duration) time.Duration {
		if v != 0 {
			return v
		}
		return dv
	}
	f.DurationVar(&c.NegativeTTL, "sourcemaps.negative-ttl", defDur(c.NegativeTTL, d.NegativeTTL),
		"how long \"no artifact for this debug ID / URL\" is remembered; an upload on another replica is seen after at most this (negative: off)")
	f.DurationVar(&c.RecordTTL, "sourcemaps.record-ttl", defDur(c.RecordTTL, d.RecordTTL),
		"how long artifact records found are remembered; a re-upload on another replica is seen after at most this (negative: off)")
	f.IntVar(&c.RecordCacheEntries, "sourcemaps.record-cache-entries", max(c.RecordCacheEntries, 0),
		"most records (found, and not found) remembered each (0: default)")
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
	if c.NegativeTTL == 0 {
		c.NegativeTTL = d.NegativeTTL
	}
	if c.RecordTTL == 0 {
		c.RecordTTL = d.RecordTTL
	}
	if c.RecordCacheEntries <= 0 {
		c.RecordCacheEntries = d.RecordCacheEntries
	}
	return c
}

// Service stores JS artifacts and resolves JS stack traces against them.
// Safe for concurrent use.
type Service struct {
	cfg    Config
	blobs  *blobstore.Store
	logger *slog.Logger
	// parsed holds source line indexes and inline maps, keyed by kind +
	// blob sha256.
	parsed *cache.Memory[any]
	// texts is the chain (memory → disk → read) of loaded minified files
	// and uploaded originals.
	texts   *cache.Derived[*textFile]
	textMem *cache.Memory[*textFile]
	// maps and scopeIdx are the derived-index chains (memory → disk →
	// object store → parse) of source maps and minified files' scopes.
	maps     *cache.Derived[*mapping.Map]
	mapMem   *cache.Memory[*mapping.Map]
	scopeIdx *cache.Derived[*scopeTable]
	scopeMem *cache.Memory[*scopeTable]
	// badMaps remembers maps that do not parse (not derived: a few bytes
	// of error each, and the upload was accepted by a lenient bundle).
	badMaps *cache.Memory[error]
	records *cache.Expiring[storedRecord]
	missing *cache.Negative // nil when NegativeTTL < 0
}

var _ Uploader = (*Service)(nil)

// New returns a Service over blobs. A zero Config field takes its default.
// Without layers every cache is in memory only. With a disk, derived
// indexes of source maps ("sourcemap-index"), of minified files' function
// scopes ("js-scopes") and the line-indexed text files themselves
// ("js-text") are kept there; with a shared bucket the first two are
// written back to it. Metrics report cache="sourcemaps" (parsed maps),
// "sourcemaps-scopes", "sourcemaps-texts" (minified files and uploaded
// originals), "sourcemaps-files" (source line indexes and inline maps) and
// "sourcemaps-records" (record look-ups: memory for records found,
// negative for those not found).
func New(cfg Config, blobs *blobstore.Store, logger *slog.Logger, opts ...cache.LayerOption) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := cache.NewLayers(opts...)
	cfg = cfg.withDefaults()
	// One budget, split by what dominates it: parsed maps are the
	// largest artifacts and the most reused.
	s := &Service{
		cfg:      cfg,
		blobs:    blobs,
		logger:   logger,
		parsed:   cache.NewMemory[any](cfg.CacheBytes/8, l.MemoryOptions("sourcemaps-files")...),
		textMem:  cache.NewMemory[*textFile](cfg.CacheBytes/8, l.MemoryOptions("sourcemaps-texts")...),
		mapMem:   cache.NewMemory[*mapping.Map](cfg.CacheBytes/2, l.MemoryOptions("sourcemaps")...),
		scopeMem: cache.NewMemory[*scopeTable](cfg.CacheBytes/4, l.MemoryOptions("sourcemaps-scopes")...),
		badMaps:  cache.NewMemory[error](1 << 20),
	}
	s.maps = cache.NewDerived[*mapping.Map](mapping.IndexCodec{}, s.mapMem, l.Disk, l.Shared, logger, l.DerivedOptions("sourcemaps")...)
	// No object store for texts: the blob is there already (see textCodec).
	// A text loaded from its blob is served as it is; its file reaches the
	// disk behind the request.
	s.texts = cache.NewDerived[*textFile](textCodec{}, s.textMem, l.Disk, nil, logger,
		append(l.DerivedOptions("sourcemaps-texts"), cache.WithBuildWriteBehind())...)
	s.scopeIdx = cache.NewDerived[*scopeTable](scopeCodec{}, s.scopeMem, l.Disk, l.Shared, logger, l.DerivedOptions("sourcemaps-scopes")...)
	if cfg.RecordTTL > 0 {
		s.records = cache.NewExpiring[storedRecord](cfg.RecordTTL, cfg.RecordCacheEntries)
		s.records.Observer = l.Observer("sourcemaps-records", "memory")
	}
	if cfg.NegativeTTL > 0 {
		s.missing = cache.NewNegative(cfg.NegativeTTL, cfg.RecordCacheEntries)
		s.missing.Observer = l.Observer("sourcemaps-records", "negative")
	}
	return s
}

// CacheStats reports the in-memory caches' counters summed (for metrics).
func (s *Service) CacheStats() cache.Stats {
	var sum cache.Stats
	for _, st := range []cache.Stats{s.parsed.Stats(), s.textMem.Stats(), s.mapMem.Stats(), s.scopeMem.Stats()} {
		sum.Hits += st.Hits
		sum.Misses += st.Misses
		sum.Loads += st.Loads
		sum.LoadErrors += st.LoadErrors
		sum.Evictions += st.Evictions
		sum.Bytes += st.Bytes
		sum.Entries += st.Entries
		sum.LoadDuration += st.LoadDuration
	}
	return sum
}

// IndexStats reports the derived-index chain of source maps: how many were
// served from disk or the object store and how many had to be parsed.
func (s *Service) IndexStats() cache.DerivedStats { return s.maps.Stats() }

// ScopeIndexStats is IndexStats for the scope indexes of minified files.
func (s *Service) ScopeIndexStats() cache.DerivedStats { return s.scopeIdx.Stats() }

// WaitWriteBack blocks until the derived indexes built so far have been
// written back to the shared object store (cache.Layers.Shared), and the
// texts loaded so far have reached the disk.
func (s *Service) WaitWriteBack() {
	s.maps.Wait()
	s.scopeIdx.Wait()
	s.texts.Wait()
}
