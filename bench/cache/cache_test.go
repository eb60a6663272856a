// Package cache_test measures what the derived-index cache saves on the
// first request for a ~6 MB source map (the esbuild bundle of
// sourcemaps/mapping/testdata/bench/entry.js): run.sh prints the table.
package cache_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"

	"github.com/stacklens/stacklens/cache"
	"github.com/stacklens/stacklens/internal/testenv"
	"github.com/stacklens/stacklens/sourcemaps"
	"github.com/stacklens/stacklens/sourcemaps/mapping"
	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/blobstore"
	"github.com/stacklens/stacklens/storage/fsstore"
	"github.com/stacklens/stacklens/storage/s3store"
)

var (
	bundleOnce sync.Once
	bundleMin  []byte
	bundleMap  []byte
	bundleErr  error
)

// bundle builds the benchmark bundle once per binary.
func bundle(b *testing.B) ([]byte, []byte) {
	nm := testenv.NodeModules(b)
	esbuild := testenv.NodeBin(b, "esbuild")
	entry := filepath.Join(testenv.RepoRoot(b), "sourcemaps", "mapping", "testdata", "bench", "entry.js")
	bundleOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bench-cache-")
		if err != nil {
			bundleErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "app.min.js")
		cmd := exec.Command(esbuild, entry, "--bundle", "--minify", "--sourcemap",
			"--platform=node", "--format=esm", "--log-level=error", "--outfile="+out)
		cmd.Env = append(os.Environ(), "NODE_PATH="+nm)
		if msg, err := cmd.CombinedOutput(); err != nil {
			bundleErr = &exec.ExitError{Stderr: msg}
			return
		}
		if bundleMin, bundleErr = os.ReadFile(out); bundleErr == nil {
			bundleMap, bundleErr = os.ReadFile(out + ".map")
		}
	})
	if bundleErr != nil {
		b.Fatal(bundleErr)
	}
	return bundleMin, bundleMap
}

