package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stacklens/stacklens/storage"
)

// toyIndex is a stand-in for a source-map index or a symcache: a value
// that reads straight out of its payload, which may be a mapped file.
type toyIndex struct {
	raw []byte // "TOY1\n" + lines joined by '\n'
}

func (x *toyIndex) Lines() []string {
	return strings.Split(string(x.raw[len(toyMagic):]), "\n")
}

const toyMagic = "TOY1\n"

type toyCodec struct {
	version int
	// failDecode makes Decode reject every payload (a codec that cannot
	// read a file of its own version).
	failDecode bool
}

func (toyCodec) Format() string { return "toy" }
func (c toyCodec) Version() int { return c.version }
func (toyCodec) Encode(w io.Writer, v *toyIndex) error {
	_, err := w.Write(v.raw)
	return err
}
func (c toyCodec) Decode(data []byte) (*toyIndex, int64, error) {
	if c.failDecode || !bytes.HasPrefix(data, []byte(toyMagic)) {
		return nil, 0, errors.New("toy: bad payload")
	}
	return &toyIndex{raw: data}, 64, nil
}

// toyBuild "parses an original artifact": the lines of source.
func toyBuild(source string, builds *atomic.Int64) func(context.Context) (*toyIndex, int64, error) {
	return func(context.Context) (*toyIndex, int64, error) {
		builds.Add(1)
		raw := []byte(toyMagic + source)
		return &toyIndex{raw: raw}, int64(len(raw)) + 64, nil
	}
}

func mustNotBuild(t *testing.T) func(context.Context) (*toyIndex, int64, error) {
	return func(context.Context) (*toyIndex, int64, error) {
		t.Error("build called although a layer holds the derived file")
		return nil, 0, errors.New("unexpected build")
	}
}

type replica struct {
	mem  *Memory[*toyIndex]
	disk *Disk
	d    *Derived[*toyIndex]
}

func newReplica(t testing.TB, codec Codec[*toyIndex], diskDir string, bucket storage.Bucket, opts ...DerivedOption) *replica {
	t.Helper()
	r := &replica{mem: NewMemory[*toyIndex](64 << 20)}
	if diskDir != "" {
		disk, err := OpenDisk(diskDir, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = disk.Close() })
		r.disk = disk
	}
	r.d = NewDerived(codec, r.mem, r.disk, bucket, nil, opts...)
	t.Cleanup(r.d.Wait)
	return r
}

func wantLines(t *testing.T, v *toyIndex, err error, want string) {
	t.Helper()
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got := strings.Join(v.Lines(), "\n"); got != want {
		t.Fatalf("value = %q, want %q", got, want)
	}
}

