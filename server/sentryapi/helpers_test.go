package sentryapi

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/internal/testenv"
	"github.com/stacklens/stacklens/server/auth"
	"github.com/stacklens/stacklens/sourcemaps"
	"github.com/stacklens/stacklens/storage"
)

// bundleCall is one PutBundle the fake received.
type bundleCall struct {
	Project, Release, Dist string
	Zip                    []byte
}

type fakeBundles struct {
	mu    sync.Mutex
	calls []bundleCall
	err   error
	delay time.Duration // to make assembly outlast AssembleWait
}

func (f *fakeBundles) PutBundle(ctx context.Context, project, release, dist string, r io.ReaderAt, size int64) (sourcemaps.BundleSummary, error) {
	data := make([]byte, size)
	if _, err := r.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return sourcemaps.BundleSummary{}, err
	}
	f.mu.Lock()
	delay := f.delay
	f.mu.Unlock()
	time.Sleep(delay)
	if f.err != nil {
		return sourcemaps.BundleSummary{}, f.err
	}
	if _, err := zip.NewReader(bytes.NewReader(data), size); err != nil {
		return sourcemaps.BundleSummary{}, fmt.Errorf("%w: not a zip: %v", sourcemaps.ErrInvalidInput, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, bundleCall{project, release, dist, data})
	return sourcemaps.BundleSummary{Release: release, Dist: dist}, nil
}

func (f *fakeBundles) Calls() []bundleCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bundleCall(nil), f.calls...)
}

// difCall is one debug file the fake received.
type difCall struct {
	Project string
	Data    []byte
}

// fakeDebugFiles accepts ELF files only, describing them with the meta its
// identify function returns.
type fakeDebugFiles struct {
	mu       sync.Mutex
	calls    []difCall
	identify func(data []byte) (debugfiles.FileMeta, error)
	delay    time.Duration // to make assembly outlast AssembleWait
}

// setDelay sets how long uploads take, under the lock: see setIdentify.
func (f *fakeDebugFiles) setDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// setDelay sets how long bundle uploads take, under the lock: see
// fakeDebugFiles.setIdentify.
func (f *fakeBundles) setDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// setIdentify replaces the identify function under the lock: the uploads
// that call it run in assembly goroutines started by requests of an
// external sentry-cli process, an ordering the race detector cannot see.
func (f *fakeDebugFiles) setIdentify(identify func(data []byte) (debugfiles.FileMeta, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.identify = identify
}

func (f *fakeDebugFiles) Upload(ctx context.Context, project string, body io.Reader) ([]debugfiles.FileMeta, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	delay := f.delay
	f.mu.Unlock()
	time.Sleep(delay)
	if !bytes.HasPrefix(data, []byte("\x7fELF")) {
		return nil, fmt.Errorf("%w: unknown object file format", debugfiles.ErrInvalidInput)
	}
	meta := debugfiles.FileMeta{Kind: debugfiles.KindELF, Arch: "x86_64", Features: []string{"symtab"}}
	f.mu.Lock()
	identify := f.identify
	f.mu.Unlock()
	if identify != nil {
		if meta, err = identify(data); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, difCall{project, data})
	return []debugfiles.FileMeta{meta}, nil
}

func (f *fakeDebugFiles) Calls() []difCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]difCall(nil), f.calls...)
}

// testTokens: "good" may upload anywhere, "reader" may only symbolicate,
// "ponly" may upload to project "p" only.
var testTokens = `[{"token":"good","scope":"upload","project":"*"},
 {"token":"reader","scope":"symbolicate","project":"*"},
 {"token":"ponly","scope":"upload","project":"p"}]`

// recordedRequest is what the test server saw of one request.
type recordedRequest struct {
	Method, Path string
	Status       int
	Body         []byte
	ChunkNames   []string // filenames of multipart parts, for chunk uploads
	State        string   // of an assemble reply (of its first file, for debug files)
}

