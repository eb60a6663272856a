// Package storage is stacklens's object-store abstraction: a small Bucket
// interface, implemented by a filesystem backend (the embedded default), an
// S3 backend (any S3-compatible store) and an in-memory backend for tests.
// Every backend must pass the acceptance suite in storage/storagetest.
package storage

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotFound is returned (wrapped) by Get, Stat and Delete-free lookups when
// the key does not exist. Test with errors.Is.
var ErrNotFound = errors.New("object not found")

// ErrInvalidKey is returned when a key is empty, absolute, contains "..",
// a NUL byte, a backslash, or other characters a backend cannot store safely.
var ErrInvalidKey = errors.New("invalid object key")

// ErrChecksumMismatch is returned by Put when PutOptions.SHA256 is set and
// the bytes read do not hash to it, or when fewer/more than Size bytes arrive.
// Nothing is stored in that case.
var ErrChecksumMismatch = errors.New("object content does not match its declared size or sha256")

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// PutOptions qualify a Put.
type PutOptions struct {
	// SHA256 is the lowercase hex sha256 of the content, if known. When set
	// the backend verifies it while writing and stores nothing on mismatch.
	SHA256 string
	// ContentType is advisory metadata.
	ContentType string
}

// Sized is implemented by the readers Bucket.Get returns: Size is the
// object's length, known before anything is read, so that a caller reading
// the object whole sizes its buffer once (and refuses one too large
// without reading it).
type Sized interface {
	Size() int64
}

// Bucket is an object store. Keys are slash-separated relative paths.
// Objects are replaced atomically: a reader sees the old or the new content,
// never a partial object. Implementations are safe for concurrent use.
type Bucket interface {
	// Put stores exactly size bytes read from r under key. size must be the
	// real length (>= 0); content is streamed, never buffered whole.
	Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) error
	// Get opens the object for reading. A missing key fails here with
	// ErrNotFound, not on the first Read. The reader implements Sized.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// GetRange reads length bytes starting at off (length < 0: to the end).
	GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error)
	// Stat returns the object's metadata or ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List calls fn for every object whose key starts with prefix, in
	// lexical key order. Returning an error from fn stops the listing and
	// List returns that error.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
	// Delete removes the object. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Ping checks that the store is reachable (used by /readyz).
	Ping(ctx context.Context) error
	// Close releases resources.
	Close() error
}
