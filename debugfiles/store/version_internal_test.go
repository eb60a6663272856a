package debugstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stacklens/stacklens/cache"
	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/debugfiles/symbolizer"
	"github.com/stacklens/stacklens/internal/testenv"
	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/blobstore"
)

// nextVersionCodec is the symcache codec after a format version bump.
type nextVersionCodec struct{ symcacheCodec }

func (nextVersionCodec) Version() int { return symbolizer.SymcacheVersion + 1 }

// TestSymcacheVersionBump: once the format version is bumped, the files
// of the old version, on disk and in the bucket, are ignored (the object
// is parsed again) and the old disk files are deleted.
func TestSymcacheVersionBump(t *testing.T) {
	ctx := context.Background()
	bin, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "testdata", "native", "ident", "breakpad", "prog"))
	if err != nil {
		t.Fatal(err)
	}
	bucket := storage.NewInMemory()
	dir := t.TempDir()
	open := func(next bool) (*Store, *cache.Disk, *atomic.Int64) {
		disk, err := cache.OpenDisk(dir, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		s := New(Config{}, blobstore.New(bucket, t.TempDir()), nil, cache.WithDisk(disk), cache.WithSharedBucket(bucket))
		if next {
			s.symcaches = cache.NewDerived[*nativeModule](nextVersionCodec{}, s.mem, disk, bucket, nil)
		}
		var builds atomic.Int64
		s.OpenNative = func(r io.ReaderAt, size int64, meta debugfiles.FileMeta) (debugfiles.Module, error) {
			builds.Add(1)
			return symbolizer.Open(r, size, meta)
		}
		return s, disk, &builds
	}

	old, oldDisk, _ := open(false)
	metas, err := old.Upload(ctx, "p", bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	ref := debugfiles.ObjectRef{DebugID: metas[0].DebugID}
	want, err := old.Find(ctx, "p", ref)
	if err != nil {
		t.Fatal(err)
	}
	old.Wait()
	oldDisk.Close()
	sha := metas[0].SHA256
	oldFile := filepath.Join(dir, symbolizer.SymcacheFormat, fmt.Sprintf("v%d", symbolizer.SymcacheVersion), sha[:2], sha)
	if _, err := os.Stat(oldFile); err != nil {
		t.Fatalf("current-version file not on disk: %v", err)
	}

	next, nextDisk, builds := open(true)
	defer nextDisk.Close()
	got, err := next.Find(ctx, "p", ref)
	if err != nil {
		t.Fatal(err)
	}
	next.Wait()
	if builds.Load() != 1 {
		t.Errorf("after the bump the object was parsed %d times, want 1 (old files ignored)", builds.Load())
	}
	if st := next.DerivedStats(); st.DiskHits+st.StoreHits+st.Corrupt != 0 {
		t.Errorf("an old-version file was read: %+v", st)
	}
	if _, err := os.Stat(oldFile); !os.IsNotExist(err) {
		t.Errorf("old-version file still on disk after the bump: %v", err)
	}
	if _, err := bucket.Stat(ctx, cache.ObjectKey(symbolizer.SymcacheFormat, symbolizer.SymcacheVersion+1, sha)); err != nil {
		t.Errorf("the new version was not written back: %v", err)
	}
	resolved := 0
	for a := uint64(0x1000); a < 0x3000; a += 7 {
		wl, werr := want.Lookup(a)
		gl, gerr := got.Lookup(a)
		if werr == nil {
			resolved++
		}
		if len(wl) != len(gl) || (werr == nil) != (gerr == nil) || len(wl) > 0 && wl[0] != gl[0] {
			t.Fatalf("Lookup(%#x) = %+v, %v; want %+v, %v", a, gl, gerr, wl, werr)
		}
	}
	if resolved == 0 {
		t.Error("no probe resolved: the comparison proves nothing")
	}
}
