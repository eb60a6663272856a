package server

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stacklens/stacklens/server/auth"
)

// checkSentryError asserts a Sentry-API error: {"detail": message} and
// nothing else, the shape sentry-cli prints as the reason.
func checkSentryError(t *testing.T, r reply, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	var e map[string]any
	if err := json.Unmarshal(r.body, &e); err != nil || len(e) != 1 || e["detail"] == "" || e["detail"] == nil {
		t.Errorf("error body %q is not {\"detail\": …}", r.body)
	}
}

// checkError asserts the reply is the JSON error shape with status and code.
func checkError(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var e struct {
		ErrorBody
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %q is not {\"error\":{\"code\",\"message\"}}: %v", r.body, err)
	}
	if e.Error.Code != code {
		t.Errorf("error code = %q, want %q (message %q)", e.Error.Code, code, e.Error.Message)
	}
	if e.Error.Message == "" {
		t.Error("error message is empty")
	}
}

func TestBadRequestsGetJSONErrors(t *testing.T) {
	ts := newTestServer(t, func(c *Config, _ *Deps) {
		c.MaxEventSize = 1024
		c.MaxUploadSize = 4096
	})
	big := strings.Repeat("x", 5000)
	tests := []struct {
		name         string
		method, path string
		body         string
		status       int
		code         string
	}{
		{"unknown path", "GET", "/nope", "", 404, "not_found"},
		{"wrong method", "GET", "/api/v1/projects/p/symbolicate", "", 405, "method_not_allowed"},
		{"bad project chars", "POST", "/api/v1/projects/a%20b/symbolicate", "{}", 400, "invalid_input"},
		{"dot-dot project", "POST", "/api/v1/projects/%2E%2E/symbolicate", "{}", 400, "invalid_input"},
		{"long project", "POST", "/api/v1/projects/" + strings.Repeat("a", 65) + "/symbolicate", "{}", 400, "invalid_input"},
		{"empty event", "POST", "/api/v1/projects/p/symbolicate", "", 400, "invalid_input"},
		{"bad json", "POST", "/api/v1/projects/p/symbolicate", `{"a":`, 400, "invalid_input"},
		{"array event", "POST", "/api/v1/projects/p/symbolicate", `[1,2]`, 400, "invalid_input"},
		{"null event", "POST", "/api/v1/projects/p/symbolicate", `null`, 400, "invalid_input"},
		{"trailing data", "POST", "/api/v1/projects/p/symbolicate", `{} {}`, 400, "invalid_input"},
		{"event too big", "POST", "/api/v1/projects/p/symbolicate", `{"x":"` + big + `"}`, 413, "too_large"},
		{"invalid event", "POST", "/api/v1/projects/p/symbolicate", `{"test":"invalid"}`, 400, "invalid_event"},
		{"too many frames", "POST", "/api/v1/projects/p/symbolicate", `{"test":"too-many-frames"}`, 413, "too_many_frames"},
		{"internal error", "POST", "/api/v1/projects/p/symbolicate", `{"test":"internal"}`, 500, "internal"},
		{"panic", "POST", "/api/v1/projects/p/symbolicate", `{"test":"panic"}`, 500, "internal"},
		{"bad artifact type", "PUT", "/api/v1/projects/p/files?url=~/a.js&type=exe", "x", 400, "invalid_input"},
		{"dist without release", "PUT", "/api/v1/projects/p/files?url=~/a.js&dist=d", "x", 400, "invalid_input"},
		{"invalid artifact", "PUT", "/api/v1/projects/p/files?url=invalid", "x", 400, "invalid_input"},
		{"invalid key", "PUT", "/api/v1/projects/p/files?url=badkey", "x", 400, "invalid_key"},
		{"blob too large", "PUT", "/api/v1/projects/p/files?url=toolarge", "x", 413, "too_large"},
		{"upload over limit", "PUT", "/api/v1/projects/p/files?url=~/a.js", big, 413, "too_large"},
		{"store internal", "PUT", "/api/v1/projects/p/files?url=internal", "x", 500, "internal"},
		{"bundle not zip", "POST", "/api/v1/projects/p/artifact-bundles", "not a zip", 400, "invalid_input"},
		{"bundle empty", "POST", "/api/v1/projects/p/artifact-bundles", "", 400, "invalid_input"},
		{"bundle over limit", "POST", "/api/v1/projects/p/artifact-bundles", big, 413, "too_large"},
		{"debug file garbage", "POST", "/api/v1/projects/p/debug-files", "garbage", 400, "invalid_input"},
		{"delete without id", "DELETE", "/api/v1/projects/p/debug-files", "", 400, "invalid_input"},
		{"delete missing", "DELETE", "/api/v1/projects/p/debug-files?debug_id=nope", "", 404, "not_found"},
		{"release missing", "GET", "/api/v1/projects/p/releases/missing/files", "", 404, "not_found"},
		{"sentry api absent", "GET", "/api/0/organizations/o/chunk-upload/", "", 404, "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkError(t, ts.do(t, tc.method, tc.path, "", strings.NewReader(tc.body)), tc.status, tc.code)
		})
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, "fake symbolicator exploded") || !strings.Contains(logs, "routes.go") {
		t.Errorf("panic not logged with its stack; logs:\n%s", logs)
	}
	if !strings.Contains(logs, "disk on fire") {
		t.Error("internal error detail not logged")
	}
}

