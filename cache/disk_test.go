package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func shaOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func payloadFor(sha string, n int) []byte {
	return bytes.Repeat([]byte(sha), n/len(sha)+1)[:n]
}

func openTestDisk(t *testing.T, dir string, maxBytes int64) *Disk {
	t.Helper()
	d, err := OpenDisk(dir, maxBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func putBytes(t *testing.T, d *Disk, format string, version int, sha string, payload []byte) {
	t.Helper()
	if err := d.Put(format, version, sha, func(w io.Writer) error {
		_, err := w.Write(payload)
		return err
	}); err != nil {
		t.Fatalf("Put %s/v%d/%s: %v", format, version, sha[:8], err)
	}
}

func getBytes(t *testing.T, d *Disk, format string, version int, sha string) ([]byte, error) {
	t.Helper()
	m, err := d.Get(format, version, sha)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	return bytes.Clone(m.Bytes()), nil
}

func TestDiskPutGetRoundTrip(t *testing.T) {
	dir := t.TempDir()
	d := openTestDisk(t, dir, 1<<20)
	sha := shaOf("a")
	want := payloadFor(sha, 5000)
	putBytes(t, d, "symcache", 3, sha, want)

	m, err := d.Get("symcache", 3, sha)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !bytes.Equal(m.Bytes(), want) {
		t.Fatal("payload differs from what was put")
	}
	h, err := ParseFrameHeader(m.Frame())
	if err != nil {
		t.Fatal(err)
	}
	if h.Format != "symcache" || h.Version != 3 || h.SHA256 != sha || h.PayloadLen != 5000 {
		t.Errorf("header = %+v", h)
	}
	path := filepath.Join(dir, "symcache", "v3", sha[:2], sha)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("file not at the documented path: %v", err)
	}
	if info.Size() != FrameHeaderSize+5000 {
		t.Errorf("file is %d bytes, want %d", info.Size(), FrameHeaderSize+5000)
	}
	if s := d.Stats(); s.Bytes != info.Size() || s.Files != 1 || s.Puts != 1 || s.Hits != 1 || s.Mapped != 1 {
		t.Errorf("stats = %+v", s)
	}
	if _, err := d.Get("symcache", 3, shaOf("missing")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get missing = %v, want ErrNotFound", err)
	}
}

func TestDiskRejectsBadKeys(t *testing.T) {
	d := openTestDisk(t, t.TempDir(), 1<<20)
	sha := shaOf("a")
	tests := []struct {
		format  string
		version int
		sha     string
	}{
		{"", 1, sha}, {"../x", 1, sha}, {"Sym", 1, sha}, {"a/b", 1, sha},
		{"sym", -1, sha}, {"sym", 1, "abc"}, {"sym", 1, sha[:63] + "G"}, {"sym", 1, "../" + sha[3:]},
	}
	for _, tt := range tests {
		if _, err := d.Get(tt.format, tt.version, tt.sha); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q, %d, %q) = %v, want a validation error", tt.format, tt.version, tt.sha, err)
		}
		if err := d.Put(tt.format, tt.version, tt.sha, func(io.Writer) error { return nil }); err == nil {
			t.Errorf("Put(%q, %d, %q) succeeded", tt.format, tt.version, tt.sha)
		}
	}
}

func TestDiskVersionBumpIgnoresOldFiles(t *testing.T) {
	dir := t.TempDir()
	sha := shaOf("a")
	d := openTestDisk(t, dir, 1<<20)
	putBytes(t, d, "smindex", 1, sha, []byte("v1 layout"))
	putBytes(t, d, "symcache", 1, sha, []byte("another format"))
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	// A new process with version 2 of the format.
	d2 := openTestDisk(t, dir, 1<<20)
	if _, err := d2.Get("smindex", 2, sha); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get v2 = %v, want ErrNotFound (a v1 file must not be read as v2)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "smindex", "v1")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("v1 directory not garbage-collected on first use of v2: %v", err)
	}
	if got, err := getBytes(t, d2, "symcache", 1, sha); err != nil || string(got) != "another format" {
		t.Errorf("other format's file = (%q, %v), want it untouched", got, err)
	}
	putBytes(t, d2, "smindex", 2, sha, []byte("v2 layout"))
	if got, err := getBytes(t, d2, "smindex", 2, sha); err != nil || string(got) != "v2 layout" {
		t.Errorf("v2 file = (%q, %v)", got, err)
	}
	if s := d2.Stats(); s.Files != 2 {
		t.Errorf("Files = %d, want 2 (symcache v1, smindex v2)", s.Files)
	}
}

