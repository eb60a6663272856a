package sourcemaps

import (
	"context"
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
