package sentryapi

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestReleasesAPI(t *testing.T) {
	ts := newTestServer(t, Config{})
	base := ts.URL + "/api/0/organizations/o/releases/"
	version := "shop@1.2.3+build 7" // '@', '+' and a space must survive the key escaping

	status, got := doJSON(t, "POST", base, "good", map[string]any{"version": version, "projects": []string{"p"}, "dateStarted": "2026-01-02T03:04:05Z"})
	if status != http.StatusCreated || got["version"] != version || got["dateCreated"] == nil || got["shortVersion"] != "1.2.3+build 7" {
		t.Fatalf("new release: %d %v", status, got)
	}
	// Creating it again is not an error (CI scripts re-run), and keeps its creation date.
	created := got["dateCreated"]
	status, got = doJSON(t, "POST", base, "good", map[string]any{"version": version, "projects": []string{"p", "web"}})
	if status != http.StatusOK || got["dateCreated"] != created {
		t.Fatalf("same release again: %d %v (created %v)", status, got, created)
	}

	relURL := base + url.PathEscape(version) + "/"
	status, got = doJSON(t, "PUT", relURL, "good", map[string]any{"projects": []string{"p"}, "dateReleased": "2026-01-02T04:00:00Z"})
	if status != http.StatusOK || got["dateReleased"] != "2026-01-02T04:00:00Z" {
		t.Fatalf("finalize: %d %v", status, got)
	}

	req, _ := http.NewRequest("GET", relURL, nil)
	status, got = do(t, req, "reader")
	if status != http.StatusOK || got["dateReleased"] != "2026-01-02T04:00:00Z" || len(got["projects"].([]any)) != 2 {
		t.Fatalf("get release: %d %v", status, got)
	}
	req, _ = http.NewRequest("GET", base+"nope/", nil)
	if status, got = do(t, req, "good"); status != http.StatusNotFound || got["detail"] == nil {
		t.Errorf("missing release: %d %v", status, got)
	}
	req, _ = http.NewRequest("GET", ts.URL+"/api/0/projects/o/web/releases/"+url.PathEscape(version)+"/", nil)
	if status, got = do(t, req, "good"); status != http.StatusOK || got["version"] != version {
		t.Errorf("project release: %d %v", status, got)
	}

	status, got = doJSON(t, "PUT", base+"never-created/", "good", map[string]any{"dateReleased": "2026-01-02T04:00:00Z"})
	if status != http.StatusNotFound {
		t.Errorf("finalizing an unknown release without projects: %d %v", status, got)
	}
	for _, bad := range []string{"", "a/b", "latest", strings.Repeat("x", 201)} {
		if status, got = doJSON(t, "POST", base, "good", map[string]any{"version": bad, "projects": []string{"p"}}); status != http.StatusBadRequest {
			t.Errorf("version %q: %d %v", bad, status, got)
		}
	}
}

// TestCLIReleases runs the release commands CI scripts use.
func TestCLIReleases(t *testing.T) {
	ts := newTestServer(t, Config{})
	dir := t.TempDir()
	steps := []struct {
		args []string
		want string // in stdout
	}{
		{[]string{"releases", "--org", "o", "--project", "p", "new", "app@2.0.0"}, "Created release app@2.0.0"},
		{[]string{"releases", "--org", "o", "--project", "p", "finalize", "app@2.0.0"}, "Finalized release app@2.0.0"},
		{[]string{"releases", "--org", "o", "--project", "p", "info", "app@2.0.0"}, "app@2.0.0"},
		{[]string{"releases", "--org", "o", "--project", "p", "list"}, "app@2.0.0"},
	}
	for _, s := range steps {
		res := runCLI(t, dir, ts.URL, "good", s.args...)
		if res.Err != nil || !strings.Contains(res.Stdout, s.want) {
			t.Fatalf("sentry-cli %s: %v; stdout lacks %q", strings.Join(s.args, " "), res.Err, s.want)
		}
	}
	if res := runCLI(t, dir, ts.URL, "good", "releases", "--org", "o", "--project", "p", "info", "app@9"); res.Err == nil {
		t.Errorf("info of an unknown release succeeded")
	}
}
