// Package blobstore is the content-addressed layer over a storage.Bucket:
// immutable blobs under blobs/sha256/<2 hex>/<sha256> and small JSON records
// that point at them. A blob is written and verified before any record names
// it; writing the same bytes twice is a no-op.
//
// Callers write the blob first (PutBlob / PutBlobFile) and only then the
// record naming it (PutRecord), so a reader that finds a record always finds
// its blob. Blobs are uploaded with their size and sha256, which the backend
// verifies, and re-checked when read back (ReadBlob, OpenBlob).
package blobstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/stacklens/stacklens/storage"
)

// ErrTooLarge is returned when an upload exceeds the allowed size.
var ErrTooLarge = errors.New("upload exceeds the size limit")

// MaxRecordSize bounds a JSON record read by GetRecord.
const MaxRecordSize = 16 << 20

// Blob identifies stored content.
type Blob struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Store is the blob + record layer. Safe for concurrent use.
type Store struct {
	bucket storage.Bucket
	tmpDir string
}

// New returns a Store over bucket that spools uploads of unknown hash to
// temporary files in tmpDir ("" = os.TempDir()).
func New(bucket storage.Bucket, tmpDir string) *Store {
	return &Store{bucket: bucket, tmpDir: tmpDir}
}

// Bucket returns the underlying bucket.
func (s *Store) Bucket() storage.Bucket { return s.bucket }

// BlobKey returns the object key of the blob with the given sha256.
func BlobKey(sha256hex string) string {
	return "blobs/sha256/" + sha256hex[:2] + "/" + sha256hex
}

// checkSHA256 accepts only the canonical form BlobKey is used with: 64
// lowercase hex digits. Anything else would panic in BlobKey or name a
// different key for the same content.
func checkSHA256(sha256hex string) error {
	b, err := hex.DecodeString(sha256hex)
	if err != nil || len(b) != sha256.Size || hex.EncodeToString(b) != sha256hex {
		return fmt.Errorf("blobstore: %w: %q is not a lowercase hex sha256", storage.ErrInvalidKey, sha256hex)
	}
	return nil
}

