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

// nativeReplica is one stacklens process's debug-file store over the
// shared bucket, with its own disk cache directory, and the benchmark's
// binary and addresses (a subject of benchSituations).
type nativeReplica struct {
	store *debugstore.Store
	disk  *cache.Disk
	bin   []byte
	addrs []uint64
	ref   debugfiles.ObjectRef
}

func (r *nativeReplica) upload(b *testing.B) {
	if _, err := r.store.Upload(context.Background(), "native", bytes.NewReader(r.bin)); err != nil {
		b.Fatal(err)
	}
}

// request is what symbolicating one native stack costs the store: Find
// (records, then memory, disk, object store or parse) and 20 lookups,
// which are checked as they go.
func (r *nativeReplica) request(b *testing.B, situation string) func() {
	pprof.Do(context.Background(), pprof.Labels("situation", situation), func(ctx context.Context) {
		mod, err := r.store.Find(ctx, "native", r.ref)
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range r.addrs {
			// Padding between functions has no symbol.
			if _, err := mod.Lookup(a); err != nil && !errors.Is(err, debugfiles.ErrNoSymbol) {
				b.Fatalf("Lookup(%#x): %v", a, err)
			}
		}
	})
	return func() {}
}

func (r *nativeReplica) stats() cache.DerivedStats { return r.store.DerivedStats() }

func (r *nativeReplica) close() {
	r.store.Wait()
	r.disk.Close()
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
	metas, err := debugfiles.Identify(bytes.NewReader(bin), int64(len(bin)))
	if err != nil || len(metas) == 0 {
		b.Fatalf("identifying cmd/compile: %v", err)
	}
	ref := debugfiles.ObjectRef{DebugID: metas[0].DebugID}
	benchSituations(b, func(b *testing.B, bucket storage.Bucket, dir string) subject {
		disk, err := cache.OpenDisk(dir, 10<<30)
		if err != nil {
			b.Fatal(err)
		}
		s := debugstore.New(debugstore.Config{}, blobstore.New(bucket, b.TempDir()), nil,
			cache.WithDisk(disk), cache.WithSharedBucket(bucket))
		return &nativeReplica{store: s, disk: disk, bin: bin, addrs: addrs, ref: ref}
	}, func() {})
}
