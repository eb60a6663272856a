package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stacklens/stacklens/internal/testenv"
)

func httpDo(t *testing.T, method, url, token string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// inFlight reads the server's in-flight request gauge (which counts the
// /metrics request itself).
func inFlight(t *testing.T, base string) int {
	t.Helper()
	_, body := httpDo(t, "GET", base+"/metrics", "", nil)
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "stacklens_http_requests_in_flight "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int(n)
		}
	}
	t.Fatal("no stacklens_http_requests_in_flight in /metrics")
	return 0
}

func TestGracefulShutdownFinishesInFlightRequest(t *testing.T) {
	srv := testenv.StartServer(t)
	pr, pw := io.Pipe()
	type result struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan result, 1)
	go func() {
		req, err := http.NewRequest("PUT", srv.URL+"/api/v1/projects/p/files?url=~/slow.js&release=1&type=source", pr)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: b, err: err}
	}()
	first := []byte("// first half of a slow upload\n")
	if _, err := pw.Write(first); err != nil {
		t.Fatal(err)
	}
	// Wait until the server is inside the upload handler.
	deadline := time.Now().Add(10 * time.Second)
	for inFlight(t, srv.URL) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("upload never reached the server")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := srv.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The listener closes: new connections are refused while the upload
	// is still open.
	host := strings.TrimPrefix(srv.URL, "http://")
	for {
		c, err := net.DialTimeout("tcp", host, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepts connections after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !srv.Running() {
		t.Fatal("server exited before its in-flight request finished")
	}
	second := []byte("var rest = 'second half';\n")
	if _, err := pw.Write(second); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	res := <-done
	if res.err != nil {
		t.Fatalf("in-flight upload failed: %v", res.err)
	}
	if res.status != http.StatusCreated {
		t.Fatalf("in-flight upload: %d %s", res.status, res.body)
	}
	var rec struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	}
	if err := json.Unmarshal(res.body, &rec); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(append(first, second...))
	if rec.SHA256 != hex.EncodeToString(want[:]) {
		t.Fatalf("stored sha256 %s, want %x: the body was cut", rec.SHA256, want)
	}
	if err := srv.Wait(30 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if !strings.Contains(srv.Logs(), "stopped") {
		t.Errorf("no clean-stop log line:\n%s", srv.Logs())
	}
}

func TestServeRefusesPublicAddressWithoutTokens(t *testing.T) {
	port := testenv.FreePort(t)
	cmd := exec.Command(testenv.Binary(t), "serve", "--listen", "0.0.0.0:"+strconv.Itoa(port), "--data", t.TempDir())
	cmd.Env = append(os.Environ(), "STACKLENS_TOKENS=", "STACKLENS_TOKENS_FILE=")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("err = %v, want exit status 1; output %s", err, out)
	}
	if !bytes.Contains(out, []byte("refusing to listen on 0.0.0.0")) || !bytes.Contains(out, []byte("tokens")) {
		t.Fatalf("message does not explain the refusal: %s", out)
	}
}

func TestServeWithTokensFromEnv(t *testing.T) {
	srv := testenv.StartServerWithEnv(t, []string{
		`STACKLENS_TOKENS=[{"token":"ci-secret","scope":"upload","project":"web"}]`,
	})
	put := func(token, project string) int {
		status, _ := httpDo(t, "PUT", srv.URL+"/api/v1/projects/"+project+"/files?url=~/a.js&release=1&type=source", token, strings.NewReader("x"))
		return status
	}
	if got := put("", "web"); got != 401 {
		t.Errorf("no token: %d, want 401", got)
	}
	if got := put("wrong", "web"); got != 401 {
		t.Errorf("wrong token: %d, want 401", got)
	}
	if got := put("ci-secret", "other"); got != 403 {
		t.Errorf("other project: %d, want 403", got)
	}
	if got := put("ci-secret", "web"); got != 201 {
		t.Errorf("valid token: %d, want 201", got)
	}
	// Probes and scrapers need no token; the caches report on /metrics.
	if status, body := httpDo(t, "GET", srv.URL+"/readyz", "", nil); status != 200 {
		t.Errorf("readyz: %d %s", status, body)
	}
	status, body := httpDo(t, "GET", srv.URL+"/metrics", "", nil)
	for _, want := range []string{`stacklens_cache_bytes{cache="sourcemaps",layer="memory"}`, `stacklens_cache_bytes{cache="debugfiles",layer="memory"}`,
		`stacklens_http_requests_total{code="401",route="PUT /api/v1/projects/{project}/files"} 2`} {
		if status != 200 || !bytes.Contains(body, []byte(want)) {
			t.Errorf("metrics (%d) lack %s", status, want)
		}
	}
}

