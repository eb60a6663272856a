package s3store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/stacklens/stacklens/internal/testenv"
	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/storagetest"
)

func TestMain(m *testing.M) {
	stop := testenv.StartSharedMinIO()
	code := m.Run()
	stop()
	os.Exit(code)
}

func newBucketWith(t *testing.T, edit func(*Config)) *Bucket {
	t.Helper()
	srv := testenv.StartMinIO(t)
	cfg := Config{Endpoint: srv.Endpoint, Bucket: srv.NewBucketName(t), AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
	if edit != nil {
		edit(&cfg)
	}
	b, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func TestAcceptance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Bucket { return newBucketWith(t, nil) })
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestServerVerifiesDeclaredSHA256 bypasses the client-side check and sends
// wrong bytes with the options Put uses: the server itself must refuse them.
func TestServerVerifiesDeclaredSHA256(t *testing.T) {
	b := newBucketWith(t, nil)
	ctx := context.Background()
	good, bad := []byte("the declared content"), []byte("different content!!!")
	sha, _ := storage.ParseSHA256(sum(good))
	_, err := b.client.PutObject(ctx, b.bucket, b.object("srv/obj"), bytes.NewReader(bad), int64(len(bad)), b.putOptions(int64(len(bad)), sha, ""))
	if err == nil {
		t.Fatal("the server stored bytes that do not match x-amz-checksum-sha256")
	}
	if mapped := mapErr(ctx, "put", "srv/obj", err); !errors.Is(mapped, storage.ErrChecksumMismatch) {
		t.Errorf("server rejection %v does not map to ErrChecksumMismatch", err)
	}
	if _, err := b.Stat(ctx, "srv/obj"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat after the server refused the object: %v, want ErrNotFound", err)
	}
	// The same options with the right bytes are accepted.
	if _, err := b.client.PutObject(ctx, b.bucket, b.object("srv/obj"), bytes.NewReader(good), int64(len(good)), b.putOptions(int64(len(good)), sha, "")); err != nil {
		t.Fatalf("matching upload refused: %v", err)
	}
}

func TestMultipartUpload(t *testing.T) {
	const threshold = 5 << 20
	b := newBucketWith(t, func(c *Config) { c.MultipartThreshold = threshold })
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), (2*threshold+12345)/16)
	if err := b.Put(ctx, "mp/obj", bytes.NewReader(data), int64(len(data)), storage.PutOptions{SHA256: sum(data)}); err != nil {
		t.Fatalf("multipart Put: %v", err)
	}
	rc, err := b.Get(ctx, "mp/obj")
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := got.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("multipart object read back as %d bytes, want %d", got.Len(), len(data))
	}

	// A mismatch found only at the end of the last part aborts the upload.
	wrong := append([]byte(nil), data...)
	wrong[len(wrong)-1] ^= 1
	err = b.Put(ctx, "mp/obj", bytes.NewReader(wrong), int64(len(wrong)), storage.PutOptions{SHA256: sum(data)})
	if !errors.Is(err, storage.ErrChecksumMismatch) {
		t.Fatalf("multipart Put of wrong bytes: %v, want ErrChecksumMismatch", err)
	}
	info, err := b.Stat(ctx, "mp/obj")
	if err != nil || info.Size != int64(len(data)) {
		t.Fatalf("after the failed multipart Put: %+v, %v", info, err)
	}
	for up := range b.client.ListIncompleteUploads(ctx, b.bucket, b.prefix, true) {
		if up.Err != nil {
			t.Fatal(up.Err)
		}
		t.Errorf("incomplete multipart upload left behind: %s", up.Key)
	}
}

func TestPrefixIsolatesTenants(t *testing.T) {
	srv := testenv.StartMinIO(t)
	bucket := srv.NewBucketName(t)
	open := func(prefix string) *Bucket {
		b, err := New(context.Background(), Config{Endpoint: srv.Endpoint, Bucket: bucket, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, c := open("/tenant-a/"), open("tenant-c")
	ctx := context.Background()
	if err := a.Put(ctx, "k/1", strings.NewReader("a"), 1, storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(ctx, "k/1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("tenant c sees tenant a's key: %v", err)
	}
	var keys []string
	if err := a.List(ctx, "", func(i storage.ObjectInfo) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "k/1" {
		t.Fatalf("List under a prefix = %q, want [k/1] without the prefix", keys)
	}
	if _, err := a.client.StatObject(ctx, bucket, "tenant-a/k/1", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("object is not stored under the prefix: %v", err)
	}
	if _, err := New(ctx, Config{Endpoint: srv.Endpoint, Bucket: bucket, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Prefix: "../x"}); !errors.Is(err, storage.ErrInvalidKey) {
		t.Fatalf("New with prefix ../x: %v, want ErrInvalidKey", err)
	}
}

func TestPingFailsWhenBucketIsGone(t *testing.T) {
	b := newBucketWith(t, nil)
	ctx := context.Background()
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := b.client.RemoveBucket(ctx, b.bucket); err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded after the bucket was removed")
	}
}

func TestNewFailsWhenUnreachable(t *testing.T) {
	port := testenv.FreePort(t)
	_, err := New(context.Background(), Config{Endpoint: fmt.Sprintf("127.0.0.1:%d", port), Bucket: "stacklens-nowhere", AccessKey: "x", SecretKey: "yyyyyyyy"})
	if err == nil {
		t.Fatal("New succeeded against a closed port")
	}
}

func TestRegisterFlags(t *testing.T) {
	var cfg Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	err := fs.Parse([]string{"-s3.endpoint=s3.example:9000", "-s3.bucket=b", "-s3.access-key=ak", "-s3.secret-key=sk",
		"-s3.region=eu-west-1", "-s3.prefix=p", "-s3.tls", "-s3.multipart-threshold=10485760"})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Endpoint: "s3.example:9000", Bucket: "b", AccessKey: "ak", SecretKey: "sk", Region: "eu-west-1", Prefix: "p", UseTLS: true, MultipartThreshold: 10 << 20}
	if cfg != want {
		t.Fatalf("flags parsed into %+v, want %+v", cfg, want)
	}
}
