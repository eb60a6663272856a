package sentryapi

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/internal/testenv"
	"github.com/stacklens/stacklens/storage"
)

// nativeFixtures are built once per test binary from
// testdata/sentrycli/native/demo.cpp.
type nativeFixtures struct {
	Stripped string // demo, stripped of DWARF, with a .gnu_debuglink
	Debug    string // demo.debug, its objcopy --only-keep-debug companion
	Big      string // demo padded with a random section: over one 8 MiB chunk
}

var (
	nativeOnce sync.Once
	nativeDir  string
	native     nativeFixtures
	nativeErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if nativeDir != "" {
		os.RemoveAll(nativeDir)
	}
	os.Exit(code)
}

func buildNative(t *testing.T) nativeFixtures {
	t.Helper()
	gxx := testenv.Tool(t, "g++")
	objcopy := testenv.Tool(t, "objcopy")
	src := filepath.Join(testenv.RepoRoot(t), "testdata", "sentrycli", "native", "demo.cpp")
	nativeOnce.Do(func() {
		nativeDir, nativeErr = os.MkdirTemp("", "sentryapi-native-")
		if nativeErr != nil {
			return
		}
		d := nativeDir
		pad := make([]byte, 9<<20) // random, so gzip cannot shrink the chunks
		if _, nativeErr = rand.Read(pad); nativeErr != nil {
			return
		}
		if nativeErr = os.WriteFile(filepath.Join(d, "pad.bin"), pad, 0o644); nativeErr != nil {
			return
		}
		for _, args := range [][]string{
			{gxx, "-g", "-O2", "-Wl,--build-id", src, "-o", filepath.Join(d, "demo.full")},
			{objcopy, "--only-keep-debug", filepath.Join(d, "demo.full"), filepath.Join(d, "demo.debug")},
			{objcopy, "--strip-debug", "--add-gnu-debuglink=" + filepath.Join(d, "demo.debug"), filepath.Join(d, "demo.full"), filepath.Join(d, "demo")},
			{objcopy, "--add-section", ".stacklens_pad=" + filepath.Join(d, "pad.bin"), "--set-section-flags", ".stacklens_pad=noload,readonly", filepath.Join(d, "demo.full"), filepath.Join(d, "big", "demo-big")},
		} {
			if err := os.MkdirAll(filepath.Join(d, "big"), 0o755); err != nil {
				nativeErr = err
				return
			}
			if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
				nativeErr = fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
				return
			}
		}
		native = nativeFixtures{
			Stripped: filepath.Join(d, "demo"),
			Debug:    filepath.Join(d, "demo.debug"),
			Big:      filepath.Join(d, "big", "demo-big"),
		}
	})
	if nativeErr != nil {
		t.Fatal(nativeErr)
	}
	return native
}

// checkDIF is what `sentry-cli debug-files check --json` says of a file:
// the ground truth for identifiers.
type checkDIF struct {
	Type     string `json:"type"`
	Variants []struct {
		DebugID string `json:"debug_id"`
		CodeID  string `json:"code_id"`
	} `json:"variants"`
	Features string `json:"features"`
}

func sentryCheck(t *testing.T, path string) checkDIF {
	t.Helper()
	res := runCLI(t, t.TempDir(), "http://127.0.0.1:1", "good", "debug-files", "check", "--json", path)
	if res.Err != nil {
		t.Fatalf("debug-files check %s: %v", path, res.Err)
	}
	var c checkDIF
	if err := json.Unmarshal([]byte(res.Stdout), &c); err != nil || len(c.Variants) != 1 {
		t.Fatalf("debug-files check %s: %v (%q)", path, err, res.Stdout)
	}
	return c
}

// identifyWithDebugfiles makes the fake store describe files as the real
// one would.
func identifyWithDebugfiles(data []byte) (debugfiles.FileMeta, error) {
	metas, err := debugfiles.Identify(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return debugfiles.FileMeta{}, err
	}
	if len(metas) == 0 {
		return debugfiles.FileMeta{}, fmt.Errorf("%w: no object", debugfiles.ErrInvalidInput)
	}
	return metas[0], nil
}

func TestCLIDebugFilesUpload(t *testing.T) {
	fx := buildNative(t)
	truth := sentryCheck(t, fx.Debug)
	dir := t.TempDir()
	var want [][]byte
	for _, p := range []string{fx.Stripped, fx.Debug} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), data, 0o755); err != nil {
			t.Fatal(err)
		}
		want = append(want, data)
	}

	ts := newTestServer(t, Config{})
	ts.DIFs.setIdentify(identifyWithDebugfiles)
	res := runCLI(t, dir, ts.URL, "good", "debug-files", "upload", "--org", "o", "--project", "p", "--wait", ".")
	if res.Err != nil {
		t.Fatalf("debug-files upload failed: %v", res.Err)
	}
	calls := ts.DIFs.Calls()
	if len(calls) != 2 {
		t.Fatalf("debug files store got %d files, want 2 (binary and companion)", len(calls))
	}
	for _, w := range want {
		if !slices.ContainsFunc(calls, func(c difCall) bool { return c.Project == "p" && bytes.Equal(c.Data, w) }) {
			t.Errorf("the %d-byte file on disk never reached the store intact", len(w))
		}
	}
	// With --wait the client prints what the server reported.
	if !strings.Contains(res.Stdout+res.Stderr, truth.Variants[0].DebugID) {
		t.Errorf("client output does not mention debug id %s", truth.Variants[0].DebugID)
	}
}