// gccELF compiles a C program and returns the executable's bytes.
func gccELF(t *testing.T, name, source string) []byte {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, name+".c")
	if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command(testenv.Tool(t, "gcc"), "-O0", "-Wl,--build-id", "-o", out, src)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

type debugFileJSON struct {
	DebugID string `json:"debug_id"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
}

// TestKillDuringUploadLeavesNoPartialObject SIGKILLs the server in the middle
// of a 100 MB debug-file upload (once while the body streams in, once right
// after the last byte, while the server stores it), restarts it on the same
// data directory and checks that the store holds only complete objects and
// that earlier uploads survived and are still served.
func TestKillDuringUploadLeavesNoPartialObject(t *testing.T) {
	huge := gccELF(t, "huge", "char big[100 << 20] = {1};\nint main(void) { return big[12345]; }\n")
	if len(huge) < 100<<20 {
		t.Fatalf("fixture is only %d bytes", len(huge))
	}
	hugeSum := sha256.Sum256(huge)
	small := map[string][]byte{
		"one": gccELF(t, "one", "int one(void) { return 1; }\nint main(void) { return one(); }\n"),
		"two": gccELF(t, "two", "int two(void) { return 2; }\nint main(void) { return two(); }\n"),
	}
	jsBefore := []byte("function a() { return 1; }\n")

	tests := []struct {
		name   string
		killAt int // bytes handed to the client before SIGKILL
	}{
		{"while the body streams", 40 << 20},
		{"after the last byte", len(huge)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := testenv.StartServer(t)
			before := map[string]debugFileJSON{}
			for name, data := range small {
				status, body := httpDo(t, "POST", srv.URL+"/api/v1/projects/p/debug-files", "", bytes.NewReader(data))
				var files []debugFileJSON
				if status != 201 || json.Unmarshal(body, &files) != nil || len(files) != 1 {
					t.Fatalf("upload %s: %d %s", name, status, body)
				}
				before[name] = files[0]
			}
			if status, body := httpDo(t, "PUT", srv.URL+"/api/v1/projects/p/files?release=r1&type=source&url=~/a.js", "", bytes.NewReader(jsBefore)); status != 201 {
				t.Fatalf("upload a.js: %d %s", status, body)
			}

			pr, pw := io.Pipe()
			clientDone := make(chan error, 1)
			go func() {
				req, err := http.NewRequest("POST", srv.URL+"/api/v1/projects/p/debug-files", pr)
				if err != nil {
					clientDone <- err
					return
				}
				req.ContentLength = int64(len(huge))
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				pr.CloseWithError(io.ErrClosedPipe)
				clientDone <- err
			}()
			// Each Write returns once the client has taken the chunk, so the
			// server has been fed about killAt bytes when it is killed.
			const chunk = 1 << 20
			for sent := 0; sent < tc.killAt; sent += chunk {
				end := min(sent+chunk, tc.killAt)
				if _, err := pw.Write(huge[sent:end]); err != nil {
					t.Fatalf("upload stopped early after %d bytes: %v", sent, err)
				}
			}
			srv.Kill()
			pw.CloseWithError(io.ErrClosedPipe)
			<-clientDone

			srv.Restart()
			checkStoreConsistent(t, filepath.Join(srv.DataDir, "objects"))

			status, body := httpDo(t, "GET", srv.URL+"/api/v1/projects/p/debug-files", "", nil)
			var listed []debugFileJSON
			if status != 200 || json.Unmarshal(body, &listed) != nil {
				t.Fatalf("list after restart: %d %s", status, body)
			}
			got := map[string]debugFileJSON{}
			for _, f := range listed {
				got[f.SHA256] = f
			}
			for name, f := range before {
				if got[f.SHA256] != f {
					t.Errorf("%s after restart: listed %+v, want %+v", name, got[f.SHA256], f)
				}
				sum := sha256.Sum256(small[name])
				if f.SHA256 != hex.EncodeToString(sum[:]) {
					t.Errorf("%s: stored sha256 %s, want %x", name, f.SHA256, sum)
				}
			}
			// The huge file may have been stored completely just before the
			// kill; then it must be whole. Anything else must be absent.
			for sha, f := range got {
				if _, ok := before[nameOf(before, sha)]; ok {
					continue
				}
				if sha != hex.EncodeToString(hugeSum[:]) || f.Size != int64(len(huge)) {
					t.Errorf("unexpected file listed after the kill: %+v", f)
				}
			}
			t.Logf("after the kill %d file(s) listed besides the %d uploaded before", len(got)-len(before), len(before))
			if tc.killAt < len(huge) && len(got) != len(before) {
				t.Errorf("a half-sent upload is listed: %s", body)
			}
			status, body = httpDo(t, "GET", srv.URL+"/api/v1/projects/p/releases/r1/files", "", nil)
			sum := sha256.Sum256(jsBefore)
			if status != 200 || !bytes.Contains(body, []byte(hex.EncodeToString(sum[:]))) {
				t.Errorf("a.js lost after restart: %d %s", status, body)
			}
			// The restarted server still takes uploads.
			status, body = httpDo(t, "POST", srv.URL+"/api/v1/projects/q/debug-files", "", bytes.NewReader(small["one"]))
			if status != 201 || !bytes.Contains(body, []byte(before["one"].SHA256)) {
				t.Fatalf("upload after restart: %d %s", status, body)
			}
		})
	}
}

func nameOf(m map[string]debugFileJSON, sha string) string {
	for name, f := range m {
		if f.SHA256 == sha {
			return name
		}
	}
	return ""
}

// checkStoreConsistent walks a filesystem store: every blob hashes to its
// name and every record that names a blob points at one that exists.
// The store's reserved temp area (.tmp) is not part of the object space.
func checkStoreConsistent(t *testing.T, root string) {
	t.Helper()
	blobs, records := 0, 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasPrefix(rel, "blobs"+string(filepath.Separator)) {
			blobs++
			sum := sha256.Sum256(data)
			if hex.EncodeToString(sum[:]) != d.Name() {
				t.Errorf("partial or corrupt blob %s (%d bytes)", rel, len(data))
			}
			return nil
		}
		records++
		var rec map[string]any
		if err := json.Unmarshal(data, &rec); err != nil {
			t.Errorf("record %s is not JSON: %v", rel, err)
			return nil
		}
		if sha, ok := rec["sha256"].(string); ok {
			if len(sha) != 64 {
				t.Errorf("record %s names blob %q", rel, sha)
				return nil
			}
			if _, err := os.Stat(filepath.Join(root, "blobs", "sha256", sha[:2], sha)); err != nil {
				t.Errorf("record %s points to missing blob %s", rel, sha)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if blobs == 0 || records == 0 {
		t.Fatalf("walked %d blobs and %d records: the store layout is not what this check expects", blobs, records)
	}
}

// TestServeOnMinIO runs two servers with separate data directories over one
// MinIO bucket: what one stores, the other serves.
func TestServeOnMinIO(t *testing.T) {
	m := testenv.StartMinIO(t)
	bucket := m.NewBucketName(t)
	env := []string{"STACKLENS_S3_ACCESS_KEY=" + m.AccessKey, "STACKLENS_S3_SECRET_KEY=" + m.SecretKey}
	args := []string{"--storage", "s3", "--s3.endpoint", m.Endpoint, "--s3.bucket", bucket}
	a := testenv.StartServerWithEnv(t, env, args...)
	b := testenv.StartServerWithEnv(t, env, args...)

	elf := gccELF(t, "prog", "int f(void) { return 7; }\nint main(void) { return f(); }\n")
	status, body := httpDo(t, "POST", a.URL+"/api/v1/projects/p/debug-files", "", bytes.NewReader(elf))
	var up []debugFileJSON
	if status != 201 || json.Unmarshal(body, &up) != nil || len(up) != 1 {
		t.Fatalf("upload to a: %d %s", status, body)
	}
	js := []byte("function a() { return 1; }\n")
	if status, body := httpDo(t, "PUT", a.URL+"/api/v1/projects/p/files?release=r1&type=source&url=~/a.js", "", bytes.NewReader(js)); status != 201 {
		t.Fatalf("upload a.js to a: %d %s", status, body)
	}

	status, body = httpDo(t, "GET", b.URL+"/api/v1/projects/p/debug-files?debug_id="+up[0].DebugID, "", nil)
	var listed []debugFileJSON
	if status != 200 || json.Unmarshal(body, &listed) != nil || len(listed) != 1 || listed[0] != up[0] {
		t.Fatalf("b lists %d %s, want %+v", status, body, up[0])
	}
	sum := sha256.Sum256(js)
	status, body = httpDo(t, "GET", b.URL+"/api/v1/projects/p/releases/r1/files", "", nil)
	if status != 200 || !bytes.Contains(body, []byte(hex.EncodeToString(sum[:]))) {
		t.Fatalf("b release files: %d %s", status, body)
	}
	if status, body := httpDo(t, "GET", b.URL+"/readyz", "", nil); status != 200 {
		t.Fatalf("readyz over MinIO: %d %s", status, body)
	}
	// Nothing but spool space is used locally.
	if _, err := os.Stat(filepath.Join(a.DataDir, "objects")); !os.IsNotExist(err) {
		t.Errorf("the S3 server wrote a local object store (%v)", err)
	}
}

// TestBadInputGets4xxFromRealComponents sends malformed requests to the
// real server (real stores and pipeline behind it): each must get a 4xx
// JSON error, never a 5xx.
func TestBadInputGets4xxFromRealComponents(t *testing.T) {
	srv := testenv.StartServer(t, "--max-event-size", "1MiB", "--max-frames", "1000")
	var tooManyFrames bytes.Buffer
	tooManyFrames.WriteString(`{"platform":"native","exception":{"values":[{"stacktrace":{"frames":[`)
	for i := range 1500 {
		if i > 0 {
			tooManyFrames.WriteByte(',')
		}
		tooManyFrames.WriteString(`{"instruction_addr":"0x1000"}`)
	}
	tooManyFrames.WriteString(`]}}]}}`)
	zipNoManifest := []byte("PK\x05\x06" + strings.Repeat("\x00", 18)) // an empty zip
	tests := []struct {
		name, method, path string
		body               []byte
		want               int // 0: any 4xx
	}{
		{"map that is not JSON", "PUT", "/api/v1/projects/p/files?release=1&url=~/a.js.map&type=source_map", []byte("{not json"), 0},
		{"file without url or debug id", "PUT", "/api/v1/projects/p/files?release=1", []byte("var a;"), 400},
		{"bundle that is not a zip", "POST", "/api/v1/projects/p/artifact-bundles", []byte("garbage"), 0},
		{"bundle without manifest", "POST", "/api/v1/projects/p/artifact-bundles", zipNoManifest, 0},
		{"debug file garbage", "POST", "/api/v1/projects/p/debug-files", []byte("garbage, not an object file"), 400},
		{"debug file empty", "POST", "/api/v1/projects/p/debug-files", nil, 400},
		{"debug file truncated ELF", "POST", "/api/v1/projects/p/debug-files", []byte("\x7fELF\x02\x01\x01\x00"), 0},
		{"list with bad debug id", "GET", "/api/v1/projects/p/debug-files?debug_id=nope", nil, 400},
		{"delete never uploaded", "DELETE", "/api/v1/projects/p/debug-files?debug_id=1560cbc5-2654-fc81-bc4b-437e89e95fb5", nil, 404},
		{"event not an object", "POST", "/api/v1/projects/p/symbolicate", []byte(`"event"`), 400},
		{"event with stack trace of wrong shape", "POST", "/api/v1/projects/p/symbolicate", []byte(`{"exception":{"values":"nope"}}`), 400},
		{"event with too many frames", "POST", "/api/v1/projects/p/symbolicate", tooManyFrames.Bytes(), 413},
		{"event over the size limit", "POST", "/api/v1/projects/p/symbolicate", []byte(`{"x":"` + strings.Repeat("a", 2<<20) + `"}`), 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := httpDo(t, tc.method, srv.URL+tc.path, "", bytes.NewReader(tc.body))
			if status < 400 || status >= 500 || (tc.want != 0 && status != tc.want) {
				t.Fatalf("status %d, want %d (0: any 4xx): %s", status, tc.want, body)
			}
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("not a JSON error: %s", body)
			}
		})
	}
	if strings.Contains(srv.Logs(), "panic") {
		t.Fatalf("the server logged a panic:\n%s", srv.Logs())
	}
}

// TestDefaultLimitsAcceptLargeEvent: with default flags an event of 1,000
// frames is processed and every frame comes back.
func TestDefaultLimitsAcceptLargeEvent(t *testing.T) {
	srv := testenv.StartServer(t)
	const n = 1000
	frames := make([]map[string]any, n)
	for i := range frames {
		frames[i] = map[string]any{"abs_path": "https://example.com/app.min.js", "lineno": 1, "colno": i + 1, "function": "f"}
	}
	event := map[string]any{"platform": "javascript", "release": "1.0",
		"exception": map[string]any{"values": []any{map[string]any{"type": "Error", "stacktrace": map[string]any{"frames": frames}}}}}
	data, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	status, body := httpDo(t, "POST", srv.URL+"/api/v1/projects/p/symbolicate", "", bytes.NewReader(data))
	if status != 200 {
		t.Fatalf("status %d: %.500s", status, body)
	}
	var out struct {
		Exception struct {
			Values []struct {
				Stacktrace struct {
					Frames []map[string]any `json:"frames"`
				} `json:"stacktrace"`
			} `json:"values"`
		} `json:"exception"`
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.Exception.Values) != 1 {
		t.Fatalf("reply is not the event: %v %.500s", err, body)
	}
	if got := len(out.Exception.Values[0].Stacktrace.Frames); got != n {
		t.Fatalf("%d frames came back, want %d", got, n)
	}
}
