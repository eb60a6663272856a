package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/stacklens/stacklens/storage"
)

// Codec turns a parsed artifact into a derived file's payload and back.
// Format names the derived format ([a-z0-9_-], up to 32 bytes); Version
// must be bumped whenever the encoding changes, which makes every file of
// older versions, on disk and in the object store, ignored.
//
// Decode gets the payload (the file without its frame). It must not modify
// it, and may keep references into it: for a codec that does (the point of
// an mmap-able format), Derived keeps the file mapped for as long as the
// decoded value is reachable, which requires V to be a pointer to a
// Go-allocated object (the runtime then tells when it is unreachable);
// for a non-pointer V the payload is first copied to the heap. A codec whose
// Decode copies what it needs implements DataRetainer to say so, and the
// file is unmapped right after Decode. The size Decode reports is the heap
// the value holds besides data; the memory layer charges that plus, for a
// codec that keeps references into data, the payload's length, whether
// Decode got a heap copy or a mapped file: a mapped file's pages were all
// read (checksum, validation) and stay resident while the value is held,
// in the process's RSS like its heap, so the memory budget bounds both.
type Codec[V any] interface {
	Format() string
	Version() int
	Encode(w io.Writer, v V) error
	Decode(data []byte) (V, int64, error)
}

// DataRetainer is implemented by a Codec to declare whether the values its
// Decode returns keep references into the payload. Without it, they are
// assumed to.
type DataRetainer interface {
	RetainsData() bool
}

// DerivedStats are a Derived's counters (each layer's own counters live in
// Memory.Stats and Disk.Stats).
type DerivedStats struct {
	DiskHits, DiskMisses   int64
	StoreHits, StoreMisses int64
	Builds, BuildErrors    int64
	// Corrupt counts derived files (on disk or in the object store) that
	// failed verification or decoding and were deleted.
	Corrupt int64
	// Uploads counts derived files written back to the object store;
	// UploadErrors those that failed, UploadsDropped those skipped because
	// too many were pending.
	Uploads, UploadErrors, UploadsDropped int64
}

// DerivedOption configures a Derived.
type DerivedOption func(*derivedConfig)

type derivedConfig struct {
	diskObs, storeObs, buildObs Observer
	uploadConcurrency           int
	maxPendingUploads           int
	uploadTimeout               time.Duration
	buildWriteBehind            bool
}

// WithDerivedMetrics reports the disk, object-store and build layers of
// this Derived under cache=name, layers "disk", "store" and "build" (the
// memory layer and the disk's size have their own observers).
func WithDerivedMetrics(m *Metrics, name string) DerivedOption {
	return func(c *derivedConfig) {
		c.diskObs = m.Observer(name, "disk")
		c.storeObs = m.Observer(name, "store")
		c.buildObs = m.Observer(name, "build")
	}
}

// WithUploads bounds the background write-back to the object store:
// concurrency uploads at once, at most pending waiting or running (more
// are dropped and counted), each given timeout. Defaults: 4, 256, 5 min.
func WithUploads(concurrency, pending int, timeout time.Duration) DerivedOption {
	return func(c *derivedConfig) {
		c.uploadConcurrency, c.maxPendingUploads, c.uploadTimeout = concurrency, pending, timeout
	}
}

// WithBuildWriteBehind serves a value just built as the build returned it
// and writes its derived file to disk (and the object store) in the
// background, for a codec whose built values need nothing from the file
// (a text loaded from its blob is as good as its mapped copy): the first
// request then does not wait for megabytes to reach the page cache. By
// default a build is served decoded from the file it wrote, as every other
// layer would serve it. Wait waits for the writes.
func WithBuildWriteBehind() DerivedOption {
	return func(c *derivedConfig) { c.buildWriteBehind = true }
}

