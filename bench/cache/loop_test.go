package cache_test

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkRestartLoop repeats situations (c) and (d) without rebuilding
// between iterations (one upload and build, then a fresh replica per
// iteration), so that a CPU profile holds the timed work only.
func BenchmarkRestartLoop(b *testing.B) {
	min, mapData := bundle(b)
	req := request(b, mapData)
	bucket := newBucket(b)
	defer bucket.Close()
	dir := b.TempDir()
	r := newReplica(b, bucket, dir)
	upload(b, r.svc, min, mapData)
	resolve(b, r.svc, req)
	r.close()
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b.Logf("%s %d", p, fi.Size())
		}
		return nil
	})
	b.Run("c", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			r := newReplica(b, bucket, dir)
			b.StartTimer()
			resolveTimed(b, r.svc, req, "c")
			b.StopTimer()
			r.close()
			b.StartTimer()
		}
	})
	b.Run("d", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			r := newReplica(b, bucket, b.TempDir())
			b.StartTimer()
			resolveTimed(b, r.svc, req, "d")
			b.StopTimer()
			r.close()
			b.StartTimer()
		}
	})
}
