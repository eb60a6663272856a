package cache

import (
	"bufio"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// ErrNotFound is returned (wrapped) by Disk.Get for a file it does not hold.
var ErrNotFound = errors.New("cache: derived file not found")

// ErrTooLarge is returned (wrapped) by Disk.Put for a file bigger than the
// whole budget; nothing is stored.
var ErrTooLarge = errors.New("cache: derived file larger than the disk cache budget")

// ErrClosed is returned by a Disk after Close.
var ErrClosed = errors.New("cache: disk cache closed")

// DiskStats are a Disk's counters.
type DiskStats struct {
	Hits, Misses int64
	// Corrupt counts files that failed verification and were deleted.
	Corrupt int64
	// Puts counts files stored; Evictions files deleted to stay in budget.
	Puts, Evictions int64
	// Bytes and Files describe the files held (framing included).
	Bytes, Files int64
	// Mapped is the number of files mapped by readers now. OrphanBytes is
	// the size of files already evicted or replaced that readers still map:
	// unlinked, they occupy the disk until their last Mapped.Close.
	Mapped, OrphanBytes int64
}

// DiskOption configures a Disk.
type DiskOption func(*diskConfig)

type diskConfig struct{ observer Observer }

// WithDiskObserver reports the disk cache's hits, misses, mapping time,
// evictions, corrupt files and size to o.
func WithDiskObserver(o Observer) DiskOption {
	return func(c *diskConfig) { c.observer = o }
}

// Disk is a bounded directory of derived files, laid out as
// dir/<format>/v<version>/<sha[:2]>/<sha>, each framed (see
// FrameHeaderSize) and read through a read-only memory mapping. Least
// recently used files are deleted to keep the total under maxBytes; the
// access order lives in memory and is rebuilt from modification times at
// Open (Get refreshes a file's mtime).
//
// Files of a format version lower than the one in use are garbage: the
// first use of (format, version) in a process deletes them.
//
// One Disk owns its directory (Open takes a lock). Safe for concurrent use.
type Disk struct {
	dir      string
	tmpDir   string
	maxBytes int64
	observer Observer
	lockFile *os.File

	mu       sync.Mutex
	closed   bool
	files    *simplelru.LRU[string, *diskFile] // relative path → file
	bytes    int64
	stats    DiskStats
	versions map[string]map[int]bool // format → versions already garbage-collected for
}

type diskFile struct {
	rel      string
	format   string
	version  int
	size     int64
	verified bool     // payload checksum checked in this process
	mapping  *mapping // shared by the readers of this file, nil when none
}

// mapping is one memory mapping of a file, shared by all the Mapped handles
// open on it and unmapped when the last is closed.
type mapping struct {
	data   []byte
	refs   int
	orphan bool // the file was evicted or replaced while mapped
	size   int64
	file   *diskFile
}

// Mapped is a read-only view of a derived file. Bytes stays valid until
// Close; eviction or replacement of the file meanwhile does not affect it.
type Mapped struct {
	disk    *Disk
	m       *mapping
	payload []byte
	once    sync.Once
}

// Bytes returns the payload (the file without its frame). The memory is
// read-only: writing to it faults.
func (m *Mapped) Bytes() []byte { return m.payload }

// Frame returns the whole framed file, as stored in the object store.
func (m *Mapped) Frame() []byte { return m.m.data }

// Close releases the view; the last Close of a file unmaps it. Calling it
// again does nothing.
func (m *Mapped) Close() error {
	var err error
	m.once.Do(func() { err = m.disk.release(m.m) })
	return err
}

// OpenDisk opens (creating it if needed) a disk cache in dir holding at
// most maxBytes of derived files, indexing the files already there.
func OpenDisk(dir string, maxBytes int64, opts ...DiskOption) (*Disk, error) {
	var cfg diskConfig
	for _, o := range opts {
		o(&cfg)
	}
	if maxBytes <= 0 {
		return nil, fmt.Errorf("cache: disk budget %d must be positive", maxBytes)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	if err := lockDir(lf); err != nil {
		_ = lf.Close()
		return nil, err
	}
	files, err := simplelru.NewLRU[string, *diskFile](1<<31-1, nil)
	if err != nil {
		_ = lf.Close()
		return nil, err
	}
	d := &Disk{
		dir:      dir,
		tmpDir:   filepath.Join(dir, ".tmp"),
		maxBytes: maxBytes,
		observer: observerOrNop(cfg.observer),
		lockFile: lf,
		files:    files,
		versions: make(map[string]map[int]bool),
	}
	// Temp files are leftovers of Puts cut short by a crash.
	if err := os.RemoveAll(d.tmpDir); err != nil {
		_ = lf.Close()
		return nil, fmt.Errorf("cache: %w", err)
	}
	if err := os.MkdirAll(d.tmpDir, 0o755); err != nil {
		_ = lf.Close()
		return nil, fmt.Errorf("cache: %w", err)
	}
	if err := d.index(); err != nil {
		_ = lf.Close()
		return nil, err
	}
	d.mu.Lock()
	d.evictLocked()
	d.mu.Unlock()
	return d, nil
}

// index adds the files already in the directory, oldest mtime first so
// that they are the first evicted. Anything not shaped like a derived file
// is left alone (and not counted).
func (d *Disk) index() error {
	type found struct {
		f     *diskFile
		mtime time.Time
	}
	var all []found
	err := filepath.WalkDir(d.dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() {
			if path == d.tmpDir {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(d.dir, path)
		if err != nil {
			return err
		}
		format, version, _, ok := parseRelPath(filepath.ToSlash(rel))
		if !ok || !de.Type().IsRegular() {
			return nil
		}
		info, err := de.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		all = append(all, found{&diskFile{rel: filepath.ToSlash(rel), format: format, version: version, size: info.Size()}, info.ModTime()})
		return nil
	})
	if err != nil {
		return fmt.Errorf("cache: indexing %s: %w", d.dir, err)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].mtime.Before(all[j].mtime) })
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range all {
		d.files.Add(e.f.rel, e.f)
		d.bytes += e.f.size
	}
	d.observer.Size(d.bytes, int64(d.files.Len()))
	return nil
}

func relPath(format string, version int, sha string) string {
	return format + "/v" + strconv.Itoa(version) + "/" + sha[:2] + "/" + sha
}

func parseRelPath(rel string) (format string, version int, sha string, ok bool) {
	parts := strings.Split(rel, "/")
	if len(parts) != 4 || !strings.HasPrefix(parts[1], "v") {
		return "", 0, "", false
	}
	v, err := strconv.Atoi(parts[1][1:])
	if err != nil || parts[1] != "v"+strconv.Itoa(v) {
		return "", 0, "", false
	}
	format, sha = parts[0], parts[3]
	if validKey(format, v, sha) != nil || parts[2] != sha[:2] {
		return "", 0, "", false
	}
	return format, v, sha, true
}

// useLocked garbage-collects older versions of format the first time
// (format, version) is used.
func (d *Disk) useLocked(format string, version int) {
	if d.versions[format][version] {
		return
	}
	if d.versions[format] == nil {
		d.versions[format] = make(map[int]bool)
	}
	d.versions[format][version] = true
	for _, rel := range d.files.Keys() {
		f, _ := d.files.Peek(rel)
		if f.format == format && f.version < version {
			d.dropLocked(f)
		}
	}
	// Directories of old versions, now empty unless something foreign is
	// in them; removing only empty directories leaves foreign files alone.
	entries, _ := os.ReadDir(filepath.Join(d.dir, format))
	for _, e := range entries {
		n := e.Name()
		if v, err := strconv.Atoi(strings.TrimPrefix(n, "v")); err == nil && strings.HasPrefix(n, "v") && v < version {
			removeEmptyDirs(filepath.Join(d.dir, format, n))
		}
	}
}

func removeEmptyDirs(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() {
			removeEmptyDirs(filepath.Join(dir, e.Name()))
		}
	}
	_ = os.Remove(dir) // fails, harmlessly, if not empty
}