// Derived serves ready-to-query values of one derived format, looking in
// turn in memory, on disk (mmap), in the object store
// (derived/<format>/<version>/<sha256>) and finally building from the
// original artifact, and writing each result back to the layers above (and,
// after a build, to the object store in the background) so that neither a
// restart nor another replica parses the artifact again. Concurrent Gets
// for one sha256 share one pass down the chain. A derived file that fails
// verification anywhere is deleted there and rebuilt.
//
// disk and bucket may be nil (that layer is skipped); mem may not.
type Derived[V any] struct {
	codec   Codec[V]
	format  string
	version int
	retains bool
	mem     *Memory[V]
	disk    *Disk
	bucket  storage.Bucket
	log     *slog.Logger
	cfg     derivedConfig

	uploadSlots chan struct{}
	pending     atomic.Int64
	uploads     sync.WaitGroup

	diskHits, diskMisses, storeHits, storeMisses, builds, buildErrors atomic.Int64
	corrupt, uploadsDone, uploadErrors, uploadsDropped                atomic.Int64
}

// NewDerived ties the layers together for codec. It panics if the codec's
// format name or version is invalid (a programming error).
func NewDerived[V any](codec Codec[V], mem *Memory[V], disk *Disk, bucket storage.Bucket, logger *slog.Logger, opts ...DerivedOption) *Derived[V] {
	cfg := derivedConfig{uploadConcurrency: 4, maxPendingUploads: 256, uploadTimeout: 5 * time.Minute}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.diskObs, cfg.storeObs, cfg.buildObs = observerOrNop(cfg.diskObs), observerOrNop(cfg.storeObs), observerOrNop(cfg.buildObs)
	cfg.uploadConcurrency = max(cfg.uploadConcurrency, 1)
	cfg.maxPendingUploads = max(cfg.maxPendingUploads, 1)
	if err := validFormat(codec.Format()); err != nil {
		panic(err)
	}
	if err := validVersion(codec.Version()); err != nil {
		panic(err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	retains := true
	if r, ok := codec.(DataRetainer); ok {
		retains = r.RetainsData()
	}
	return &Derived[V]{
		codec:       codec,
		format:      codec.Format(),
		version:     codec.Version(),
		retains:     retains,
		mem:         mem,
		disk:        disk,
		bucket:      bucket,
		log:         logger.With("format", codec.Format(), "format_version", codec.Version()),
		cfg:         cfg,
		uploadSlots: make(chan struct{}, cfg.uploadConcurrency),
	}
}

// ObjectKey is where a derived file lives in the object store.
func ObjectKey(format string, version int, sha256 string) string {
	return "derived/" + format + "/" + strconv.Itoa(version) + "/" + sha256
}

// Get returns the value derived from the blob sha256 (lowercase hex),
// calling build (which parses the original artifact and reports the
// value's retained size) only if no layer has it. build's errors are
// returned as they are, and not cached.
func (d *Derived[V]) Get(ctx context.Context, sha256 string, build func(ctx context.Context) (V, int64, error)) (V, error) {
	if _, err := decodeSHA256(sha256); err != nil {
		var zero V
		return zero, err
	}
	key := d.format + "/" + strconv.Itoa(d.version) + "/" + sha256
	for {
		v, err := d.mem.GetOrLoad(ctx, key, func(ctx context.Context) (V, int64, error) {
			return d.load(ctx, sha256, build)
		})
		if errors.Is(err, errNotStored) {
			// Joined a Peek that found nothing: this time, build.
			continue
		}
		return v, err
	}
}

// errNotStored is what a Peek's load returns when no layer has the value.
var errNotStored = errors.New("cache: derived value not stored")

// Peek returns the value derived from the blob sha256 if memory, the disk
// or the object store has it, and never builds: a caller that will likely
// need the value soon can fetch it alongside other work, without paying
// for a build it may not need. A Get meanwhile shares the Peek's fetch
// (and builds if the Peek found nothing). Its misses count as misses.
func (d *Derived[V]) Peek(ctx context.Context, sha256 string) (V, bool) {
	if _, err := decodeSHA256(sha256); err != nil {
		var zero V
		return zero, false
	}
	key := d.format + "/" + strconv.Itoa(d.version) + "/" + sha256
	v, err := d.mem.GetOrLoad(ctx, key, func(ctx context.Context) (V, int64, error) {
		return d.load(ctx, sha256, nil)
	})
	return v, err == nil
}

func (d *Derived[V]) load(ctx context.Context, sha string, build func(ctx context.Context) (V, int64, error)) (V, int64, error) {
	if d.disk != nil {
		if v, size, ok := d.fromDisk(sha); ok {
			return v, size, nil
		}
	}
	if d.bucket != nil {
		if v, size, ok := d.fromStore(ctx, sha); ok {
			return v, size, nil
		}
	}
	if build == nil {
		var zero V
		return zero, 0, errNotStored
	}
	return d.build(ctx, sha, build)
}

func (d *Derived[V]) fromDisk(sha string) (V, int64, bool) {
	var zero V
	start := time.Now()
	m, err := d.disk.Get(d.format, d.version, sha)
	if err != nil {
		d.diskMisses.Add(1)
		d.cfg.diskObs.Miss()
		switch {
		case errors.Is(err, ErrNotFound):
		case errors.Is(err, ErrCorrupt):
			d.corrupt.Add(1)
			d.cfg.diskObs.Corrupt()
			d.log.Warn("corrupt derived file on disk deleted; rebuilding", "sha256", sha, "err", err)
		default:
			d.log.Warn("disk cache read failed", "sha256", sha, "err", err)
		}
		return zero, 0, false
	}
	v, size, err := d.decodeMapped(m)
	if err != nil {
		d.diskMisses.Add(1)
		d.cfg.diskObs.Miss()
		d.corrupt.Add(1)
		d.cfg.diskObs.Corrupt()
		d.log.Warn("derived file on disk does not decode; deleted", "sha256", sha, "err", err)
		_ = d.disk.Remove(d.format, d.version, sha)
		return zero, 0, false
	}
	d.diskHits.Add(1)
	d.cfg.diskObs.Hit()
	d.cfg.diskObs.Loaded(time.Since(start), nil)
	return v, size, true
}

// decodeMapped decodes a mapped file and takes ownership of m.
func (d *Derived[V]) decodeMapped(m *Mapped) (V, int64, error) {
	var zero V
	switch {
	case !d.retains:
		defer m.Close()
		return d.codec.Decode(m.Bytes())
	case reflect.TypeFor[V]().Kind() != reflect.Pointer:
		// Nothing to hang the mapping's lifetime on: decode a heap copy.
		data := bytes.Clone(m.Bytes())
		_ = m.Close()
		v, size, err := d.codec.Decode(data)
		return v, size + int64(len(data)), err
	}
	v, size, err := d.codec.Decode(m.Bytes())
	if err != nil {
		_ = m.Close()
		return zero, 0, err
	}
	ptr := reflect.ValueOf(&v).Elem().UnsafePointer()
	if ptr == nil {
		_ = m.Close()
		return v, size, nil
	}
	frame := m.Frame()
	if start := uintptr(unsafe.Pointer(unsafe.SliceData(frame))); uintptr(ptr) >= start && uintptr(ptr) < start+uintptr(len(frame)) {
		_ = m.Close()
		return zero, 0, fmt.Errorf("cache: %s codec returned a pointer into the mapped file; it must point to a Go-allocated value", d.format)
	}
	// The mapping lives until the value is unreachable, however long a
	// request holds it after the memory layer let it go.
	runtime.AddCleanup((*byte)(ptr), func(m *Mapped) { _ = m.Close() }, m)
	return v, size + int64(len(m.Bytes())), nil
}

func (d *Derived[V]) fromStore(ctx context.Context, sha string) (V, int64, bool) {
	var zero V
	start := time.Now()
	key := ObjectKey(d.format, d.version, sha)
	miss := func() (V, int64, bool) {
		d.storeMisses.Add(1)
		d.cfg.storeObs.Miss()
		return zero, 0, false
	}
	corrupt := func(err error) (V, int64, bool) {
		d.corrupt.Add(1)
		d.cfg.storeObs.Corrupt()
		d.log.Warn("corrupt derived file in the object store deleted; rebuilding", "key", key, "err", err)
		if err := d.bucket.Delete(ctx, key); err != nil {
			d.log.Warn("deleting corrupt derived file failed", "key", key, "err", err)
		}
		return miss()
	}
	rc, err := d.bucket.Get(ctx, key)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			d.log.Warn("object store read of derived file failed; building instead", "key", key, "err", err)
		}
		return miss()
	}

	var v V
	var size int64
	if d.disk != nil {
		v, size, err = d.storeToDisk(ctx, rc, sha)
	} else {
		var data []byte
		if data, err = readFramed(rc, d.format, d.version, sha, math.MaxInt64); err == nil {
			v, size, err = d.decodeFrame(data)
		}
	}
	_ = rc.Close()
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return corrupt(err)
		}
		d.log.Warn("object store read of derived file failed; building instead", "key", key, "err", err)
		return miss()
	}
	d.storeHits.Add(1)
	d.cfg.storeObs.Hit()
	d.cfg.storeObs.Loaded(time.Since(start), nil)
	return v, size, true
}

