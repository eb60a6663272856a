package debugstore_test

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stacklens/stacklens/cache"
	"github.com/stacklens/stacklens/debugfiles"
	debugstore "github.com/stacklens/stacklens/debugfiles/store"
	"github.com/stacklens/stacklens/debugfiles/symbolizer"
	"github.com/stacklens/stacklens/internal/testenv"
	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/blobstore"
)

// replica is one Store with its own disk cache over a (possibly shared)
// bucket, counting how often it parsed an object.
type replica struct {
	*debugstore.Store
	disk   *cache.Disk
	builds *atomic.Int64
}

func newReplica(t testing.TB, bucket storage.Bucket, diskDir string, diskBytes int64, cfg debugstore.Config) *replica {
	t.Helper()
	var opts []cache.LayerOption
	var disk *cache.Disk
	if diskDir != "" {
		var err error
		if disk, err = cache.OpenDisk(diskDir, diskBytes); err != nil {
			t.Fatal(err)
		}
		opts = append(opts, cache.WithDisk(disk))
	}
	opts = append(opts, cache.WithSharedBucket(bucket))
	s := debugstore.New(cfg, blobstore.New(bucket, t.TempDir()), nil, opts...)
	var builds atomic.Int64
	s.OpenNative = func(r io.ReaderAt, size int64, meta debugfiles.FileMeta) (debugfiles.Module, error) {
		builds.Add(1)
		return symbolizer.Open(r, size, meta)
	}
	r := &replica{Store: s, disk: disk, builds: &builds}
	t.Cleanup(r.close)
	return r
}

// close is a shutdown: background uploads finish, the disk is released.
func (r *replica) close() {
	r.Wait()
	if r.disk != nil {
		r.disk.Close()
	}
}

// probes returns .text addresses of bin: every function symbol's start and
// middle plus random ones, read with debug/elf.
func probes(t testing.TB, bin []byte, random int) []uint64 {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	syms, _ := f.Symbols()
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Value != 0 {
			out = append(out, s.Value, s.Value+s.Size/2)
		}
	}
	text := f.Section(".text")
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < random; i++ {
		out = append(out, text.Addr+uint64(rng.Int63n(int64(text.Size))))
	}
	return out
}

// answers looks every address up; the result is comparable across modules.
func answers(mod debugfiles.Module, addrs []uint64) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		locs, err := mod.Lookup(a)
		out[i] = fmt.Sprintf("%+v %v", locs, err)
	}
	return out
}

// reference is what symbolizer.Open answers directly, without any cache.
func reference(t testing.TB, bin []byte, addrs []uint64) []string {
	t.Helper()
	mod, err := symbolizer.Open(bytes.NewReader(bin), int64(len(bin)), debugfiles.FileMeta{})
	if err != nil {
		t.Fatal(err)
	}
	want := answers(mod, addrs)
	resolved := 0
	for _, w := range want {
		if !strings.HasSuffix(w, debugfiles.ErrNoSymbol.Error()) {
			resolved++
		}
	}
	if resolved < len(want)/2 {
		t.Fatalf("only %d of %d probes resolve: a poor comparison", resolved, len(want))
	}
	return want
}

func findAndCompare(t *testing.T, r *replica, project string, ref debugfiles.ObjectRef, addrs []uint64, want []string) debugfiles.Module {
	t.Helper()
	mod, err := r.Find(context.Background(), project, ref)
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	if got := answers(mod, addrs); !reflect.DeepEqual(got, want) {
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("Lookup(%#x) = %s, want %s", addrs[i], got[i], want[i])
			}
		}
	}
	return mod
}

