package cache

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stacklens/stacklens/storage"
)

// BenchmarkDerivedLayers measures each layer of Derived with the toy codec
// on a 1 MiB payload. A real codec drops in by replacing benchCodec,
// benchBuild and benchQuery.
//
//	build   nothing cached: build, encode, write + fsync to disk, map, decode
//	        (the object-store upload runs in the background)
//	memory  the value is in memory
//	disk    after a "restart": new Memory, same Disk (map, check, decode)
//	store   on a "second replica": new Memory, no disk file, same bucket
//	        (download, verify, write + fsync to disk, map, decode)
func BenchmarkDerivedLayers(b *testing.B) {
	const payloadSize = 1 << 20
	benchCodec := toyCodec{version: 1}
	source := strings.Repeat("function f(){return 1}\n", payloadSize/23)
	var builds atomic.Int64
	benchBuild := toyBuild(source, &builds)
	benchQuery := func(b *testing.B, v *toyIndex) {
		if len(v.raw) < payloadSize/2 {
			b.Fatalf("value of %d bytes", len(v.raw))
		}
	}
	ctx := context.Background()
	newDisk := func(b *testing.B, dir string) *Disk {
		disk, err := OpenDisk(dir, 1<<30)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = disk.Close() })
		return disk
	}

	b.Run("build", func(b *testing.B) {
		b.SetBytes(int64(len(source)))
		d := NewDerived[*toyIndex](benchCodec, NewMemory[*toyIndex](1<<30), newDisk(b, b.TempDir()), storage.NewInMemory(), nil)
		i := 0
		for b.Loop() {
			i++
			v, err := d.Get(ctx, shaOf(fmt.Sprint("build", i)), benchBuild)
			if err != nil {
				b.Fatal(err)
			}
			benchQuery(b, v)
		}
		b.StopTimer()
		d.Wait()
	})

	b.Run("memory", func(b *testing.B) {
		d := NewDerived[*toyIndex](benchCodec, NewMemory[*toyIndex](1<<30), nil, nil, nil)
		sha := shaOf("memory")
		if _, err := d.Get(ctx, sha, benchBuild); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			v, err := d.Get(ctx, sha, benchBuild)
			if err != nil {
				b.Fatal(err)
			}
			benchQuery(b, v)
		}
	})

	b.Run("disk", func(b *testing.B) {
		b.SetBytes(int64(len(source)))
		disk := newDisk(b, b.TempDir())
		sha := shaOf("disk")
		warm := NewDerived[*toyIndex](benchCodec, NewMemory[*toyIndex](1<<30), disk, nil, nil)
		if _, err := warm.Get(ctx, sha, benchBuild); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			restarted := NewDerived[*toyIndex](benchCodec, NewMemory[*toyIndex](1<<30), disk, nil, nil)
			v, err := restarted.Get(ctx, sha, benchBuild)
			if err != nil {
				b.Fatal(err)
			}
			benchQuery(b, v)
		}
		if s := disk.Stats(); s.Hits < int64(b.N) {
			b.Fatalf("disk hits %d < %d iterations", s.Hits, b.N)
		}
	})

	b.Run("store", func(b *testing.B) {
		b.SetBytes(int64(len(source)))
		bucket := storage.NewInMemory()
		sha := shaOf("store")
		first := NewDerived[*toyIndex](benchCodec, NewMemory[*toyIndex](1<<30), newDisk(b, b.TempDir()), bucket, nil)
		if _, err := first.Get(ctx, sha, benchBuild); err != nil {
			b.Fatal(err)
		}
		first.Wait()
		disk := newDisk(b, b.TempDir())
		before := builds.Load()
		for b.Loop() {
			b.StopTimer()
			if err := disk.Remove("toy", 1, sha); err != nil {
				b.Fatal(err)
			}
			replica := NewDerived[*toyIndex](benchCodec, NewMemory[*toyIndex](1<<30), disk, bucket, nil)
			b.StartTimer()
			v, err := replica.Get(ctx, sha, benchBuild)
			if err != nil {
				b.Fatal(err)
			}
			benchQuery(b, v)
		}
		if builds.Load() != before {
			b.Fatal("the second replica built")
		}
	})
}
