package blobstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/blobstore"
	"github.com/stacklens/stacklens/storage/fsstore"
)

// countingBucket counts Puts, to see which uploads were skipped.
type countingBucket struct {
	storage.Bucket
	puts atomic.Int64
}

func (c *countingBucket) Put(ctx context.Context, key string, r io.Reader, size int64, opts storage.PutOptions) error {
	c.puts.Add(1)
	return c.Bucket.Put(ctx, key, r, size, opts)
}

type fixture struct {
	store  *blobstore.Store
	bucket *countingBucket
	tmpDir string
}

// backends runs fn against the in-memory and the filesystem backend.
func backends(t *testing.T, fn func(t *testing.T, fx fixture)) {
	for _, name := range []string{"memory", "fs"} {
		t.Run(name, func(t *testing.T) {
			var b storage.Bucket = storage.NewInMemory()
			if name == "fs" {
				fb, err := fsstore.New(filepath.Join(t.TempDir(), "store"))
				if err != nil {
					t.Fatal(err)
				}
				b = fb
			}
			cb := &countingBucket{Bucket: b}
			tmp := t.TempDir()
			fn(t, fixture{store: blobstore.New(cb, tmp), bucket: cb, tmpDir: tmp})
		})
	}
}

// sha256sum is the ground truth for content addresses: coreutils' sha256sum.
func sha256sum(t *testing.T, data []byte) string {
	t.Helper()
	cmd := exec.Command("sha256sum")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sha256sum: %v", err)
	}
	return strings.Fields(string(out))[0]
}

func spoolEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("spool directory not empty: %d entries (%s...)", len(entries), entries[0].Name())
	}
}

func TestPutBlob(t *testing.T) {
	backends(t, func(t *testing.T, fx fixture) {
		ctx := context.Background()
		for _, data := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("stacklens "), 100000)} {
			blob, err := fx.store.PutBlob(ctx, bytes.NewReader(data), 0)
			if err != nil {
				t.Fatalf("PutBlob(%d bytes): %v", len(data), err)
			}
			want := blobstore.Blob{SHA256: sha256sum(t, data), Size: int64(len(data))}
			if blob != want {
				t.Fatalf("PutBlob = %+v, want %+v", blob, want)
			}
			info, err := fx.bucket.Stat(ctx, "blobs/sha256/"+want.SHA256[:2]+"/"+want.SHA256)
			if err != nil || info.Size != want.Size {
				t.Fatalf("blob object: %+v, %v", info, err)
			}
			got, err := fx.store.ReadBlob(ctx, blob.SHA256, 0)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("ReadBlob: %d bytes, %v; want %d bytes", len(got), err, len(data))
			}
			rc, err := fx.store.OpenBlob(ctx, blob.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			got, err = io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("OpenBlob: %d bytes, %v; want %d bytes", len(got), err, len(data))
			}
		}
		spoolEmpty(t, fx.tmpDir)
	})
}

func TestPutBlobSizeLimit(t *testing.T) {
	backends(t, func(t *testing.T, fx fixture) {
		ctx := context.Background()
		data := []byte("0123456789")
		if _, err := fx.store.PutBlob(ctx, bytes.NewReader(data), 9); !errors.Is(err, blobstore.ErrTooLarge) {
			t.Fatalf("PutBlob of 10 bytes with limit 9: %v, want ErrTooLarge", err)
		}
		var keys []string
		_ = fx.bucket.List(ctx, "", func(i storage.ObjectInfo) error { keys = append(keys, i.Key); return nil })
		if len(keys) != 0 {
			t.Fatalf("a refused blob was stored: %q", keys)
		}
		if _, err := fx.store.PutBlob(ctx, bytes.NewReader(data), 10); err != nil {
			t.Fatalf("PutBlob of exactly the limit: %v", err)
		}
		spoolEmpty(t, fx.tmpDir)
	})
}

func TestPutBlobIsIdempotent(t *testing.T) {
	backends(t, func(t *testing.T, fx fixture) {
		ctx := context.Background()
		data := []byte("same bytes twice")
		first, err := fx.store.PutBlob(ctx, bytes.NewReader(data), 0)
		if err != nil {
			t.Fatal(err)
		}
		second, err := fx.store.PutBlob(ctx, bytes.NewReader(data), 0)
		if err != nil || second != first {
			t.Fatalf("second PutBlob = %+v, %v; want %+v", second, err, first)
		}
		if n := fx.bucket.puts.Load(); n != 1 {
			t.Fatalf("%d Puts for the same bytes twice, want 1", n)
		}
		// A truncated object at the address is replaced, not trusted.
		key := blobstore.BlobKey(first.SHA256)
		if err := fx.bucket.Bucket.Put(ctx, key, strings.NewReader("same"), 4, storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.store.PutBlob(ctx, bytes.NewReader(data), 0); err != nil {
			t.Fatal(err)
		}
		if got, err := fx.store.ReadBlob(ctx, first.SHA256, 0); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("after repair ReadBlob = %q, %v", got, err)
		}
	})
}

