package sentryapi

import (
	"flag"
	"time"
)

// Config bounds what the Sentry-compatible upload API accepts. The chunk
// limits are advertised to sentry-cli by GET chunk-upload/, which then
// splits files and batches requests accordingly.
type Config struct {
	// ChunkSize is the largest chunk a client may send, uncompressed.
	ChunkSize int64
	// MaxChunksPerRequest caps the multipart parts of one chunk POST.
	MaxChunksPerRequest int64
	// MaxRequestSize caps the body of one chunk POST (compressed bytes).
	MaxRequestSize int64
	// MaxFileSize caps one assembled file (bundle or debug file).
	MaxFileSize int64
	// Concurrency is the number of parallel chunk requests a client may make.
	Concurrency int
	// AssembleWait is how long an assemble request waits for the assembly
	// before answering "created" (the client then polls) instead of the
	// final state.
	AssembleWait time.Duration
	// AssembleTimeout bounds one assembly; a "created" state older than
	// this (e.g. its replica died) is considered abandoned and restarted,
	// and a finished state older than this is forgotten (the file is
	// assembled again from its chunks if it is uploaded again).
	AssembleTimeout time.Duration
	// MaxAssemblies bounds the assemblies running at once on this replica
	// (each holds a whole file in TmpDir); others wait their turn.
	MaxAssemblies int
	// TmpDir holds assembled files while they are processed ("" = os.TempDir()).
	TmpDir string
}

// DefaultConfig returns the limits real Sentry advertises, which sentry-cli
// 3.x is tuned for: 8 MiB chunks, 64 per request, 32 MiB requests, 2 GiB files.
func DefaultConfig() Config {
	return Config{
		ChunkSize:           8 << 20,
		MaxChunksPerRequest: 64,
		MaxRequestSize:      32 << 20,
		MaxFileSize:         2 << 30,
		Concurrency:         4,
		AssembleWait:        20 * time.Second,
		AssembleTimeout:     30 * time.Minute,
		MaxAssemblies:       4,
	}
}

// RegisterFlags registers c's fields on f as -sentry.* flags, with c's
// current values as defaults.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.Int64Var(&c.ChunkSize, "sentry.chunk-size", c.ChunkSize, "Sentry upload API: largest chunk, uncompressed, in bytes")
	f.Int64Var(&c.MaxChunksPerRequest, "sentry.max-chunks-per-request", c.MaxChunksPerRequest, "Sentry upload API: most chunks in one request")
	f.Int64Var(&c.MaxRequestSize, "sentry.max-request-size", c.MaxRequestSize, "Sentry upload API: largest chunk request body, in bytes")
	f.Int64Var(&c.MaxFileSize, "sentry.max-file-size", c.MaxFileSize, "Sentry upload API: largest assembled file, in bytes")
	f.IntVar(&c.Concurrency, "sentry.concurrency", c.Concurrency, "Sentry upload API: parallel chunk requests advertised to clients")
	f.DurationVar(&c.AssembleWait, "sentry.assemble-wait", c.AssembleWait, "Sentry upload API: how long an assemble call waits before answering \"created\"")
	f.DurationVar(&c.AssembleTimeout, "sentry.assemble-timeout", c.AssembleTimeout, "Sentry upload API: time limit of one assembly")
	f.IntVar(&c.MaxAssemblies, "sentry.max-assemblies", c.MaxAssemblies, "Sentry upload API: assemblies running at once")
	f.StringVar(&c.TmpDir, "sentry.tmp-dir", c.TmpDir, "Sentry upload API: directory for files being assembled (default: system temp dir)")
}

// withDefaults fills zero fields so a partially set Config still works.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.ChunkSize <= 0 {
		c.ChunkSize = d.ChunkSize
	}
	if c.MaxChunksPerRequest <= 0 {
		c.MaxChunksPerRequest = d.MaxChunksPerRequest
	}
	if c.MaxRequestSize <= 0 {
		c.MaxRequestSize = d.MaxRequestSize
	}
	if c.MaxFileSize <= 0 {
		c.MaxFileSize = d.MaxFileSize
	}
	if c.Concurrency <= 0 {
		c.Concurrency = d.Concurrency
	}
	if c.AssembleWait <= 0 {
		c.AssembleWait = d.AssembleWait
	}
	if c.MaxAssemblies <= 0 {
		c.MaxAssemblies = d.MaxAssemblies
	}
	if c.AssembleTimeout <= 0 {
		c.AssembleTimeout = d.AssembleTimeout
	}
	return c
}
