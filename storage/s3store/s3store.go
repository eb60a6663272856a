// Package s3store is the S3 storage.Bucket, for any S3-compatible store
// (AWS S3, MinIO, ...), built on minio-go v7. N stacklens replicas share one
// bucket through it.
//
// Integrity: Put always sends the real size. Objects up to
// Config.MultipartThreshold (default 5 GiB, S3's single-PUT maximum) go in
// one streamed PUT that carries the declared sha256 as x-amz-checksum-sha256,
// so the server verifies the whole object and stores nothing on mismatch.
// Larger objects use multipart upload with per-part SHA256 checksums the
// server verifies; the declared whole-object sha256 is checked on the client
// by storage.VerifyingReader, which withholds the last bytes on mismatch so
// the upload is aborted and never completed. Either way a mismatch stores
// nothing and the previous object stays.
package s3store

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/stacklens/stacklens/storage"
)

// DefaultMultipartThreshold is S3's largest single PUT.
const DefaultMultipartThreshold = 5 << 30

// pingTimeout bounds Ping when the caller's context has no deadline.
const pingTimeout = 5 * time.Second

// Config locates the bucket.
type Config struct {
	Endpoint  string // host:port, no scheme
	Bucket    string
	AccessKey string
	SecretKey string
	Region    string // "" lets the client discover it
	Prefix    string // optional key prefix inside the bucket, e.g. "stacklens"
	UseTLS    bool
	// MultipartThreshold is the size above which Put uses multipart upload
	// (0: DefaultMultipartThreshold; at least 5 MiB, S3's minimum part).
	MultipartThreshold int64
}

// RegisterFlags adds the s3.* flags to f, defaulting to c's current values.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.Endpoint, "s3.endpoint", c.Endpoint, "S3 endpoint host:port; empty uses the filesystem store")
	f.StringVar(&c.Bucket, "s3.bucket", c.Bucket, "S3 bucket (created if missing)")
	f.StringVar(&c.AccessKey, "s3.access-key", c.AccessKey, "S3 access key")
	f.StringVar(&c.SecretKey, "s3.secret-key", c.SecretKey, "S3 secret key")
	f.StringVar(&c.Region, "s3.region", c.Region, "S3 region (empty: discovered)")
	f.StringVar(&c.Prefix, "s3.prefix", c.Prefix, "prefix for every object key inside the bucket")
	f.BoolVar(&c.UseTLS, "s3.tls", c.UseTLS, "use HTTPS to reach the S3 endpoint")
	f.Int64Var(&c.MultipartThreshold, "s3.multipart-threshold", c.MultipartThreshold, "objects larger than this many bytes use multipart upload (0: 5 GiB)")
}

// Bucket is a storage.Bucket over one S3 bucket (and optional prefix).
type Bucket struct {
	client    *minio.Client
	transport *http.Transport
	bucket    string
	prefix    string // "" or ends in "/"
	threshold int64
}

var _ storage.Bucket = (*Bucket)(nil)

// New connects to the store and creates the bucket if it does not exist.
func New(ctx context.Context, cfg Config) (*Bucket, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("s3store: endpoint and bucket are required")
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		if err := storage.ValidateKey(prefix); err != nil {
			return nil, fmt.Errorf("s3store: prefix: %w", err)
		}
		prefix += "/"
	}
	threshold := cfg.MultipartThreshold
	if threshold == 0 {
		threshold = DefaultMultipartThreshold
	}
	if threshold < 5<<20 {
		return nil, fmt.Errorf("s3store: multipart threshold %d is below S3's 5 MiB minimum part", threshold)
	}
	transport, err := minio.DefaultTransport(cfg.UseTLS)
	if err != nil {
		return nil, fmt.Errorf("s3store: %w", err)
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.UseTLS,
		Region:    cfg.Region,
		Transport: transport,
		// Needed to send x-amz-checksum-* headers and part checksums.
		TrailingHeaders: true,
	})
	if err != nil {
		return nil, fmt.Errorf("s3store: %w", err)
	}
	b := &Bucket{client: client, transport: transport, bucket: cfg.Bucket, prefix: prefix, threshold: threshold}
	exists, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3store: bucket %q at %s: %w", cfg.Bucket, cfg.Endpoint, err)
	}
	if !exists {
		err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region})
		var er minio.ErrorResponse
		if err != nil && !(errors.As(err, &er) && (er.Code == "BucketAlreadyOwnedByYou" || er.Code == "BucketAlreadyExists")) {
			return nil, fmt.Errorf("s3store: create bucket %q: %w", cfg.Bucket, err)
		}
	}
	return b, nil
}