// dropLocked forgets f and unlinks it, if f is still the file indexed
// under its path (not already dropped or replaced), and reports whether it
// was. Readers mapping it keep their view; the space is freed at their last
// Close.
func (d *Disk) dropLocked(f *diskFile) bool {
	if cur, ok := d.files.Peek(f.rel); !ok || cur != f {
		return false
	}
	d.files.Remove(f.rel)
	d.bytes -= f.size
	// A failure leaves the file on disk but no longer counted; the next
	// Open indexes it again. Nothing better to do from here.
	_ = os.Remove(filepath.Join(d.dir, filepath.FromSlash(f.rel)))
	if f.mapping != nil && !f.mapping.orphan {
		f.mapping.orphan = true
		d.stats.OrphanBytes += f.mapping.size
	}
	d.observer.Size(d.bytes, int64(d.files.Len()))
	return true
}

func (d *Disk) evictLocked() {
	for d.bytes > d.maxBytes {
		_, f, ok := d.files.GetOldest()
		if !ok {
			return
		}
		d.dropLocked(f)
		d.stats.Evictions++
		d.observer.Evicted(f.size)
	}
}

// Get maps the derived file for (format, version, sha256). A missing file
// gives ErrNotFound; a file that fails verification is deleted and gives
// ErrCorrupt (both wrapped). The header is checked on every Get, the
// payload checksum on the first Get of the file in this process (files
// this process wrote are trusted). The caller must Close the result.
func (d *Disk) Get(format string, version int, sha string) (*Mapped, error) {
	if err := validKey(format, version, sha); err != nil {
		return nil, err
	}
	start := time.Now()
	rel := relPath(format, version, sha)

	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, ErrClosed
	}
	d.useLocked(format, version)
	f, ok := d.files.Get(rel)
	if !ok {
		d.stats.Misses++
		d.observer.Miss()
		d.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrNotFound, rel)
	}
	m := f.mapping
	if m == nil {
		// Mapping under the lock keeps the index and the directory in
		// step; it costs a few system calls, not a read of the file.
		data, err := d.mapLocked(f)
		if err != nil {
			switch {
			case errors.Is(err, fs.ErrNotExist):
				d.dropLocked(f)
				d.stats.Misses++
				d.observer.Miss()
				d.mu.Unlock()
				return nil, fmt.Errorf("%w: %s vanished: %v", ErrNotFound, rel, err)
			case errors.Is(err, ErrCorrupt):
				d.dropLocked(f)
				d.stats.Corrupt++
				d.stats.Misses++
				d.observer.Corrupt()
				d.observer.Miss()
			}
			d.mu.Unlock()
			return nil, err
		}
		m = &mapping{data: data, size: f.size, file: f}
		f.mapping = m
		d.stats.Mapped++
	}
	m.refs++
	verified := f.verified
	d.mu.Unlock()

	handle := &Mapped{disk: d, m: m}
	var payload []byte
	var err error
	if verified {
		_, payload, err = checkFrame(m.data, format, version, sha)
	} else {
		// Outside the lock: the checksum reads the whole file.
		payload, err = VerifyFrame(m.data, format, version, sha)
	}
	if err != nil {
		_ = handle.Close()
		d.mu.Lock()
		if d.dropLocked(f) {
			d.stats.Corrupt++
			d.observer.Corrupt()
		}
		d.stats.Misses++
		d.observer.Miss()
		d.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	handle.payload = payload

	d.mu.Lock()
	f.verified = true
	d.stats.Hits++
	d.mu.Unlock()
	d.observer.Hit()
	d.observer.Loaded(time.Since(start), nil)
	return handle, nil
}

