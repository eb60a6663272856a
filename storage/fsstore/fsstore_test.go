package fsstore_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/fsstore"
	"github.com/stacklens/stacklens/storage/storagetest"
)

func newBucket(t *testing.T) *fsstore.Bucket {
	t.Helper()
	b, err := fsstore.New(filepath.Join(t.TempDir(), "root"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAcceptance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Bucket { return newBucket(t) })
}

func tempFiles(t *testing.T, b *fsstore.Bucket) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(b.Root(), ".tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestObjectsAreFilesAtTheirKeys(t *testing.T) {
	b := newBucket(t)
	ctx := context.Background()
	if err := b.Put(ctx, "p/x/obj", strings.NewReader("data"), 4, storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(b.Root(), "p", "x", "obj"))
	if err != nil || string(got) != "data" {
		t.Fatalf("file at the key's path = %q, %v", got, err)
	}
	// A failed Put leaves no temp file behind either.
	_ = b.Put(ctx, "p/x/obj", strings.NewReader("longer"), 4, storage.PutOptions{})
	if names := tempFiles(t, b); len(names) != 0 {
		t.Fatalf("temp files left after Puts: %q", names)
	}
	if err := b.Delete(ctx, "p/x/obj"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(b.Root(), "p")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Delete left the emptied directory p: %v", err)
	}
}

func TestListSkipsForeignFiles(t *testing.T) {
	b := newBucket(t)
	ctx := context.Background()
	if err := b.Put(ctx, "k/obj", strings.NewReader("x"), 1, storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("s"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, link := range []string{"k/link", "k/dirlink"} {
		if err := os.Symlink(outside, filepath.Join(b.Root(), link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(b.Root(), "k", `back\slash`), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.Root(), ".tmp", "put-123"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := b.List(ctx, "", func(i storage.ObjectInfo) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "k/obj" {
		t.Fatalf("List = %q, want only k/obj", keys)
	}
}

func TestPutOverDirectoryFails(t *testing.T) {
	b := newBucket(t)
	ctx := context.Background()
	if err := b.Put(ctx, "a/b", strings.NewReader("x"), 1, storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "a", strings.NewReader("y"), 1, storage.PutOptions{}); err == nil {
		t.Fatal("Put of a key that is a directory of other keys succeeded")
	}
	if err := b.Put(ctx, "a/b/c", strings.NewReader("y"), 1, storage.PutOptions{}); err == nil {
		t.Fatal("Put below an object succeeded")
	}
	if _, err := b.Stat(ctx, "a/b/c"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat below an object = %v, want ErrNotFound", err)
	}
	if _, err := b.Stat(ctx, "a"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat of a directory = %v, want ErrNotFound", err)
	}
}

func TestNewRemovesStaleTempFiles(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	b, err := fsstore.New(root)
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(root, ".tmp", "put-stale")
	fresh := filepath.Join(root, ".tmp", "put-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-fsstore.StaleTempAge - time.Minute)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := fsstore.New(root); err != nil {
		t.Fatal(err)
	}
	if names := tempFiles(t, b); len(names) != 1 || names[0] != "put-fresh" {
		t.Fatalf("temp files after New = %q, want only the fresh one (another process may be writing it)", names)
	}
}

func TestPingFailsWhenRootIsGone(t *testing.T) {
	b := newBucket(t)
	if err := b.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := os.RemoveAll(b.Root()); err != nil {
		t.Fatal(err)
	}
	// Root is exempt from permission checks, so a vanished root stands in
	// for an unwritable one.
	if err := os.WriteFile(b.Root(), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(context.Background()); err == nil {
		t.Fatal("Ping succeeded with the root replaced by a file")
	}
}

const crashHelperEnv = "STACKLENS_FSSTORE_CRASH_HELPER_ROOT"

// blockingReader hands out half of an object, announces it, then blocks
// until the process is killed.
type blockingReader struct {
	data []byte
	pos  int
}

func (r *blockingReader) Read(p []byte) (int, error) {
	half := len(r.data) / 2
	if r.pos >= half {
		os.Stdout.WriteString("HALF-WRITTEN\n")
		select {} // wait for SIGKILL
	}
	n := copy(p, r.data[r.pos:half])
	r.pos += n
	return n, nil
}

// TestCrashHelper is the child process of TestCrashDuringPut; it does
// nothing in a normal run.
func TestCrashHelper(t *testing.T) {
	root := os.Getenv(crashHelperEnv)
	if root == "" {
		t.Skip("helper process for TestCrashDuringPut")
	}
	b, err := fsstore.New(root)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("new!"), 1<<18)
	err = b.Put(context.Background(), "crash/obj", &blockingReader{data: data}, int64(len(data)), storage.PutOptions{})
	t.Fatalf("Put returned %v instead of blocking", err)
}

func TestCrashDuringPut(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	b, err := fsstore.New(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	old := []byte("old object")
	if err := b.Put(ctx, "crash/obj", bytes.NewReader(old), int64(len(old)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.v")
	cmd.Env = append(os.Environ(), crashHelperEnv+"="+root)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	announced := false
	for sc.Scan() {
		if sc.Text() == "HALF-WRITTEN" {
			announced = true
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred cleanup runs
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stdout)
	_ = cmd.Wait()
	if !announced {
		t.Fatal("helper process never reached the middle of its Put")
	}

	if names := tempFiles(t, b); len(names) != 1 {
		t.Fatalf("want exactly the crashed upload's temp file in .tmp, got %q", names)
	}
	rc, err := b.Get(ctx, "crash/obj")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, old) {
		t.Fatalf("after a crash mid-Put the key holds %d bytes, want the old %d", len(got), len(old))
	}
	var keys []string
	if err := b.List(ctx, "", func(i storage.ObjectInfo) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("List after a crash = %q, want only crash/obj", keys)
	}

	// Once stale, the crashed upload's temp file is cleaned up by New.
	name := filepath.Join(root, ".tmp", tempFiles(t, b)[0])
	aged := time.Now().Add(-2 * fsstore.StaleTempAge)
	if err := os.Chtimes(name, aged, aged); err != nil {
		t.Fatal(err)
	}
	if _, err := fsstore.New(root); err != nil {
		t.Fatal(err)
	}
	if names := tempFiles(t, b); len(names) != 0 {
		t.Fatalf("New left stale temp files: %q", names)
	}
}