// TestDiskCorruptFileIsDeleted damages a file written by an earlier process
// (so its checksum has not been verified in this one) in each way a disk
// can, and checks that Get says ErrCorrupt, deletes it, and then misses.
func TestDiskCorruptFileIsDeleted(t *testing.T) {
	sha := shaOf("a")
	tests := []struct {
		name   string
		damage func(t *testing.T, path string, data []byte) []byte
	}{
		{"flipped payload byte", func(_ *testing.T, _ string, b []byte) []byte { b[FrameHeaderSize+100] ^= 1; return b }},
		{"flipped last byte", func(_ *testing.T, _ string, b []byte) []byte { b[len(b)-1] ^= 0x80; return b }},
		{"flipped header length", func(_ *testing.T, _ string, b []byte) []byte { b[16] ^= 1; return b }},
		{"bad magic", func(_ *testing.T, _ string, b []byte) []byte { copy(b, "XXXX"); return b }},
		{"truncated payload", func(_ *testing.T, _ string, b []byte) []byte { return b[:len(b)-10] }},
		{"truncated header", func(_ *testing.T, _ string, b []byte) []byte { return b[:FrameHeaderSize/2] }},
		{"empty", func(_ *testing.T, _ string, b []byte) []byte { return nil }},
		{"extra bytes", func(_ *testing.T, _ string, b []byte) []byte { return append(b, 0) }},
		{"other blob's file", func(t *testing.T, _ string, _ []byte) []byte {
			other, err := EncodeFrame("fmt", 1, shaOf("b"), payloadFor(sha, 1000))
			if err != nil {
				t.Fatal(err)
			}
			return other
		}},
		{"other format's file", func(t *testing.T, _ string, _ []byte) []byte {
			other, err := EncodeFrame("fmt2", 1, sha, payloadFor(sha, 1000))
			if err != nil {
				t.Fatal(err)
			}
			return other
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			d := openTestDisk(t, dir, 1<<20)
			putBytes(t, d, "fmt", 1, sha, payloadFor(sha, 1000))
			_ = d.Close()
			path := filepath.Join(dir, "fmt", "v1", sha[:2], sha)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.damage(t, path, data), 0o644); err != nil {
				t.Fatal(err)
			}

			d = openTestDisk(t, dir, 1<<20)
			if _, err := d.Get("fmt", 1, sha); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Get = %v, want ErrCorrupt", err)
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("corrupt file not deleted: %v", err)
			}
			if _, err := d.Get("fmt", 1, sha); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get after corruption = %v, want ErrNotFound", err)
			}
			if s := d.Stats(); s.Corrupt != 1 || s.Files != 0 || s.Bytes != 0 || s.Mapped != 0 {
				t.Errorf("stats = %+v, want Corrupt 1 and nothing held", s)
			}
		})
	}
}

func TestDiskChecksumVerifiedOncePerProcess(t *testing.T) {
	dir := t.TempDir()
	sha := shaOf("a")
	d := openTestDisk(t, dir, 1<<20)
	putBytes(t, d, "fmt", 1, sha, payloadFor(sha, 1000))
	_ = d.Close()
	d = openTestDisk(t, dir, 1<<20)
	if _, err := getBytes(t, d, "fmt", 1, sha); err != nil {
		t.Fatal(err)
	}
	// Damage the payload in place (same inode, same size) after the first
	// verified Get: the header still matches, the checksum is not re-read.
	path := filepath.Join(dir, "fmt", "v1", sha[:2], sha)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{'!'}, FrameHeaderSize+10); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	got, err := getBytes(t, d, "fmt", 1, sha)
	if err != nil || got[10] != '!' {
		t.Errorf("second Get = (%q…, %v): want the unverified bytes, read without re-checking", got[:12], err)
	}
}

func TestDiskBudgetEvictsLeastRecentlyUsed(t *testing.T) {
	const (
		payload = 1000
		file    = FrameHeaderSize + payload
		budget  = 10*file + file/2
	)
	dir := t.TempDir()
	d := openTestDisk(t, dir, budget)
	shas := make([]string, 40)
	for i := range shas {
		shas[i] = shaOf(fmt.Sprint(i))
		putBytes(t, d, "fmt", 1, shas[i], payloadFor(shas[i], payload))
		// Keep file 0 hot: it must survive while the others churn.
		if _, err := getBytes(t, d, "fmt", 1, shas[0]); err != nil {
			t.Fatalf("hot file evicted after put %d: %v", i, err)
		}
		if s := d.Stats(); s.Bytes > budget {
			t.Fatalf("after put %d Bytes = %d > %d", i, s.Bytes, budget)
		}
	}
	s := d.Stats()
	if s.Files != 10 || s.Evictions != 30 {
		t.Errorf("Files %d Evictions %d, want 10 and 30", s.Files, s.Evictions)
	}
	if onDisk := dirBytes(t, dir); onDisk != s.Bytes || onDisk > budget {
		t.Errorf("files on disk total %d bytes, Stats.Bytes %d, budget %d", onDisk, s.Bytes, budget)
	}
	for i, sha := range shas {
		_, err := d.Get("fmt", 1, sha)
		held := err == nil
		if want := i == 0 || i >= 31; held != want {
			t.Errorf("file %d held = %v, want %v (%v)", i, held, want, err)
		}
	}
}