func (b *Bucket) object(key string) string { return b.prefix + key }

// mapErr turns S3 errors into the storage package's: a missing key becomes
// storage.ErrNotFound, a failed server-side digest check
// storage.ErrChecksumMismatch, and a done context its ctx.Err().
func mapErr(ctx context.Context, op, key string, err error) error {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		switch er.Code {
		case "NoSuchKey":
			return fmt.Errorf("s3store: %s %q: %w", op, key, storage.ErrNotFound)
		case "BadDigest", "XAmzContentChecksumMismatch", "XAmzContentSHA256Mismatch", "IncompleteBody":
			return fmt.Errorf("s3store: %s %q: %w: %v", op, key, storage.ErrChecksumMismatch, err)
		}
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("s3store: %s %q: %w (%v)", op, key, cerr, err)
	}
	return fmt.Errorf("s3store: %s %q: %w", op, key, err)
}

// putOptions chooses the upload: single PUT with the server checking the
// declared sha256, or multipart with per-part SHA256 checksums.
func (b *Bucket) putOptions(size int64, sha []byte, contentType string) minio.PutObjectOptions {
	opts := minio.PutObjectOptions{ContentType: contentType}
	if size <= b.threshold {
		opts.DisableMultipart = true
		if sha != nil {
			opts.UserMetadata = map[string]string{"x-amz-checksum-sha256": base64.StdEncoding.EncodeToString(sha)}
		}
		return opts
	}
	opts.Checksum = minio.ChecksumSHA256
	// Parts are buffered one at a time: keep them small, within S3's
	// 10,000-part limit.
	opts.PartSize = uint64(max(16<<20, (size+9999)/10000))
	return opts
}

// Put implements storage.Bucket.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, size int64, opts storage.PutOptions) error {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("s3store: put %q: negative size %d", key, size)
	}
	var sha []byte
	if opts.SHA256 != "" {
		var err error
		if sha, err = storage.ParseSHA256(opts.SHA256); err != nil {
			return err
		}
	}
	vr, err := storage.NewVerifyingReader(r, size, opts.SHA256)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var body io.Reader = vr
	if size == 0 {
		// The client sends an empty body without reading it: verify that
		// the reader is empty (and matches the hash) first.
		if _, err := vr.Read(nil); err != io.EOF {
			return fmt.Errorf("s3store: put %q: %w", key, err)
		}
		body = bytes.NewReader(nil)
	}
	_, err = b.client.PutObject(ctx, b.bucket, b.object(key), body, size, b.putOptions(size, sha, opts.ContentType))
	if err != nil {
		if verr := vr.Err(); verr != nil {
			return fmt.Errorf("s3store: put %q: %w", key, verr)
		}
		return mapErr(ctx, "put", key, err)
	}
	if !vr.Verified() {
		// Cannot happen: an upload of size bytes reads the last of them,
		// which runs the verification.
		return fmt.Errorf("s3store: put %q: stored without reading the whole object", key)
	}
	return nil
}

// open issues the (possibly ranged) GET and reads the first bytes, since
// minio-go's GetObject is lazy and would only report a missing key on the
// first Read. A first Read (unlike Object.Stat, which sends a HEAD and then
// a second GET conditional on the ETag) keeps it to one request that sees
// one version of the object even while it is being overwritten.
func (b *Bucket) open(ctx context.Context, key string, opts minio.GetObjectOptions) (io.ReadCloser, error) {
	obj, err := b.client.GetObject(ctx, b.bucket, b.object(key), opts)
	if err != nil {
		return nil, err
	}
	first := make([]byte, firstReadSize)
	n, err := obj.Read(first)
	if err != nil && err != io.EOF {
		obj.Close()
		return nil, err
	}
	return &openedObject{first: first[:n], obj: obj}, nil
}

// firstReadSize is how much open reads before returning; small, because it
// waits for that much to arrive.
const firstReadSize = 4 << 10