func (d *Disk) mapLocked(f *diskFile) ([]byte, error) {
	path := filepath.Join(d.dir, filepath.FromSlash(f.rel))
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return nil, err
	}
	if info.Size() < FrameHeaderSize {
		return nil, fmt.Errorf("%w: %s: %d bytes is shorter than a frame header", ErrCorrupt, f.rel, info.Size())
	}
	if info.Size() != f.size {
		// Changed behind our back; count what is there now.
		d.bytes += info.Size() - f.size
		f.size = info.Size()
	}
	data, err := mapFile(file, info.Size())
	if err != nil {
		return nil, err
	}
	// Persist the access order for the next Open; a failure only makes
	// that order staler.
	now := time.Now()
	_ = os.Chtimes(path, now, now)
	return data, nil
}

func (d *Disk) release(m *mapping) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	m.refs--
	if m.refs > 0 {
		return nil
	}
	if m.file.mapping == m {
		m.file.mapping = nil
	}
	if m.orphan {
		d.stats.OrphanBytes -= m.size
	}
	d.stats.Mapped--
	return unmapFile(m.data)
}

// Put stores the derived file for (format, version, sha256): write
// produces the payload, Put frames it, writes it to a temporary file and
// renames it into place, so a reader sees the old file, the new file or
// none, never a partial one. Readers of a replaced file keep their view.
//
// There is no fsync (see commit): a crash may leave a file empty, short
// or torn, and the next process's first Get of it, which checks the
// payload checksum, deletes it and the caller rebuilds. A derived file is
// a cache of what the object store holds, so that costs one rebuild at
// most, while an fsync cost every first request after an upload or on a
// new replica a wait for the device (milliseconds for a 10 MB index).
func (d *Disk) Put(format string, version int, sha string, write func(w io.Writer) error) error {
	if err := validKey(format, version, sha); err != nil {
		return err
	}
	tmp, err := d.createTemp()
	if err != nil {
		return err
	}
	defer removeTemp(tmp)
	// Room for the header, written once the payload's length and checksum
	// are known.
	if _, err := tmp.Write(make([]byte, FrameHeaderSize)); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	cw := &checksumWriter{crc: crc32.New(castagnoli), limit: d.maxBytes - FrameHeaderSize}
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, cw), 256<<10)
	// The checksum writer fails once the budget is exceeded; make that the
	// error reported, whatever the encoder wraps it in.
	if err := write(bw); err != nil {
		if cw.over {
			return fmt.Errorf("%w: %s/v%d/%s is over %d bytes", ErrTooLarge, format, version, sha, d.maxBytes)
		}
		return fmt.Errorf("cache: encoding %s/v%d/%s: %w", format, version, sha, err)
	}
	if err := bw.Flush(); err != nil {
		if cw.over {
			return fmt.Errorf("%w: %s/v%d/%s is over %d bytes", ErrTooLarge, format, version, sha, d.maxBytes)
		}
		return fmt.Errorf("cache: %w", err)
	}
	h := encodeFrameHeader(FrameHeader{Format: format, Version: version, SHA256: sha, PayloadLen: cw.n, Checksum: cw.crc.Sum32()})
	if _, err := tmp.WriteAt(h[:], 0); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return d.commit(tmp, format, version, sha, FrameHeaderSize+cw.n)
}

