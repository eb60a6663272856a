// Package fsstore is the filesystem storage.Bucket, stacklens's embedded
// default. Each object is a file under the root at its key's path.
//
// Durability: Put streams into a temporary file under <root>/.tmp, fsyncs
// it, renames it into place and fsyncs the directory, so after a crash at
// any moment (even SIGKILL or power loss) a key holds either its previous
// object or the complete new one. Temp files a crash leaves behind are never
// listed and can never be reached through a key (storage.ValidateKey rejects
// the .tmp top-level name); New deletes those untouched for StaleTempAge.
package fsstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/stacklens/stacklens/storage"
)

// StaleTempAge is how long a temp file must have gone unmodified before New
// deletes it. An upload in progress writes to its temp file continuously,
// so age (not "everything at startup") lets a second process open the same
// root without destroying the first one's uploads.
const StaleTempAge = time.Hour

const copyBufferSize = 256 << 10

// Bucket stores objects as files under a root directory. It is safe for
// concurrent use, also by several processes sharing the root.
type Bucket struct {
	root string
	tmp  string
}

var _ storage.Bucket = (*Bucket)(nil)

// New opens (creating it if needed) the store rooted at root and deletes
// stale temp files left by crashed uploads.
func New(root string) (*Bucket, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("fsstore: %w", err)
	}
	b := &Bucket{root: abs, tmp: filepath.Join(abs, storage.ReservedTopLevel)}
	if err := os.MkdirAll(b.tmp, 0o755); err != nil {
		return nil, fmt.Errorf("fsstore: create root: %w", err)
	}
	if err := b.removeStaleTemps(time.Now().Add(-StaleTempAge)); err != nil {
		return nil, err
	}
	return b, nil
}

// Root returns the absolute root directory.
func (b *Bucket) Root() string { return b.root }

func (b *Bucket) removeStaleTemps(cutoff time.Time) error {
	entries, err := os.ReadDir(b.tmp)
	if err != nil {
		return fmt.Errorf("fsstore: read temp dir: %w", err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // renamed or removed meanwhile
		}
		if err != nil {
			return fmt.Errorf("fsstore: stale temp files: %w", err)
		}
		if info.ModTime().Before(cutoff) {
			if err := os.RemoveAll(filepath.Join(b.tmp, e.Name())); err != nil {
				return fmt.Errorf("fsstore: remove stale temp file: %w", err)
			}
		}
	}
	return nil
}

func (b *Bucket) path(key string) string {
	return filepath.Join(b.root, filepath.FromSlash(key))
}

// ctxReader stops a copy as soon as its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Put implements storage.Bucket.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, size int64, opts storage.PutOptions) error {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("fsstore: put %q: negative size %d", key, size)
	}
	vr, err := storage.NewVerifyingReader(ctxReader{ctx, r}, size, opts.SHA256)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.CreateTemp(b.tmp, "put-*")
	if err != nil {
		return fmt.Errorf("fsstore: put %q: %w", key, err)
	}
	tmpName := f.Name()
	published := false
	defer func() {
		if !published {
			f.Close()
			os.Remove(tmpName)
		}
	}()
	if err := copyAll(f, vr); err != nil {
		return fmt.Errorf("fsstore: put %q: %w", key, err)
	}
	if !vr.Verified() {
		return fmt.Errorf("fsstore: put %q: upload ended before it was verified", key)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsstore: put %q: fsync: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("fsstore: put %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dst := b.path(key)
	dir := filepath.Dir(dst)
	// A concurrent Delete may prune a directory we just created: retry.
	for attempt := 0; ; attempt++ {
		if err := b.mkdirAll(dir); err != nil {
			return fmt.Errorf("fsstore: put %q: %w", key, err)
		}
		err = os.Rename(tmpName, dst)
		if err == nil {
			break
		}
		if errors.Is(err, fs.ErrNotExist) && attempt < 5 {
			continue
		}
		if errors.Is(err, syscall.EISDIR) || errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("fsstore: put %q: other keys live under it as a directory: %w", key, err)
		}
		return fmt.Errorf("fsstore: put %q: %w", key, err)
	}
	published = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("fsstore: put %q: fsync directory: %w", key, err)
	}
	return nil
}

// copyAll writes everything from r to f with one reused buffer. It avoids
// io.Copy because *os.File's ReaderFrom would bypass the buffer size.
func copyAll(f *os.File, r io.Reader) error {
	buf := make([]byte, copyBufferSize)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := f.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// mkdirAll creates dir and its missing parents below the root, fsyncing
// each parent that gains an entry so the new path survives a crash.
func (b *Bucket) mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is an object, not a directory", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if dir == b.root || parent == dir {
		return fmt.Errorf("root %s is missing", b.root)
	}
	if err := b.mkdirAll(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // created concurrently
		}
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (b *Bucket) open(ctx context.Context, key string) (*os.File, fs.FileInfo, error) {
	if err := storage.ValidateKey(key); err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	f, err := os.Open(b.path(key))
	if err != nil {
		return nil, nil, mapNotFound(key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("fsstore: %q: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("fsstore: %q: %w", key, storage.ErrNotFound)
	}
	return f, fi, nil
}

// mapNotFound turns "no such file" and "a parent is a file" into
// storage.ErrNotFound.
func mapNotFound(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("fsstore: %q: %w", key, storage.ErrNotFound)
	}
	return fmt.Errorf("fsstore: %q: %w", key, err)
}

// Get implements storage.Bucket. The returned *os.File keeps reading the
// object it opened even if the key is overwritten meanwhile.
func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	f, fi, err := b.open(ctx, key)
	if err != nil {
		return nil, err
	}
	return fileReader{f, fi.Size()}, nil
}

