// Package storagetest is the acceptance suite every storage.Bucket backend
// must pass: the memory, filesystem and S3 backends all run Run from their
// own tests, so the three behave the same wherever callers can tell.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stacklens/stacklens/storage"
)

// Option adjusts the suite for a backend.
type Option func(*config)

type config struct {
	holdsObjectsInMemory bool
}

// HoldsObjectsInMemory tells the suite that the backend keeps each object's
// bytes on the heap, so the large-object test allows one copy of the object
// (but not more) instead of requiring streaming.
func HoldsObjectsInMemory() Option {
	return func(c *config) { c.holdsObjectsInMemory = true }
}

// Run runs the acceptance suite. newBucket must return an empty bucket,
// private to the calling (sub)test; Run closes it when the subtest ends.
func Run(t *testing.T, newBucket func(t *testing.T) storage.Bucket, opts ...Option) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	open := func(t *testing.T) storage.Bucket {
		t.Helper()
		b := newBucket(t)
		t.Cleanup(func() {
			if err := b.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return b
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, b storage.Bucket)
	}{
		{"RoundTrip", testRoundTrip},
		{"Overwrite", testOverwrite},
		{"GetRange", testGetRange},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"InvalidKeys", testInvalidKeys},
		{"ValidUnusualKeys", testValidUnusualKeys},
		{"Mismatch", testMismatch},
		{"ConcurrentWriters", testConcurrentWriters},
		{"List", testList},
		{"ContextCanceled", testContextCanceled},
		{"Ping", testPing},
		{"LargeObject", func(t *testing.T, b storage.Bucket) { testLargeObject(t, b, cfg) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func put(t *testing.T, b storage.Bucket, key string, data []byte) {
	t.Helper()
	if err := b.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), storage.PutOptions{SHA256: sum(data)}); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, b storage.Bucket, key string) []byte {
	t.Helper()
	rc, err := b.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q): read: %v", key, err)
	}
	return data
}

