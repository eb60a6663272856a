package cache_test

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"testing"

	"github.com/stacklens/stacklens/cache"
	"github.com/stacklens/stacklens/debugfiles"
	debugstore "github.com/stacklens/stacklens/debugfiles/store"
	"github.com/stacklens/stacklens/internal/testenv"
	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/blobstore"
)

var (
	nativeOnce sync.Once
	nativeBin  []byte
	nativeErr  error
)

// nativeBinary builds cmd/compile with uncompressed DWARF (~45 MB, the
// largest program in the Go distribution; GOCACHE makes rebuilds a link)
// once per binary.
func nativeBinary(b *testing.B) []byte {
	goTool := testenv.Tool(b, "go")
	nativeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bench-native-")
		if err != nil {
			nativeErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "compile")
		cmd := exec.Command(goTool, "build", "-ldflags=-compressdwarf=false", "-o", out, "cmd/compile")
		cmd.Dir = dir
		if msg, err := cmd.CombinedOutput(); err != nil {
			nativeErr = &exec.ExitError{Stderr: msg}
			return
		}
		nativeBin, nativeErr = os.ReadFile(out)
	})
	if nativeErr != nil {
		b.Fatal(nativeErr)
	}
	if len(nativeBin) < 30<<20 {
		b.Fatalf("cmd/compile is %d bytes; the benchmark needs a debug file over 30 MB", len(nativeBin))
	}
	return nativeBin
}

// nativeAddrs are 20 random .text addresses of bin: one event's stack.
func nativeAddrs(b *testing.B, bin []byte) []uint64 {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		b.Fatal(err)
	}
	text := f.Section(".text")
	r := rand.New(rand.NewPCG(3, 4))
	out := make([]uint64, 20)
	for i := range out {
		out[i] = text.Addr + r.Uint64N(text.Size)
	}
	return out
}

// nativeReplica is one stacklens process's debug-file store: its own disk
// cache directory over the shared bucket.
type nativeReplica struct {
	store *debugstore.Store
	disk  *cache.Disk
}

func newNativeReplica(b *testing.B, bucket storage.Bucket, diskDir string) *nativeReplica {
	disk, err := cache.OpenDisk(diskDir, 10<<30)
	if err != nil {
		b.Fatal(err)
	}
	s := debugstore.New(debugstore.Config{}, blobstore.New(bucket, b.TempDir()), nil,
		cache.WithDisk(disk), cache.WithSharedBucket(bucket))
	return &nativeReplica{store: s, disk: disk}
}

func (r *nativeReplica) close() {
	r.store.Wait()
	r.disk.Close()
}

func nativeUpload(b *testing.B, r *nativeReplica, bin []byte) debugfiles.ObjectRef {
	metas, err := r.store.Upload(context.Background(), "native", bytes.NewReader(bin))
	if err != nil {
		b.Fatal(err)
	}
	return debugfiles.ObjectRef{DebugID: metas[0].DebugID}
}

// nativeRequest is what symbolicating one native stack costs the store:
// Find (records, then memory, disk, object store or parse) and 20 lookups.
func nativeRequest(b *testing.B, r *nativeReplica, ref debugfiles.ObjectRef, addrs []uint64, situation string) {
	pprof.Do(context.Background(), pprof.Labels("situation", situation), func(ctx context.Context) {
		mod, err := r.store.Find(ctx, "native", ref)
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range addrs {
			// Padding between functions has no symbol.
			if _, err := mod.Lookup(a); err != nil && !errors.Is(err, debugfiles.ErrNoSymbol) {
				b.Fatalf("Lookup(%#x): %v", a, err)
			}
		}
	})
}

// BenchmarkNativeFirstRequest times one native request (see
// nativeRequest) on cmd/compile in the four situations of
// BenchmarkFirstRequest: a) first after the upload (blob downloaded to a
// temporary file, parsed, indexed, symcache written to disk and, in the
// background, to the object store); b) memory hit; c) first after a
// restart with the disk cache (mmap); d) first on a second replica sharing
// the object store. Setup is not timed.
func BenchmarkNativeFirstRequest(b *testing.B) {
	bin := nativeBinary(b)
	addrs := nativeAddrs(b, bin)
	b.Run("a_after_upload", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			bucket := newBucket(b)
			r := newNativeReplica(b, bucket, b.TempDir())
			ref := nativeUpload(b, r, bin)
			b.StartTimer()
			nativeRequest(b, r, ref, addrs, "a_after_upload")
			b.StopTimer()
			if st := r.store.DerivedStats(); st.Builds != 1 {
				b.Fatalf("%d parses", st.Builds)
			}
			r.close()
			bucket.Close()
			b.StartTimer()
		}
	})
	b.Run("b_memory_hit", func(b *testing.B) {
		bucket := newBucket(b)
		r := newNativeReplica(b, bucket, b.TempDir())
		defer r.close()
		ref := nativeUpload(b, r, bin)
		nativeRequest(b, r, ref, addrs, "warm-up")
		for b.Loop() {
			nativeRequest(b, r, ref, addrs, "b_memory_hit")
		}
	})
	b.Run("c_after_restart", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			bucket := newBucket(b)
			dir := b.TempDir()
			r := newNativeReplica(b, bucket, dir)
			ref := nativeUpload(b, r, bin)
			nativeRequest(b, r, ref, addrs, "setup")
			r.close()
			r = newNativeReplica(b, bucket, dir)
			b.StartTimer()
			nativeRequest(b, r, ref, addrs, "c_after_restart")
			b.StopTimer()
			if st := r.store.DerivedStats(); st.Builds != 0 || st.DiskHits != 1 {
				b.Fatalf("after restart: %+v", st)
			}
			r.close()
			bucket.Close()
			b.StartTimer()
		}
	})
	b.Run("d_second_replica", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			bucket := newBucket(b)
			r := newNativeReplica(b, bucket, b.TempDir())
			ref := nativeUpload(b, r, bin)
			nativeRequest(b, r, ref, addrs, "setup")
			r.close()
			r2 := newNativeReplica(b, bucket, b.TempDir())
			b.StartTimer()
			nativeRequest(b, r2, ref, addrs, "d_second_replica")
			b.StopTimer()
			if st := r2.store.DerivedStats(); st.Builds != 0 || st.StoreHits != 1 {
				b.Fatalf("second replica: %+v", st)
			}
			r2.close()
			bucket.Close()
			b.StartTimer()
		}
	})
}