// KeyPart escapes an arbitrary string (project, release, dist, url...) into
// one safe key path component: never empty, never "." or "..", no "/".
//
// The encoding: bytes in [A-Za-z0-9._-] stay as they are, every other byte
// (including each byte of a multi-byte UTF-8 character) becomes %XX with
// upper-case hex. Two cases are special: the empty string becomes "~" (which
// KeyPart never produces otherwise, since "~" itself is encoded as %7E), and
// a string of only dots has every dot encoded ("." -> "%2E", ".." ->
// "%2E%2E"). The mapping is injective and UnKeyPart reverses it. Output can
// be up to three times as long as the input; a component longer than
// storage.MaxKeyComponentLen is refused by storage.ValidateKey, so callers
// bound what they pass (release names, dists) or hash it (URLs).
func KeyPart(s string) string {
	if s == "" {
		return "~"
	}
	onlyDots := strings.Trim(s, ".") == ""
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keptByte(c) && !(onlyDots && c == '.') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"

func keptByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// UnKeyPart reverses KeyPart. It accepts only KeyPart's exact output, so
// distinct components never decode to the same string.
func UnKeyPart(part string) (string, error) {
	if part == "~" {
		return "", nil
	}
	out := make([]byte, 0, len(part))
	for i := 0; i < len(part); i++ {
		c := part[i]
		switch {
		case c == '%':
			if i+2 >= len(part) {
				return "", fmt.Errorf("blobstore: %q: truncated escape", part)
			}
			hi, lo := unhex(part[i+1]), unhex(part[i+2])
			if hi < 0 || lo < 0 {
				return "", fmt.Errorf("blobstore: %q: bad escape %q", part, part[i:i+3])
			}
			out = append(out, byte(hi<<4|lo))
			i += 2
		case keptByte(c):
			out = append(out, c)
		default:
			return "", fmt.Errorf("blobstore: %q: byte %q is never left unescaped", part, c)
		}
	}
	s := string(out)
	if KeyPart(s) != part {
		return "", fmt.Errorf("blobstore: %q is not KeyPart's encoding of %q", part, s)
	}
	return s, nil
}

// unhex decodes an upper-case hex digit (KeyPart never writes lower case).
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
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

// PutBlob streams r (at most maxSize bytes, <=0: unlimited) into the store,
// hashing it on the way (spooled to a temp file), and returns its identity.
// Returns ErrTooLarge (wrapped) when r is longer than maxSize.
func (s *Store) PutBlob(ctx context.Context, r io.Reader, maxSize int64) (Blob, error) {
	f, err := os.CreateTemp(s.tmpDir, "stacklens-blob-*")
	if err != nil {
		return Blob{}, fmt.Errorf("blobstore: spool: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	src := io.Reader(ctxReader{ctx, r})
	if maxSize > 0 {
		src = io.LimitReader(src, maxSize+1) // one byte more tells "too large"
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), src)
	if err != nil {
		return Blob{}, fmt.Errorf("blobstore: spool: %w", err)
	}
	if maxSize > 0 && n > maxSize {
		return Blob{}, fmt.Errorf("blobstore: %w: more than %d bytes", ErrTooLarge, maxSize)
	}
	blob := Blob{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}
	return blob, s.upload(ctx, io.NewSectionReader(f, 0, n), blob)
}

// PutBlobFile stores the whole content of f (from offset 0, whatever f's
// current offset) without copying it again: it hashes the file, then uploads
// it. f is not closed and its offset is not moved.
func (s *Store) PutBlobFile(ctx context.Context, f *os.File) (Blob, error) {
	fi, err := f.Stat()
	if err != nil {
		return Blob{}, fmt.Errorf("blobstore: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, io.NewSectionReader(f, 0, fi.Size())})
	if err != nil {
		return Blob{}, fmt.Errorf("blobstore: hash %s: %w", f.Name(), err)
	}
	blob := Blob{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}
	// Should the file change between hashing and uploading, the backend's
	// sha256 check refuses the upload.
	return blob, s.upload(ctx, io.NewSectionReader(f, 0, n), blob)
}

// upload Puts the blob unless an object of the same size is already at its
// content address (same key = same sha256, and a size check catches a
// truncated object cheaply).
func (s *Store) upload(ctx context.Context, r io.Reader, blob Blob) error {
	key := BlobKey(blob.SHA256)
	info, err := s.bucket.Stat(ctx, key)
	if err == nil && info.Size == blob.Size {
		return nil
	}
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("blobstore: %w", err)
	}
	if err := s.bucket.Put(ctx, key, r, blob.Size, storage.PutOptions{SHA256: blob.SHA256}); err != nil {
		return fmt.Errorf("blobstore: store blob %s: %w", blob.SHA256, err)
	}
	return nil
}

type verifiedBlob struct {
	*storage.VerifyingReader
	c io.Closer
}

func (v verifiedBlob) Close() error { return v.c.Close() }

// OpenBlob opens a blob for reading; storage.ErrNotFound if missing. A
// reader that reaches EOF on content that does not hash to sha256hex gets
// an error wrapping storage.ErrChecksumMismatch instead of io.EOF.
func (s *Store) OpenBlob(ctx context.Context, sha256hex string) (io.ReadCloser, error) {
	if err := checkSHA256(sha256hex); err != nil {
		return nil, err
	}
	rc, err := s.bucket.Get(ctx, BlobKey(sha256hex))
	if err != nil {
		return nil, fmt.Errorf("blobstore: blob %s: %w", sha256hex, err)
	}
	vr, err := storage.NewVerifyingReader(rc, -1, sha256hex)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return verifiedBlob{vr, rc}, nil
}

// ReadBlob reads a whole blob into memory, failing with ErrTooLarge if it is
// larger than maxSize (<=0: unlimited).
func (s *Store) ReadBlob(ctx context.Context, sha256hex string, maxSize int64) ([]byte, error) {
	if err := checkSHA256(sha256hex); err != nil {
		return nil, err
	}
	rc, err := s.bucket.Get(ctx, BlobKey(sha256hex))
	if err != nil {
		return nil, fmt.Errorf("blobstore: blob %s: %w", sha256hex, err)
	}
	defer rc.Close()
	tooLarge := func() error {
		return fmt.Errorf("blobstore: blob %s: %w: more than %d bytes", sha256hex, ErrTooLarge, maxSize)
	}
	// One buffer of the object's size (the store says it before the first
	// byte), hashed as it fills: no copies of a growing buffer, and the
	// hash of one part runs while the next is on its way.
	size := int64(-1)
	if sz, ok := rc.(storage.Sized); ok {
		size = sz.Size()
	}
	if maxSize > 0 && size > maxSize {
		return nil, tooLarge()
	}
	hint := int64(64 << 10)
	if size >= 0 {
		hint = size + 1 // +1: the read that sees the end
	}
	data := make([]byte, 0, hint)
	h := sha256.New()
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := rc.Read(data[len(data):cap(data)])
		h.Write(data[len(data) : len(data)+n])
		data = data[:len(data)+n]
		if maxSize > 0 && int64(len(data)) > maxSize {
			return nil, tooLarge()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("blobstore: read blob %s: %w", sha256hex, err)
		}
	}
	if got := h.Sum(nil); hex.EncodeToString(got) != sha256hex {
		return nil, fmt.Errorf("blobstore: blob %s: %w: content hashes to %x", sha256hex, storage.ErrChecksumMismatch, got)
	}
	return data, nil
}

// PutRecord writes v as JSON under key (replacing any previous record).
func (s *Store) PutRecord(ctx context.Context, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("blobstore: record %q: %w", key, err)
	}
	sum := sha256.Sum256(data)
	err = s.bucket.Put(ctx, key, bytes.NewReader(data), int64(len(data)), storage.PutOptions{
		SHA256:      hex.EncodeToString(sum[:]),
		ContentType: "application/json",
	})
	if err != nil {
		return fmt.Errorf("blobstore: record %q: %w", key, err)
	}
	return nil
}

// GetRecord reads the JSON record at key into v; storage.ErrNotFound if missing.
func (s *Store) GetRecord(ctx context.Context, key string, v any) error {
	rc, err := s.bucket.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("blobstore: record %q: %w", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, MaxRecordSize+1))
	if err != nil {
		return fmt.Errorf("blobstore: record %q: %w", key, err)
	}
	if len(data) > MaxRecordSize {
		return fmt.Errorf("blobstore: record %q: %w: over %d bytes", key, ErrTooLarge, MaxRecordSize)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("blobstore: record %q: %w", key, err)
	}
	return nil
}

// ListRecords calls fn with the key of every record under prefix.
func (s *Store) ListRecords(ctx context.Context, prefix string, fn func(key string) error) error {
	return s.bucket.List(ctx, prefix, func(info storage.ObjectInfo) error { return fn(info.Key) })
}

// DeleteRecord removes a record (blobs are never deleted by this layer).
func (s *Store) DeleteRecord(ctx context.Context, key string) error {
	if err := s.bucket.Delete(ctx, key); err != nil {
		return fmt.Errorf("blobstore: record %q: %w", key, err)
	}
	return nil
}