// PutFramed stores a derived file received already framed (downloaded from
// the object store), verifying it completely on the way: a file that does
// not match (format, version, sha256) or its checksums is not stored and
// gives ErrCorrupt (wrapped).
func (d *Disk) PutFramed(format string, version int, sha string, r io.Reader) error {
	if err := validKey(format, version, sha); err != nil {
		return err
	}
	var hb [FrameHeaderSize]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: truncated header: %v", ErrCorrupt, err)
		}
		return fmt.Errorf("cache: %w", err)
	}
	h, err := ParseFrameHeader(hb[:])
	if err != nil {
		return err
	}
	if err := h.matches(format, version, sha); err != nil {
		return err
	}
	if FrameHeaderSize+h.PayloadLen > d.maxBytes {
		return fmt.Errorf("%w: %s/v%d/%s is %d bytes, budget %d", ErrTooLarge, format, version, sha, FrameHeaderSize+h.PayloadLen, d.maxBytes)
	}
	tmp, err := d.createTemp()
	if err != nil {
		return err
	}
	defer removeTemp(tmp)
	if _, err := tmp.Write(hb[:]); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	crc := crc32.New(castagnoli)
	// One byte more than announced shows a payload that is too long.
	n, err := io.Copy(io.MultiWriter(tmp, crc), io.LimitReader(r, h.PayloadLen+1))
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if n != h.PayloadLen {
		return fmt.Errorf("%w: payload is %d bytes or more, header says %d", ErrCorrupt, n, h.PayloadLen)
	}
	if got := crc.Sum32(); got != h.Checksum {
		return fmt.Errorf("%w: payload checksum %08x, want %08x", ErrCorrupt, got, h.Checksum)
	}
	return d.commit(tmp, format, version, sha, FrameHeaderSize+n)
}

