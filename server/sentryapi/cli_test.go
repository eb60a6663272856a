package sentryapi

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/internal/testenv"
)

// These tests run the real sentry-cli 3.8.0 against New's handler; the
// stores behind it are fakes that record what they were given.

func TestCLIInfo(t *testing.T) {
	ts := newTestServer(t, Config{})
	res := runCLI(t, t.TempDir(), ts.URL, "good", "info")
	if res.Err != nil {
		t.Fatalf("sentry-cli info failed: %v", res.Err)
	}
	if !strings.Contains(res.Stdout, "Sentry Server: "+ts.URL) {
		t.Errorf("info output does not name the server")
	}
}

// buildJS bundles testdata/sentrycli/js with esbuild into DIR/dist and
// injects debug IDs with sentry-cli. It returns the project dir and the
// debug ID sentry-cli wrote into app.min.js.
func buildJS(t *testing.T) (dir, debugID string) {
	t.Helper()
	dir = t.TempDir()
	// Building from a copy, with relative paths, gives the map the short
	// source names a real project has ("../src/app.js").
	if err := os.CopyFS(filepath.Join(dir, "src"), os.DirFS(filepath.Join(testenv.RepoRoot(t), "testdata", "sentrycli", "js", "src"))); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.NodeBin(t, "esbuild"), "src/app.js", "--bundle", "--minify", "--sourcemap", "--outfile=dist/app.min.js")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("esbuild: %v\n%s", err, out)
	}
	// inject is offline: the server is not consulted.
	if res := runCLI(t, dir, "http://127.0.0.1:1", "good", "sourcemaps", "inject", "dist"); res.Err != nil {
		t.Fatalf("sourcemaps inject: %v", res.Err)
	}
	min, err := os.ReadFile(filepath.Join(dir, "dist", "app.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`//# debugId=([0-9a-f-]{36})`).FindSubmatch(min)
	if m == nil {
		t.Fatalf("sentry-cli inject wrote no debugId comment into app.min.js")
	}
	return dir, string(m[1])
}

type manifestFile struct {
	Type    string            `json:"type"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

type bundleManifest struct {
	Files   map[string]manifestFile `json:"files"`
	Release string                  `json:"release"`
	Dist    string                  `json:"dist"`
	Org     string                  `json:"org"`
	Project string                  `json:"project"`
}

// openBundle returns a bundle's manifest and files by zip path.
func openBundle(t *testing.T, data []byte) (bundleManifest, map[string][]byte) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("bundle is not a zip: %v", err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name] = b
	}
	var m bundleManifest
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
		t.Fatalf("bundle manifest: %v", err)
	}
	return m, files
}

// findByURL returns the manifest entry and zip path of the file with url.
func findByURL(m bundleManifest, url string) (string, manifestFile, bool) {
	for path, f := range m.Files {
		if f.URL == url {
			return path, f, true
		}
	}
	return "", manifestFile{}, false
}

func TestCLISourcemapsUpload(t *testing.T) {
	dir, debugID := buildJS(t)
	minified, err := os.ReadFile(filepath.Join(dir, "dist", "app.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	sourceMap, err := os.ReadFile(filepath.Join(dir, "dist", "app.min.js.map"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                  string
		args                  []string
		wantRelease, wantDist string
	}{
		{"debug IDs only", nil, "", ""},
		{"with release and dist, waiting", []string{"--release", "shop@1.2.3", "--dist", "web", "--wait"}, "shop@1.2.3", "web"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, Config{})
			args := append([]string{"sourcemaps", "upload", "--org", "o", "--project", "p"}, tc.args...)
			res := runCLI(t, dir, ts.URL, "good", append(args, "dist")...)
			if res.Err != nil {
				t.Fatalf("sourcemaps upload failed: %v", res.Err)
			}
			calls := ts.Bundles.Calls()
			if len(calls) != 1 {
				t.Fatalf("PutBundle called %d times, want 1", len(calls))
			}
			c := calls[0]
			if c.Project != "p" || c.Release != tc.wantRelease || c.Dist != tc.wantDist {
				t.Errorf("PutBundle(project %q, release %q, dist %q), want (p, %q, %q)", c.Project, c.Release, c.Dist, tc.wantRelease, tc.wantDist)
			}
			m, files := openBundle(t, c.Zip)
			if m.Release != tc.wantRelease {
				t.Errorf("manifest release %q, want %q", m.Release, tc.wantRelease)
			}
			for _, want := range []struct {
				url, typ string
				content  []byte
			}{
				{"~/app.min.js", "minified_source", minified},
				{"~/app.min.js.map", "source_map", sourceMap},
			} {
				path, f, ok := findByURL(m, want.url)
				if !ok {
					t.Errorf("manifest has no %s: %+v", want.url, m.Files)
					continue
				}
				if f.Type != want.typ || !strings.EqualFold(f.Headers["debug-id"], debugID) {
					t.Errorf("%s: type %q, debug-id %q; want %q, %q", want.url, f.Type, f.Headers["debug-id"], want.typ, debugID)
				}
				if want.typ == "source_map" {
					// sentry-cli re-serialises maps (it deduplicates names), so
					// compare what identifies the map and its sources.
					sameMap(t, files[path], want.content, debugID)
				} else if !bytes.Equal(files[path], want.content) {
					t.Errorf("%s in the bundle differs from the file on disk", want.url)
				}
			}
		})
	}
}

func sameMap(t *testing.T, bundled, onDisk []byte, debugID string) {
	t.Helper()
	type sourceMap struct {
		DebugID        string   `json:"debugId"`
		Sources        []string `json:"sources"`
		SourcesContent []string `json:"sourcesContent"`
	}
	var a, b sourceMap
	if err := json.Unmarshal(bundled, &a); err != nil {
		t.Fatalf("bundled map: %v", err)
	}
	if err := json.Unmarshal(onDisk, &b); err != nil {
		t.Fatalf("map on disk: %v", err)
	}
	if a.DebugID != debugID || !slices.Equal(a.Sources, b.Sources) || !slices.Equal(a.SourcesContent, b.SourcesContent) || len(a.Sources) != 2 {
		t.Errorf("bundled map (debugId %q, sources %q) differs from the map on disk (debugId %q, sources %q)", a.DebugID, a.Sources, b.DebugID, b.Sources)
	}
}