func listKeys(t *testing.T, b storage.Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	err := b.List(context.Background(), prefix, func(info storage.ObjectInfo) error {
		keys = append(keys, info.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return keys
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(r.Uint32())
	}
	return out
}

func testRoundTrip(t *testing.T, b storage.Bucket) {
	tests := []struct {
		name    string
		key     string
		data    []byte
		withSum bool
	}{
		{"empty", "rt/empty", nil, true},
		{"one byte", "rt/one", []byte{0}, true},
		{"text without sha", "rt/text", []byte("hello, stacklens\n"), false},
		{"binary 1MiB+1", "rt/deep/er/bin", randomBytes(1, 1<<20+1), true},
		// Sizes around the first read of a reader that reads ahead (the S3
		// backend's ranged reads fetch 4 KiB first).
		{"4KiB-1", "rt/4k-1", randomBytes(2, 4095), false},
		{"4KiB+1", "rt/4k+1", randomBytes(3, 4097), false},
		{"6580 bytes", "rt/6580", randomBytes(4, 6580), false},
		{"64KiB+1", "rt/64k+1", randomBytes(5, 64<<10+1), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := storage.PutOptions{ContentType: "application/octet-stream"}
			if tc.withSum {
				opts.SHA256 = sum(tc.data)
			}
			before := time.Now().Add(-time.Minute)
			if err := b.Put(context.Background(), tc.key, bytes.NewReader(tc.data), int64(len(tc.data)), opts); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if got := get(t, b, tc.key); !bytes.Equal(got, tc.data) {
				t.Fatalf("Get returned %d bytes (sha %s), want %d bytes (sha %s)", len(got), sum(got), len(tc.data), sum(tc.data))
			}
			// Get's reader knows the object's size before it is read.
			rc, err := b.Get(context.Background(), tc.key)
			if err != nil {
				t.Fatal(err)
			}
			sized, ok := rc.(storage.Sized)
			if !ok {
				t.Errorf("Get's reader %T does not implement storage.Sized", rc)
			} else if n := sized.Size(); n != int64(len(tc.data)) {
				t.Errorf("Get's reader: Size() = %d, want %d", n, len(tc.data))
			}
			rc.Close()
			info, err := b.Stat(context.Background(), tc.key)
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			if info.Key != tc.key || info.Size != int64(len(tc.data)) {
				t.Errorf("Stat = {Key:%q Size:%d}, want {Key:%q Size:%d}", info.Key, info.Size, tc.key, len(tc.data))
			}
			if info.ModTime.Before(before) || info.ModTime.After(time.Now().Add(time.Minute)) {
				t.Errorf("Stat ModTime %v is not close to now", info.ModTime)
			}
		})
	}
}

func testOverwrite(t *testing.T, b storage.Bucket) {
	const key = "ow/key"
	first, second := randomBytes(2, 3000), []byte("short")
	put(t, b, key, first)
	put(t, b, key, second)
	if got := get(t, b, key); !bytes.Equal(got, second) {
		t.Fatalf("after overwrite Get = %q, want %q", got, second)
	}
	info, err := b.Stat(context.Background(), key)
	if err != nil || info.Size != int64(len(second)) {
		t.Fatalf("Stat after overwrite = %+v, %v; want size %d", info, err, len(second))
	}
	if keys := listKeys(t, b, "ow/"); len(keys) != 1 || keys[0] != key {
		t.Fatalf("List after overwrite = %q, want [%q]", keys, key)
	}
}

func testGetRange(t *testing.T, b storage.Bucket) {
	const key = "range/obj"
	data := randomBytes(3, 10000)
	put(t, b, key, data)
	size := int64(len(data))
	tests := []struct {
		name        string
		off, length int64
		want        []byte
		wantErr     bool
	}{
		{"whole", 0, -1, data, false},
		{"start", 0, 10, data[:10], false},
		{"middle", 4000, 123, data[4000:4123], false},
		{"tail to end", 9990, -1, data[9990:], false},
		{"length past end is cut", 9995, 100, data[9995:], false},
		{"zero length", 50, 0, []byte{}, false},
		{"offset at end", size, -1, []byte{}, false},
		{"offset past end", size + 1, 1, nil, true},
		{"negative offset", -1, 1, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := b.GetRange(context.Background(), key, tc.off, tc.length)
			if tc.wantErr {
				if err == nil {
					rc.Close()
					t.Fatalf("GetRange(%d, %d) succeeded, want an error", tc.off, tc.length)
				}
				if errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("GetRange(%d, %d) = %v: a bad range on an existing object is not ErrNotFound", tc.off, tc.length, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("GetRange(%d, %d): %v", tc.off, tc.length, err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("GetRange(%d, %d) returned %d bytes, want %d (equal: false)", tc.off, tc.length, len(got), len(tc.want))
			}
		})
	}
}

func testNotFound(t *testing.T, b storage.Bucket) {
	ctx := context.Background()
	put(t, b, "nf/present", []byte("x"))
	for _, key := range []string{"nf/absent", "nf/present/child", "nf", "other/absent"} {
		if rc, err := b.Get(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			if err == nil {
				rc.Close()
			}
			t.Errorf("Get(%q) error = %v, want ErrNotFound", key, err)
		}
		if rc, err := b.GetRange(ctx, key, 0, 1); !errors.Is(err, storage.ErrNotFound) {
			if err == nil {
				rc.Close()
			}
			t.Errorf("GetRange(%q) error = %v, want ErrNotFound", key, err)
		}
		if _, err := b.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Stat(%q) error = %v, want ErrNotFound", key, err)
		}
	}
}

func testDelete(t *testing.T, b storage.Bucket) {
	ctx := context.Background()
	if err := b.Delete(ctx, "del/never-existed"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	put(t, b, "del/a/b", []byte("1"))
	put(t, b, "del/keep", []byte("2"))
	for i := range 2 {
		if err := b.Delete(ctx, "del/a/b"); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if _, err := b.Stat(ctx, "del/a/b"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat after Delete = %v, want ErrNotFound", err)
	}
	if keys := listKeys(t, b, "del/"); len(keys) != 1 || keys[0] != "del/keep" {
		t.Fatalf("List after Delete = %q, want [del/keep]", keys)
	}
	// A deleted key's name is free again, also as a directory-like prefix.
	put(t, b, "del/a", []byte("3"))
	if got := get(t, b, "del/a"); string(got) != "3" {
		t.Fatalf("Get(del/a) = %q after re-creating it", got)
	}
}

// InvalidKeys lists keys every backend must reject with ErrInvalidKey.
var InvalidKeys = []string{
	"",
	"/abs",
	"a//b",
	"a/",
	"..",
	".",
	"../escape",
	"a/../../escape",
	"a/./b",
	"a/..",
	"nul\x00byte",
	`back\slash`,
	`..\..\windows`,
	"ctl\x01char",
	"del\x7f",
	"bad\xffutf8",
	".tmp/staging",
	strings.Repeat("k", storage.MaxKeyComponentLen+1),
	strings.Repeat("k/", storage.MaxKeyLen/2) + "k",
}

func testInvalidKeys(t *testing.T, b storage.Bucket) {
	ctx := context.Background()
	for _, key := range InvalidKeys {
		name := fmt.Sprintf("%.40q", key)
		t.Run(name, func(t *testing.T) {
			if err := b.Put(ctx, key, strings.NewReader("x"), 1, storage.PutOptions{}); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Put error = %v, want ErrInvalidKey", err)
			}
			if rc, err := b.Get(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
				if err == nil {
					rc.Close()
				}
				t.Errorf("Get error = %v, want ErrInvalidKey", err)
			}
			if rc, err := b.GetRange(ctx, key, 0, 1); !errors.Is(err, storage.ErrInvalidKey) {
				if err == nil {
					rc.Close()
				}
				t.Errorf("GetRange error = %v, want ErrInvalidKey", err)
			}
			if _, err := b.Stat(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Stat error = %v, want ErrInvalidKey", err)
			}
			if err := b.Delete(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Delete error = %v, want ErrInvalidKey", err)
			}
		})
	}
	for _, prefix := range []string{"/abs", "../x", "a/../", "a//", "nul\x00", `back\`} {
		err := b.List(ctx, prefix, func(storage.ObjectInfo) error { return nil })
		if !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("List(%q) error = %v, want ErrInvalidKey", prefix, err)
		}
	}
	if keys := listKeys(t, b, ""); len(keys) != 0 {
		t.Errorf("rejected keys left objects behind: %q", keys)
	}
}

func testValidUnusualKeys(t *testing.T, b storage.Bucket) {
	keys := []string{
		"u/..dots",
		"u/.hidden",
		"u/a/.tmp",
		"u/sp ace",
		"u/pct%2E%2E",
		"u/unicodé/日本語/🙂",
		"u/plus+semi;colon:eq=amp&q?",
		"u/" + strings.Repeat("k", storage.MaxKeyComponentLen),
	}
	for i, key := range keys {
		put(t, b, key, []byte(fmt.Sprint(i)))
	}
	for i, key := range keys {
		if got := get(t, b, key); string(got) != fmt.Sprint(i) {
			t.Errorf("Get(%q) = %q, want %q", key, got, fmt.Sprint(i))
		}
	}
	got := listKeys(t, b, "u/")
	want := append([]string(nil), keys...)
	sortStrings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("List(u/) = %q, want %q", got, want)
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func testMismatch(t *testing.T, b storage.Bucket) {
	ctx := context.Background()
	const key = "mm/obj"
	old := []byte("the previous, verified object")
	put(t, b, key, old)
	next := randomBytes(4, 100000)
	other := randomBytes(5, 100000)
	tests := []struct {
		name string
		r    io.Reader
		size int64
		sha  string
	}{
		{"wrong sha256", bytes.NewReader(next), int64(len(next)), sum(other)},
		{"reader shorter than size", bytes.NewReader(next[:500]), int64(len(next)), ""},
		{"reader shorter than size with sha", bytes.NewReader(next[:500]), int64(len(next)), sum(next)},
		{"reader longer than size", bytes.NewReader(next), int64(len(next) - 1), ""},
		{"reader longer than size, sha of the prefix", bytes.NewReader(next), 1000, sum(next[:1000])},
		{"empty object declared non-empty", bytes.NewReader(nil), 1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{key, "mm/new"} {
				rd := tc.r
				if k == "mm/new" {
					// Same inputs against a key that does not exist yet.
					rd = rewind(t, tc.r)
				}
				err := b.Put(ctx, k, rd, tc.size, storage.PutOptions{SHA256: tc.sha})
				if !errors.Is(err, storage.ErrChecksumMismatch) {
					t.Fatalf("Put(%q) error = %v, want ErrChecksumMismatch", k, err)
				}
			}
			if got := get(t, b, key); !bytes.Equal(got, old) {
				t.Fatalf("after a failed Put the object is %d bytes, want the previous %d", len(got), len(old))
			}
			if _, err := b.Stat(ctx, "mm/new"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("a failed Put of a new key left something: Stat = %v", err)
			}
		})
	}
	if keys := listKeys(t, b, ""); len(keys) != 1 || keys[0] != key {
		t.Fatalf("List after failed Puts = %q, want [%q]", keys, key)
	}
	if err := b.Put(ctx, "mm/badsum", bytes.NewReader(next), int64(len(next)), storage.PutOptions{SHA256: "not-hex"}); err == nil {
		t.Fatal("Put with a malformed SHA256 succeeded")
	}
}

func rewind(t *testing.T, r io.Reader) io.Reader {
	t.Helper()
	s, ok := r.(io.Seeker)
	if !ok {
		t.Fatalf("%T cannot rewind", r)
	}
	if _, err := s.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	return r
}

func testConcurrentWriters(t *testing.T, b storage.Bucket) {
	const (
		key     = "cw/shared"
		writers = 4
		rounds  = 3
		size    = 256 << 10
	)
	ctx := context.Background()
	var wg sync.WaitGroup
	var writing atomic.Int32
	writing.Store(writers)
	errs := make(chan error, writers*rounds+64)
	for w := range writers {
		wg.Go(func() {
			defer writing.Add(-1)
			content := bytes.Repeat([]byte{byte('A' + w)}, size)
			for range rounds {
				if err := b.Put(ctx, key, bytes.NewReader(content), size, storage.PutOptions{SHA256: sum(content)}); err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
			}
		})
	}
	var reads atomic.Int64
	for range 2 {
		wg.Go(func() {
			// Keep reading while anyone writes, and a few times after, so
			// the check never passes for want of reads.
			for n := 0; writing.Load() > 0 || n < 5; n++ {
				rc, err := b.Get(ctx, key)
				if errors.Is(err, storage.ErrNotFound) {
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("reader Get: %w", err)
					return
				}
				data, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					errs <- fmt.Errorf("reader read: %w", err)
					return
				}
				if err := checkUniform(data, size, writers); err != nil {
					errs <- fmt.Errorf("reader saw a mixed object: %w", err)
					return
				}
				reads.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := checkUniform(get(t, b, key), size, writers); err != nil {
		t.Fatalf("final object: %v", err)
	}
	t.Logf("%d consistent reads during %d concurrent writes", reads.Load(), writers*rounds)
}

func checkUniform(data []byte, size, writers int) error {
	if len(data) != size {
		return fmt.Errorf("%d bytes, want %d", len(data), size)
	}
	if data[0] < 'A' || data[0] >= byte('A'+writers) {
		return fmt.Errorf("first byte %q is no writer's", data[0])
	}
	if i := bytes.IndexFunc(data, func(r rune) bool { return r != rune(data[0]) }); i >= 0 {
		return fmt.Errorf("byte %d is %q, byte 0 is %q", i, data[i], data[0])
	}
	return nil
}

func testList(t *testing.T, b storage.Bucket) {
	ctx := context.Background()
	// More keys than one S3 listing page (1000), with names whose lexical
	// order differs from a per-directory walk ("a-c" < "a/b" < "a0").
	var keys []string
	for i := range 1200 {
		keys = append(keys, fmt.Sprintf("list/k%04d", i))
	}
	keys = append(keys, "list/a/b", "list/a-c", "list/a.d", "list/a0", "list/a/b0/c", "list/b", "lisu", "lis/t")
	work := make(chan string)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 8 {
		wg.Go(func() {
			for k := range work {
				if err := b.Put(ctx, k, strings.NewReader(k), int64(len(k)), storage.PutOptions{}); err != nil {
					if failed.Add(1) == 1 {
						t.Errorf("Put(%q): %v", k, err)
					}
				}
			}
		})
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	sorted := append([]string(nil), keys...)
	sortStrings(sorted)
	filter := func(prefix string) []string {
		var out []string
		for _, k := range sorted {
			if strings.HasPrefix(k, prefix) {
				out = append(out, k)
			}
		}
		return out
	}
	for _, prefix := range []string{"", "list/", "list", "list/a", "list/a/", "list/k1", "list/k11", "lis", "list/zzz", "nothing/"} {
		got := listKeys(t, b, prefix)
		want := filter(prefix)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("List(%q): got %d keys, want %d; first difference at %d", prefix, len(got), len(want), firstDiff(got, want))
		}
	}
	// Listing reports sizes, and an error from fn stops it.
	stop := errors.New("stop")
	var seen []storage.ObjectInfo
	err := b.List(ctx, "list/k", func(info storage.ObjectInfo) error {
		seen = append(seen, info)
		if len(seen) == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Errorf("List with a failing fn returned %v, want the fn's error", err)
	}
	if len(seen) != 3 {
		t.Fatalf("List called fn %d times after it failed on the 3rd", len(seen))
	}
	if seen[0].Key != "list/k0000" || seen[0].Size != int64(len("list/k0000")) || seen[0].ModTime.IsZero() {
		t.Errorf("first listed object = %+v, want key list/k0000 size %d and a ModTime", seen[0], len("list/k0000"))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// cancelingReader cancels its context after handing out half of its data,
// then keeps delivering the rest.
type cancelingReader struct {
	r      *bytes.Reader
	half   int64
	read   int64
	cancel context.CancelFunc
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	if c.read >= c.half {
		c.cancel()
		// Give a backend that only notices cancellation through its
		// transport a moment to do so before the data runs out.
		time.Sleep(time.Millisecond)
	}
	if rem := c.half - c.read; rem > 0 && int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := c.r.Read(p)
	c.read += int64(n)
	return n, err
}

func testContextCanceled(t *testing.T, b storage.Bucket) {
	const key = "ctx/obj"
	old := []byte("previous")
	put(t, b, key, old)

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	data := randomBytes(6, 4<<20)
	if err := b.Put(canceled, key, bytes.NewReader(data), int64(len(data)), storage.PutOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a canceled context: %v, want context.Canceled", err)
	}
	if rc, err := b.Get(canceled, key); !errors.Is(err, context.Canceled) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("Get with a canceled context: %v, want context.Canceled", err)
	}
	if _, err := b.Stat(canceled, key); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat with a canceled context: %v, want context.Canceled", err)
	}
	if err := b.List(canceled, "", func(storage.ObjectInfo) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("List with a canceled context: %v, want context.Canceled", err)
	}

	// Canceled halfway through the upload: the Put fails, nothing changes.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cr := &cancelingReader{r: bytes.NewReader(data), half: int64(len(data) / 2), cancel: cancel}
	if err := b.Put(ctx, key, cr, int64(len(data)), storage.PutOptions{SHA256: sum(data)}); err == nil {
		t.Errorf("Put canceled halfway succeeded")
	}
	if got := get(t, b, key); !bytes.Equal(got, old) {
		t.Errorf("after a canceled Put the object is %d bytes, want the previous %d", len(got), len(old))
	}
}

func testPing(t *testing.T, b storage.Bucket) {
	if err := b.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// patternReader generates size bytes of a fixed pseudo-random pattern
// without holding more than one block.
type patternReader struct {
	block []byte
	pos   int64
	size  int64
}

func newPatternReader(size int64) *patternReader {
	// An odd block length keeps the pattern out of step with any backend's
	// power-of-two chunking.
	return &patternReader{block: randomBytes(7, 1<<20+7), size: size}
}

func (p *patternReader) Read(buf []byte) (int, error) {
	if p.pos >= p.size {
		return 0, io.EOF
	}
	if rem := p.size - p.pos; int64(len(buf)) > rem {
		buf = buf[:rem]
	}
	n := 0
	for n < len(buf) {
		off := int((p.pos + int64(n)) % int64(len(p.block)))
		n += copy(buf[n:], p.block[off:])
	}
	p.pos += int64(n)
	return n, nil
}

// LargeObjectSize is the size of the suite's streamed object: over 64 MiB,
// so a backend that buffered it whole would show.
const LargeObjectSize = 72 << 20

func testLargeObject(t *testing.T, b storage.Bucket, cfg config) {
	ctx := context.Background()
	const key = "large/object"
	h := sha256.New()
	if _, err := io.Copy(h, newPatternReader(LargeObjectSize)); err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString(h.Sum(nil))

	peak := watchHeap()
	err := b.Put(ctx, key, newPatternReader(LargeObjectSize), LargeObjectSize, storage.PutOptions{SHA256: want})
	growth := peak()
	if err != nil {
		t.Fatalf("Put of %d bytes: %v", LargeObjectSize, err)
	}
	limit := uint64(LargeObjectSize / 4)
	if cfg.holdsObjectsInMemory {
		limit += LargeObjectSize
	}
	t.Logf("Put of %d MiB: peak heap growth %.1f MiB (limit %.1f MiB)", LargeObjectSize>>20, float64(growth)/(1<<20), float64(limit)/(1<<20))
	if growth > limit {
		t.Errorf("Put of a %d MiB object grew the heap by %.1f MiB (limit %.1f MiB): it is not streamed", LargeObjectSize>>20, float64(growth)/(1<<20), float64(limit)/(1<<20))
	}

	peak = watchHeap()
	rc, err := b.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	h.Reset()
	n, err := io.Copy(h, rc)
	rc.Close()
	growth = peak()
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if n != LargeObjectSize || hex.EncodeToString(h.Sum(nil)) != want {
		t.Fatalf("read back %d bytes with sha256 %x, want %d bytes with %s", n, h.Sum(nil), LargeObjectSize, want)
	}
	if !cfg.holdsObjectsInMemory && growth > uint64(LargeObjectSize/4) {
		t.Errorf("Get of a %d MiB object grew the heap by %.1f MiB: it is not streamed", LargeObjectSize>>20, float64(growth)/(1<<20))
	}

	const tail = 1 << 10
	rc, err = b.GetRange(ctx, key, LargeObjectSize-tail, -1)
	if err != nil {
		t.Fatalf("GetRange of the tail: %v", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	pr := newPatternReader(LargeObjectSize)
	pr.pos = LargeObjectSize - tail
	wantTail, _ := io.ReadAll(pr)
	if !bytes.Equal(got, wantTail) {
		t.Fatalf("GetRange of the last %d bytes differs from the pattern", tail)
	}
}

// watchHeap samples the live heap until the returned func is called, which
// reports the peak growth over the starting point.
func watchHeap() (stop func() uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > base && ms.HeapAlloc-base > peak.Load() {
				peak.Store(ms.HeapAlloc - base)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return peak.Load()
	}
}
