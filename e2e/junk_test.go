package e2e

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/internal/testenv"
)

// junkReader yields n bytes: prefix, then pseudo-random bytes (or filler),
// so a 100 MB body is streamed, never held by the test.
type junkReader struct {
	prefix []byte
	filler byte // 0: random bytes
	left   int64
	rng    *rand.Rand
}

func (r *junkReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := copy(p, r.prefix)
	r.prefix = r.prefix[n:]
	for i := n; i < len(p); i++ {
		if r.filler != 0 {
			p[i] = r.filler
		} else {
			p[i] = byte(r.rng.Uint32())
		}
	}
	r.left -= int64(len(p))
	return len(p), nil
}

// TestHundredMegabyteJunkUploads: with the default limits, 100 MB of junk
// sent as a JS artifact, as a source map and as a debug file each gets a
// 4xx that says what is wrong, and the server stays up.
func TestHundredMegabyteJunkUploads(t *testing.T) {
	srv := testenv.StartServer(t)
	const size = 100 << 20
	for _, tc := range []struct {
		name, method, path string
		body               io.Reader
		mentions           string
	}{
		{"binary as a JS file", "PUT", "/api/v1/projects/p/files?url=~/junk.js&release=1",
			&junkReader{left: size, rng: rand.New(rand.NewPCG(1, 2))}, "not a UTF-8 text file"},
		{"a broken map", "PUT", "/api/v1/projects/p/files?url=~/junk.js.map&release=1&type=source_map",
			&junkReader{prefix: []byte(`{"version":3,"sources":["a.js"],"mappings":"`), filler: '!', left: size}, "not a valid source map"},
		{"binary as a debug file", "POST", "/api/v1/projects/p/debug-files",
			&junkReader{left: size, rng: rand.New(rand.NewPCG(3, 4))}, "not an ELF, Mach-O, PE, PDB or Breakpad file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = size
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 || json.Unmarshal(body, &e) != nil || e.Error.Message == "" {
				t.Fatalf("%d %s, want a 4xx with a message", resp.StatusCode, body)
			}
			if !strings.Contains(e.Error.Message, tc.mentions) {
				t.Errorf("message %q does not say %q", e.Error.Message, tc.mentions)
			}
			t.Logf("%d %s: %s", resp.StatusCode, e.Error.Code, e.Error.Message)
			if !srv.Running() {
				t.Fatal("the server died")
			}
		})
	}
}
