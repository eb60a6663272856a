package server

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is the server's configuration. RegisterFlags binds every field to a
// command-line flag; DefaultConfig gives the defaults.
type Config struct {
	Listen  string // host:port
	DataDir string // embedded store, spool and cache files live here
	Storage string // "fs" (embedded, under DataDir) or "s3"

	CacheSize ByteSize // memory budget for parsed artifacts

	MaxEventSize        ByteSize      // symbolicate request body
	MaxUploadSize       ByteSize      // one upload request body (streamed, never buffered whole)
	MaxFrames           int           // frames per event, across all stack traces
	MaxDecompressedSize ByteSize      // total uncompressed size of one zip upload
	RequestTimeout      time.Duration // symbolicate and listing requests
	UploadTimeout       time.Duration // upload requests
	ShutdownTimeout     time.Duration // how long in-flight requests may finish after SIGTERM

	TokensFile string // JSON tokens list; see package auth
	Tokens     string // the same JSON inline (normally from STACKLENS_TOKENS)

	LogFormat string // "text" or "json"
	LogLevel  string // "debug", "info", "warn", "error"
}

// Default limits, exported so that documentation and tests refer to one place.
const (
	DefaultListen              = "127.0.0.1:8080"
	DefaultDataDir             = "./stacklens-data"
	DefaultCacheSize           = 1 << 30
	DefaultMaxEventSize        = 20 << 20
	DefaultMaxUploadSize       = 4 << 30
	DefaultMaxFrames           = 10000
	DefaultMaxDecompressedSize = 8 << 30
	DefaultRequestTimeout      = 60 * time.Second
	DefaultUploadTimeout       = 30 * time.Minute
	DefaultShutdownTimeout     = 30 * time.Second
)

// DefaultConfig returns the configuration used when no flag is given.
func DefaultConfig() Config {
	return Config{
		Listen:              DefaultListen,
		DataDir:             DefaultDataDir,
		Storage:             "fs",
		CacheSize:           DefaultCacheSize,
		MaxEventSize:        DefaultMaxEventSize,
		MaxUploadSize:       DefaultMaxUploadSize,
		MaxFrames:           DefaultMaxFrames,
		MaxDecompressedSize: DefaultMaxDecompressedSize,
		RequestTimeout:      DefaultRequestTimeout,
		UploadTimeout:       DefaultUploadTimeout,
		ShutdownTimeout:     DefaultShutdownTimeout,
		LogFormat:           "text",
		LogLevel:            "info",
	}
}

// RegisterFlags binds c's fields to flags on f, with c's current values as
// defaults (start from DefaultConfig()).
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.Listen, "listen", c.Listen, "`host:port` to listen on; without tokens only a loopback address is allowed")
	f.StringVar(&c.DataDir, "data", c.DataDir, "data `dir`ectory: the embedded object store (storage=fs), spool files")
	f.StringVar(&c.Storage, "storage", c.Storage, "object store `backend`: fs (files under --data) or s3 (see --s3.* flags)")
	f.Var(&c.CacheSize, "cache-size", "memory budget for parsed artifacts (`bytes`, e.g. 1GiB)")
	f.Var(&c.MaxEventSize, "max-event-size", "largest symbolicate request body (`bytes`)")
	f.Var(&c.MaxUploadSize, "max-upload-size", "largest upload request body (`bytes`); uploads are streamed")
	f.IntVar(&c.MaxFrames, "max-frames", c.MaxFrames, "most frames per event, across all stack traces")
	f.Var(&c.MaxDecompressedSize, "max-decompressed-size", "largest total uncompressed size of one zip upload (`bytes`)")
	f.DurationVar(&c.RequestTimeout, "request-timeout", c.RequestTimeout, "time limit of a symbolicate or listing request")
	f.DurationVar(&c.UploadTimeout, "upload-timeout", c.UploadTimeout, "time limit of an upload request")
	f.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "on SIGTERM/SIGINT, how long in-flight requests may still run")
	f.StringVar(&c.TokensFile, "tokens-file", c.TokensFile, "JSON tokens `file`: [{\"token\",\"scope\",\"project\"}]; none = no auth, loopback only")
	f.StringVar(&c.Tokens, "tokens", c.Tokens, "the tokens list as inline `JSON` (prefer the STACKLENS_TOKENS env variable)")
	f.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log `format`: text or json")
	f.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log `level`: debug, info, warn, error")
}

// Validate checks values that flags cannot check alone.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: want host:port: %w", c.Listen, err))
	}
	if c.Storage != "fs" && c.Storage != "s3" {
		errs = append(errs, fmt.Errorf("--storage %q: want fs or s3", c.Storage))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data must not be empty"))
	}
	if c.MaxFrames < 1000 {
		errs = append(errs, fmt.Errorf("--max-frames %d: must be at least 1000", c.MaxFrames))
	}
	for name, v := range map[string]ByteSize{
		"--max-event-size": c.MaxEventSize, "--max-upload-size": c.MaxUploadSize,
		"--max-decompressed-size": c.MaxDecompressedSize, "--cache-size": c.CacheSize,
	} {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	for name, v := range map[string]time.Duration{
		"--request-timeout": c.RequestTimeout, "--upload-timeout": c.UploadTimeout, "--shutdown-timeout": c.ShutdownTimeout,
	} {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", c.LogFormat))
	}
	if _, err := ParseLogLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// TempDir is where request bodies are spooled before they are stored.
func (c *Config) TempDir() string { return filepath.Join(c.DataDir, "tmp") }

// IsLoopback reports whether the listen address only accepts local
// connections. An empty host (all interfaces) is not loopback.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ByteSize is a size in bytes that parses "1048576", "20MiB", "1.5GB", "512k".
// It implements flag.Value.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   float64
}{
	// Longest suffixes first so that "MiB" is not read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// ParseByteSize parses a size with an optional unit (B, k/KiB, KB, M/MiB, MB, G/GiB, GB, T/TiB, TB).
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 || n != n {
		return 0, fmt.Errorf("invalid size %q: want a number of bytes, optionally with a unit such as MiB or GB", s)
	}
	v := n * mult
	if v >= 1<<63 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return ByteSize(v), nil
}

// Set implements flag.Value.
func (b *ByteSize) Set(s string) error {
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// String formats the size with the largest binary unit that divides it.
func (b ByteSize) String() string {
	v := int64(b)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v != 0 && v%u.mult == 0 {
			return strconv.FormatInt(v/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(v, 10)
}
