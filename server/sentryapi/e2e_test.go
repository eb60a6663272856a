package sentryapi

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/internal/testenv"
)

// These tests run the real stacklens binary (testenv.StartServer) on the
// filesystem store and on MinIO, upload with the real sentry-cli, and
// symbolicate an event from the uploaded build through the v1 API.

// jsTruth is what testdata/sentrycli/js/stack.js prints: the frames of an
// error thrown by the build, and where trace-mapping maps each of them.
type jsTruth struct {
	Message string `json:"message"`
	Frames  []struct {
		Lineno     int    `json:"lineno"`
		Colno      int    `json:"colno"`
		Source     string `json:"source"`
		OrigLine   int    `json:"origLine"`
		OrigColumn int    `json:"origColumn"`
	} `json:"frames"`
}

func runJSBuild(t *testing.T, dir string) jsTruth {
	t.Helper()
	script := filepath.Join(testenv.RepoRoot(t), "testdata", "sentrycli", "js", "stack.js")
	cmd := exec.Command(testenv.Tool(t, "node"), script, filepath.Join(dir, "dist", "app.min.js"), testenv.NodeModules(t))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node stack.js: %v", err)
	}
	var truth jsTruth
	if err := json.Unmarshal(out, &truth); err != nil || len(truth.Frames) < 2 {
		t.Fatalf("stack.js output %q: %v (want at least 2 frames)", out, err)
	}
	return truth
}

// storageBackends are the stores the binary is run on.
func storageBackends(t *testing.T) map[string]func(t *testing.T) []string {
	return map[string]func(t *testing.T) []string{
		"fs": func(t *testing.T) []string { return nil },
		"minio": func(t *testing.T) []string {
			m := testenv.StartMinIO(t)
			return []string{"--s3.endpoint", m.Endpoint, "--s3.bucket", m.NewBucketName(t), "--s3.access-key", m.AccessKey, "--s3.secret-key", m.SecretKey}
		},
	}
}

func TestE2ESourcemapsThroughSentryCLI(t *testing.T) {
	dir, debugID := buildJS(t)
	truth := runJSBuild(t, dir)
	const release = "shop@2.0.0"
	const url = "https://shop.example.com/static/app.min.js"
	for name, storeArgs := range storageBackends(t) {
		t.Run(name, func(t *testing.T) {
			srv := testenv.StartServer(t, storeArgs(t)...)
			tests := []struct {
				name      string
				uploadArg []string
				event     map[string]any
			}{
				{"by release", []string{"--release", release, "--url-prefix", "~/static"}, map[string]any{"release": release}},
				{"by debug id", nil, map[string]any{"debug_meta": map[string]any{"images": []any{
					map[string]any{"type": "sourcemap", "code_file": url, "debug_id": debugID},
				}}}},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					project := strings.ReplaceAll(tc.name, " ", "-")
					args := append([]string{"sourcemaps", "upload", "--org", "o", "--project", project, "--wait"}, tc.uploadArg...)
					if res := runCLI(t, dir, srv.URL, "any", append(args, "dist")...); res.Err != nil {
						t.Fatalf("sourcemaps upload: %v", res.Err)
					}
					frames := make([]any, len(truth.Frames))
					for i, f := range truth.Frames {
						frames[i] = map[string]any{"abs_path": url, "lineno": f.Lineno, "colno": f.Colno, "function": "?"}
					}
					event := map[string]any{"platform": "javascript", "exception": map[string]any{"values": []any{
						map[string]any{"type": "Error", "value": truth.Message, "stacktrace": map[string]any{"frames": frames}},
					}}}
					for k, v := range tc.event {
						event[k] = v
					}
					got := symbolicate(t, srv.URL, project, event)
					checkJSFrames(t, got, truth)
				})
			}
		})
	}
}

func symbolicate(t *testing.T, base, project string, event map[string]any) map[string]any {
	t.Helper()
	body, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/api/v1/projects/"+project+"/symbolicate", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("symbolicate: %d %s", resp.StatusCode, data)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("symbolicate reply: %v", err)
	}
	return out
}