// putVerifiedFrame stores a whole framed file that the caller has just
// verified (header and checksum, as readFramed does) in one write: no
// second checksum, no copy through a buffer.
func (d *Disk) putVerifiedFrame(format string, version int, sha string, frame []byte) error {
	if err := validKey(format, version, sha); err != nil {
		return err
	}
	if int64(len(frame)) > d.maxBytes {
		return fmt.Errorf("%w: %s/v%d/%s is %d bytes, budget %d", ErrTooLarge, format, version, sha, len(frame), d.maxBytes)
	}
	tmp, err := d.createTemp()
	if err != nil {
		return err
	}
	defer removeTemp(tmp)
	if _, err := tmp.Write(frame); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return d.commit(tmp, format, version, sha, int64(len(frame)))
}

func (d *Disk) createTemp() (*os.File, error) {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	f, err := os.CreateTemp(d.tmpDir, "put-*")
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return f, nil
}

// removeTemp cleans up after a Put that did not commit; after a commit the
// name is gone and this does nothing.
func removeTemp(f *os.File) {
	_ = f.Close()
	_ = os.Remove(f.Name())
}

func (d *Disk) commit(tmp *os.File, format string, version int, sha string, size int64) error {
	if size > d.maxBytes {
		return fmt.Errorf("%w: %s/v%d/%s is %d bytes, budget %d", ErrTooLarge, format, version, sha, size, d.maxBytes)
	}
	// No tmp.Sync(): durability is not needed, only detection of what a
	// crash tore, which the checksum verified on each file's first Get in
	// a process provides (see Put). Files written by this process are
	// read back through the page cache, which holds what was written.
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	rel := relPath(format, version, sha)
	path := filepath.Join(d.dir, filepath.FromSlash(rel))

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	d.useLocked(format, version)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if old, ok := d.files.Peek(rel); ok {
		// The rename already replaced it; readers keep the old inode.
		d.files.Remove(rel)
		d.bytes -= old.size
		if old.mapping != nil && !old.mapping.orphan {
			old.mapping.orphan = true
			d.stats.OrphanBytes += old.mapping.size
		}
	}
	d.files.Add(rel, &diskFile{rel: rel, format: format, version: version, size: size, verified: true})
	d.bytes += size
	d.stats.Puts++
	d.evictLocked()
	d.observer.Size(d.bytes, int64(d.files.Len()))
	return nil
}

// checksumWriter sums and counts a payload and fails past limit bytes.
type checksumWriter struct {
	crc   hash.Hash32
	n     int64
	limit int64
	over  bool
}

func (w *checksumWriter) Write(p []byte) (int, error) {
	if w.n+int64(len(p)) > w.limit {
		w.over = true
		return 0, ErrTooLarge
	}
	w.n += int64(len(p))
	return w.crc.Write(p)
}

// Remove deletes the derived file for (format, version, sha256), if held.
// Readers mapping it keep their view.
func (d *Disk) Remove(format string, version int, sha string) error {
	if err := validKey(format, version, sha); err != nil {
		return err
	}
	rel := relPath(format, version, sha)
	d.mu.Lock()
	defer d.mu.Unlock()
	if f, ok := d.files.Peek(rel); ok {
		d.dropLocked(f)
		return nil
	}
	err := os.Remove(filepath.Join(d.dir, filepath.FromSlash(rel)))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (d *Disk) Stats() DiskStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stats
	s.Bytes = d.bytes
	s.Files = int64(d.files.Len())
	return s
}

// Dir returns the cache directory.
func (d *Disk) Dir() string { return d.dir }

// MaxBytes returns the byte budget.
func (d *Disk) MaxBytes() int64 { return d.maxBytes }

// Close releases the directory. Views still open stay valid until their
// own Close; every other method fails with ErrClosed.
func (d *Disk) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.lockFile.Close()
}
