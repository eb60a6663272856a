package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/internal/testenv"
)

// TestServeCacheMetricsAndRestart: a real server's /metrics shows the
// layers of the source-map cache after a symbolication (a parse, a disk
// miss, memory in use) next to the debug files' memory cache; after a
// restart on the same data directory the map comes from the disk cache
// and nothing is parsed.
func TestServeCacheMetricsAndRestart(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "app.js")
	if err := os.WriteFile(src, []byte("function greet(name) {\n  throw new Error('hi ' + name);\n}\nexport function main() { greet('x'); }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.NodeBin(t, "esbuild"), src, "--bundle", "--minify", "--sourcemap", "--format=esm", "--outfile="+filepath.Join(dir, "app.min.js"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("esbuild: %v\n%s", err, out)
	}
	srv := testenv.StartServer(t)
	for _, name := range []string{"app.min.js", "app.min.js.map"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if status, body := httpDo(t, "PUT", srv.URL+"/api/v1/projects/web/files?release=1&url=~/"+name, "", bytes.NewReader(data)); status != 201 {
			t.Fatalf("upload %s: %d %s", name, status, body)
		}
	}
	event, _ := json.Marshal(map[string]any{
		"platform": "javascript", "release": "1",
		"exception": map[string]any{"values": []any{map[string]any{"type": "Error", "value": "hi x",
			"stacktrace": map[string]any{"frames": []any{map[string]any{"abs_path": "https://ex.com/app.min.js", "lineno": 1, "colno": 1}}}}}},
	})
	symbolicate := func() {
		t.Helper()
		status, body := httpDo(t, "POST", srv.URL+"/api/v1/projects/web/symbolicate", "", bytes.NewReader(event))
		if status != 200 || !strings.Contains(string(body), "app.js") {
			t.Fatalf("symbolicate: %d %s", status, body)
		}
	}
	metric := func(metrics []byte, series string) string {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(metrics)
		if m == nil {
			return ""
		}
		return string(m[1])
	}
	scrape := func() []byte {
		t.Helper()
		status, body := httpDo(t, "GET", srv.URL+"/metrics", "", nil)
		if status != 200 {
			t.Fatalf("metrics: %d", status)
		}
		return body
	}

	symbolicate()
	m := scrape()
	for series, want := range map[string]string{
		`stacklens_cache_load_duration_seconds_count{cache="sourcemaps",layer="build"}`: "1",
		`stacklens_cache_misses_total{cache="sourcemaps",layer="disk"}`:                 "1",
		`stacklens_cache_misses_total{cache="sourcemaps",layer="store"}`:                "1",
		`stacklens_cache_misses_total{cache="sourcemaps",layer="memory"}`:               "1",
		`stacklens_cache_entries{cache="sourcemaps",layer="memory"}`:                    "1",
		`stacklens_cache_entries{cache="derived",layer="disk"}`:                         "3", // map, scopes, minified text
		`stacklens_cache_entries{cache="debugfiles",layer="memory"}`:                    "0",
	} {
		if got := metric(m, series); got != want {
			t.Errorf("%s = %q, want %q", series, got, want)
		}
	}

	srv.Restart()
	symbolicate()
	m = scrape()
	for series, want := range map[string]string{
		`stacklens_cache_hits_total{cache="sourcemaps",layer="disk"}`:        "1",
		`stacklens_cache_hits_total{cache="sourcemaps-scopes",layer="disk"}`: "1",
		`stacklens_cache_hits_total{cache="sourcemaps-texts",layer="disk"}`:  "1",
		`stacklens_cache_entries{cache="sourcemaps",layer="memory"}`:         "1",
	} {
		if got := metric(m, series); got != want {
			t.Errorf("after restart: %s = %q, want %q", series, got, want)
		}
	}
	if got := metric(m, `stacklens_cache_load_duration_seconds_count{cache="sourcemaps",layer="build"}`); got != "" && got != "0" {
		t.Errorf("after restart: %s maps parsed, want none", got)
	}
}
