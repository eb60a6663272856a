package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/server"
)

func TestEnvName(t *testing.T) {
	tests := map[string]string{
		"listen":                 "STACKLENS_LISTEN",
		"max-upload-size":        "STACKLENS_MAX_UPLOAD_SIZE",
		"s3.endpoint":            "STACKLENS_S3_ENDPOINT",
		"sourcemaps.cache-bytes": "STACKLENS_SOURCEMAPS_CACHE_BYTES",
		"tokens":                 "STACKLENS_TOKENS",
	}
	for flagName, want := range tests {
		if got := envName(flagName); got != want {
			t.Errorf("envName(%q) = %q, want %q", flagName, got, want)
		}
	}
}

func TestParseFlagsEnv(t *testing.T) {
	env := map[string]string{
		"STACKLENS_LISTEN":     "127.0.0.1:9999",
		"STACKLENS_DATA":       "/from/env",
		"STACKLENS_MAX_FRAMES": "2000",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name       string
		args       []string
		wantListen string
		wantData   string
		wantFrames int
	}{
		{"env only", nil, "127.0.0.1:9999", "/from/env", 2000},
		{"flag beats env", []string{"--listen", "127.0.0.1:1", "--max-frames=3000"}, "127.0.0.1:1", "/from/env", 3000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			cfg := server.DefaultConfig()
			cfg.RegisterFlags(fs)
			if err := parseFlagsEnv(fs, tc.args, lookup); err != nil {
				t.Fatal(err)
			}
			if cfg.Listen != tc.wantListen || cfg.DataDir != tc.wantData || cfg.MaxFrames != tc.wantFrames {
				t.Fatalf("got listen=%s data=%s frames=%d", cfg.Listen, cfg.DataDir, cfg.MaxFrames)
			}
		})
	}
	t.Run("bad env value names the variable", func(t *testing.T) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		cfg := server.DefaultConfig()
		cfg.RegisterFlags(fs)
		err := parseFlagsEnv(fs, nil, func(k string) (string, bool) {
			return "lots", k == "STACKLENS_MAX_UPLOAD_SIZE"
		})
		if err == nil || !strings.Contains(err.Error(), "STACKLENS_MAX_UPLOAD_SIZE") {
			t.Fatalf("err = %v, want one naming STACKLENS_MAX_UPLOAD_SIZE", err)
		}
	})
}

func TestServeFlagsDerive(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		wantStorage string
		wantFrames  int
		wantCache   int64
		wantBundle  int64
		wantErr     string
	}{
		{name: "defaults", wantStorage: "fs", wantFrames: server.DefaultMaxFrames,
			wantCache: server.DefaultCacheSize / 2, wantBundle: server.DefaultMaxDecompressedSize},
		{name: "general flags flow down", args: []string{"--max-frames", "1500", "--cache-size", "100MiB", "--max-decompressed-size", "1GiB"},
			wantStorage: "fs", wantFrames: 1500, wantCache: 50 << 20, wantBundle: 1 << 30},
		{name: "specific flag wins", args: []string{"--cache-size", "100MiB", "--sourcemaps.cache-bytes", "1234"},
			wantStorage: "fs", wantFrames: server.DefaultMaxFrames, wantCache: 1234, wantBundle: server.DefaultMaxDecompressedSize},
		{name: "s3 endpoint selects s3", args: []string{"--s3.endpoint", "127.0.0.1:9000", "--s3.bucket", "b"},
			wantStorage: "s3", wantFrames: server.DefaultMaxFrames, wantCache: server.DefaultCacheSize / 2, wantBundle: server.DefaultMaxDecompressedSize},
		{name: "fs with s3 endpoint", args: []string{"--storage", "fs", "--s3.endpoint", "x:1"}, wantErr: "--storage s3"},
		{name: "too few frames", args: []string{"--max-frames", "10"}, wantErr: "at least 1000"},
		{name: "bad storage", args: []string{"--storage", "ftp"}, wantErr: "want fs or s3"},
		{name: "stray argument", args: []string{"now"}, wantErr: "no arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("STACKLENS_LISTEN", "") // keep the developer's environment out
			f := newServeFlags(io.Discard)
			err := f.parse(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.server.Storage != tc.wantStorage || f.sym.MaxFrames != tc.wantFrames ||
				f.js.CacheBytes != tc.wantCache || f.js.MaxBundleSize != tc.wantBundle {
				t.Fatalf("storage=%s frames=%d cache=%d bundle=%d", f.server.Storage, f.sym.MaxFrames, f.js.CacheBytes, f.js.MaxBundleSize)
			}
			if f.fs.Lookup("symbolicate.max-frames") != nil {
				t.Error("symbolicate.max-frames should be replaced by --max-frames")
			}
		})
	}
}

func TestDispatch(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"no command", nil, 2, "", "missing command"},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"help", []string{"help"}, 0, "usage: stacklens", ""},
		{"upload without kind", []string{"upload"}, 2, "", "debug-files, sourcemaps"},
		{"upload unknown kind", []string{"upload", "apks"}, 2, "", `unknown command "upload apks"`},
		{"version", []string{"version"}, 0, "stacklens ", ""},
		{"version with args", []string{"version", "x"}, 2, "", "no arguments"},
		{"serve bad flag", []string{"serve", "--no-such-flag"}, 2, "", "flag provided but not defined"},
		{"serve help", []string{"serve", "-h"}, 0, "", "-max-upload-size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d; stderr %s", code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.wantStdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tc.wantStdout)
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.wantStderr)
			}
		})
	}
	// Every entry of the tables is callable (none is nil).
	for name, fn := range commands() {
		if fn == nil {
			t.Errorf("command %s has no function", name)
		}
	}
	if !errors.Is(dispatch(context.Background(), uploadCommands(), "upload", []string{"-h"}, io.Discard, io.Discard), nil) {
		t.Error("upload -h should print usage without error")
	}
}