func TestPutBlobFile(t *testing.T) {
	backends(t, func(t *testing.T, fx fixture) {
		ctx := context.Background()
		data := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 300000)
		f, err := os.CreateTemp(t.TempDir(), "upload")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(data); err != nil { // offset now at the end
			t.Fatal(err)
		}
		blob, err := fx.store.PutBlobFile(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if want := (blobstore.Blob{SHA256: sha256sum(t, data), Size: int64(len(data))}); blob != want {
			t.Fatalf("PutBlobFile = %+v, want %+v", blob, want)
		}
		if off, _ := f.Seek(0, io.SeekCurrent); off != int64(len(data)) {
			t.Errorf("PutBlobFile moved the file offset to %d", off)
		}
		spoolEmpty(t, fx.tmpDir) // no second copy
		got, err := fx.store.ReadBlob(ctx, blob.SHA256, 0)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("ReadBlob after PutBlobFile: %d bytes, %v", len(got), err)
		}
		if _, err := fx.store.PutBlobFile(ctx, f); err != nil || fx.bucket.puts.Load() != 1 {
			t.Fatalf("second PutBlobFile: %v, %d Puts in all (want 1)", err, fx.bucket.puts.Load())
		}
	})
}

func TestReadBlobChecks(t *testing.T) {
	backends(t, func(t *testing.T, fx fixture) {
		ctx := context.Background()
		data := []byte("genuine content")
		blob, err := fx.store.PutBlob(ctx, bytes.NewReader(data), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fx.store.ReadBlob(ctx, blob.SHA256, 5); !errors.Is(err, blobstore.ErrTooLarge) {
			t.Errorf("ReadBlob over its limit: %v, want ErrTooLarge", err)
		}
		missing := sha256sum(t, []byte("never stored"))
		if _, err := fx.store.ReadBlob(ctx, missing, 0); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("ReadBlob of a missing blob: %v, want ErrNotFound", err)
		}
		if _, err := fx.store.OpenBlob(ctx, missing); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("OpenBlob of a missing blob: %v, want ErrNotFound", err)
		}
		for _, bad := range []string{"", "a", "zz", strings.ToUpper(blob.SHA256), blob.SHA256 + "00", "../../etc/passwd"} {
			if _, err := fx.store.ReadBlob(ctx, bad, 0); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("ReadBlob(%q): %v, want ErrInvalidKey", bad, err)
			}
			if _, err := fx.store.OpenBlob(ctx, bad); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("OpenBlob(%q): %v, want ErrInvalidKey", bad, err)
			}
		}
		// Corrupt the stored bytes behind the store's back.
		corrupt := []byte("tampered conten")
		if err := fx.bucket.Put(ctx, blobstore.BlobKey(blob.SHA256), bytes.NewReader(corrupt), int64(len(corrupt)), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.store.ReadBlob(ctx, blob.SHA256, 0); !errors.Is(err, storage.ErrChecksumMismatch) {
			t.Errorf("ReadBlob of corrupted content: %v, want ErrChecksumMismatch", err)
		}
		rc, err := fx.store.OpenBlob(ctx, blob.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(rc)
		rc.Close()
		if !errors.Is(err, storage.ErrChecksumMismatch) {
			t.Errorf("reading an OpenBlob of corrupted content to EOF: %v, want ErrChecksumMismatch", err)
		}
	})
}

type debugRecord struct {
	SHA256     string   `json:"sha256"`
	Kind       string   `json:"kind"`
	Features   []string `json:"features"`
	ObjectName string   `json:"object_name"`
}

