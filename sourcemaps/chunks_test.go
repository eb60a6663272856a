package sourcemaps

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/storage"
)

// vlq appends the base64 VLQ of v.
func vlq(b []byte, v int) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	u := v << 1
	if v < 0 {
		u = (-v << 1) | 1
	}
	for {
		d := u & 31
		u >>= 5
		if u > 0 {
			d |= 32
		}
		b = append(b, alphabet[d])
		if u == 0 {
			return b
		}
	}
}

// TestContextsFromChunkedIndexes: a source of several hundred kilobytes is
// stored in a derived index as many compressed chunks; the context of a
// frame on any of its lines (first, last, either side of a chunk boundary)
// is what the map parsed from JSON gives.
func TestContextsFromChunkedIndexes(t *testing.T) {
	const lines = 6000
	var src strings.Builder
	for i := range lines {
		fmt.Fprintf(&src, "  const value%d = compute(%d, 'line %d of a long original source file');\n", i, i, i)
	}
	var mappings []byte
	prevLine := 0
	for i := range lines {
		if i > 0 {
			mappings = append(mappings, ',')
		}
		mappings = vlq(mappings, 10) // generated column +10
		mappings = vlq(mappings, 0)  // source 0
		mappings = vlq(mappings, i-prevLine)
		mappings = vlq(mappings, 0)
		prevLine = i
	}
	mapJSON, err := json.Marshal(map[string]any{
		"version": 3, "sources": []string{"src/big.js"}, "sourcesContent": []string{src.String()},
		"names": []string{}, "mappings": string(mappings),
	})
	if err != nil {
		t.Fatal(err)
	}
	min := []byte(strings.Repeat("x", 10*lines+20) + "\n//# sourceMappingURL=app.min.js.map\n")

	var frames []Frame
	for _, l := range []int{0, 1, 2, 3, 4, 5, 6, 100, 199, 200, 201, 202, 203, 204, 205, 206, 207, 1234, 2999, 3000, 4321, lines - 6, lines - 2, lines - 1} {
		frames = append(frames, Frame{AbsPath: "https://ex.com/app.min.js", Lineno: 1, Colno: 10*(l+1) + 1})
	}
	for l := 0; l < lines; l += 37 {
		frames = append(frames, Frame{AbsPath: "https://ex.com/app.min.js", Lineno: 1, Colno: 10*(l+1) + 1})
	}
	req := StackRequest{Project: "web", Release: "r1", Frames: frames}
	load := func(s *Service) {
		for _, f := range []struct {
			url  string
			data []byte
		}{{"~/app.min.js", min}, {"~/app.min.js.map", mapJSON}} {
			if _, err := s.PutFile(context.Background(), "web", FileUpload{URL: f.url, Release: "r1"}, bytes.NewReader(f.data)); err != nil {
				t.Fatal(err)
			}
		}
	}
	plain := newTestService(t)
	load(plain)
	want := plain.ResolveStack(context.Background(), req)
	for i, f := range want.Frames {
		if f.Status != StatusSymbolicated || f.Context == nil || f.Context.Line == "" {
			t.Fatalf("frame %d without caches: %+v", i, f)
		}
	}

	bucket := storage.NewInMemory()
	disk := openDisk(t, t.TempDir())
	cached := cachedService(t, bucket, disk, Config{})
	load(cached)
	// Its first request already reads the index back from disk (a build
	// serves what the other layers would).
	if got := cached.ResolveStack(context.Background(), req); !reflect.DeepEqual(got, want) {
		t.Fatalf("from the derived index: answers differ\ngot  %+v\nwant %+v", got.Frames[:3], want.Frames[:3])
	}
	cached.WaitWriteBack()
	replica := cachedService(t, bucket, openDisk(t, t.TempDir()), Config{})
	if got := replica.ResolveStack(context.Background(), req); !reflect.DeepEqual(got, want) {
		t.Fatal("second replica: answers differ")
	}
	if st := replica.IndexStats(); st.StoreHits != 1 || st.Builds != 0 {
		t.Fatalf("second replica: %+v", st)
	}
}
