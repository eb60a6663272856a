package sourcemaps

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/blobstore"
)

// TestStoredRefsAreOnlyAHint: the references stored in a minified file's
// record start the map's look-up early, but the answers always follow the
// file itself: a record without them (written before they existed) or with
// references the file does not make gives the answers of the file.
func TestStoredRefsAreOnlyAHint(t *testing.T) {
	c := getCacheCase(t)
	tests := []struct {
		name string
		refs func(stored *textRefs) *textRefs
	}{
		{"as uploaded", func(r *textRefs) *textRefs { return r }},
		{"none (older record)", func(*textRefs) *textRefs { return nil }},
		{"another map", func(r *textRefs) *textRefs {
			return &textRefs{SourceMappingURL: "elsewhere.js.map", DebugID: r.DebugID}
		}},
		{"another debug ID", func(r *textRefs) *textRefs {
			return &textRefs{SourceMappingURL: r.SourceMappingURL, DebugID: "00000000-0000-0000-0000-000000000001"}
		}},
		{"an inline map", func(*textRefs) *textRefs {
			return &textRefs{SourceMappingURL: "data:application/json;base64,e30="}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bucket := storage.NewInMemory()
			s := New(Config{}, blobstore.New(bucket, t.TempDir()), nil)
			upload(t, s, c.min)
			key := releaseKey("web", "r1", "", "~"+c.min)
			var rec storedRecord
			if err := s.blobs.GetRecord(context.Background(), key, &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Refs == nil || !strings.HasSuffix(rec.Refs.SourceMappingURL, ".map") {
				t.Fatalf("upload stored refs %+v, want the file's sourceMappingURL", rec.Refs)
			}
			rec.Refs = tt.refs(rec.Refs)
			if err := s.blobs.PutRecord(context.Background(), key, rec); err != nil {
				t.Fatal(err)
			}
			// A fresh service: no record cached from the upload.
			fresh := New(Config{}, blobstore.New(bucket, t.TempDir()), nil)
			if got := fresh.ResolveStack(context.Background(), c.request()); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("answers differ:\ngot  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// TestGuessedMapIsOnlyAGuess: a cold module's map is looked for at the
// file's name plus ".map" while the file's record is still being read; a
// map there is used only if the file names it. Here the file names
// real.map, and app.min.js.map is another build's map.
func TestGuessedMapIsOnlyAGuess(t *testing.T) {
	c := getCacheCase(t)
	min, err := os.ReadFile(c.min)
	if err != nil {
		t.Fatal(err)
	}
	mapData, err := os.ReadFile(c.min + ".map")
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndex(min, []byte("//# sourceMappingURL="))
	if i < 0 {
		t.Fatal("no sourceMappingURL in the fixture")
	}
	renamed := append(bytes.Clone(min[:i]), "//# sourceMappingURL=real.map\n"...)
	decoy := []byte(`{"version":3,"sources":["decoy.js"],"sourcesContent":["decoy()"],"names":["decoy"],"mappings":"AAAAA"}`)
	dir := filepath.Dir("~" + c.min)
	bucket := storage.NewInMemory()
	s := New(Config{}, blobstore.New(bucket, t.TempDir()), nil)
	for _, f := range []struct {
		url  string
		data []byte
	}{{"~" + c.min, renamed}, {dir + "/real.map", mapData}, {"~" + c.min + ".map", decoy}} {
		if _, err := s.PutFile(context.Background(), "web", FileUpload{URL: f.url, Release: "r1"}, bytes.NewReader(f.data)); err != nil {
			t.Fatal(err)
		}
	}
	// A record without stored references (as written before they
	// existed): the guess is all that runs ahead of the file.
	key := releaseKey("web", "r1", "", "~"+c.min)
	var rec storedRecord
	if err := s.blobs.GetRecord(context.Background(), key, &rec); err != nil {
		t.Fatal(err)
	}
	rec.Refs = nil
	if err := s.blobs.PutRecord(context.Background(), key, rec); err != nil {
		t.Fatal(err)
	}
	fresh := New(Config{}, blobstore.New(bucket, t.TempDir()), nil)
	got := fresh.ResolveStack(context.Background(), c.request())
	if len(got.Frames) != len(c.want.Frames) {
		t.Fatalf("%d frames, want %d", len(got.Frames), len(c.want.Frames))
	}
	for i, f := range got.Frames {
		want := c.want.Frames[i]
		if want.Status == StatusSymbolicated {
			if !strings.HasSuffix(f.SourceMap, "/real.map") {
				t.Fatalf("frame %d resolved with %q, want real.map", i, f.SourceMap)
			}
			want.SourceMap = f.SourceMap
		}
		// The minified file's last line (its comment) was changed.
		f.RawContext, want.RawContext = nil, nil
		if !reflect.DeepEqual(f, want) {
			t.Fatalf("frame %d:\ngot  %+v\nwant %+v", i, f, want)
		}
	}
}