func TestDerivedLayersInOrder(t *testing.T) {
	ctx := t.Context()
	bucket := storage.NewInMemory()
	diskDir := t.TempDir()
	sha := shaOf("app.js.map")
	const source = "line one\nline two"
	var builds atomic.Int64

	first := newReplica(t, toyCodec{version: 1}, diskDir, bucket)
	v, err := first.d.Get(ctx, sha, toyBuild(source, &builds))
	wantLines(t, v, err, source)
	first.d.Wait()
	if s := first.d.Stats(); builds.Load() != 1 || s.Builds != 1 || s.DiskMisses != 1 || s.StoreMisses != 1 || s.Uploads != 1 {
		t.Fatalf("first Get: builds %d stats %+v", builds.Load(), s)
	}
	obj, err := bucket.Get(ctx, ObjectKey("toy", 1, sha))
	if err != nil {
		t.Fatalf("derived file not written back: %v", err)
	}
	frame, _ := io.ReadAll(obj)
	_ = obj.Close()
	if payload, err := VerifyFrame(frame, "toy", 1, sha); err != nil || string(payload) != toyMagic+source {
		t.Fatalf("object store copy: %v", err)
	}

	// Memory hit.
	v, err = first.d.Get(ctx, sha, mustNotBuild(t))
	wantLines(t, v, err, source)
	if s := first.mem.Stats(); s.Hits != 1 {
		t.Errorf("memory hits = %d, want 1", s.Hits)
	}

	// "Restart": new memory, same disk directory.
	_ = first.disk.Close()
	restarted := newReplica(t, toyCodec{version: 1}, diskDir, bucket)
	v, err = restarted.d.Get(ctx, sha, mustNotBuild(t))
	wantLines(t, v, err, source)
	if s := restarted.d.Stats(); s.DiskHits != 1 || s.StoreHits+s.StoreMisses != 0 {
		t.Errorf("after restart stats = %+v, want one disk hit and no store access", s)
	}

	// Another replica: new memory, its own disk, same bucket.
	other := newReplica(t, toyCodec{version: 1}, t.TempDir(), bucket)
	v, err = other.d.Get(ctx, sha, mustNotBuild(t))
	wantLines(t, v, err, source)
	if s := other.d.Stats(); s.DiskMisses != 1 || s.StoreHits != 1 || s.Builds != 0 {
		t.Errorf("second replica stats = %+v, want disk miss, store hit, no build", s)
	}
	// The download landed on its disk: its next restart needs no store.
	if ds := other.disk.Stats(); ds.Files != 1 {
		t.Errorf("second replica's disk holds %d files, want 1", ds.Files)
	}
}

func TestDerivedSecondReplicaBuildsNothing(t *testing.T) {
	ctx := t.Context()
	bucket := storage.NewInMemory()
	a := newReplica(t, toyCodec{version: 1}, t.TempDir(), bucket)
	b := newReplica(t, toyCodec{version: 1}, t.TempDir(), bucket)
	var builds atomic.Int64
	for i := range 20 {
		sha := shaOf(fmt.Sprint("artifact", i))
		v, err := a.d.Get(ctx, sha, toyBuild(fmt.Sprint("source ", i), &builds))
		wantLines(t, v, err, fmt.Sprint("source ", i))
	}
	a.d.Wait()
	for i := range 20 {
		sha := shaOf(fmt.Sprint("artifact", i))
		v, err := b.d.Get(ctx, sha, mustNotBuild(t))
		wantLines(t, v, err, fmt.Sprint("source ", i))
	}
	if builds.Load() != 20 || b.d.Stats().StoreHits != 20 {
		t.Errorf("builds %d, replica b stats %+v", builds.Load(), b.d.Stats())
	}
}

func TestDerivedConcurrentGetsBuildOnce(t *testing.T) {
	bucket := storage.NewInMemory()
	r := newReplica(t, toyCodec{version: 1}, t.TempDir(), bucket)
	sha := shaOf("hot")
	var builds atomic.Int64
	release := make(chan struct{})
	build := func(ctx context.Context) (*toyIndex, int64, error) {
		<-release
		return toyBuild("hot source", &builds)(ctx)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			v, err := r.d.Get(t.Context(), sha, build)
			if err != nil || v.Lines()[0] != "hot source" {
				t.Errorf("Get = %v", err)
			}
		})
	}
	waitFor(t, "50 callers", func() bool { return r.mem.Stats().Misses == 50 })
	close(release)
	wg.Wait()
	r.d.Wait()
	s := r.d.Stats()
	if builds.Load() != 1 || s.Builds != 1 || s.DiskMisses != 1 || s.StoreMisses != 1 || s.Uploads != 1 {
		t.Errorf("builds %d, stats %+v: want one pass down the chain", builds.Load(), s)
	}
}