// TestCLIDebugFilesLargeAndResumed uploads a file of several chunks, first
// to an empty server with Sentry's 8 MiB chunks, then to one that already
// holds some of its chunks (smaller chunks, for more of them): the client
// must send exactly the chunks the server lacks.
func TestCLIDebugFilesLargeAndResumed(t *testing.T) {
	fx := buildNative(t)
	data, err := os.ReadFile(fx.Big)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		chunkSize int
		preStored []int // indexes of chunks on the server before the upload
	}{
		{"fresh", 8 << 20, nil},
		{"resumed", 1 << 20, []int{0, 2, 5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chunks := splitChunks(data, tc.chunkSize)
			if len(chunks) < 2 {
				t.Fatalf("fixture has %d chunks, want several", len(chunks))
			}
			names := chunkNames(chunks)
			ts := newTestServer(t, Config{ChunkSize: int64(tc.chunkSize)})
			ts.DIFs.setIdentify(identifyWithDebugfiles)
			for _, i := range tc.preStored {
				if err := ts.Bucket.Put(t.Context(), chunkKey(names[i]), bytes.NewReader(chunks[i]), int64(len(chunks[i])), storage.PutOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			res := runCLI(t, t.TempDir(), ts.URL, "good", "debug-files", "upload", "--org", "o", "--project", "p", "--wait", fx.Big)
			if res.Err != nil {
				t.Fatalf("debug-files upload failed: %v", res.Err)
			}
			var sent []string
			for _, req := range ts.ChunkUploads() {
				sent = append(sent, req...)
			}
			var wantSent []string
			for i, n := range names {
				if !slices.Contains(tc.preStored, i) {
					wantSent = append(wantSent, n)
				}
			}
			slices.Sort(sent)
			slices.Sort(wantSent)
			if !slices.Equal(sent, wantSent) {
				t.Errorf("client sent chunks %v, want exactly the missing %v", sent, wantSent)
			}
			calls := ts.DIFs.Calls()
			if len(calls) != 1 || !bytes.Equal(calls[0].Data, data) {
				t.Fatalf("store got %d files, want the %d-byte file intact", len(calls), len(data))
			}
		})
	}
}

func TestCLIWrongToken(t *testing.T) {
	fx := buildNative(t)
	dir, _ := buildJS(t)
	tests := []struct {
		name string
		args []string
	}{
		{"sourcemaps upload", []string{"sourcemaps", "upload", "--org", "o", "--project", "p", "dist"}},
		{"debug-files upload", []string{"debug-files", "upload", "--org", "o", "--project", "p", fx.Debug}},
		{"releases new", []string{"releases", "--org", "o", "--project", "p", "new", "1.0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, Config{})
			res := runCLI(t, dir, ts.URL, "wrong-token", tc.args...)
			if res.Err == nil {
				t.Fatalf("sentry-cli succeeded with a wrong token")
			}
			if !strings.Contains(res.Stderr, "Invalid token") {
				t.Errorf("stderr does not say why: %q", res.Stderr)
			}
			if len(ts.Bundles.Calls())+len(ts.DIFs.Calls()) != 0 {
				t.Errorf("something was stored with a wrong token")
			}
		})
	}
}

// TestCLIPollsBackgroundAssembly: when assembly outlasts AssembleWait the
// server answers "created"; the real client, with --wait, polls until "ok"
// and without --wait stops there successfully.
func TestCLIPollsBackgroundAssembly(t *testing.T) {
	fx := buildNative(t)
	dir, _ := buildJS(t)
	tests := []struct {
		name     string
		args     []string
		wantPoll bool
	}{
		{"debug-files --wait", []string{"debug-files", "upload", "--org", "o", "--project", "p", "--wait", fx.Debug}, true},
		{"sourcemaps --wait", []string{"sourcemaps", "upload", "--org", "o", "--project", "p", "--wait", "dist"}, true},
		{"debug-files without --wait", []string{"debug-files", "upload", "--org", "o", "--project", "p", fx.Debug}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, Config{AssembleWait: time.Nanosecond})
			ts.DIFs.setIdentify(identifyWithDebugfiles)
			ts.DIFs.setDelay(300 * time.Millisecond)
			ts.Bundles.setDelay(300 * time.Millisecond)
			res := runCLI(t, dir, ts.URL, "good", tc.args...)
			if res.Err != nil {
				t.Fatalf("upload failed: %v", res.Err)
			}
			var states []string
			for _, r := range ts.Requests() {
				if strings.HasSuffix(r.Path, "/assemble/") {
					states = append(states, r.State)
				}
			}
			// not_found, then created, then (when waiting) ok.
			if len(states) < 2 || states[0] != "not_found" || states[1] != "created" {
				t.Fatalf("assemble replies %v, want not_found then created", states)
			}
			if last := states[len(states)-1]; tc.wantPoll != (last == "ok") {
				t.Errorf("assemble replies %v: polling until ok = %v, want %v", states, last == "ok", tc.wantPoll)
			}
		})
	}
}

// TestCLIDebugFileRejected: a file the store refuses comes back as an
// error state whose detail the client shows, and the upload fails.
func TestCLIDebugFileRejected(t *testing.T) {
	fx := buildNative(t)
	ts := newTestServer(t, Config{})
	ts.DIFs.setIdentify(func([]byte) (debugfiles.FileMeta, error) {
		return debugfiles.FileMeta{}, fmt.Errorf("%w: no usable sections in this test", debugfiles.ErrUnsupported)
	})
	res := runCLI(t, t.TempDir(), ts.URL, "good", "debug-files", "upload", "--org", "o", "--project", "p", "--wait", fx.Debug)
	if res.Err == nil {
		t.Errorf("upload of a refused file succeeded")
	}
	if out := res.Stdout + res.Stderr; !strings.Contains(out, "no usable sections in this test") {
		t.Errorf("client output does not show the server's detail")
	}
}