// Sizes that decide how a store hit reaches the disk layer (storeToDisk).
const (
	// writeBehindMin: a smaller file is written to disk and mapped before
	// Get returns; writing it costs less than handing it off.
	writeBehindMin = 1 << 20
	// heapDecodeLimit: a larger file (a big native symcache) is streamed
	// to disk and mapped, never held in the heap.
	heapDecodeLimit = 64 << 20
)

// storeToDisk serves a store hit when there is a disk layer, and keeps the
// file on disk for the next restart. A file of writeBehindMin to
// heapDecodeLimit bytes is decoded from the downloaded bytes and written
// to disk behind the request (Wait waits for it): writing megabytes to the
// page cache took longer than everything else a second replica's first
// request does.
func (d *Derived[V]) storeToDisk(ctx context.Context, rc io.Reader, sha string) (V, int64, error) {
	var zero V
	data, err := readFramed(rc, d.format, d.version, sha, heapDecodeLimit)
	whole := err == nil
	if err != nil && !errors.Is(err, errLargeFrame) {
		return zero, 0, err
	}
	if whole && len(data) >= writeBehindMin {
		v, size, err := d.decodeFrame(data)
		if err == nil {
			d.writeBehind(sha, data)
		}
		return v, size, err
	}
	// data is the whole file, or only its header (errLargeFrame): rc has
	// the rest.
	err = d.disk.PutFramed(d.format, d.version, sha, io.MultiReader(bytes.NewReader(data), rc))
	if errors.Is(err, ErrCorrupt) {
		return zero, 0, err
	}
	var m *Mapped
	if err == nil {
		m, err = d.disk.Get(d.format, d.version, sha)
	}
	if err != nil {
		// Too large for the disk budget, disk full, …: decode from the
		// heap rather than build.
		d.log.Debug("derived file not kept on disk", "sha256", sha, "err", err)
		if whole {
			return d.decodeFrame(data)
		}
		return d.fromStoreToHeap(ctx, sha)
	}
	v, size, err := d.decodeMapped(m)
	if err != nil {
		_ = d.disk.Remove(d.format, d.version, sha)
		return zero, 0, fmt.Errorf("%w: decoding: %v", ErrCorrupt, err)
	}
	return v, size, nil
}