// newBucket returns a fresh, empty bucket of the store named by
// $BENCH_STORE: "memory" (default), "fs" or "minio".
func newBucket(b *testing.B) storage.Bucket {
	switch os.Getenv("BENCH_STORE") {
	case "fs":
		bk, err := fsstore.New(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		return bk
	case "minio":
		m := startMinIO(b)
		bk, err := s3store.New(context.Background(), s3store.Config{Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey, Bucket: m.NewBucketName(b)})
		if err != nil {
			b.Fatal(err)
		}
		return bk
	default:
		return storage.NewInMemory()
	}
}

// TestMain starts one MinIO for the whole binary when it is the store:
// a per-benchmark server would die with the first sub-benchmark.
func TestMain(m *testing.M) {
	stop := func() {}
	if os.Getenv("BENCH_STORE") == "minio" {
		stop = testenv.StartSharedMinIO()
	}
	code := m.Run()
	stop()
	os.Exit(code)
}

func startMinIO(b *testing.B) testenv.MinIO { return testenv.StartMinIO(b) }

// jsReplica is one stacklens process's JS service over the shared bucket,
// with its own disk cache directory, and the benchmark's artifacts and
// request (a subject of benchSituations).
type jsReplica struct {
	svc          *sourcemaps.Service
	disk         *cache.Disk
	min, mapData []byte
	req          sourcemaps.StackRequest
}

// jsOpener opens jsReplicas for the bundle min with map mapData and req.
func jsOpener(min, mapData []byte, req sourcemaps.StackRequest) func(b *testing.B, bucket storage.Bucket, dir string) *jsReplica {
	return func(b *testing.B, bucket storage.Bucket, dir string) *jsReplica {
		disk, err := cache.OpenDisk(dir, 10<<30)
		if err != nil {
			b.Fatal(err)
		}
		svc := sourcemaps.New(sourcemaps.Config{}, blobstore.New(bucket, b.TempDir()), nil,
			cache.WithDisk(disk), cache.WithSharedBucket(bucket))
		return &jsReplica{svc: svc, disk: disk, min: min, mapData: mapData, req: req}
	}
}

func (r *jsReplica) upload(b *testing.B) { upload(b, r.svc, r.min, r.mapData) }

// request is one ResolveStack labelled with the situation, so that a CPU
// profile of the benchmark can be cut to the timed requests
// (go tool pprof -tagfocus situation=c_after_restart). Its check wants
// every frame resolved with both contexts, and the answer of the map
// parsed from JSON.
func (r *jsReplica) request(b *testing.B, situation string) func() {
	var res sourcemaps.StackResult
	pprof.Do(context.Background(), pprof.Labels("situation", situation), func(ctx context.Context) {
		res = r.svc.ResolveStack(ctx, r.req)
	})
	return func() {
		for i, f := range res.Frames {
			if f.Status != sourcemaps.StatusSymbolicated || f.Context == nil || f.RawContext == nil {
				b.Fatalf("frame %d: %s %+v", i, f.Status, res.Problems)
			}
		}
		if !reflect.DeepEqual(res, want) {
			b.Fatalf("%s: the answer differs from the map parsed from JSON", situation)
		}
	}
}

func (r *jsReplica) stats() cache.DerivedStats { return r.svc.IndexStats() }

func (r *jsReplica) close() {
	r.svc.WaitWriteBack()
	r.disk.Close()
}

// request is a 20-frame stack at real mapped positions of the bundle.
func request(b *testing.B, mapData []byte) sourcemaps.StackRequest {
	m, err := mapping.Parse(mapData)
	if err != nil {
		b.Fatal(err)
	}
	var toks []mapping.Token
	m.Tokens(func(t mapping.Token) bool {
		if t.Source >= 0 {
			toks = append(toks, t)
		}
		return true
	})
	r := rand.New(rand.NewPCG(1, 2))
	frames := make([]sourcemaps.Frame, 20)
	for i := range frames {
		t := toks[r.IntN(len(toks))]
		frames[i] = sourcemaps.Frame{AbsPath: "https://ex.com/static/app.min.js", Lineno: t.GenLine + 1, Colno: t.GenCol + 1, Function: "e"}
	}
	return sourcemaps.StackRequest{Project: "web", Release: "1", Frames: frames}
}

func upload(b *testing.B, s *sourcemaps.Service, min, mapData []byte) {
	ctx := context.Background()
	for _, f := range []struct {
		url  string
		data []byte
	}{{"~/static/app.min.js", min}, {"~/static/app.min.js.map", mapData}} {
		if _, err := s.PutFile(ctx, "web", sourcemaps.FileUpload{URL: f.url, Release: "1"}, bytes.NewReader(f.data)); err != nil {
			b.Fatal(err)
		}
	}
}

// settle collects the garbage of a situation's setup (uploads, the build
// of the first replica) before its request is timed: a restarted process or
// a new replica starts with an empty heap, and a collection the setup made
// due must not be charged to the request. Every situation gets it.
func settle() { runtime.GC() }

var (
	wantOnce sync.Once
	want     sourcemaps.StackResult
)

// expected is what a service with nothing but memory answers (the map
// parsed from JSON, no derived index): every situation must answer the
// same, frame for frame.
func expected(b *testing.B, min, mapData []byte, req sourcemaps.StackRequest) sourcemaps.StackResult {
	wantOnce.Do(func() {
		s := sourcemaps.New(sourcemaps.Config{}, blobstore.New(storage.NewInMemory(), b.TempDir()), nil)
		upload(b, s, min, mapData)
		want = s.ResolveStack(context.Background(), req)
	})
	return want
}

// BenchmarkFirstRequest times one ResolveStack (20 frames; record
// look-ups, blob reads, parses or index loads, lookups) in each situation:
// a) first request after the upload (parse, index written to disk and,
// in the background, to the object store); b) the same again (memory);
// c) first request after a restart with the disk cache; d) first request
// on a second replica sharing the object store. Setup is not timed.
func BenchmarkFirstRequest(b *testing.B) {
	min, mapData := bundle(b)
	req := request(b, mapData)
	expected(b, min, mapData, req)
	open := jsOpener(min, mapData, req)
	benchSituations(b, func(b *testing.B, bucket storage.Bucket, dir string) subject { return open(b, bucket, dir) }, settle)
}

// BenchmarkMapOnly isolates the source map: parse from bytes versus
// decode of its index (what (c) pays for the map, mapping and checksum
// aside).
func BenchmarkMapOnly(b *testing.B) {
	_, mapData := bundle(b)
	b.Run("parse", func(b *testing.B) {
		for b.Loop() {
			if _, err := mapping.Parse(mapData); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode_index", func(b *testing.B) {
		m, err := mapping.Parse(mapData)
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if err := mapping.EncodeIndex(&buf, m); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(buf.Len())/(1<<20), "index-MiB")
		for b.Loop() {
			if _, _, err := mapping.DecodeIndex(buf.Bytes()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
