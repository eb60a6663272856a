package storage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// maxMemoryObject bounds one in-memory object so a bogus size cannot make
// Put allocate without limit.
const maxMemoryObject = 1 << 30

type memObject struct {
	data    []byte // never mutated once stored: readers share it
	modTime time.Time
}

type memoryBucket struct {
	mu      sync.RWMutex
	objects map[string]memObject
}

// NewInMemory returns an empty Bucket that keeps objects in memory. It has
// the same semantics as the persistent backends (it passes storagetest), is
// safe for concurrent use, and is meant for tests of other packages.
func NewInMemory() Bucket {
	return &memoryBucket{objects: make(map[string]memObject)}
}

func (b *memoryBucket) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("storage: put %q: negative size %d", key, size)
	}
	if size > maxMemoryObject {
		return fmt.Errorf("storage: put %q: %d bytes is over the in-memory backend's %d-byte limit", key, size, maxMemoryObject)
	}
	vr, err := NewVerifyingReader(r, size, opts.SHA256)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The exact size is known, so one allocation holds the object: no
	// doubling growth, and the held-back last read keeps a mismatch out.
	data := make([]byte, size)
	if _, err := io.ReadFull(vr, data); err != nil {
		return fmt.Errorf("storage: put %q: %w", key, err)
	}
	if _, err := vr.Read(make([]byte, 1)); err != io.EOF {
		return fmt.Errorf("storage: put %q: %w", key, vr.Err())
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	b.objects[key] = memObject{data: data, modTime: time.Now()}
	b.mu.Unlock()
	return nil
}

func (b *memoryBucket) lookup(ctx context.Context, key string) (memObject, error) {
	if err := ValidateKey(key); err != nil {
		return memObject{}, err
	}
	if err := ctx.Err(); err != nil {
		return memObject{}, err
	}
	b.mu.RLock()
	o, ok := b.objects[key]
	b.mu.RUnlock()
	if !ok {
		return memObject{}, fmt.Errorf("storage: %q: %w", key, ErrNotFound)
	}
	return o, nil
}

func (b *memoryBucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	o, err := b.lookup(ctx, key)
	if err != nil {
		return nil, err
	}
	return memReader{bytes.NewReader(o.data)}, nil
}

// memReader is an object's reader; bytes.Reader's Size is the object's.
type memReader struct{ *bytes.Reader }

func (memReader) Close() error { return nil }

func (b *memoryBucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	o, err := b.lookup(ctx, key)
	if err != nil {
		return nil, err
	}
	start, end, err := ClampRange(key, int64(len(o.data)), off, length)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(o.data[start:end])), nil
}

func (b *memoryBucket) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	o, err := b.lookup(ctx, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	return ObjectInfo{Key: key, Size: int64(len(o.data)), ModTime: o.modTime}, nil
}

func (b *memoryBucket) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	if err := ValidatePrefix(prefix); err != nil {
		return err
	}
	b.mu.RLock()
	infos := make([]ObjectInfo, 0, len(b.objects))
	for k, o := range b.objects {
		if strings.HasPrefix(k, prefix) {
			infos = append(infos, ObjectInfo{Key: k, Size: int64(len(o.data)), ModTime: o.modTime})
		}
	}
	b.mu.RUnlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key < infos[j].Key })
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

func (b *memoryBucket) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.objects, key)
	b.mu.Unlock()
	return nil
}

func (b *memoryBucket) Ping(ctx context.Context) error { return ctx.Err() }

func (b *memoryBucket) Close() error { return nil }

// ClampRange turns GetRange's (off, length) into [start, end) within an
// object of the given size. off must lie in [0, size]; length < 0 reads to
// the end and a length past the end is cut at the end, as S3 does.
func ClampRange(key string, size, off, length int64) (start, end int64, err error) {
	if off < 0 || off > size {
		return 0, 0, fmt.Errorf("storage: range of %q: offset %d outside [0, %d]", key, off, size)
	}
	end = size
	if length >= 0 && length < size-off {
		end = off + length
	}
	return off, end, nil
}
