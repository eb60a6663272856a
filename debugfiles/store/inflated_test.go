package debugstore_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stacklens/stacklens/debugfiles"
	debugstore "github.com/stacklens/stacklens/debugfiles/store"
	"github.com/stacklens/stacklens/internal/testenv"
	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/blobstore"
)

// TestCompressedSectionBomb: an object whose compressed debug sections
// declare more than the decompression budget is refused at upload, skipped
// inside a zip, and, if stored earlier, never handed to the parser
// (regression: a 13 KiB Mach-O declaring a 64 GiB __zdebug_str killed the
// server with "fatal error: runtime: out of memory" on its first
// symbolication; a 1 MiB ELF with a .zdebug_str of 1 GiB of zeros made it
// allocate 3 GiB).
func TestCompressedSectionBomb(t *testing.T) {
	objcopy := testenv.Tool(t, "objcopy")
	dir := t.TempDir()
	blob := filepath.Join(dir, "blob")
	if err := os.WriteFile(blob, binary.BigEndian.AppendUint64([]byte("ZLIB"), 1<<40), 0o644); err != nil {
		t.Fatal(err)
	}
	bombPath := filepath.Join(dir, "bomb")
	if out, err := exec.Command(objcopy, "--add-section", ".zdebug_str="+blob, filepath.Join(identDir(t), "breakpad", "prog"), bombPath).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	bomb := read(t, bombPath)
	ctx := context.Background()

	s, opens := newStore(t, debugstore.Config{MaxDecompressed: 1 << 30})
	_, err := s.Upload(ctx, "p", bytes.NewReader(bomb))
	if !errors.Is(err, debugfiles.ErrInvalidInput) || !strings.Contains(err.Error(), "compressed sections") {
		t.Errorf("raw upload: %v, want ErrInvalidInput naming the compressed sections", err)
	}
	full, _, _ := elfVariants(t)
	rep, err := s.UploadNamed(ctx, "p", "", bytes.NewReader(zipOf(t, map[string][]byte{"bomb.debug": bomb, "good.debug": full})))
	if err != nil || len(rep.Files) != 1 || len(rep.Skipped) != 1 || rep.Skipped[0].Name != "bomb.debug" || !strings.Contains(rep.Skipped[0].Reason, "compressed sections") {
		t.Errorf("zip upload: %+v, %v; want the good file stored and the bomb skipped", rep, err)
	}
	if opens.Load() != 0 {
		t.Errorf("the parser was opened %d times during uploads", opens.Load())
	}

	// A file stored under a larger budget (or before the check existed)
	// is refused when loaded under a smaller one.
	bucket := storage.NewInMemory()
	tmp := t.TempDir()
	lenient := debugstore.New(debugstore.Config{MaxDecompressed: 1 << 41}, blobstore.New(bucket, tmp), nil)
	stored, err := lenient.Upload(ctx, "p", bytes.NewReader(bomb))
	if err != nil || len(stored) != 1 {
		t.Fatalf("upload under a large budget: %v, %v", stored, err)
	}
	strict := debugstore.New(debugstore.Config{MaxDecompressed: 1 << 30}, blobstore.New(bucket, tmp), nil)
	var strictOpens atomic.Int64
	strict.OpenNative = func(io.ReaderAt, int64, debugfiles.FileMeta) (debugfiles.Module, error) {
		strictOpens.Add(1)
		return nil, errors.New("must not be reached")
	}
	if _, err := strict.Find(ctx, "p", debugfiles.ObjectRef{DebugID: stored[0].DebugID}); !errors.Is(err, debugfiles.ErrMalformed) || !strings.Contains(err.Error(), "compressed sections") {
		t.Errorf("Find: %v, want ErrMalformed naming the compressed sections", err)
	}
	if strictOpens.Load() != 0 {
		t.Error("the parser was handed the bomb")
	}
}