func (d *Derived[V]) fromStoreToHeap(ctx context.Context, sha string) (V, int64, error) {
	var zero V
	rc, err := d.bucket.Get(ctx, ObjectKey(d.format, d.version, sha))
	if err != nil {
		return zero, 0, err
	}
	defer rc.Close()
	data, err := readFramed(rc, d.format, d.version, sha, math.MaxInt64)
	if err != nil {
		return zero, 0, err
	}
	return d.decodeFrame(data)
}

// writeBehind stores a verified framed file downloaded from the object
// store on the local disk in the background (counted by Wait, bounded like
// the uploads); a failure only costs a later download.
func (d *Derived[V]) writeBehind(sha string, frame []byte) {
	if d.pending.Add(1) > int64(d.cfg.maxPendingUploads) {
		d.pending.Add(-1)
		d.log.Debug("too many derived-file writes pending; not keeping one on disk", "sha256", sha)
		return
	}
	d.uploads.Go(func() {
		defer d.pending.Add(-1)
		if err := d.disk.putVerifiedFrame(d.format, d.version, sha, frame); err != nil {
			d.log.Debug("derived file not kept on disk", "sha256", sha, "err", err)
		}
	})
}

// errLargeFrame is readFramed's answer for a file over its limit.
var errLargeFrame = errors.New("cache: derived file over the in-memory limit")