func TestDerivedCorruptDiskFileIsRebuilt(t *testing.T) {
	ctx := t.Context()
	diskDir := t.TempDir()
	sha := shaOf("a")
	var builds atomic.Int64
	first := newReplica(t, toyCodec{version: 1}, diskDir, nil)
	if _, err := first.d.Get(ctx, sha, toyBuild("original", &builds)); err != nil {
		t.Fatal(err)
	}
	_ = first.disk.Close()
	path := filepath.Join(diskDir, "toy", "v1", sha[:2], sha)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-2] ^= 1 // "original" → "originam"-like damage
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}

	second := newReplica(t, toyCodec{version: 1}, diskDir, nil)
	v, err := second.d.Get(ctx, sha, toyBuild("original", &builds))
	wantLines(t, v, err, "original")
	if s := second.d.Stats(); builds.Load() != 2 || s.Corrupt != 1 || s.Builds != 1 {
		t.Errorf("builds %d stats %+v, want the corrupt file rebuilt", builds.Load(), s)
	}
	fixed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyFrame(fixed, "toy", 1, sha); err != nil {
		t.Errorf("rebuilt file does not verify: %v", err)
	}
}

func TestDerivedCorruptStoreObjectIsRebuilt(t *testing.T) {
	ctx := t.Context()
	bucket := storage.NewInMemory()
	sha := shaOf("a")
	key := ObjectKey("toy", 1, sha)
	good, err := EncodeFrame("toy", 1, sha, []byte(toyMagic+"good"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		object []byte
	}{
		{"flipped byte", func() []byte { b := bytes.Clone(good); b[len(b)-1] ^= 1; return b }()},
		{"truncated", good[:len(good)-3]},
		{"not a frame", []byte("<html>proxy error</html>")},
		{"decodes badly", func() []byte { b, _ := EncodeFrame("toy", 1, sha, []byte("no magic")); return b }()},
	}
	for _, tt := range tests {
		for _, withDisk := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/disk=%v", tt.name, withDisk), func(t *testing.T) {
				if err := bucket.Put(ctx, key, bytes.NewReader(tt.object), int64(len(tt.object)), storage.PutOptions{}); err != nil {
					t.Fatal(err)
				}
				dir := ""
				if withDisk {
					dir = t.TempDir()
				}
				r := newReplica(t, toyCodec{version: 1}, dir, bucket)
				var builds atomic.Int64
				v, err := r.d.Get(ctx, sha, toyBuild("rebuilt", &builds))
				wantLines(t, v, err, "rebuilt")
				r.d.Wait()
				if s := r.d.Stats(); builds.Load() != 1 || s.Corrupt != 1 || s.Uploads != 1 {
					t.Errorf("builds %d stats %+v", builds.Load(), s)
				}
				rc, err := bucket.Get(ctx, key)
				if err != nil {
					t.Fatalf("object not rewritten: %v", err)
				}
				frame, _ := io.ReadAll(rc)
				_ = rc.Close()
				if p, err := VerifyFrame(frame, "toy", 1, sha); err != nil || string(p) != toyMagic+"rebuilt" {
					t.Errorf("object store copy after rebuild: %q, %v", p, err)
				}
			})
		}
	}
}

func TestDerivedVersionBumpRebuilds(t *testing.T) {
	ctx := t.Context()
	bucket := storage.NewInMemory()
	diskDir := t.TempDir()
	sha := shaOf("a")
	var builds atomic.Int64
	v1 := newReplica(t, toyCodec{version: 1}, diskDir, bucket)
	if _, err := v1.d.Get(ctx, sha, toyBuild("v1 build", &builds)); err != nil {
		t.Fatal(err)
	}
	v1.d.Wait()
	_ = v1.disk.Close()

	v2 := newReplica(t, toyCodec{version: 2}, diskDir, bucket)
	v, err := v2.d.Get(ctx, sha, toyBuild("v2 build", &builds))
	wantLines(t, v, err, "v2 build")
	v2.d.Wait()
	if s := v2.d.Stats(); s.Builds != 1 || s.Corrupt != 0 || s.DiskHits+s.StoreHits != 0 {
		t.Errorf("v2 stats %+v: the v1 files must be ignored, not read or reported corrupt", s)
	}
	if _, err := os.Stat(filepath.Join(diskDir, "toy", "v1")); !os.IsNotExist(err) {
		t.Errorf("v1 disk files not garbage-collected: %v", err)
	}
	for _, version := range []int{1, 2} {
		if _, err := bucket.Stat(ctx, ObjectKey("toy", version, sha)); err != nil {
			t.Errorf("object for v%d: %v", version, err)
		}
	}
}