// checkJSFrames compares the event's frames with trace-mapping's answer.
func checkJSFrames(t *testing.T, event map[string]any, truth jsTruth) {
	t.Helper()
	frames, err := eventFrames(event)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != len(truth.Frames) {
		t.Fatalf("%d frames back for %d sent", len(frames), len(truth.Frames))
	}
	for i, want := range truth.Frames {
		f := frames[i]
		where := fmt.Sprintf("frame %d (%d:%d)", i, want.Lineno, want.Colno)
		if f["lineno"] != float64(want.OrigLine) || f["colno"] != float64(want.OrigColumn+1) {
			t.Errorf("%s: line %v col %v, want %d:%d (trace-mapping)", where, f["lineno"], f["colno"], want.OrigLine, want.OrigColumn+1)
		}
		absPath, _ := f["abs_path"].(string)
		if path.Base(absPath) != path.Base(want.Source) {
			t.Errorf("%s: abs_path %q, want the source %q", where, absPath, want.Source)
		}
		if data, _ := f["data"].(map[string]any); data["symbolicated"] != true {
			t.Errorf("%s: not symbolicated: %v", where, f["data"])
		}
	}
}

func eventFrames(event map[string]any) ([]map[string]any, error) {
	exc, _ := event["exception"].(map[string]any)
	values, _ := exc["values"].([]any)
	if len(values) != 1 {
		return nil, fmt.Errorf("event has %d exceptions, want 1", len(values))
	}
	st, _ := values[0].(map[string]any)["stacktrace"].(map[string]any)
	raw, _ := st["frames"].([]any)
	frames := make([]map[string]any, len(raw))
	for i, f := range raw {
		frames[i], _ = f.(map[string]any)
	}
	return frames, nil
}

// llvmFrame is one entry of llvm-symbolizer's JSON output.
type llvmFrame struct {
	FunctionName string
	FileName     string
	Line         int
}