func TestRecords(t *testing.T) {
	backends(t, func(t *testing.T, fx fixture) {
		ctx := context.Background()
		blob, err := fx.store.PutBlob(ctx, strings.NewReader("ELF..."), 0)
		if err != nil {
			t.Fatal(err)
		}
		base := "p/" + blobstore.KeyPart("my project") + "/debug/"
		recs := map[string]debugRecord{
			base + "b/elf.json": {SHA256: blob.SHA256, Kind: "elf", Features: []string{"debug"}, ObjectName: "libb.so"},
			base + "a/elf.json": {SHA256: blob.SHA256, Kind: "elf", Features: []string{"symtab", "debug"}, ObjectName: "liba.so"},
		}
		for k, v := range recs {
			if err := fx.store.PutRecord(ctx, k, v); err != nil {
				t.Fatalf("PutRecord(%q): %v", k, err)
			}
		}
		for k, want := range recs {
			var got debugRecord
			if err := fx.store.GetRecord(ctx, k, &got); err != nil {
				t.Fatalf("GetRecord(%q): %v", k, err)
			}
			if got.SHA256 != want.SHA256 || got.ObjectName != want.ObjectName || strings.Join(got.Features, ",") != strings.Join(want.Features, ",") {
				t.Errorf("GetRecord(%q) = %+v, want %+v", k, got, want)
			}
		}
		// Records are plain JSON objects on the bucket.
		rc, err := fx.bucket.Get(ctx, base+"a/elf.json")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(rc)
		rc.Close()
		if !strings.Contains(string(raw), `"object_name":"liba.so"`) {
			t.Errorf("stored record is %s, want JSON with object_name", raw)
		}
		var keys []string
		if err := fx.store.ListRecords(ctx, base, func(k string) error { keys = append(keys, k); return nil }); err != nil {
			t.Fatal(err)
		}
		if strings.Join(keys, " ") != base+"a/elf.json "+base+"b/elf.json" {
			t.Errorf("ListRecords = %q", keys)
		}
		// The last write wins.
		if err := fx.store.PutRecord(ctx, base+"a/elf.json", debugRecord{SHA256: blob.SHA256, ObjectName: "liba2.so"}); err != nil {
			t.Fatal(err)
		}
		var got debugRecord
		if err := fx.store.GetRecord(ctx, base+"a/elf.json", &got); err != nil || got.ObjectName != "liba2.so" {
			t.Errorf("after overwrite GetRecord = %+v, %v", got, err)
		}
		if err := fx.store.DeleteRecord(ctx, base+"a/elf.json"); err != nil {
			t.Fatal(err)
		}
		if err := fx.store.GetRecord(ctx, base+"a/elf.json", &got); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetRecord after DeleteRecord: %v, want ErrNotFound", err)
		}
		if _, err := fx.store.ReadBlob(ctx, blob.SHA256, 0); err != nil {
			t.Errorf("DeleteRecord touched the blob: %v", err)
		}
		if err := fx.store.PutRecord(ctx, "../escape.json", got); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("PutRecord with a bad key: %v, want ErrInvalidKey", err)
		}
		if err := fx.store.PutRecord(ctx, "p/x.json", func() {}); err == nil {
			t.Error("PutRecord of an unencodable value succeeded")
		}
		if err := fx.bucket.Put(ctx, "p/broken.json", strings.NewReader("{not json"), 9, storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := fx.store.GetRecord(ctx, "p/broken.json", &got); err == nil {
			t.Error("GetRecord of broken JSON succeeded")
		}
	})
}

func TestKeyPart(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "~"},
		{"simple", "simple"},
		{"Az09._-", "Az09._-"},
		{"1.0+build/x", "1.0%2Bbuild%2Fx"},
		{"~/static/app.min.js", "%7E%2Fstatic%2Fapp.min.js"},
		{"https://cdn.example/app.js?v=1#x", "https%3A%2F%2Fcdn.example%2Fapp.js%3Fv%3D1%23x"},
		{".", "%2E"},
		{"..", "%2E%2E"},
		{"...", "%2E%2E%2E"},
		{"..a", "..a"},
		{"a..", "a.."},
		{"~", "%7E"},
		{"%", "%25"},
		{"%2E", "%252E"},
		{" ", "%20"},
		{"a b\tc", "a%20b%09c"},
		{"\x00", "%00"},
		{`back\slash`, "back%5Cslash"},
		{"é", "%C3%A9"},
		{"日本", "%E6%97%A5%E6%9C%AC"},
		{"🙂", "%F0%9F%99%82"},
		{"\xff", "%FF"},
	}
	for _, tc := range tests {
		got := blobstore.KeyPart(tc.in)
		if got != tc.want {
			t.Errorf("KeyPart(%q) = %q, want %q", tc.in, got, tc.want)
		}
		back, err := blobstore.UnKeyPart(got)
		if err != nil || back != tc.in {
			t.Errorf("UnKeyPart(%q) = %q, %v; want %q", got, back, err, tc.in)
		}
		if err := storage.ValidateKey("p/" + got + "/x"); err != nil {
			t.Errorf("KeyPart(%q) = %q is not a valid key component: %v", tc.in, got, err)
		}
	}
}