type testServer struct {
	URL     string
	Bucket  storage.Bucket
	Bundles *fakeBundles
	DIFs    *fakeDebugFiles

	mu       sync.Mutex
	requests []recordedRequest
}

func (s *testServer) Requests() []recordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recordedRequest(nil), s.requests...)
}

// ChunkUploads returns the chunk names of every chunk POST, in order.
func (s *testServer) ChunkUploads() [][]string {
	var out [][]string
	for _, r := range s.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/chunk-upload/") {
			out = append(out, r.ChunkNames)
		}
	}
	return out
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *statusRecorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

// assembleState extracts the state of an assemble reply.
func assembleState(body []byte) string {
	var single struct {
		State string `json:"state"`
	}
	if json.Unmarshal(body, &single) == nil && single.State != "" {
		return single.State
	}
	var multi map[string]struct {
		State string `json:"state"`
	}
	if json.Unmarshal(body, &multi) == nil {
		for _, v := range multi {
			return v.State
		}
	}
	return ""
}

// newTestServer serves New(deps) behind an auth middleware like the real
// server's: unknown tokens get 401 with Sentry's error shape. It records
// every request, parsing chunk uploads to know which chunks were sent.
func newTestServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	authn, err := auth.Load("", testTokens)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Bucket: storage.NewInMemory(), Bundles: &fakeBundles{}, DIFs: &fakeDebugFiles{}}
	h := New(Deps{Bucket: ts.Bucket, Bundles: ts.Bundles, DebugFiles: ts.DIFs, Config: cfg})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := recordedRequest{Method: r.Method, Path: r.URL.Path, Body: jsonOnly(r.Header.Get("Content-Type"), body), ChunkNames: multipartFileNames(r.Header.Get("Content-Type"), body)}
		sw := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			rec.Status = sw.status
			if strings.HasSuffix(r.URL.Path, "/assemble/") {
				rec.State = assembleState(sw.body.Bytes())
			}
			ts.mu.Lock()
			ts.requests = append(ts.requests, rec)
			ts.mu.Unlock()
		}()
		p, err := authn.Authenticate(r)
		if err != nil {
			WriteError(sw, http.StatusUnauthorized, "Invalid token")
			return
		}
		h.ServeHTTP(sw, r.WithContext(auth.NewContext(r.Context(), p)))
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		for _, r := range ts.Requests() {
			t.Logf("request: %s %s -> %d %s (%d chunks) %.300s", r.Method, r.Path, r.Status, r.State, len(r.ChunkNames), r.Body)
		}
	})
	ts.URL = srv.URL
	return ts
}

func multipartFileNames(contentType string, body []byte) []string {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType != "multipart/form-data" {
		return nil
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var names []string
	for {
		part, err := mr.NextPart()
		if err != nil {
			return names
		}
		names = append(names, part.FileName())
	}
}

// cliResult is the outcome of one sentry-cli run.
type cliResult struct {
	Stdout, Stderr string
	Err            error
}

// runCLI runs the real sentry-cli against url with an isolated home and
// environment, so no user configuration or .env file leaks in.
func runCLI(t *testing.T, dir, url, token string, args ...string) cliResult {
	t.Helper()
	bin := testenv.NodeBin(t, "sentry-cli")
	full := append([]string{"--url", url, "--auth-token", token, "--log-level", "info"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Dir = dir
	home := t.TempDir()
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"SENTRY_LOAD_DOTENV=0",
		"SENTRY_DISABLE_UPDATE_CHECK=true",
		"SENTRY_NO_PROGRESS_BAR=1",
		"NO_COLOR=1",
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
	t.Logf("sentry-cli %s: err=%v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, res.Stdout, res.Stderr)
	return res
}

func sha1Hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonOnly keeps a request body for the log only when it is JSON.
func jsonOnly(contentType string, body []byte) []byte {
	if strings.HasPrefix(contentType, "application/json") {
		return body
	}
	return nil
}
