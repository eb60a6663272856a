package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSymbolicateCommand(t *testing.T) {
	var gotPath, gotAuth, gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotPath, gotAuth, gotBody = r.URL.Path, r.Header.Get("Authorization"), string(b)
		if strings.Contains(gotBody, "deny") {
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"error":{"code":"forbidden","message":"token lacks the symbolicate scope for project shop"}}`)
			return
		}
		_, _ = io.WriteString(w, `{"exception":{"values":[{"type":"Error","value":"boom","stacktrace":{"frames":[
		  {"function":"outer","abs_path":"src/a.js","lineno":1,"colno":2,"data":{"symbolicator_status":"symbolicated"}},
		  {"function":"inner","abs_path":"src/b.js","lineno":9,"colno":4,"context_line":"throw new Error('boom')","pre_context":[],"post_context":[],"data":{"symbolicator_status":"symbolicated"}}]}}]}}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	ev := filepath.Join(dir, "event.json")
	if err := os.WriteFile(ev, []byte(`{"exception":{"values":[]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"symbolicate", "--url", srv.URL, "--project", "shop", "--token", "t1", ev}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if gotPath != "/api/v1/projects/shop/symbolicate" || gotAuth != "Bearer t1" || gotBody != `{"exception":{"values":[]}}` {
		t.Errorf("request %s %q %q", gotPath, gotAuth, gotBody)
	}
	out := stdout.String()
	inner, outer := strings.Index(out, "at inner (src/b.js:9:4)"), strings.Index(out, "at outer (src/a.js:1:2)")
	if inner < 0 || outer < 0 || inner > outer || !strings.Contains(out, "> 9 | throw new Error('boom')") {
		t.Errorf("output:\n%s", out)
	}

	stdout.Reset()
	if code := run(context.Background(), []string{"symbolicate", "--url", srv.URL, "--project", "shop", "--json", ev}, &stdout, &stderr); code != 0 {
		t.Fatalf("--json exit %d", code)
	}
	if !strings.Contains(stdout.String(), `"function": "inner"`) {
		t.Errorf("--json output: %s", stdout.String())
	}

	if err := os.WriteFile(ev, []byte(`{"deny":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"symbolicate", "--url", srv.URL, "--project", "shop", ev}, &stdout, &stderr); code == 0 ||
		!strings.Contains(stderr.String(), "403 forbidden: token lacks the symbolicate scope") {
		t.Errorf("a refused request must fail with the server's message; exit %d, stderr %q", code, stderr.String())
	}
	if err := os.WriteFile(ev, []byte(`{not json`), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"symbolicate", "--url", srv.URL, "--project", "shop", ev}, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "not valid JSON") {
		t.Errorf("bad JSON: exit %d, stderr %q", code, stderr.String())
	}
}
