package sourcemaps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stacklens/stacklens/cache"
	"github.com/stacklens/stacklens/sourcemaps/mapping"
	"github.com/stacklens/stacklens/sourcemaps/scopes"
	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/blobstore"
)

// countingBucket counts Gets by key prefix, to see which layer a request
// reached.
type countingBucket struct {
	storage.Bucket
	mu   sync.Mutex
	gets map[string]int
}

func newCountingBucket() *countingBucket {
	return &countingBucket{Bucket: storage.NewInMemory(), gets: map[string]int{}}
}

func (b *countingBucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	b.mu.Lock()
	switch {
	case strings.HasPrefix(key, "derived/"):
		b.gets["derived"]++
	case strings.HasPrefix(key, "p/"):
		b.gets["records"]++
	default:
		b.gets["blobs"]++
	}
	b.mu.Unlock()
	return b.Bucket.Get(ctx, key)
}

func (b *countingBucket) count(kind string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.gets[kind]
}

// cacheCase is the esbuild build of the fixture app: a minified file, its
// map and one scenario's frames, with the answers of a service without any
// cache layer but memory.
type cacheCase struct {
	min    string
	frames []Frame
	want   StackResult
}

func getCacheCase(t *testing.T) cacheCase {
	t.Helper()
	fx := getFixture(t)
	c := cacheCase{min: filepath.Join(fx.out, "esbuild", "app.min.js")}
	for _, sc := range sortedKeys(fx.minified["esbuild"]) {
		c.frames = append(c.frames, frameList(fx.minified["esbuild"][sc])...)
	}
	plain := newTestService(t)
	upload(t, plain, c.min)
	c.want = plain.ResolveStack(context.Background(), c.request())
	ok := 0
	for _, f := range c.want.Frames {
		if f.Status == StatusSymbolicated && f.Function != "" {
			ok++
		}
	}
	if ok == 0 {
		t.Fatalf("no frame symbolicated without caches: %+v", c.want.Problems)
	}
	return c
}

func (c cacheCase) request() StackRequest {
	return StackRequest{Project: "web", Release: "r1", Frames: c.frames}
}

func upload(t *testing.T, s *Service, min string) {
	t.Helper()
	putFile(t, s, "web", FileUpload{URL: "~" + min, Release: "r1"}, min)
	putFile(t, s, "web", FileUpload{URL: "~" + min + ".map", Release: "r1"}, min+".map")
}

func (c cacheCase) check(t *testing.T, s *Service, what string) {
	t.Helper()
	if got := s.ResolveStack(context.Background(), c.request()); !reflect.DeepEqual(got, c.want) {
		t.Fatalf("%s: answers differ from a service without caches:\ngot  %+v\nwant %+v", what, got, c.want)
	}
}