func TestUnKeyPartRejectsNonCanonical(t *testing.T) {
	for _, in := range []string{"", ".", "..", "a/b", "%", "%2", "%zz", "%2e", "%41", "~x", "x~", "a b", "é", "%7E%"} {
		if got, err := blobstore.UnKeyPart(in); err == nil {
			t.Errorf("UnKeyPart(%q) = %q, want an error", in, got)
		}
	}
}

func FuzzKeyPart(f *testing.F) {
	for _, s := range []string{"", ".", "..", "1.0+build/x", "~/static/app.min.js", "日本", "%2E", "\x00\xff", ".tmp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		part := blobstore.KeyPart(s)
		if part == "" || part == "." || part == ".." || strings.Contains(part, "/") {
			t.Fatalf("KeyPart(%q) = %q", s, part)
		}
		back, err := blobstore.UnKeyPart(part)
		if err != nil || back != s {
			t.Fatalf("UnKeyPart(KeyPart(%q)) = %q, %v", s, back, err)
		}
		err = storage.ValidateKey("p/" + part)
		if len(part) <= storage.MaxKeyComponentLen && err != nil {
			t.Fatalf("KeyPart(%q) = %q fails ValidateKey: %v", s, part, err)
		}
		if len(part) > storage.MaxKeyComponentLen && !errors.Is(err, storage.ErrInvalidKey) {
			t.Fatalf("over-long KeyPart(%q) passed ValidateKey: %v", s, err)
		}
		// UnKeyPart never accepts two spellings of one string.
		if dec, err := blobstore.UnKeyPart(s); err == nil && blobstore.KeyPart(dec) != s {
			t.Fatalf("UnKeyPart(%q) = %q but KeyPart of that is %q", s, dec, blobstore.KeyPart(dec))
		}
	})
}

func TestBlobKey(t *testing.T) {
	sum := sha256.Sum256([]byte("k"))
	h := hex.EncodeToString(sum[:])
	if got, want := blobstore.BlobKey(h), "blobs/sha256/"+h[:2]+"/"+h; got != want || storage.ValidateKey(got) != nil {
		t.Fatalf("BlobKey = %q, want %q (a valid key)", got, want)
	}
}

// sizeBucket's Get readers report size (or no size at all when hide).
type sizeBucket struct {
	storage.Bucket
	size int64
	hide bool
}

type sizedReader struct {
	io.ReadCloser
	size int64
}

func (r sizedReader) Size() int64 { return r.size }

func (b sizeBucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := b.Bucket.Get(ctx, key)
	if err != nil || b.hide {
		return struct{ io.ReadCloser }{rc}, err
	}
	return sizedReader{rc, b.size}, nil
}

// TestReadBlobSizes: ReadBlob reads the whole content and checks its hash
// whatever size the store announces (none, too small, too large), and
// refuses a blob announced over its limit before reading it.
func TestReadBlobSizes(t *testing.T) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640 KB: several reads
	mem := storage.NewInMemory()
	blob, err := blobstore.New(mem, t.TempDir()).PutBlob(ctx, bytes.NewReader(data), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []sizeBucket{
		{Bucket: mem, hide: true},
		{Bucket: mem, size: 0},
		{Bucket: mem, size: 100},
		{Bucket: mem, size: int64(len(data))},
		{Bucket: mem, size: 3 * int64(len(data))},
	} {
		got, err := blobstore.New(b, t.TempDir()).ReadBlob(ctx, blob.SHA256, 0)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("announced size %d (hidden %v): %d bytes, %v", b.size, b.hide, len(got), err)
		}
	}
	announced := blobstore.New(sizeBucket{Bucket: mem, size: 1 << 40}, t.TempDir())
	if _, err := announced.ReadBlob(ctx, blob.SHA256, 1<<30); !errors.Is(err, blobstore.ErrTooLarge) {
		t.Errorf("a blob announced at 1 TiB with a 1 GiB limit: %v, want ErrTooLarge", err)
	}
	if _, err := blobstore.New(sizeBucket{Bucket: mem, hide: true}, t.TempDir()).ReadBlob(ctx, blob.SHA256, int64(len(data))-1); !errors.Is(err, blobstore.ErrTooLarge) {
		t.Errorf("a blob one byte over its limit, size unknown: %v, want ErrTooLarge", err)
	}
}
