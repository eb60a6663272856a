package sentryapi

import (
	"net/http"
	"strings"
	"testing"
)

// TestErrorRepliesCarryBothShapes: every error of this API has the "detail"
// sentry-cli prints and the {"error": {"code", "message"}} the rest of the
// stacklens API replies, so one client reads all errors the same way
// (regression: found by e2e/hardening_test.go, whose error-shape check
// failed on every /api/0/ error).
func TestErrorRepliesCarryBothShapes(t *testing.T) {
	ts := newTestServer(t, Config{})
	tests := []struct {
		method, path, body string
		status             int
		code               string
		mentions           string
	}{
		{"GET", "/api/0/organizations/o/unknown/", "", 404, "not_found", ""},
		{"GET", "/api/0/projects/o/p/files/difs/assemble/", "", 405, "method_not_allowed", "GET"},
		{"POST", "/api/0/projects/o/%2e%2e/files/difs/assemble/", "{}", 400, "invalid_input", "project"},
		{"POST", "/api/0/organizations/o/artifactbundle/assemble/", `{"checksum":`, 400, "invalid_input", "JSON"},
		{"POST", "/api/0/organizations/o/chunk-upload/", "not multipart", 400, "invalid_input", "multipart"},
	}
	for _, tc := range tests {
		req, err := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		status, got := do(t, req, "good")
		detail, _ := got["detail"].(string)
		e, _ := got["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if status != tc.status || detail == "" || e["code"] != tc.code || msg != detail || !strings.Contains(msg, tc.mentions) {
			t.Errorf("%s %s: %d %v, want %d with detail and error {code %q, message mentioning %q}", tc.method, tc.path, status, got, tc.status, tc.code, tc.mentions)
		}
	}
}