// TestConcurrentFirstFindsParseOnce: 50 concurrent Finds of a debug file
// nobody has looked at parse it exactly once, and all get its answers.
func TestConcurrentFirstFindsParseOnce(t *testing.T) {
	full, _, _ := elfVariants(t)
	addrs := probes(t, full, 200)
	want := reference(t, full, addrs)
	r := newReplica(t, storage.NewInMemory(), t.TempDir(), 1<<30, debugstore.Config{})
	m := upload(t, r.Store, "p", "prog", full).Files[0]

	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			<-start
			mod, err := r.Find(context.Background(), "p", debugfiles.ObjectRef{DebugID: m.DebugID})
			if err == nil && !reflect.DeepEqual(answers(mod, addrs), want) {
				err = errors.New("wrong answers")
			}
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := r.builds.Load(); n != 1 {
		t.Errorf("50 concurrent first Finds parsed %d times, want 1", n)
	}
	if st := r.DerivedStats(); st.Builds != 1 {
		t.Errorf("DerivedStats.Builds = %d, want 1", st.Builds)
	}
}

// TestSymcacheSurvivesRestartAndReachesReplicas: after the first Find,
// a restarted replica (same disk) and another replica (own disk, same
// bucket) answer identically without parsing.
func TestSymcacheSurvivesRestartAndReachesReplicas(t *testing.T) {
	full, _, _ := elfVariants(t)
	addrs := probes(t, full, 500)
	want := reference(t, full, addrs)
	bucket := storage.NewInMemory()
	ref := checkSharedSymcache(t, bucket, "prog", full, addrs, want)

	diskless := newReplica(t, bucket, "", 0, debugstore.Config{})
	findAndCompare(t, diskless, "p", ref, addrs, want)
	if diskless.builds.Load() != 0 {
		t.Errorf("replica without a disk cache parsed %d times", diskless.builds.Load())
	}
}

// checkSharedSymcache uploads bin to a first replica over bucket, which
// builds its symcache on the first Find and writes it to its disk and the
// bucket; a restarted replica (same disk) and another replica (own disk)
// then answer as Open does (want, at addrs) from a decoded symcache
// without parsing: from the disk and from the bucket. It returns the
// file's reference.
func checkSharedSymcache(t *testing.T, bucket storage.Bucket, name string, bin []byte, addrs []uint64, want []string) debugfiles.ObjectRef {
	t.Helper()
	dir := t.TempDir()
	first := newReplica(t, bucket, dir, 1<<30, debugstore.Config{})
	ref := debugfiles.ObjectRef{DebugID: upload(t, first.Store, "p", name, bin).Files[0].DebugID}
	mod := findAndCompare(t, first, "p", ref, addrs, want)
	if !symbolizer.IsSymcache(unwrap(mod)) {
		t.Errorf("the first Find serves %T, want the module decoded from the symcache it just wrote", unwrap(mod))
	}
	first.close()
	if st := first.DerivedStats(); st.Builds != 1 || st.Uploads != 1 {
		t.Fatalf("first replica: %+v, want 1 build and 1 upload", st)
	}
	key := cache.ObjectKey(symbolizer.SymcacheFormat, symbolizer.SymcacheVersion, mustSHA(t, first, ref))
	obj, err := bucket.Stat(context.Background(), key)
	if err != nil {
		t.Fatalf("no derived file in the bucket: %v", err)
	}
	t.Logf("binary %d bytes, derived file %d bytes", len(bin), obj.Size)

	restarted := newReplica(t, bucket, dir, 1<<30, debugstore.Config{})
	findAndCompare(t, restarted, "p", ref, addrs, want)
	if st := restarted.DerivedStats(); restarted.builds.Load() != 0 || st.DiskHits != 1 || st.Builds != 0 {
		t.Errorf("restart: %d parses, %+v; want none and a disk hit", restarted.builds.Load(), st)
	}

	other := newReplica(t, bucket, t.TempDir(), 1<<30, debugstore.Config{})
	mod = findAndCompare(t, other, "p", ref, addrs, want)
	if !symbolizer.IsSymcache(unwrap(mod)) {
		t.Errorf("the second replica serves %T, want a decoded symcache", unwrap(mod))
	}
	if st := other.DerivedStats(); other.builds.Load() != 0 || st.StoreHits != 1 || st.Builds != 0 {
		t.Errorf("second replica: %d parses, %+v; want none and an object-store hit", other.builds.Load(), st)
	}
	return ref
}