func openDisk(t *testing.T, dir string) *cache.Disk {
	t.Helper()
	d, err := cache.OpenDisk(dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func cachedService(t *testing.T, bucket storage.Bucket, disk *cache.Disk, cfg Config) *Service {
	t.Helper()
	return New(cfg, blobstore.New(bucket, t.TempDir()), nil, cache.WithDisk(disk), cache.WithSharedBucket(bucket))
}

// TestDerivedIndexLayers: the first request parses (map and scopes) and
// writes the indexes to disk and the object store; the second is served
// from memory; a restart over the same disk and a second replica over the
// same bucket parse nothing; every answer equals the uncached service's.
func TestDerivedIndexLayers(t *testing.T) {
	c := getCacheCase(t)
	bucket := newCountingBucket()
	diskDir := t.TempDir()
	disk := openDisk(t, diskDir)
	s1 := cachedService(t, bucket, disk, Config{})
	upload(t, s1, c.min)

	c.check(t, s1, "first request")
	if st, sc := s1.IndexStats(), s1.ScopeIndexStats(); st.Builds != 1 || sc.Builds != 1 {
		t.Fatalf("first request: %d map builds, %d scope builds, want 1 each", st.Builds, sc.Builds)
	}
	s1.WaitWriteBack()
	var derived []string
	if err := bucket.List(context.Background(), "derived/", func(o storage.ObjectInfo) error {
		derived = append(derived, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	wantIndex := fmt.Sprintf("derived/sourcemap-index/%d/", mapping.IndexVersion)
	wantScopes := fmt.Sprintf("derived/js-scopes/%d/", scopeCodec{}.Version())
	if len(derived) != 2 || !strings.HasPrefix(derived[0], wantScopes) || !strings.HasPrefix(derived[1], wantIndex) {
		t.Fatalf("derived objects %v, want one %s and one %s", derived, wantScopes, wantIndex)
	}

	blobGets := bucket.count("blobs")
	c.check(t, s1, "second request")
	if st := s1.IndexStats(); st.Builds != 1 || st.DiskHits != 0 {
		t.Fatalf("second request left memory: %+v", st)
	}
	if got := bucket.count("blobs") - blobGets; got != 0 {
		t.Fatalf("second request read %d blobs, want none", got)
	}

	// Restart: a new process over the same disk directory.
	disk.Close()
	s2 := cachedService(t, bucket, openDisk(t, diskDir), Config{})
	derivedGets := bucket.count("derived")
	c.check(t, s2, "after a restart")
	if st, sc := s2.IndexStats(), s2.ScopeIndexStats(); st.Builds != 0 || st.DiskHits != 1 || sc.Builds != 0 || sc.DiskHits != 1 {
		t.Fatalf("after a restart: maps %+v, scopes %+v; want disk hits and no builds", st, sc)
	}
	if bucket.count("derived") != derivedGets {
		t.Fatal("a restart with the disk cache read derived files from the object store")
	}

	// Another replica: same bucket, its own empty disk.
	s3 := cachedService(t, bucket, openDisk(t, t.TempDir()), Config{})
	c.check(t, s3, "second replica")
	if st, sc := s3.IndexStats(), s3.ScopeIndexStats(); st.Builds != 0 || st.StoreHits != 1 || sc.Builds != 0 || sc.StoreHits != 1 {
		t.Fatalf("second replica: maps %+v, scopes %+v; want object-store hits and no builds", st, sc)
	}
}

// TestConcurrentFirstRequestsParseOnce: 50 concurrent first requests for
// one never-seen artifact cause exactly one parse of the map and of the
// minified file's scopes.
func TestConcurrentFirstRequestsParseOnce(t *testing.T) {
	c := getCacheCase(t)
	bucket := newCountingBucket()
	s := cachedService(t, bucket, openDisk(t, t.TempDir()), Config{})
	upload(t, s, c.min)
	var wg sync.WaitGroup
	var wrong atomic.Int32
	start := make(chan struct{})
	for range 50 {
		wg.Go(func() {
			<-start
			if got := s.ResolveStack(context.Background(), c.request()); !reflect.DeepEqual(got, c.want) {
				wrong.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if wrong.Load() != 0 {
		t.Fatalf("%d of 50 requests answered differently from a service without caches", wrong.Load())
	}
	if st, sc := s.IndexStats(), s.ScopeIndexStats(); st.Builds != 1 || sc.Builds != 1 {
		t.Fatalf("%d map parses and %d scope parses for 50 concurrent requests, want 1 each", st.Builds, sc.Builds)
	}
}

// TestCorruptSharedIndexRebuilt: a derived file damaged in the object
// store is detected by its checksum, deleted, rebuilt, and the answers
// are right.
func TestCorruptSharedIndexRebuilt(t *testing.T) {
	c := getCacheCase(t)
	bucket := newCountingBucket()
	s1 := cachedService(t, bucket, openDisk(t, t.TempDir()), Config{})
	upload(t, s1, c.min)
	c.check(t, s1, "first request")
	s1.WaitWriteBack()

	ctx := context.Background()
	var key string
	bucket.List(ctx, "derived/sourcemap-index/", func(o storage.ObjectInfo) error { key = o.Key; return nil })
	rc, err := bucket.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	data[cache.FrameHeaderSize+len(data)/2] ^= 0x10
	if err := bucket.Put(ctx, key, bytes.NewReader(data), int64(len(data)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}

	s2 := cachedService(t, bucket, openDisk(t, t.TempDir()), Config{})
	c.check(t, s2, "replica reading a corrupt index")
	if st := s2.IndexStats(); st.Corrupt != 1 || st.Builds != 1 {
		t.Fatalf("stats %+v: want the corrupt index detected and rebuilt", st)
	}
	s2.WaitWriteBack()
	// The rebuilt index replaced the damaged one.
	s3 := cachedService(t, bucket, openDisk(t, t.TempDir()), Config{})
	c.check(t, s3, "third replica")
	if st := s3.IndexStats(); st.Builds != 0 || st.StoreHits != 1 {
		t.Fatalf("third replica: %+v, want the rebuilt index from the store", st)
	}
}

// versionedIndexCodec is the sourcemap-index codec under another version,
// as after a format change.
type versionedIndexCodec struct {
	mapping.IndexCodec
	version int
}

func (c versionedIndexCodec) Version() int { return c.version }

// TestIndexVersionBumpIgnoresOldFiles: after a version bump the files of
// the old version, on disk and in the object store, are never read.
func TestIndexVersionBumpIgnoresOldFiles(t *testing.T) {
	c := getCacheCase(t)
	bucket := newCountingBucket()
	diskDir := t.TempDir()
	disk := openDisk(t, diskDir)
	s := cachedService(t, bucket, disk, Config{})
	upload(t, s, c.min)
	c.check(t, s, "first request")
	s.WaitWriteBack()
	mapSHA := ""
	bucket.List(context.Background(), fmt.Sprintf("derived/sourcemap-index/%d/", mapping.IndexVersion), func(o storage.ObjectInfo) error {
		mapSHA = o.Key[strings.LastIndex(o.Key, "/")+1:]
		return nil
	})
	if mapSHA == "" {
		t.Fatalf("no version %d index written back", mapping.IndexVersion)
	}
	builds := 0
	d := cache.NewDerived[*mapping.Map](versionedIndexCodec{version: mapping.IndexVersion + 1}, cache.NewMemory[*mapping.Map](1<<30), disk, bucket, nil)
	m, err := d.Get(context.Background(), mapSHA, func(ctx context.Context) (*mapping.Map, int64, error) {
		builds++
		data, err := s.blobs.ReadBlob(ctx, mapSHA, 1<<30)
		if err != nil {
			return nil, 0, err
		}
		m, err := mapping.Parse(data)
		if err != nil {
			return nil, 0, err
		}
		return m, m.SizeBytes(), nil
	})
	if err != nil || m == nil {
		t.Fatal(err)
	}
	if st := d.Stats(); builds != 1 || st.DiskHits != 0 || st.StoreHits != 0 || st.Corrupt != 0 {
		t.Fatalf("version %d chain: %d builds, %+v; want the version %d files ignored", mapping.IndexVersion+1, builds, st, mapping.IndexVersion)
	}
}

// TestRecordLookupCaches: a look-up that found nothing is not repeated
// within the TTL, an upload on this replica makes it visible at once, and
// another replica sees the upload when its entry expires.
func TestRecordLookupCaches(t *testing.T) {
	c := getCacheCase(t)
	bucket := newCountingBucket()
	s1 := cachedService(t, bucket, openDisk(t, t.TempDir()), Config{})
	s2 := cachedService(t, bucket, openDisk(t, t.TempDir()), Config{})
	now := time.Unix(1e9, 0)
	s2.missing.Now = func() time.Time { return now }
	s2.records.Now = func() time.Time { return now }

	ctx := context.Background()
	first := -1
	for i, f := range c.want.Frames {
		if f.Status == StatusSymbolicated && first < 0 {
			first = i
		}
	}
	for _, s := range []*Service{s1, s2} {
		res := s.ResolveStack(ctx, c.request())
		if res.Frames[first].Status != StatusMissingSource {
			t.Fatalf("before upload: status %s", res.Frames[first].Status)
		}
	}
	gets := bucket.count("records")
	s1.ResolveStack(ctx, c.request())
	if got := bucket.count("records"); got != gets {
		t.Fatalf("a repeated miss read %d records from the store, want 0", got-gets)
	}

	upload(t, s1, c.min)
	c.check(t, s1, "uploading replica, right after the upload")
	if res := s2.ResolveStack(ctx, c.request()); res.Frames[first].Status != StatusMissingSource {
		t.Fatalf("other replica within the TTL: %s, want the remembered miss", res.Frames[first].Status)
	}
	now = now.Add(DefaultConfig().NegativeTTL)
	c.check(t, s2, "other replica after the TTL")

	// Records found are remembered as well: a warm request reads none.
	gets = bucket.count("records")
	c.check(t, s2, "warm request")
	if got := bucket.count("records"); got != gets {
		t.Fatalf("a warm request read %d records from the store, want 0", got-gets)
	}
}

// TestScopeTableMatchesIndex: the stored scope table answers Innermost
// exactly as scopes.Index does, after an encode/decode round trip, at
// every scope boundary (±1 column) and at random positions; damaged data
// is an error.
func TestScopeTableMatchesIndex(t *testing.T) {
	fx := getFixture(t)
	for _, b := range buildNames {
		t.Run(b, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(fx.out, b, "app.min.js"))
			if err != nil {
				t.Fatal(err)
			}
			idx, err := scopes.Parse(src)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := (scopeCodec{}).Encode(&buf, newScopeTable(idx)); err != nil {
				t.Fatal(err)
			}
			tab, size, err := scopeCodec{}.Decode(buf.Bytes())
			if err != nil || size <= 0 || tab.failed {
				t.Fatalf("decode: %v (size %d, failed %v)", err, size, tab != nil && tab.failed)
			}
			var probes []scopes.Pos
			for i := range idx.Len() {
				sc := idx.Scope(i)
				for _, p := range []scopes.Pos{sc.Start, sc.End} {
					probes = append(probes, p, scopes.Pos{Line: p.Line, Col: p.Col + 1}, scopes.Pos{Line: p.Line, Col: max(p.Col-1, 0)})
				}
			}
			r := rand.New(rand.NewPCG(3, 4))
			lines := bytes.Count(src, []byte("\n")) + 1
			for range 2000 {
				probes = append(probes, scopes.Pos{Line: r.IntN(lines + 1), Col: r.IntN(4000)})
			}
			for _, p := range probes {
				ws, wok := idx.Innermost(p)
				gs, gok := tab.Innermost(p)
				if wok != gok || !reflect.DeepEqual(ws, gs) {
					t.Fatalf("Innermost(%+v) = %+v %v, want %+v %v", p, gs, gok, ws, wok)
				}
			}
			enc := buf.Bytes()
			for _, n := range []int{0, 5, 9, 13, len(enc) / 2, len(enc) - 1} {
				if _, _, err := (scopeCodec{}).Decode(enc[:n]); !errors.Is(err, errBadScopes) {
					t.Errorf("truncated to %d bytes: err = %v", n, err)
				}
			}
			if _, _, err := (scopeCodec{}).Decode(append(bytes.Clone(enc), 0)); !errors.Is(err, errBadScopes) {
				t.Errorf("trailing byte: err = %v", err)
			}
		})
	}
}