func TestInternalErrorsDoNotLeak(t *testing.T) {
	ts := newTestServer(t, nil)
	r := ts.do(t, "PUT", "/api/v1/projects/p/files?url=internal", "", strings.NewReader("x"))
	checkError(t, r, 500, "internal")
	if bytes.Contains(r.body, []byte("secret")) || bytes.Contains(r.body, []byte("fire")) {
		t.Fatalf("internal detail leaked to the client: %s", r.body)
	}
}

func TestUploadLimitWithoutContentLength(t *testing.T) {
	ts := newTestServer(t, func(c *Config, _ *Deps) { c.MaxUploadSize = 1000 })
	// An io.Pipe body has no length, so the client sends it chunked and only
	// the streaming limit can stop it.
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(bytes.Repeat([]byte("a"), 1500))
		pw.Close()
	}()
	checkError(t, ts.do(t, "POST", "/api/v1/projects/p/debug-files", "", pr), 413, "too_large")
}

func TestSymbolicateRoundTrip(t *testing.T) {
	ts := newTestServer(t, nil)
	// Integers beyond float64 precision must survive (UseNumber).
	in := `{"event_id":"abc","big":12345678901234567890,"f":1.50,"exception":{"values":[]}}`
	r := ts.do(t, "POST", "/api/v1/projects/my-app/symbolicate", "", strings.NewReader(in))
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	for _, want := range []string{`"big":12345678901234567890`, `"f":1.50`, `"symbolicated_for":"my-app"`, `"event_id":"abc"`} {
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("reply %s lacks %s", r.body, want)
		}
	}
}