// readFramed reads a framed derived file whole into one buffer of the size
// its header announces (a download of megabytes must not be copied again
// and again as a growing buffer would) and verifies it completely: header
// against what was asked for, length, payload checksum. A payload
// announced larger than limit is not read: the header alone is returned,
// with errLargeFrame.
func readFramed(r io.Reader, format string, version int, sha string, limit int64) ([]byte, error) {
	var hb [FrameHeaderSize]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: truncated header: %v", ErrCorrupt, err)
		}
		return nil, err
	}
	h, err := ParseFrameHeader(hb[:])
	if err != nil {
		return nil, err
	}
	if err := h.matches(format, version, sha); err != nil {
		return nil, err
	}
	if h.PayloadLen > limit {
		return hb[:], errLargeFrame
	}
	// A lying header costs at most what actually arrives, or 64 MiB.
	buf := make([]byte, FrameHeaderSize, FrameHeaderSize+min(h.PayloadLen, heapDecodeLimit)+1)
	copy(buf, hb[:])
	// The checksum is computed as the bytes arrive, while the next ones
	// are on their way; one byte more than announced shows a payload that
	// is too long.
	crc := crc32.New(castagnoli)
	lr := io.LimitReader(r, h.PayloadLen+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		crc.Write(buf[len(buf) : len(buf)+n])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if got := int64(len(buf) - FrameHeaderSize); got != h.PayloadLen {
		return nil, fmt.Errorf("%w: payload is %d bytes, header says %d", ErrCorrupt, got, h.PayloadLen)
	}
	if got := crc.Sum32(); got != h.Checksum {
		return nil, fmt.Errorf("%w: payload checksum %08x, want %08x", ErrCorrupt, got, h.Checksum)
	}
	return buf, nil
}

// decodeFrame decodes a framed file held in the heap that readFramed
// verified; a decoding failure counts as corruption.
func (d *Derived[V]) decodeFrame(data []byte) (V, int64, error) {
	v, size, err := d.codec.Decode(data[FrameHeaderSize:])
	if err != nil {
		return v, 0, fmt.Errorf("%w: decoding: %v", ErrCorrupt, err)
	}
	if d.retains {
		size += int64(len(data) - FrameHeaderSize)
	}
	return v, size, nil
}

func (d *Derived[V]) build(ctx context.Context, sha string, build func(ctx context.Context) (V, int64, error)) (V, int64, error) {
	start := time.Now()
	d.builds.Add(1)
	v, size, err := build(ctx)
	if err != nil {
		d.buildErrors.Add(1)
		d.cfg.buildObs.Loaded(time.Since(start), err)
		return v, size, err
	}
	defer func() { d.cfg.buildObs.Loaded(time.Since(start), nil) }()

	if d.disk == nil {
		if d.bucket != nil {
			var buf bytes.Buffer
			if err := d.codec.Encode(&buf, v); err != nil {
				d.log.Error("encoding derived file failed", "sha256", sha, "err", err)
				return v, size, nil
			}
			// Never share a file this codec cannot read back.
			if _, _, err := d.codec.Decode(bytes.Clone(buf.Bytes())); err != nil {
				d.log.Error("derived file just encoded does not decode; codec bug", "sha256", sha, "err", err)
				return v, size, nil
			}
			frame, err := EncodeFrame(d.format, d.version, sha, buf.Bytes())
			if err != nil {
				d.log.Error("framing derived file failed", "sha256", sha, "err", err)
				return v, size, nil
			}
			d.upload(ctx, sha, frame, func() {})
		}
		return v, size, nil
	}

	if d.cfg.buildWriteBehind {
		d.storeBuilt(ctx, sha, v)
		return v, size, nil
	}
	// Serve what every other layer would serve, so a request sees the same
	// representation wherever its value came from.
	if dv, dsize, ok := d.persist(ctx, sha, v); ok {
		return dv, dsize, nil
	}
	return v, size, nil
}