// nativeAddresses picks, in demo::average, one address inside an inlined
// call and one outside any, with what llvm-symbolizer says of each
// (innermost frame first).
func nativeAddresses(t *testing.T, debugFile string) map[uint64][]llvmFrame {
	t.Helper()
	f, err := elf.Open(debugFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	var fn elf.Symbol
	for _, s := range syms {
		if s.Name == "_ZN4demo7averageEPKii" {
			fn = s
		}
	}
	if fn.Size == 0 {
		t.Fatalf("no demo::average symbol in %s", debugFile)
	}
	var args []string
	for a := fn.Value; a < fn.Value+fn.Size; a++ {
		args = append(args, fmt.Sprintf("0x%x", a))
	}
	cmd := exec.Command(testenv.Tool(t, "llvm-symbolizer"), append([]string{"--obj=" + debugFile, "--inlining", "--demangle", "--output-style=JSON"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("llvm-symbolizer: %v", err)
	}
	var results []struct {
		Address string
		Symbol  []llvmFrame
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var batch []struct {
			Address string
			Symbol  []llvmFrame
		}
		if err := dec.Decode(&batch); err != nil {
			t.Fatalf("llvm-symbolizer output: %v", err)
		}
		results = append(results, batch...)
	}
	picked := map[uint64][]llvmFrame{}
	var haveInlined, havePlain bool
	for _, r := range results {
		var addr uint64
		if _, err := fmt.Sscanf(r.Address, "0x%x", &addr); err != nil || len(r.Symbol) == 0 || r.Symbol[0].Line == 0 {
			continue
		}
		switch {
		case len(r.Symbol) > 1 && !haveInlined:
			haveInlined = true
			picked[addr] = r.Symbol
		case len(r.Symbol) == 1 && !havePlain:
			havePlain = true
			picked[addr] = r.Symbol
		}
	}
	if !haveInlined || !havePlain {
		t.Fatalf("llvm-symbolizer found no inlined/plain address in demo::average: %s", out)
	}
	return picked
}

func TestE2EDebugFilesThroughSentryCLI(t *testing.T) {
	fx := buildNative(t)
	truth := sentryCheck(t, fx.Debug)
	addrs := nativeAddresses(t, fx.Debug)
	const imageAddr = 0x555555554000
	for name, storeArgs := range storageBackends(t) {
		t.Run(name, func(t *testing.T) {
			srv := testenv.StartServer(t, storeArgs(t)...)
			res := runCLI(t, t.TempDir(), srv.URL, "any", "debug-files", "upload", "--org", "o", "--project", "native", "--wait", fx.Stripped, fx.Debug)
			if res.Err != nil {
				t.Fatalf("debug-files upload: %v", res.Err)
			}
			if strings.Count(res.Stdout, "OK "+truth.Variants[0].DebugID) != 2 {
				t.Errorf("the client did not report both files stored under %s", truth.Variants[0].DebugID)
			}
			for addr, want := range addrs {
				t.Run(fmt.Sprintf("0x%x", addr), func(t *testing.T) {
					event := map[string]any{
						"platform": "native",
						"debug_meta": map[string]any{"images": []any{map[string]any{
							"type": "elf", "debug_id": truth.Variants[0].DebugID, "code_id": truth.Variants[0].CodeID,
							"code_file": "/srv/demo", "image_addr": fmt.Sprintf("0x%x", imageAddr), "image_size": 1 << 20, "image_vmaddr": "0x0",
						}}},
						"exception": map[string]any{"values": []any{map[string]any{"type": "SIGFPE", "stacktrace": map[string]any{
							"frames": []any{map[string]any{"instruction_addr": fmt.Sprintf("0x%x", imageAddr+addr)}},
						}}}},
					}
					frames, err := eventFrames(symbolicate(t, srv.URL, "native", event))
					if err != nil {
						t.Fatal(err)
					}
					if len(frames) != len(want) {
						t.Fatalf("%d frames, want %d (llvm-symbolizer: %+v)", len(frames), len(want), want)
					}
					for i, w := range want {
						f := frames[len(frames)-1-i] // the event lists the outermost first
						name, _, _ := strings.Cut(w.FunctionName, "(")
						fn, _ := f["function"].(string)
						if !strings.Contains(fn, name) || f["lineno"] != float64(w.Line) || !strings.HasSuffix(fmt.Sprint(f["abs_path"]), "demo.cpp") {
							t.Errorf("frame %d: %v at %v:%v, want %s at demo.cpp:%d", i, fn, f["abs_path"], f["lineno"], w.FunctionName, w.Line)
						}
					}
				})
			}
		})
	}
}

// TestE2ETokens: with tokens configured, the real server lets the right
// token upload and turns a wrong one away with a message the client shows.
func TestE2ETokens(t *testing.T) {
	fx := buildNative(t)
	srv := testenv.StartServerWithEnv(t, []string{`STACKLENS_TOKENS=[{"token":"ci-secret","scope":"upload","project":"native"}]`})
	tests := []struct {
		name, token, project string
		wantErr              string // in stderr; "" = success
	}{
		{"wrong token", "not-the-token", "native", "401"},
		{"other project", "ci-secret", "elsewhere", "403"},
		{"right token", "ci-secret", "native", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runCLI(t, t.TempDir(), srv.URL, tc.token, "debug-files", "upload", "--org", "o", "--project", tc.project, "--wait", fx.Debug)
			if tc.wantErr == "" {
				if res.Err != nil {
					t.Fatalf("upload with the right token failed: %v", res.Err)
				}
				return
			}
			if res.Err == nil {
				t.Fatalf("upload succeeded")
			}
			if !strings.Contains(res.Stderr, tc.wantErr) {
				t.Errorf("stderr does not give the reason (%s): %q", tc.wantErr, res.Stderr)
			}
		})
	}
}