// unwrap returns the module Find wraps, if it does (the wrapper keeps a
// mapped symcache alive; it is not part of the API).
func unwrap(mod debugfiles.Module) debugfiles.Module {
	v := reflect.ValueOf(mod)
	if v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct && v.Elem().NumField() == 1 {
		if inner, ok := v.Elem().Field(0).Interface().(debugfiles.Module); ok {
			return inner
		}
	}
	return mod
}

func mustSHA(t *testing.T, r *replica, ref debugfiles.ObjectRef) string {
	t.Helper()
	list, err := r.List(context.Background(), "p", ref.DebugID)
	if err != nil || len(list) != 1 {
		t.Fatalf("List: %v, %v", list, err)
	}
	return list[0].SHA256
}

// TestCorruptSymcacheIsRebuilt: a derived file damaged in the bucket or on
// disk (a flipped bit, or a well-framed payload that does not decode) is
// detected, deleted and rebuilt, and the answers do not change.
func TestCorruptSymcacheIsRebuilt(t *testing.T) {
	full, _, _ := elfVariants(t)
	addrs := probes(t, full, 300)
	want := reference(t, full, addrs)
	ctx := context.Background()

	bucket := storage.NewInMemory()
	seed := newReplica(t, bucket, t.TempDir(), 1<<30, debugstore.Config{})
	ref := debugfiles.ObjectRef{DebugID: upload(t, seed.Store, "p", "prog", full).Files[0].DebugID}
	findAndCompare(t, seed, "p", ref, addrs, want)
	seed.close()
	sha := mustSHA(t, seed, ref)
	key := cache.ObjectKey(symbolizer.SymcacheFormat, symbolizer.SymcacheVersion, sha)
	good := readObject(t, bucket, key)

	payload, err := cache.VerifyFrame(good, symbolizer.SymcacheFormat, symbolizer.SymcacheVersion, sha)
	if err != nil {
		t.Fatal(err)
	}
	garbage := bytes.Clone(payload)
	copy(garbage[24:], bytes.Repeat([]byte{0xff}, 64)) // the section table
	reframed, err := cache.EncodeFrame(symbolizer.SymcacheFormat, symbolizer.SymcacheVersion, sha, garbage)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x10

	for name, bad := range map[string][]byte{"flipped bit": flipped, "payload that does not decode": reframed} {
		t.Run("bucket/"+name, func(t *testing.T) {
			putObject(t, bucket, key, bad)
			r := newReplica(t, bucket, t.TempDir(), 1<<30, debugstore.Config{})
			findAndCompare(t, r, "p", ref, addrs, want)
			r.close()
			if st := r.DerivedStats(); st.Corrupt != 1 || r.builds.Load() != 1 {
				t.Errorf("%+v, %d parses; want 1 corrupt and 1 rebuild", st, r.builds.Load())
			}
			if got := readObject(t, bucket, key); !bytes.Equal(got[cache.FrameHeaderSize:], good[cache.FrameHeaderSize:]) {
				t.Error("the rebuilt derived file was not written back")
			}
		})
	}

	t.Run("disk", func(t *testing.T) {
		dir := t.TempDir()
		// No bucket layer to fall back on: the disk file is the only copy.
		noShare := storage.NewInMemory()
		r := newReplica(t, noShare, dir, 1<<30, debugstore.Config{})
		upload(t, r.Store, "p", "prog", full)
		findAndCompare(t, r, "p", ref, addrs, want)
		r.close()
		if err := noShare.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, symbolizer.SymcacheFormat, fmt.Sprintf("v%d", symbolizer.SymcacheVersion), sha[:2], sha)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)-100] ^= 1
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		again := newReplica(t, noShare, dir, 1<<30, debugstore.Config{})
		findAndCompare(t, again, "p", ref, addrs, want)
		if st := again.DerivedStats(); st.Corrupt != 1 || again.builds.Load() != 1 {
			t.Errorf("%+v, %d parses; want 1 corrupt and 1 rebuild", st, again.builds.Load())
		}
	})
}

