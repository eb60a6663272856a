package sentryapi

import (
	"net/http"
	"strings"
	"testing"
)

// TestErrorRepliesHaveSentryShape: every error of this API is Sentry's
// {"detail": "…"} and nothing else: sentry-cli prints the detail as the
// reason, but dumps a body of any other shape raw at the user.
func TestErrorRepliesHaveSentryShape(t *testing.T) {
	ts := newTestServer(t, Config{})
	tests := []struct {
		method, path, body string
		status             int
		mentions           string
	}{
		{"GET", "/api/0/organizations/o/unknown/", "", 404, ""},
		{"GET", "/api/0/projects/o/p/files/difs/assemble/", "", 405, "GET"},
		{"POST", "/api/0/projects/o/%2e%2e/files/difs/assemble/", "{}", 400, "project"},
		{"POST", "/api/0/organizations/o/artifactbundle/assemble/", `{"checksum":`, 400, "JSON"},
		{"POST", "/api/0/organizations/o/chunk-upload/", "not multipart", 400, "multipart"},
	}
	for _, tc := range tests {
		req, err := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		status, got := do(t, req, "good")
		detail, _ := got["detail"].(string)
		if status != tc.status || detail == "" || len(got) != 1 || !strings.Contains(detail, tc.mentions) {
			t.Errorf("%s %s: %d %v, want %d with only a detail mentioning %q", tc.method, tc.path, status, got, tc.status, tc.mentions)
		}
	}
}