func TestUploadAndList(t *testing.T) {
	ts := newTestServer(t, nil)
	r := ts.do(t, "PUT", "/api/v1/projects/p/files?url=~/app.min.js&release=1.0&dist=web&type=minified_source", "",
		strings.NewReader("function a(){}"), "SourceMap", "app.min.js.map")
	if r.status != 201 {
		t.Fatalf("put file: %d %s", r.status, r.body)
	}
	r = ts.do(t, "PUT", "/api/v1/projects/p/files?url=~/b.js&release=1.0&sourcemap=q.map", "", strings.NewReader("x"),
		"SourceMap", "ignored-when-query-given.map")
	if r.status != 201 {
		t.Fatalf("put file: %d %s", r.status, r.body)
	}
	r = ts.do(t, "PUT", "/api/v1/projects/p/files?url=~/c.js&release=1.0", "", strings.NewReader("x"), "X-SourceMap", "c.map")
	if r.status != 201 {
		t.Fatalf("put file: %d %s", r.status, r.body)
	}
	got := ts.js.uploads
	if len(got) != 3 || got[0].SourceMap != "app.min.js.map" || got[0].Dist != "web" || got[0].Type != "minified_source" ||
		got[1].SourceMap != "q.map" || got[2].SourceMap != "c.map" {
		t.Fatalf("uploads = %+v", got)
	}
	if string(ts.js.bodies[0]) != "function a(){}" {
		t.Fatalf("body = %q", ts.js.bodies[0])
	}
	r = ts.do(t, "GET", "/api/v1/projects/p/releases/1.0/files", "", nil)
	var files []map[string]any
	if err := json.Unmarshal(r.body, &files); err != nil || r.status != 200 || len(files) != 3 {
		t.Fatalf("list: %d %s (%v)", r.status, r.body, err)
	}
	r = ts.do(t, "GET", "/api/v1/projects/p/releases/2.0/files", "", nil)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != "[]" {
		t.Fatalf("empty list: %d %s", r.status, r.body)
	}

	// Debug files: upload, list (all / by id), delete.
	for _, id := range []string{"id-1", "id-2"} {
		r = ts.do(t, "POST", "/api/v1/projects/p/debug-files", "", strings.NewReader("\x7fELF"+id))
		if r.status != 201 || !bytes.Contains(r.body, []byte(`"debug_id":"`+id+`"`)) {
			t.Fatalf("debug upload: %d %s", r.status, r.body)
		}
	}
	r = ts.do(t, "GET", "/api/v1/projects/p/debug-files?debug_id=id-2", "", nil)
	if r.status != 200 || bytes.Count(r.body, []byte("debug_id")) != 1 {
		t.Fatalf("debug list by id: %d %s", r.status, r.body)
	}
	r = ts.do(t, "DELETE", "/api/v1/projects/p/debug-files?debug_id=id-2", "", nil)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"deleted":1}` {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	r = ts.do(t, "GET", "/api/v1/projects/p/debug-files", "", nil)
	if r.status != 200 || bytes.Count(r.body, []byte("debug_id")) != 1 || !bytes.Contains(r.body, []byte("id-1")) {
		t.Fatalf("debug list after delete: %d %s", r.status, r.body)
	}
}

func TestBundleIsSpooledAndCleanedUp(t *testing.T) {
	ts := newTestServer(t, nil)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"manifest.json", "files/_/_/app.js"} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	r := ts.do(t, "POST", "/api/v1/projects/p/artifact-bundles?release=2.1&dist=d", "", bytes.NewReader(buf.Bytes()))
	if r.status != 201 {
		t.Fatalf("bundle: %d %s", r.status, r.body)
	}
	if len(ts.js.bundles) != 1 || ts.js.bundles[0] != "2.1/d:manifest.json,files/_/_/app.js" {
		t.Fatalf("bundles = %q", ts.js.bundles)
	}
	left, err := os.ReadDir(ts.srv.cfg.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("spool files left behind: %v", left)
	}
}

func TestReadyz(t *testing.T) {
	ts := newTestServer(t, nil)
	if r := ts.do(t, "GET", "/readyz", "", nil); r.status != 200 {
		t.Fatalf("readyz with a healthy store: %d %s", r.status, r.body)
	}
	ts.store.err = errors.New("connection refused")
	checkError(t, ts.do(t, "GET", "/readyz", "", nil), 503, "store_unavailable")
	if r := ts.do(t, "GET", "/healthz", "", nil); r.status != 200 {
		t.Fatalf("healthz must not depend on the store: %d", r.status)
	}
}

func TestRequestTimeout(t *testing.T) {
	ts := newTestServer(t, func(c *Config, _ *Deps) { c.RequestTimeout = 50 * time.Millisecond })
	checkError(t, ts.do(t, "POST", "/api/v1/projects/p/symbolicate", "", strings.NewReader(`{"test":"slow"}`)), 504, "timeout")
}

func TestDeeplyNestedEventIsRejected(t *testing.T) {
	ts := newTestServer(t, nil)
	body := `{"a":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`
	checkError(t, ts.do(t, "POST", "/api/v1/projects/p/symbolicate", "", strings.NewReader(body)), 400, "invalid_input")
}

func TestSlowUploadBodyTimesOut(t *testing.T) {
	ts := newTestServer(t, func(c *Config, _ *Deps) { c.UploadTimeout = 100 * time.Millisecond })
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write([]byte("\x7fELF")) }() // then nothing more
	checkError(t, ts.do(t, "POST", "/api/v1/projects/p/debug-files", "", pr), 408, "timeout")
}

func TestMissingComponentsAnswer501(t *testing.T) {
	ts := newTestServer(t, func(_ *Config, d *Deps) { *d = Deps{Store: d.Store} })
	for _, path := range []string{"/api/v1/projects/p/debug-files", "/api/v1/projects/p/releases/r/files"} {
		checkError(t, ts.do(t, "GET", path, "", nil), 501, "not_implemented")
	}
	checkError(t, ts.do(t, "POST", "/api/v1/projects/p/symbolicate", "", strings.NewReader("{}")), 501, "not_implemented")
}

func TestMetrics(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.do(t, "GET", "/healthz", "", nil)
	ts.do(t, "GET", "/healthz", "", nil)
	ts.do(t, "POST", "/api/v1/projects/p/symbolicate", "", strings.NewReader("nope"))
	ts.do(t, "GET", "/no/such/thing", "", nil)
	r := ts.do(t, "GET", "/metrics", "", nil)
	if r.status != 200 {
		t.Fatalf("metrics: %d", r.status)
	}
	for _, want := range []string{
		`stacklens_http_requests_total{code="200",route="GET /healthz"} 2`,
		`stacklens_http_requests_total{code="400",route="POST /api/v1/projects/{project}/symbolicate"} 1`,
		`stacklens_http_requests_total{code="404",route="unmatched"} 1`,
		`stacklens_http_request_duration_seconds_bucket{code="200",route="GET /healthz",le="+Inf"} 2`,
		`go_goroutines`,
	} {
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestAuthScopes(t *testing.T) {
	ts := newTestServer(t, withTokens(
		auth.Grant{Token: "up", Scope: auth.ScopeUpload, Project: "p"},
		auth.Grant{Token: "sym", Scope: auth.ScopeSymbolicate, Project: "*"},
		auth.Grant{Token: "adm", Scope: auth.ScopeAdmin, Project: "p"},
	))
	sentry := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !auth.FromContext(r.Context()).Allows(auth.ScopeUpload, "p") {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusTeapot)
	})
	ts.srv.deps.SentryAPI = sentry
	type call struct{ method, path, body string }
	upload := call{"PUT", "/api/v1/projects/p/files?url=~/a.js", "x"}
	uploadQ := call{"PUT", "/api/v1/projects/q/files?url=~/a.js", "x"}
	symb := call{"POST", "/api/v1/projects/p/symbolicate", "{}"}
	list := call{"GET", "/api/v1/projects/p/debug-files", ""}
	del := call{"DELETE", "/api/v1/projects/p/debug-files?debug_id=x", ""}
	sentryCall := call{"GET", "/api/0/organizations/o/chunk-upload/", ""}
	tests := []struct {
		token  string
		c      call
		status int
	}{
		{"", upload, 401}, {"wrong", upload, 401}, {"", symb, 401}, {"", sentryCall, 401}, {"wrong", sentryCall, 401},
		{"up", upload, 201}, {"up", uploadQ, 403}, {"up", symb, 403}, {"up", list, 200}, {"up", del, 403}, {"up", sentryCall, 418},
		{"sym", upload, 403}, {"sym", symb, 200}, {"sym", list, 200}, {"sym", del, 403}, {"sym", sentryCall, 403},
		{"adm", upload, 201}, {"adm", symb, 200}, {"adm", list, 200}, {"adm", del, 404}, {"adm", uploadQ, 403},
	}
	for _, tc := range tests {
		t.Run(tc.token+" "+tc.c.method+" "+tc.c.path, func(t *testing.T) {
			r := ts.do(t, tc.c.method, tc.c.path, tc.token, strings.NewReader(tc.c.body))
			switch tc.status {
			case 401:
				if tc.c == sentryCall {
					checkSentryError(t, r, 401)
					return
				}
				if r.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without a WWW-Authenticate header")
				}
				checkError(t, r, 401, "unauthorized")
			case 403:
				if tc.c == sentryCall {
					if r.status != 403 {
						t.Fatalf("status %d, want 403", r.status)
					}
					return
				}
				checkError(t, r, 403, "forbidden")
			default:
				if r.status != tc.status {
					t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
				}
			}
		})
	}
	r := ts.do(t, "GET", "/api/0/organizations/o/chunk-upload/", "wrong", nil)
	if !bytes.Contains(r.body, []byte(`"detail":"unauthenticated: unknown token"`)) {
		t.Errorf("sentry-cli would not show why: %s", r.body)
	}
	// Health and metrics stay open for probes and scrapers.
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if r := ts.do(t, "GET", path, "", nil); r.status != 200 {
			t.Errorf("%s without a token: %d", path, r.status)
		}
	}
}

func TestOpenModeAcceptsAnyToken(t *testing.T) {
	ts := newTestServer(t, nil)
	for _, tok := range []string{"", "anything"} {
		if r := ts.do(t, "POST", "/api/v1/projects/p/symbolicate", tok, strings.NewReader("{}")); r.status != 200 {
			t.Errorf("token %q: %d %s", tok, r.status, r.body)
		}
	}
}

func TestNoTokensRequiresLoopback(t *testing.T) {
	tests := []struct {
		listen string
		tokens bool
		ok     bool
	}{
		{"127.0.0.1:0", false, true},
		{"[::1]:8080", false, true},
		{"localhost:8080", false, true},
		{"127.3.4.5:8080", false, true},
		{"0.0.0.0:8080", false, false},
		{":8080", false, false},
		{"[::]:8080", false, false},
		{"192.168.1.10:8080", false, false},
		{"0.0.0.0:8080", true, true},
	}
	for _, tc := range tests {
		cfg := DefaultConfig()
		cfg.DataDir = t.TempDir()
		cfg.Listen = tc.listen
		if tc.tokens {
			cfg.Tokens = `[{"token":"t","scope":"admin","project":"*"}]`
		}
		_, err := New(cfg, Deps{Store: &fakeStore{}}, nil)
		if (err == nil) != tc.ok {
			t.Errorf("listen %s tokens=%v: err = %v, want ok=%v", tc.listen, tc.tokens, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "tokens") {
			t.Errorf("refusal does not say how to fix it: %v", err)
		}
	}
}

func TestViewerMount(t *testing.T) {
	viewer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "viewer:"+r.URL.Path)
	})
	ts := newTestServer(t, func(_ *Config, d *Deps) { d.Viewer = viewer })
	for _, path := range []string{"/", "/assets/app.js"} {
		r := ts.do(t, "GET", path, "", nil)
		if r.status != 200 || string(r.body) != "viewer:"+path {
			t.Errorf("GET %s: %d %q", path, r.status, r.body)
		}
	}
	checkError(t, ts.do(t, "GET", "/other", "", nil), 404, "not_found")
	checkError(t, ts.do(t, "POST", "/", "", nil), 405, "method_not_allowed")
}