func readObject(t *testing.T, b storage.Bucket, key string) []byte {
	t.Helper()
	rc, err := b.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func putObject(t *testing.T, b storage.Bucket, key string, data []byte) {
	t.Helper()
	if err := b.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}

// countingBucket counts List calls (how Find looks for records).
type countingBucket struct {
	storage.Bucket
	lists atomic.Int64
}

func (c *countingBucket) List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error {
	c.lists.Add(1)
	return c.Bucket.List(ctx, prefix, fn)
}

// TestNegativeCache: a missing debug file is looked up in the store once
// per TTL, and an upload on this replica is found at once.
func TestNegativeCache(t *testing.T) {
	full, _, _ := elfVariants(t)
	metas, err := debugfiles.Identify(bytes.NewReader(full), int64(len(full)))
	if err != nil {
		t.Fatal(err)
	}
	ref := debugfiles.ObjectRef{DebugID: metas[0].DebugID, CodeID: metas[0].CodeID}
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		ttl      time.Duration
		wantList int64
	}{
		{"remembered", time.Hour, 1},
		{"disabled", -1, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket := &countingBucket{Bucket: storage.NewInMemory()}
			r := newReplica(t, bucket, "", 0, debugstore.Config{NegativeTTL: tc.ttl})
			before := bucket.lists.Load()
			for range 5 {
				if _, err := r.Find(ctx, "p", debugfiles.ObjectRef{DebugID: ref.DebugID}); !errors.Is(err, debugfiles.ErrMissing) {
					t.Fatalf("Find before upload: %v, want ErrMissing", err)
				}
			}
			if got := bucket.lists.Load() - before; got != tc.wantList {
				t.Errorf("5 Finds of a missing file listed the store %d times, want %d", got, tc.wantList)
			}
			// Another project's upload does not forget this one's miss...
			upload(t, r.Store, "other", "prog", full)
			_, err := r.Find(ctx, "p", debugfiles.ObjectRef{DebugID: ref.DebugID})
			if !errors.Is(err, debugfiles.ErrMissing) {
				t.Fatalf("Find after another project's upload: %v", err)
			}
			// ...its own does, at once.
			upload(t, r.Store, "p", "prog", full)
			if _, err := r.Find(ctx, "p", debugfiles.ObjectRef{DebugID: ref.DebugID}); err != nil {
				t.Fatalf("Find right after the upload: %v", err)
			}
		})
	}
}

// TestRecordCache: repeated Finds of one file read its records once per
// TTL, and an upload of a better file for the same debug_id on this
// replica is used at once.
func TestRecordCache(t *testing.T) {
	_, stripped, debugOnly := elfVariants(t)
	ctx := context.Background()
	bucket := &countingBucket{Bucket: storage.NewInMemory()}
	r := newReplica(t, bucket, "", 0, debugstore.Config{RecordTTL: time.Hour})
	m := upload(t, r.Store, "p", "stripped", stripped).Files[0]
	ref := debugfiles.ObjectRef{DebugID: m.DebugID}
	before := bucket.lists.Load()
	for range 5 {
		mod, err := r.Find(ctx, "p", ref)
		if err != nil {
			t.Fatal(err)
		}
		if hasFeature(mod.Meta(), debugfiles.FeatureDebug) {
			t.Fatal("the stripped file claims debug info")
		}
	}
	if got := bucket.lists.Load() - before; got != 1 {
		t.Errorf("5 Finds listed the records %d times, want 1", got)
	}
	upload(t, r.Store, "p", "debug", debugOnly)
	mod, err := r.Find(ctx, "p", ref)
	if err != nil {
		t.Fatal(err)
	}
	if !hasFeature(mod.Meta(), debugfiles.FeatureDebug) {
		t.Errorf("right after uploading the debug companion Find serves %+v", mod.Meta())
	}
}