func TestDerivedBuildErrorsAreReturnedNotCached(t *testing.T) {
	r := newReplica(t, toyCodec{version: 1}, t.TempDir(), storage.NewInMemory())
	sha := shaOf("a")
	boom := errors.New("malformed source map")
	_, err := r.d.Get(t.Context(), sha, func(context.Context) (*toyIndex, int64, error) { return nil, 0, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Get = %v, want the build error", err)
	}
	var builds atomic.Int64
	v, err := r.d.Get(t.Context(), sha, toyBuild("ok now", &builds))
	wantLines(t, v, err, "ok now")
	if s := r.d.Stats(); s.BuildErrors != 1 || s.Builds != 2 {
		t.Errorf("stats %+v", s)
	}
}

// failingPuts is a bucket whose writes fail: the object store is down.
type failingPuts struct{ storage.Bucket }

func (failingPuts) Put(context.Context, string, io.Reader, int64, storage.PutOptions) error {
	return errors.New("store unavailable")
}

func TestDerivedUploadFailureDoesNotFailTheRequest(t *testing.T) {
	r := newReplica(t, toyCodec{version: 1}, t.TempDir(), failingPuts{storage.NewInMemory()})
	var builds atomic.Int64
	v, err := r.d.Get(t.Context(), shaOf("a"), toyBuild("fine", &builds))
	wantLines(t, v, err, "fine")
	r.d.Wait()
	if s := r.d.Stats(); s.UploadErrors != 1 || s.Uploads != 0 {
		t.Errorf("stats %+v, want one failed upload", s)
	}
}

func TestDerivedCodecThatCannotDecodeFallsBackToBuiltValue(t *testing.T) {
	bucket := storage.NewInMemory()
	r := newReplica(t, toyCodec{version: 1, failDecode: true}, t.TempDir(), bucket)
	var builds atomic.Int64
	sha := shaOf("a")
	v, err := r.d.Get(t.Context(), sha, toyBuild("built", &builds))
	wantLines(t, v, err, "built")
	r.d.Wait()
	if _, err := bucket.Stat(t.Context(), ObjectKey("toy", 1, sha)); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a file its codec cannot read was uploaded: %v", err)
	}
	if ds := r.disk.Stats(); ds.Files != 0 {
		t.Errorf("a file its codec cannot read was kept on disk")
	}
}

