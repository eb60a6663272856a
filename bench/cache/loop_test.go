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
	expected(b, min, mapData, req)
	open := jsOpener(min, mapData, req)
	bucket := newBucket(b)
	defer bucket.Close()
	dir := b.TempDir()
	r := open(b, bucket, dir)
	r.upload(b)
	r.request(b, "setup")()
	r.close()
	loop := func(b *testing.B, situation string, dir func() string) {
		for b.Loop() {
			b.StopTimer()
			r := open(b, bucket, dir())
			settle()
			b.StartTimer()
			check := r.request(b, situation)
			b.StopTimer()
			check()
			r.close()
			b.StartTimer()
		}
	}
	b.Run("c", func(b *testing.B) { loop(b, "c", func() string { return dir }) })
	b.Run("d", func(b *testing.B) { loop(b, "d", b.TempDir) })
}
