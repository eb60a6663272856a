package cache_test

import (
	"testing"
)

// BenchmarkRestartLoop repeats situations (c) and (d) without rebuilding
// between iterations (one upload and build, then a fresh replica per
// iteration), so that a CPU profile holds little else than the timed work:
//
//	go test ./bench/cache -run '^$' -bench RestartLoop -benchtime 100x -cpuprofile c.prof
//	go tool pprof -tagfocus situation=c -top c.prof
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
	b.Run("c", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			r := newReplica(b, bucket, dir)
			settle()
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
			settle()
			b.StartTimer()
			resolveTimed(b, r.svc, req, "d")
			b.StopTimer()
			r.close()
			b.StartTimer()
		}
	})
}