// TestDerivedMappingOutlivesEviction holds a value while the memory and
// disk layers both drop it: the value must stay readable (its file stays
// mapped), and once it is unreachable the mapping must be released.
func TestDerivedMappingOutlivesEviction(t *testing.T) {
	ctx := t.Context()
	const payload = 64 << 10
	// A mapped value is charged its payload and the toy codec's 64 bytes:
	// room for three.
	mem := NewMemory[*toyIndex](3*(payload+64) + 10)
	disk, err := OpenDisk(t.TempDir(), 3*(payload+FrameHeaderSize))
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	d := NewDerived[*toyIndex](toyCodec{version: 1}, mem, disk, nil, nil)
	var builds atomic.Int64
	source := func(i int) string { return fmt.Sprint(i, ":") + strings.Repeat("x", payload-len(toyMagic)-8) }

	held, err := d.Get(ctx, shaOf("0"), toyBuild(source(0), &builds))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 30; i++ {
		if _, err := d.Get(ctx, shaOf(fmt.Sprint(i)), toyBuild(source(i), &builds)); err != nil {
			t.Fatal(err)
		}
		if ms, ds := mem.Stats(), disk.Stats(); ms.Bytes > mem.MaxBytes() || ds.Bytes > disk.MaxBytes() {
			t.Fatalf("over budget: memory %d/%d disk %d/%d", ms.Bytes, mem.MaxBytes(), ds.Bytes, disk.MaxBytes())
		}
	}
	if ds := disk.Stats(); ds.Evictions == 0 || ds.OrphanBytes == 0 {
		t.Fatalf("disk stats %+v: the held value's file should be evicted but mapped", ds)
	}
	// Collect whatever became unreachable, then check the held value.
	runtime.GC()
	if got := held.Lines()[0]; got != source(0) {
		t.Fatalf("held value changed after eviction: %.20q", got)
	}
	runtime.KeepAlive(held)
	held = nil
	if ms := mem.Stats(); ms.Evictions == 0 {
		t.Fatalf("memory stats %+v: the held value should have been evicted", ms)
	}
	waitFor(t, "mappings of evicted values to be released", func() bool {
		runtime.GC()
		s := disk.Stats()
		return s.OrphanBytes == 0 && s.Mapped <= 3
	})
	// The three values still in memory keep their files mapped.
	runtime.KeepAlive(d)
	if s := disk.Stats(); s.Mapped != 3 {
		t.Errorf("mapped files = %d, want the 3 held by the memory layer", s.Mapped)
	}
}