// fileReader is an object's open file (its methods, WriteTo included) and
// its size (storage.Sized).
type fileReader struct {
	*os.File
	size int64
}

func (r fileReader) Size() int64 { return r.size }

type sectionReadCloser struct {
	*io.SectionReader
	f *os.File
}

func (s sectionReadCloser) Close() error { return s.f.Close() }

// GetRange implements storage.Bucket.
func (b *Bucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	f, fi, err := b.open(ctx, key)
	if err != nil {
		return nil, err
	}
	start, end, err := storage.ClampRange(key, fi.Size(), off, length)
	if err != nil {
		f.Close()
		return nil, err
	}
	return sectionReadCloser{io.NewSectionReader(f, start, end-start), f}, nil
}

// Stat implements storage.Bucket.
func (b *Bucket) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	if err := storage.ValidateKey(key); err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.ObjectInfo{}, err
	}
	fi, err := os.Stat(b.path(key))
	if err != nil {
		return storage.ObjectInfo{}, mapNotFound(key, err)
	}
	if !fi.Mode().IsRegular() {
		return storage.ObjectInfo{}, fmt.Errorf("fsstore: %q: %w", key, storage.ErrNotFound)
	}
	return storage.ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List implements storage.Bucket. It walks only the directory named by the
// prefix's complete components, and orders each directory's entries as their
// keys sort (a directory "a" sorts as "a/"), which gives lexical key order.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error {
	if err := storage.ValidatePrefix(prefix); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dirKey := prefix[:strings.LastIndexByte(prefix, '/')+1]
	return b.walk(ctx, dirKey, prefix, fn)
}

func (b *Bucket) walk(ctx context.Context, dirKey, prefix string, fn func(storage.ObjectInfo) error) error {
	entries, err := os.ReadDir(b.path(dirKey))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil // nothing under this prefix (or deleted meanwhile)
	}
	if err != nil {
		return fmt.Errorf("fsstore: list %q: %w", prefix, err)
	}
	type entry struct {
		name string // with a trailing "/" for directories
		e    fs.DirEntry
	}
	names := make([]entry, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		switch {
		case dirKey == "" && name == storage.ReservedTopLevel:
			continue
		case e.IsDir():
			name += "/"
		case !e.Type().IsRegular():
			continue // symlinks and devices are not objects
		}
		names = append(names, entry{name, e})
	}
	sort.Slice(names, func(i, j int) bool { return names[i].name < names[j].name })
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		key := dirKey + n.name
		if !strings.HasPrefix(key, prefix) && !strings.HasPrefix(prefix, key) {
			continue
		}
		if n.e.IsDir() {
			if err := b.walk(ctx, key, prefix, fn); err != nil {
				return err
			}
			continue
		}
		if !strings.HasPrefix(key, prefix) || storage.ValidateKey(key) != nil {
			continue // a stray file no key can name
		}
		info, err := n.e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("fsstore: list %q: %w", prefix, err)
		}
		if err := fn(storage.ObjectInfo{Key: key, Size: info.Size(), ModTime: info.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements storage.Bucket. It also removes the directories the key
// leaves empty, so a later Put may use their names as keys.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p := b.path(key)
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fsstore: delete %q: %w", key, err)
	}
	if fi.IsDir() {
		return nil // no object of that name, only keys below it
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fsstore: delete %q: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fsstore: delete %q: fsync directory: %w", key, err)
	}
	for dir := filepath.Dir(p); dir != b.root && strings.HasPrefix(dir, b.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty (or already gone): stop pruning
		}
	}
	return nil
}

// Ping checks that the root is writable by creating and removing a file.
func (b *Bucket) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.CreateTemp(b.tmp, "ping-*")
	if err != nil {
		return fmt.Errorf("fsstore: root %s is not writable: %w", b.root, err)
	}
	name := f.Name()
	_, werr := f.Write([]byte("ping"))
	cerr := f.Close()
	rerr := os.Remove(name)
	if err := errors.Join(werr, cerr, rerr); err != nil {
		return fmt.Errorf("fsstore: root %s is not writable: %w", b.root, err)
	}
	return nil
}

// Close implements storage.Bucket; the filesystem store holds no resources.
func (b *Bucket) Close() error { return nil }