// dirBytes sums the sizes of the derived files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if _, _, _, ok := parseRelPath(filepath.ToSlash(rel)); ok {
			info, err := de.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

func TestDiskMappedFileSurvivesEvictionUntilClose(t *testing.T) {
	const payload = 4000
	dir := t.TempDir()
	d := openTestDisk(t, dir, 3*(FrameHeaderSize+payload))
	hot := shaOf("in use")
	want := payloadFor(hot, payload)
	putBytes(t, d, "fmt", 1, hot, want)
	m, err := d.Get("fmt", 1, hot)
	if err != nil {
		t.Fatal(err)
	}
	second, err := d.Get("fmt", 1, hot) // shares the mapping
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		sha := shaOf(fmt.Sprint(i))
		putBytes(t, d, "fmt", 1, sha, payloadFor(sha, payload))
	}
	if _, err := os.Stat(filepath.Join(dir, "fmt", "v1", hot[:2], hot)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("evicted file still in the directory: %v", err)
	}
	if !bytes.Equal(m.Bytes(), want) || !bytes.Equal(second.Bytes(), want) {
		t.Fatal("an open view changed after its file was evicted")
	}
	if s := d.Stats(); s.OrphanBytes != FrameHeaderSize+payload || s.Mapped != 1 {
		t.Errorf("while mapped: OrphanBytes %d Mapped %d, want %d and 1", s.OrphanBytes, s.Mapped, FrameHeaderSize+payload)
	}
	_ = m.Close()
	_ = m.Close() // idempotent: must not release the other view's reference
	if !bytes.Equal(second.Bytes(), want) {
		t.Fatal("closing one view unmapped another")
	}
	_ = second.Close()
	if s := d.Stats(); s.OrphanBytes != 0 || s.Mapped != 0 {
		t.Errorf("after Close: OrphanBytes %d Mapped %d, want 0 0", s.OrphanBytes, s.Mapped)
	}
}

func TestDiskPutReplacesWhileMapped(t *testing.T) {
	d := openTestDisk(t, t.TempDir(), 1<<20)
	sha := shaOf("a")
	putBytes(t, d, "fmt", 1, sha, []byte("old"))
	m, err := d.Get("fmt", 1, sha)
	if err != nil {
		t.Fatal(err)
	}
	putBytes(t, d, "fmt", 1, sha, []byte("new!"))
	if string(m.Bytes()) != "old" {
		t.Errorf("open view = %q, want the old content", m.Bytes())
	}
	if got, err := getBytes(t, d, "fmt", 1, sha); err != nil || string(got) != "new!" {
		t.Errorf("Get after replace = (%q, %v)", got, err)
	}
	_ = m.Close()
	if s := d.Stats(); s.Bytes != FrameHeaderSize+4 || s.Files != 1 || s.OrphanBytes != 0 || s.Mapped != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestDiskReopenRestoresOrderFromMtime(t *testing.T) {
	const file = FrameHeaderSize + 100
	dir := t.TempDir()
	d := openTestDisk(t, dir, 1<<20)
	shas := []string{shaOf("0"), shaOf("1"), shaOf("2")}
	base := time.Now().Add(-time.Hour)
	for i, sha := range shas {
		putBytes(t, d, "fmt", 1, sha, payloadFor(sha, 100))
		// File 1 is the oldest, then 0, then 2.
		age := map[int]time.Duration{0: 2, 1: 1, 2: 3}[i] * time.Minute
		p := filepath.Join(dir, "fmt", "v1", sha[:2], sha)
		if err := os.Chtimes(p, base.Add(age), base.Add(age)); err != nil {
			t.Fatal(err)
		}
	}
	_ = d.Close()
	d = openTestDisk(t, dir, 2*file) // room for two: the oldest must go
	if s := d.Stats(); s.Files != 2 || s.Bytes != 2*file || s.Evictions != 1 {
		t.Fatalf("after reopen stats = %+v", s)
	}
	for i, sha := range shas {
		_, err := d.Get("fmt", 1, sha)
		if held := err == nil; held != (i != 1) {
			t.Errorf("file %d held = %v (%v)", i, held, err)
		}
	}
}

func TestDiskOpenCleansTempFilesAndIgnoresForeignFiles(t *testing.T) {
	dir := t.TempDir()
	d := openTestDisk(t, dir, 1<<20)
	_ = d.Close()
	leftover := filepath.Join(dir, ".tmp", "put-123")
	foreign := filepath.Join(dir, "README")
	for _, p := range []string{leftover, foreign} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d = openTestDisk(t, dir, 1<<20)
	if _, err := os.Stat(leftover); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("leftover temp file kept: %v", err)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("foreign file removed: %v", err)
	}
	if s := d.Stats(); s.Files != 0 || s.Bytes != 0 {
		t.Errorf("foreign files counted: %+v", s)
	}
}

