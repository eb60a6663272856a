package sentryapi

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/storage"
)

// chunkPart is one part of a chunk upload as a test builds it.
type chunkPart struct {
	field, name string
	body        []byte
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzPart(t *testing.T, data []byte) chunkPart {
	return chunkPart{"file_gzip", sha1Hex(data), gz(t, data)}
}

func postChunks(t *testing.T, url, token string, parts ...chunkPart) (int, map[string]any) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range parts {
		w, err := mw.CreateFormFile(p.field, p.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(p.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url+"/api/0/organizations/o/chunk-upload/", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return do(t, req, token)
}

func do(t *testing.T, req *http.Request, token string) (int, map[string]any) {
	t.Helper()
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s %s: status %d, body is not a JSON object: %q", req.Method, req.URL.Path, resp.StatusCode, data)
	}
	return resp.StatusCode, out
}

func doJSON(t *testing.T, method, url, token string, body any) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(mustJSON(t, body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return do(t, req, token)
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestChunkUploadOptions(t *testing.T) {
	ts := newTestServer(t, Config{ChunkSize: 1 << 20})
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/0/organizations/myorg/chunk-upload/", nil)
	status, got := do(t, req, "good")
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, got)
	}
	if want := ts.URL + "/api/0/organizations/myorg/chunk-upload/"; got["url"] != want {
		t.Errorf("url = %v, want %s", got["url"], want)
	}
	if got["chunkSize"] != float64(1<<20) || got["hashAlgorithm"] != "sha1" {
		t.Errorf("chunkSize/hashAlgorithm = %v/%v", got["chunkSize"], got["hashAlgorithm"])
	}
	accept, _ := got["accept"].([]any)
	if !containsAny(accept, "artifact_bundles") || !containsAny(accept, "debug_files") {
		t.Errorf("accept = %v lacks artifact_bundles or debug_files", accept)
	}
	compression, _ := got["compression"].([]any)
	if !containsAny(compression, "gzip") {
		t.Errorf("compression = %v", compression)
	}

	// A TLS-terminating proxy says so; the client must come back over https.
	req, _ = http.NewRequest(http.MethodGet, ts.URL+"/api/0/organizations/myorg/chunk-upload/", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	_, got = do(t, req, "good")
	if url, _ := got["url"].(string); !strings.HasPrefix(url, "https://") {
		t.Errorf("behind a TLS proxy, url = %q", url)
	}
}

func containsAny(list []any, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestChunkUploadValidation(t *testing.T) {
	const chunkSize = 64 << 10
	good := randomBytes(t, 1000)
	other := randomBytes(t, 1000)
	bomb := make([]byte, chunkSize+1) // zeros: compresses ~1000:1
	tests := []struct {
		name       string
		parts      []chunkPart
		wantStatus int
		wantDetail string   // substring of detail, for errors
		wantStored []string // chunk names that must be stored afterwards
	}{
		{"gzip chunk", []chunkPart{gzPart(t, good)}, 200, "", []string{sha1Hex(good)}},
		{"uncompressed chunk", []chunkPart{{"file", sha1Hex(good), good}}, 200, "", []string{sha1Hex(good)}},
		{"upper-case name", []chunkPart{{"file_gzip", strings.ToUpper(sha1Hex(good)), gz(t, good)}}, 200, "", []string{sha1Hex(good)}},
		{"several chunks", []chunkPart{gzPart(t, good), gzPart(t, other)}, 200, "", []string{sha1Hex(good), sha1Hex(other)}},
		{"chunk of exactly the chunk size", []chunkPart{gzPart(t, bomb[:chunkSize])}, 200, "", []string{sha1Hex(bomb[:chunkSize])}},
		{"sha1 mismatch", []chunkPart{{"file_gzip", sha1Hex(other), gz(t, good)}}, 400, "checksum", nil},
		{"name not a sha1", []chunkPart{{"file_gzip", "chunk.bin", gz(t, good)}}, 400, "not a SHA-1", nil},
		{"gzip bomb", []chunkPart{gzPart(t, bomb)}, 400, "larger than the chunk size", nil},
		{"oversized uncompressed chunk", []chunkPart{{"file", sha1Hex(bomb), bomb}}, 400, "larger than the chunk size", nil},
		{"not gzip", []chunkPart{{"file_gzip", sha1Hex(good), good}}, 400, "invalid gzip", nil},
		{"truncated gzip", []chunkPart{{"file_gzip", sha1Hex(good), gz(t, good)[:200]}}, 400, "invalid gzip", nil},
		{"too many chunks", []chunkPart{gzPart(t, good), gzPart(t, other), gzPart(t, []byte("x"))}, 400, "too many chunks", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, Config{ChunkSize: chunkSize, MaxChunksPerRequest: 2})
			status, got := postChunks(t, ts.URL, "good", tc.parts...)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %v", status, tc.wantStatus, got)
			}
			detail, _ := got["detail"].(string)
			if tc.wantDetail == "" && len(got) != 0 {
				t.Errorf("reply %v, want {}", got)
			}
			if tc.wantDetail != "" && !strings.Contains(detail, tc.wantDetail) {
				t.Errorf("detail %q does not mention %q", detail, tc.wantDetail)
			}
			for _, name := range tc.wantStored {
				if _, err := ts.Bucket.Stat(t.Context(), chunkKey(name)); err != nil {
					t.Errorf("chunk %s not stored: %v", name, err)
				}
			}
			if tc.wantStatus != 200 {
				var keys []string
				_ = ts.Bucket.List(t.Context(), "chunks/", func(info storage.ObjectInfo) error {
					keys = append(keys, info.Key)
					return nil
				})
				for _, k := range keys {
					if strings.HasSuffix(k, sha1Hex(bomb)) || (tc.name == "sha1 mismatch" && strings.HasSuffix(k, sha1Hex(other))) {
						t.Errorf("rejected chunk stored as %s", k)
					}
				}
			}
		})
	}
}

func TestChunkRequestTooLarge(t *testing.T) {
	ts := newTestServer(t, Config{ChunkSize: 4 << 20, MaxRequestSize: 1 << 10})
	data := randomBytes(t, 2<<20) // over the limit plus the multipart slack
	status, got := postChunks(t, ts.URL, "good", chunkPart{"file", sha1Hex(data), data})
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413: %v", status, got)
	}
}