// persist writes the file of v, built from blob sha, to disk and decodes
// it from there, so that a codec that cannot read what it wrote is caught
// before the file reaches another replica (the file is then removed); it
// then writes the file back to the object store in the background. ok is
// false when the file could not be stored or read back (logged).
func (d *Derived[V]) persist(ctx context.Context, sha string, v V) (dv V, dsize int64, ok bool) {
	if err := d.disk.Put(d.format, d.version, sha, func(w io.Writer) error { return d.codec.Encode(w, v) }); err != nil {
		d.log.Warn("derived file not stored on disk", "sha256", sha, "err", err)
		return dv, 0, false
	}
	m, err := d.disk.Get(d.format, d.version, sha)
	if err != nil {
		d.log.Warn("derived file just stored cannot be read back", "sha256", sha, "err", err)
		return dv, 0, false
	}
	dv, dsize, err = d.decodeMapped(m)
	if err != nil {
		d.log.Error("derived file just encoded does not decode; codec bug", "sha256", sha, "err", err)
		_ = d.disk.Remove(d.format, d.version, sha)
		return dv, 0, false
	}
	if d.bucket != nil {
		// The upload holds its own view of the file for as long as it runs.
		if up, err := d.disk.Get(d.format, d.version, sha); err == nil {
			d.upload(ctx, sha, up.Frame(), func() { _ = up.Close() })
		}
	}
	return dv, dsize, true
}

// storeBuilt writes the file of a value built and served from the heap to
// disk in the background (see WithBuildWriteBehind), checks that it
// decodes, and then writes it back to the object store.
func (d *Derived[V]) storeBuilt(ctx context.Context, sha string, v V) {
	if d.pending.Add(1) > int64(d.cfg.maxPendingUploads) {
		d.pending.Add(-1)
		d.log.Debug("too many derived-file writes pending; not keeping one on disk", "sha256", sha)
		return
	}
	ctx = context.WithoutCancel(ctx)
	d.uploads.Go(func() {
		defer d.pending.Add(-1)
		d.persist(ctx, sha, v)
	})
}

// upload writes a built derived file back to the object store in the
// background; failures are logged and never reach the request. release is
// called when frame is no longer needed.
func (d *Derived[V]) upload(ctx context.Context, sha string, frame []byte, release func()) {
	if d.pending.Add(1) > int64(d.cfg.maxPendingUploads) {
		d.pending.Add(-1)
		release()
		d.uploadsDropped.Add(1)
		d.log.Warn("too many derived-file uploads pending; skipping one", "sha256", sha)
		return
	}
	key := ObjectKey(d.format, d.version, sha)
	ctx = context.WithoutCancel(ctx)
	d.uploads.Go(func() {
		defer d.pending.Add(-1)
		defer release()
		d.uploadSlots <- struct{}{}
		defer func() { <-d.uploadSlots }()
		ctx, cancel := context.WithTimeout(ctx, d.cfg.uploadTimeout)
		defer cancel()
		err := d.bucket.Put(ctx, key, bytes.NewReader(frame), int64(len(frame)), storage.PutOptions{ContentType: "application/octet-stream"})
		if err != nil {
			d.uploadErrors.Add(1)
			d.log.Warn("writing derived file back to the object store failed", "key", key, "err", err)
			return
		}
		d.uploadsDone.Add(1)
	})
}

// Wait blocks until the background work started so far has finished:
// uploads to the object store, and the disk copies written behind store
// hits.
func (d *Derived[V]) Wait() { d.uploads.Wait() }

// Stats returns a snapshot of the counters.
func (d *Derived[V]) Stats() DerivedStats {
	return DerivedStats{
		DiskHits: d.diskHits.Load(), DiskMisses: d.diskMisses.Load(),
		StoreHits: d.storeHits.Load(), StoreMisses: d.storeMisses.Load(),
		Builds: d.builds.Load(), BuildErrors: d.buildErrors.Load(),
		Corrupt: d.corrupt.Load(),
		Uploads: d.uploadsDone.Load(), UploadErrors: d.uploadErrors.Load(), UploadsDropped: d.uploadsDropped.Load(),
	}
}