// TestLookupResultsOutliveTheMapping: what Lookup returned stays valid
// after the module is gone and its symcache unmapped (strings are copied
// out of the mapping; a view into it would fault here).
func TestLookupResultsOutliveTheMapping(t *testing.T) {
	full, _, _ := elfVariants(t)
	addrs := probes(t, full, 100)
	want := reference(t, full, addrs)
	// A budget of one byte keeps nothing in memory: only the caller holds
	// the module.
	r := newReplica(t, storage.NewInMemory(), t.TempDir(), 1<<30, debugstore.Config{CacheBytes: 1})
	ref := debugfiles.ObjectRef{DebugID: upload(t, r.Store, "p", "prog", full).Files[0].DebugID}
	r.Wait()
	mod, err := r.Find(context.Background(), "p", ref)
	if err != nil {
		t.Fatal(err)
	}
	if r.disk.Stats().Mapped == 0 {
		t.Fatal("the module does not map its symcache")
	}
	results := make([][]debugfiles.Location, len(addrs))
	for i, a := range addrs {
		results[i], _ = mod.Lookup(a)
	}
	mod = nil
	for i := 0; i < 10 && r.disk.Stats().Mapped > 0; i++ {
		heapAfterGC()
	}
	if m := r.disk.Stats().Mapped; m != 0 {
		t.Fatalf("%d files still mapped after the module became unreachable", m)
	}
	for i, locs := range results {
		var err error
		if len(locs) == 0 {
			err = debugfiles.ErrNoSymbol
		}
		if got := fmt.Sprintf("%+v %v", locs, err); got != want[i] {
			t.Fatalf("Lookup(%#x) result changed after unmapping: %s, want %s", addrs[i], got, want[i])
		}
	}
}

// gocrashBinary builds testdata/native/gocrash with ldflags, once per test
// binary: a Go program whose -w / -s -w builds have no DWARF, answered from
// .gopclntab.
func gocrashBinary(t *testing.T, ldflags string) []byte {
	t.Helper()
	bigMu.Lock()
	defer bigMu.Unlock()
	key := "gocrash " + ldflags
	p, ok := bigBuilt[key]
	if !ok {
		p = filepath.Join(bigDir, fmt.Sprintf("gocrash-%d", len(bigBuilt)))
		cmd := exec.Command(testenv.Tool(t, "go"), "build", "-ldflags="+ldflags, "-o", p, ".")
		cmd.Dir = filepath.Join(testenv.RepoRoot(t), "testdata", "native", "gocrash")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build gocrash %s: %v\n%s", ldflags, err, b)
		}
		bigBuilt[key] = p
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestGoPclntabSymcacheReachesReplicas: a Go binary without DWARF gets a
// symcache too (the pclntab, mapped): after the first Find a restarted
// replica hits its disk and another replica the bucket, neither parses,
// and all answer as Open does, inline levels included.
func TestGoPclntabSymcacheReachesReplicas(t *testing.T) {
	for _, ldflags := range []string{"-w", "-s -w"} {
		t.Run(ldflags, func(t *testing.T) {
			bin := gocrashBinary(t, ldflags)
			addrs := probes(t, bin, 2000)
			want := reference(t, bin, addrs)
			inlined := 0
			for _, w := range want {
				if strings.Count(w, "Function:") > 1 {
					inlined++
				}
			}
			if inlined == 0 {
				t.Fatal("no probe answers with inline levels: a poor comparison")
			}
			checkSharedSymcache(t, storage.NewInMemory(), "gocrash", bin, addrs, want)
		})
	}
}
