package cache_test

import (
	"testing"

	"github.com/stacklens/stacklens/cache"
	"github.com/stacklens/stacklens/storage"
)

// subject is the component a benchmark times in one replica: one
// stacklens process's view of the shared bucket, with its own disk cache
// directory.
type subject interface {
	// upload stores the benchmark's artifact.
	upload(b *testing.B)
	// request serves one request, labelled situation for profiles, and
	// returns the check of its answer, which the caller runs untimed.
	request(b *testing.B, situation string) (check func())
	// stats are the counters of the derived-file chain requests go through.
	stats() cache.DerivedStats
	// close waits for the background writes, then releases the replica.
	close()
}

// opener starts a replica over bucket with its disk cache in dir.
type opener func(b *testing.B, bucket storage.Bucket, dir string) subject

// benchSituations times one request in the four situations of the caching
// issue: a) first request after the upload; b) the same again (memory);
// c) first request after a restart with the disk cache; d) first request
// on a second replica sharing the object store. settle runs before the
// timed requests; setup is not timed. Each situation checks where its
// answer came from (one parse, none after a restart, a store hit on the
// second replica).
func benchSituations(b *testing.B, open opener, settle func()) {
	// measure times one request and checks its answer untimed; the timer
	// is stopped on entry and on return.
	measure := func(b *testing.B, s subject, situation string) {
		b.StartTimer()
		check := s.request(b, situation)
		b.StopTimer()
		check()
	}
	// fresh runs a situation that starts from an empty bucket: prepare
	// returns the replica to time, want checks its counters.
	fresh := func(b *testing.B, situation string, prepare func(b *testing.B, bucket storage.Bucket) subject, want func(cache.DerivedStats) bool) {
		for b.Loop() {
			b.StopTimer()
			bucket := newBucket(b)
			s := prepare(b, bucket)
			settle()
			measure(b, s, situation)
			if st := s.stats(); !want(st) {
				b.Fatalf("%s: %+v", situation, st)
			}
			s.close()
			bucket.Close()
			b.StartTimer()
		}
	}
	// uploaded is a replica that has served the artifact once, closed.
	uploaded := func(b *testing.B, bucket storage.Bucket, dir string) {
		s := open(b, bucket, dir)
		s.upload(b)
		s.request(b, "setup")()
		s.close()
	}
	b.Run("a_after_upload", func(b *testing.B) {
		fresh(b, "a_after_upload", func(b *testing.B, bucket storage.Bucket) subject {
			s := open(b, bucket, b.TempDir())
			s.upload(b)
			return s
		}, func(st cache.DerivedStats) bool { return st.Builds == 1 })
	})
	b.Run("b_memory_hit", func(b *testing.B) {
		s := open(b, newBucket(b), b.TempDir())
		defer s.close()
		s.upload(b)
		s.request(b, "setup")()
		settle()
		for b.Loop() {
			b.StopTimer()
			measure(b, s, "b_memory_hit")
			b.StartTimer()
		}
	})
	b.Run("c_after_restart", func(b *testing.B) {
		fresh(b, "c_after_restart", func(b *testing.B, bucket storage.Bucket) subject {
			dir := b.TempDir()
			uploaded(b, bucket, dir)
			return open(b, bucket, dir)
		}, func(st cache.DerivedStats) bool { return st.Builds == 0 && st.DiskHits == 1 })
	})
	b.Run("d_second_replica", func(b *testing.B) {
		fresh(b, "d_second_replica", func(b *testing.B, bucket storage.Bucket) subject {
			uploaded(b, bucket, b.TempDir())
			return open(b, bucket, b.TempDir())
		}, func(st cache.DerivedStats) bool { return st.Builds == 0 && st.StoreHits == 1 })
	})
}