func TestDiskPutFailuresStoreNothing(t *testing.T) {
	dir := t.TempDir()
	d := openTestDisk(t, dir, 2000)
	sha := shaOf("a")
	boom := errors.New("encoder failed")
	if err := d.Put("fmt", 1, sha, func(w io.Writer) error {
		_, _ = w.Write([]byte("partial"))
		return boom
	}); !errors.Is(err, boom) {
		t.Errorf("Put with failing encoder = %v, want it wrapped", err)
	}
	if err := d.Put("fmt", 1, sha, func(w io.Writer) error {
		_, err := w.Write(make([]byte, 5000))
		return err
	}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Put over budget = %v, want ErrTooLarge", err)
	}
	if _, err := d.Get("fmt", 1, sha); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after failed puts = %v, want ErrNotFound", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, ".tmp")); len(entries) != 0 {
		t.Errorf("temp files left: %d", len(entries))
	}
}

func TestDiskPutFramed(t *testing.T) {
	sha := shaOf("a")
	good, err := EncodeFrame("fmt", 1, sha, payloadFor(sha, 700))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[FrameHeaderSize+5] ^= 4
	tests := []struct {
		name    string
		data    []byte
		version int
		wantErr error
	}{
		{"good", good, 1, nil},
		{"flipped payload", flipped, 1, ErrCorrupt},
		{"truncated", good[:len(good)-1], 1, ErrCorrupt},
		{"too long", append(bytes.Clone(good), 'x'), 1, ErrCorrupt},
		{"short header", good[:10], 1, ErrCorrupt},
		{"other version", good, 2, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := openTestDisk(t, t.TempDir(), 1<<20)
			err := d.PutFramed("fmt", tt.version, sha, bytes.NewReader(tt.data))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("PutFramed = %v, want %v", err, tt.wantErr)
			}
			got, err := getBytes(t, d, "fmt", tt.version, sha)
			if tt.wantErr != nil {
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("rejected frame stored: Get = %v", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, good[FrameHeaderSize:]) {
				t.Errorf("Get = %v", err)
			}
		})
	}
}

func TestDiskDirectoryIsExclusive(t *testing.T) {
	dir := t.TempDir()
	d := openTestDisk(t, dir, 1<<20)
	if d2, err := OpenDisk(dir, 1<<20); err == nil {
		_ = d2.Close()
		t.Fatal("a second Disk opened a directory already in use")
	}
	_ = d.Close()
	if _, err := d.Get("fmt", 1, shaOf("a")); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	openTestDisk(t, dir, 1<<20)
}

func TestDiskConcurrentUse(t *testing.T) {
	d := openTestDisk(t, t.TempDir(), 6*(FrameHeaderSize+3000))
	shas := make([]string, 10)
	for i := range shas {
		shas[i] = shaOf(fmt.Sprint(i))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				sha := shas[(g*7+i)%len(shas)]
				switch i % 4 {
				case 0:
					if err := d.Put("fmt", 1, sha, func(w io.Writer) error {
						_, err := w.Write(payloadFor(sha, 3000))
						return err
					}); err != nil {
						t.Error(err)
					}
				case 3:
					if err := d.Remove("fmt", 1, sha); err != nil {
						t.Error(err)
					}
				default:
					m, err := d.Get("fmt", 1, sha)
					if errors.Is(err, ErrNotFound) {
						continue
					}
					if err != nil {
						t.Error(err)
						continue
					}
					if !bytes.Equal(m.Bytes(), payloadFor(sha, 3000)) {
						t.Errorf("wrong content for %s", sha[:8])
					}
					_ = m.Close()
				}
			}
		})
	}
	wg.Wait()
	s := d.Stats()
	if s.Bytes > d.MaxBytes() || s.Mapped != 0 || s.OrphanBytes != 0 || s.Corrupt != 0 {
		t.Errorf("after the storm: %+v", s)
	}
}