func TestDerivedMetrics(t *testing.T) {
	reg := newTestRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering twice on one registry succeeded")
	}
	bucket := storage.NewInMemory()
	mem := NewMemory[*toyIndex](1<<20, WithObserver(m.Observer("toy", "memory")))
	disk, err := OpenDisk(t.TempDir(), 1<<20, WithDiskObserver(m.Observer("derived", "disk")))
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	d := NewDerived[*toyIndex](toyCodec{version: 1}, mem, disk, bucket, nil, WithDerivedMetrics(m, "toy"))
	var builds atomic.Int64
	for range 3 {
		if _, err := d.Get(t.Context(), shaOf("a"), toyBuild("x", &builds)); err != nil {
			t.Fatal(err)
		}
	}
	d.Wait()
	got := gatherValues(t, reg)
	want := map[string]float64{
		`stacklens_cache_hits_total{cache="toy",layer="memory"}`:                  2,
		`stacklens_cache_misses_total{cache="toy",layer="memory"}`:                1,
		`stacklens_cache_load_duration_seconds_count{cache="toy",layer="memory"}`: 1,
		`stacklens_cache_misses_total{cache="toy",layer="disk"}`:                  1,
		`stacklens_cache_misses_total{cache="toy",layer="store"}`:                 1,
		`stacklens_cache_load_duration_seconds_count{cache="toy",layer="build"}`:  1,
		`stacklens_cache_entries{cache="toy",layer="memory"}`:                     1,
		`stacklens_cache_entries{cache="derived",layer="disk"}`:                   1,
		`stacklens_cache_bytes{cache="derived",layer="disk"}`:                     float64(FrameHeaderSize + len(toyMagic) + 1),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// TestBuildWriteBehind: with WithBuildWriteBehind a build is served as
// built (not read back from its file), its file reaches the disk and the
// object store behind the request, a restart reads it from disk and
// another replica from the store; a codec that cannot read its own file
// leaves nothing behind.
func TestBuildWriteBehind(t *testing.T) {
	ctx := context.Background()
	bucket := storage.NewInMemory()
	dir := t.TempDir()
	sha := strings.Repeat("ab", 32)
	var builds atomic.Int64
	var built *toyIndex
	r := newReplica(t, toyCodec{version: 1}, dir, bucket, WithBuildWriteBehind())
	v, err := r.d.Get(ctx, sha, func(ctx context.Context) (*toyIndex, int64, error) {
		x, n, err := toyBuild("a\nb", &builds)(ctx)
		built = x
		return x, n, err
	})
	if err != nil || v != built {
		t.Fatalf("Get = %p, %v; want the built value %p", v, err, built)
	}
	r.d.Wait()
	if st := r.d.Stats(); st.Builds != 1 || st.Uploads != 1 {
		t.Fatalf("after the build: %+v", st)
	}
	if _, err := bucket.Stat(ctx, ObjectKey("toy", 1, sha)); err != nil {
		t.Fatalf("not written back: %v", err)
	}
	r.disk.Close()

	restarted := newReplica(t, toyCodec{version: 1}, dir, nil, WithBuildWriteBehind())
	if v, err := restarted.d.Get(ctx, sha, mustNotBuild(t)); err != nil || strings.Join(v.Lines(), ",") != "a,b" {
		t.Fatalf("after a restart: %v, %v", v, err)
	}
	if st := restarted.d.Stats(); st.DiskHits != 1 {
		t.Fatalf("after a restart: %+v", st)
	}
	other := newReplica(t, toyCodec{version: 1}, t.TempDir(), bucket, WithBuildWriteBehind())
	if _, err := other.d.Get(ctx, sha, mustNotBuild(t)); err != nil {
		t.Fatal(err)
	}
	if st := other.d.Stats(); st.StoreHits != 1 {
		t.Fatalf("second replica: %+v", st)
	}

	badBucket := storage.NewInMemory()
	bad := newReplica(t, toyCodec{version: 1, failDecode: true}, t.TempDir(), badBucket, WithBuildWriteBehind())
	if _, err := bad.d.Get(ctx, sha, toyBuild("x", &builds)); err != nil {
		t.Fatal(err)
	}
	bad.d.Wait()
	if _, err := bad.disk.Get("toy", 1, sha); err == nil {
		t.Error("a file its codec cannot read stayed on disk")
	}
	if _, err := badBucket.Stat(ctx, ObjectKey("toy", 1, sha)); err == nil {
		t.Error("a file its codec cannot read was written back")
	}
}

// copyingToyCodec decodes into a copy: nothing of the payload is retained.
type copyingToyCodec struct{ toyCodec }

func (copyingToyCodec) RetainsData() bool { return false }
func (c copyingToyCodec) Decode(data []byte) (*toyIndex, int64, error) {
	v, size, err := c.toyCodec.Decode(bytes.Clone(data))
	return v, size, err
}

// TestDerivedChargesRetainedPayload: a value that keeps its payload (mapped
// from disk, or a heap copy from the object store) is charged the payload
// besides what its codec reports, as its pages are resident while it is
// held; a value decoded into a copy is charged what its codec reports.
func TestDerivedChargesRetainedPayload(t *testing.T) {
	ctx := t.Context()
	const source = "lines\nof\nan\nartifact"
	payload := int64(len(toyMagic + source))
	bucket := storage.NewInMemory()
	for _, tc := range []struct {
		name  string
		codec Codec[*toyIndex]
		want  int64
	}{
		{"mapped", toyCodec{version: 1}, 64 + payload},
		{"copied", copyingToyCodec{toyCodec{version: 1}}, 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var builds atomic.Int64
			r := newReplica(t, tc.codec, t.TempDir(), bucket)
			sha := shaOf(tc.name)
			if _, err := r.d.Get(ctx, sha, toyBuild(source, &builds)); err != nil {
				t.Fatal(err)
			}
			if got := r.mem.Stats().Bytes; got != tc.want {
				t.Errorf("after the build: charged %d, want %d", got, tc.want)
			}
			r.d.Wait()
			// Another replica without a disk: a heap copy from the store.
			other := newReplica(t, tc.codec, "", bucket)
			if _, err := other.d.Get(ctx, sha, mustNotBuild(t)); err != nil {
				t.Fatal(err)
			}
			if got := other.mem.Stats().Bytes; got != tc.want {
				t.Errorf("from the store: charged %d, want %d", got, tc.want)
			}
		})
	}
}