type openedObject struct {
	first []byte
	obj   *minio.Object
}

func (o *openedObject) Read(p []byte) (int, error) {
	if len(o.first) > 0 {
		n := copy(p, o.first)
		o.first = o.first[n:]
		return n, nil
	}
	return o.obj.Read(p)
}

func (o *openedObject) Close() error { return o.obj.Close() }

// Get implements storage.Bucket with one plain GET (minio-go's Core):
// the answer's headers give the object's size before the body is read
// (storage.Sized), and a missing key fails here.
func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := storage.ValidateKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	body, info, _, err := minio.Core{Client: b.client}.GetObject(ctx, b.bucket, b.object(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, mapErr(ctx, "get", key, err)
	}
	return &objectBody{ReadCloser: body, size: info.Size}, nil
}

// objectBody is a GET's body and the object's size.
type objectBody struct {
	io.ReadCloser
	size int64
}

// Size implements storage.Sized.
func (o *objectBody) Size() int64 { return o.size }

// GetRange implements storage.Bucket with one ranged GET; only an empty
// range or a range starting at the end needs a Stat.
func (b *Bucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := storage.ValidateKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fmt.Errorf("s3store: range of %q: negative offset %d", key, off)
	}
	emptyAt := func() (io.ReadCloser, error) {
		info, err := b.Stat(ctx, key)
		if err != nil {
			return nil, err
		}
		if _, _, err := storage.ClampRange(key, info.Size, off, length); err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	if length == 0 {
		return emptyAt()
	}
	var opts minio.GetObjectOptions
	var err error
	switch {
	case off == 0 && length < 0:
	case length < 0:
		err = opts.SetRange(off, 0)
	default:
		err = opts.SetRange(off, off+length-1)
	}
	if err != nil {
		return nil, fmt.Errorf("s3store: range of %q: %w", key, err)
	}
	obj, err := b.open(ctx, key, opts)
	var er minio.ErrorResponse
	if errors.As(err, &er) && er.Code == "InvalidRange" {
		// The offset is at or past the end: an empty read at the end is
		// valid, past it is an error (ClampRange decides).
		return emptyAt()
	}
	if err != nil {
		return nil, mapErr(ctx, "get", key, err)
	}
	return obj, nil
}

// Stat implements storage.Bucket.
func (b *Bucket) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	if err := storage.ValidateKey(key); err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.ObjectInfo{}, err
	}
	info, err := b.client.StatObject(ctx, b.bucket, b.object(key), minio.StatObjectOptions{})
	if err != nil {
		return storage.ObjectInfo{}, mapErr(ctx, "stat", key, err)
	}
	return storage.ObjectInfo{Key: key, Size: info.Size, ModTime: info.LastModified}, nil
}

// List implements storage.Bucket. minio-go pages through ListObjectsV2
// (1000 keys a page); S3 returns keys in UTF-8 binary order, which is Go's
// string order.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error {
	if err := storage.ValidatePrefix(prefix); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio-go's listing goroutine when fn fails
	for obj := range b.client.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: b.object(prefix), Recursive: true}) {
		if obj.Err != nil {
			return mapErr(ctx, "list", prefix, obj.Err)
		}
		key := strings.TrimPrefix(obj.Key, b.prefix)
		if err := fn(storage.ObjectInfo{Key: key, Size: obj.Size, ModTime: obj.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Delete implements storage.Bucket.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := b.client.RemoveObject(ctx, b.bucket, b.object(key), minio.RemoveObjectOptions{})
	if err != nil && !errors.Is(mapErr(ctx, "delete", key, err), storage.ErrNotFound) {
		return mapErr(ctx, "delete", key, err)
	}
	return nil
}

// Ping checks that the bucket exists and answers, within pingTimeout.
func (b *Bucket) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	exists, err := b.client.BucketExists(ctx, b.bucket)
	if err != nil {
		return fmt.Errorf("s3store: ping bucket %q: %w", b.bucket, err)
	}
	if !exists {
		return fmt.Errorf("s3store: bucket %q does not exist", b.bucket)
	}
	return nil
}

// Close releases idle connections.
func (b *Bucket) Close() error {
	b.transport.CloseIdleConnections()
	return nil
}
