package debugstore_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stacklens/stacklens/debugfiles"
	debugstore "github.com/stacklens/stacklens/debugfiles/store"
	"github.com/stacklens/stacklens/internal/testenv"
	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/blobstore"
)

func identDir(t testing.TB) string {
	return filepath.Join(testenv.RepoRoot(t), "testdata", "native", "ident")
}

func read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	elfOnce                   sync.Once
	elfFull, elfStrip, elfDbg []byte
	elfErr                    error
)

// elfVariants: the committed g++ -g binary, its stripped copy and its
// --only-keep-debug companion (all three share one build-id).
func elfVariants(t testing.TB) (full, stripped, debugOnly []byte) {
	t.Helper()
	strip, objcopy := testenv.Tool(t, "strip"), testenv.Tool(t, "objcopy")
	elfOnce.Do(func() {
		src := filepath.Join(identDir(t), "breakpad", "prog")
		dir, err := os.MkdirTemp("", "debugstore-")
		if err != nil {
			elfErr = err
			return
		}
		defer os.RemoveAll(dir)
		if out, err := exec.Command(strip, "-o", filepath.Join(dir, "s"), src).CombinedOutput(); err != nil {
			elfErr = errors.New(string(out))
			return
		}
		if out, err := exec.Command(objcopy, "--only-keep-debug", src, filepath.Join(dir, "d")).CombinedOutput(); err != nil {
			elfErr = errors.New(string(out))
			return
		}
		elfFull, elfErr = os.ReadFile(src)
		if elfErr == nil {
			elfStrip, elfErr = os.ReadFile(filepath.Join(dir, "s"))
		}
		if elfErr == nil {
			elfDbg, elfErr = os.ReadFile(filepath.Join(dir, "d"))
		}
	})
	if elfErr != nil {
		t.Fatal(elfErr)
	}
	return elfFull, elfStrip, elfDbg
}

// fakeModule records which file the store opened.
type fakeModule struct {
	meta  debugfiles.FileMeta
	magic []byte
	size  int64
}

func (f *fakeModule) Meta() debugfiles.FileMeta { return f.meta }
func (f *fakeModule) LoadAddress() uint64       { return 0 }
func (f *fakeModule) Lookup(uint64) ([]debugfiles.Location, error) {
	return nil, debugfiles.ErrNoSymbol
}

func newStore(t *testing.T, cfg debugstore.Config) (*debugstore.Store, *atomic.Int64) {
	t.Helper()
	s := debugstore.New(cfg, blobstore.New(storage.NewInMemory(), t.TempDir()), nil)
	var opens atomic.Int64
	s.OpenNative = func(r io.ReaderAt, size int64, meta debugfiles.FileMeta) (debugfiles.Module, error) {
		opens.Add(1)
		magic := make([]byte, 4)
		if _, err := r.ReadAt(magic, 0); err != nil {
			return nil, err
		}
		return &fakeModule{meta: meta, magic: magic, size: size}, nil
	}
	return s, &opens
}

func upload(t *testing.T, s *debugstore.Store, project, name string, data []byte) debugstore.Report {
	t.Helper()
	rep, err := s.UploadNamed(context.Background(), project, name, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
	return rep
}

func hasFeature(m debugfiles.FileMeta, f string) bool {
	for _, x := range m.Features {
		if x == f {
			return true
		}
	}
	return false
}

// TestFindPrefersDebugInfoWhateverTheOrder: a stripped binary and its debug
// companion share the debug_id; Find returns the companion in both orders.
func TestFindPrefersDebugInfoWhateverTheOrder(t *testing.T) {
	_, stripped, debugOnly := elfVariants(t)
	for _, order := range [][2]string{{"stripped", "debug"}, {"debug", "stripped"}} {
		t.Run(order[0]+"-first", func(t *testing.T) {
			s, _ := newStore(t, debugstore.Config{})
			files := map[string][]byte{"stripped": stripped, "debug": debugOnly}
			var id, code string
			for _, n := range order {
				rep := upload(t, s, "shop", n, files[n])
				if len(rep.Files) != 1 || rep.Files[0].ObjectName != n {
					t.Fatalf("upload %s: %+v", n, rep.Files)
				}
				id, code = rep.Files[0].DebugID, rep.Files[0].CodeID
			}
			list, err := s.List(context.Background(), "shop", id)
			if err != nil || len(list) != 2 {
				t.Fatalf("List = %d records, %v", len(list), err)
			}
			for _, ref := range []debugfiles.ObjectRef{
				{DebugID: id},
				{DebugID: strings.ToUpper(strings.ReplaceAll(id, "-", ""))},
				{CodeID: strings.ToUpper(code)},
			} {
				mod, err := s.Find(context.Background(), "shop", ref)
				if err != nil {
					t.Fatalf("Find(%+v): %v", ref, err)
				}
				if !hasFeature(mod.Meta(), debugfiles.FeatureDebug) || mod.Meta().ObjectName != "debug" {
					t.Errorf("Find(%+v) chose %+v, want the debug companion", ref, mod.Meta())
				}
			}
		})
	}
}

func TestReuploadIsNoop(t *testing.T) {
	full, _, _ := elfVariants(t)
	s, _ := newStore(t, debugstore.Config{})
	first := upload(t, s, "p", "prog", full).Files[0]
	second := upload(t, s, "p", "prog", full).Files[0]
	if first.UploadedAt == "" || first.UploadedAt != second.UploadedAt || first.SHA256 != second.SHA256 {
		t.Errorf("re-upload changed the record: %+v vs %+v", first, second)
	}
	list, err := s.List(context.Background(), "p", "")
	if err != nil || len(list) != 1 {
		t.Errorf("List = %d records, %v; want 1", len(list), err)
	}
}

func zipOf(t *testing.T, entries map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	if _, err := zw.Create("dir/"); err != nil {
		t.Fatal(err)
	}
	for name, data := range entries {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestUploadZip stores every object in a zip (a fat Mach-O gives one file
// per arch), reports the rest, and serves each arch's own slice.
func TestUploadZip(t *testing.T) {
	full, _, _ := elfVariants(t)
	fat := read(t, filepath.Join(identDir(t), "macho_fat.dylib"))
	sym := read(t, filepath.Join(identDir(t), "breakpad", "prog.sym"))
	s, opens := newStore(t, debugstore.Config{})
	rep := upload(t, s, "p", "bundle.zip", zipOf(t, map[string][]byte{
		"bin/prog":                full,
		"Lib.dSYM/Contents/x/lib": fat,
		"sym/prog.sym":            sym,
		"README.txt":              []byte("not an object"),
	}))
	if len(rep.Files) != 4 || len(rep.Skipped) != 1 || rep.Skipped[0].Name != "README.txt" {
		t.Fatalf("report %+v", rep)
	}
	var arm64 debugfiles.FileMeta
	for _, m := range rep.Files {
		if m.Arch == "arm64" {
			arm64 = m
		}
	}
	if arm64.ObjectName != "lib" {
		t.Fatalf("no arm64 slice with object name lib in %+v", rep.Files)
	}
	mod, err := s.Find(context.Background(), "p", debugfiles.ObjectRef{DebugID: arm64.DebugID})
	if err != nil {
		t.Fatal(err)
	}
	fm := mod.(*fakeModule)
	if string(fm.magic) != "\xcf\xfa\xed\xfe" || fm.size >= int64(len(fat)) {
		t.Errorf("opener got magic %x size %d, want a thin 64-bit slice", fm.magic, fm.size)
	}
	// Breakpad files are parsed by the store itself; ELF one shares its id.
	if n := opens.Load(); n != 1 {
		t.Errorf("%d native opens, want 1", n)
	}
	if _, err := s.Find(context.Background(), "p", debugfiles.ObjectRef{DebugID: arm64.DebugID}); err != nil || opens.Load() != 1 {
		t.Errorf("second Find: err %v, %d opens; want a cache hit", err, opens.Load())
	}
}

func TestUploadLimits(t *testing.T) {
	full, _, _ := elfVariants(t)
	ctx := context.Background()
	s, _ := newStore(t, debugstore.Config{MaxUploadSize: int64(len(full)) - 1})
	if _, err := s.Upload(ctx, "p", bytes.NewReader(full)); !errors.Is(err, blobstore.ErrTooLarge) {
		t.Errorf("oversized upload: %v, want ErrTooLarge", err)
	}
	// A zip bomb in miniature: 4 MiB of zeros deflate to ~4 KiB; the limit
	// counts inflated bytes as they are read.
	var bomb bytes.Buffer
	zw := zip.NewWriter(&bomb)
	w, _ := zw.Create("zeros")
	w.Write(make([]byte, 4<<20))
	zw.Close()
	s, _ = newStore(t, debugstore.Config{MaxDecompressed: 1 << 20})
	if _, err := s.Upload(ctx, "p", bytes.NewReader(bomb.Bytes())); !errors.Is(err, debugfiles.ErrInvalidInput) || !strings.Contains(err.Error(), "expands") {
		t.Errorf("zip bomb: %v, want ErrInvalidInput", err)
	}
	many := map[string][]byte{}
	for i := 0; i < 5; i++ {
		many["f"+strconv.Itoa(i)] = []byte("x")
	}
	s, _ = newStore(t, debugstore.Config{MaxZipEntries: 3})
	if _, err := s.Upload(ctx, "p", bytes.NewReader(zipOf(t, many))); !errors.Is(err, debugfiles.ErrInvalidInput) {
		t.Errorf("too many entries: %v, want ErrInvalidInput", err)
	}
	s, _ = newStore(t, debugstore.Config{})
	for name, body := range map[string][]byte{"text": []byte("hello"), "zip of text": zipOf(t, map[string][]byte{"a.txt": []byte("a")})} {
		if _, err := s.Upload(ctx, "p", bytes.NewReader(body)); !errors.Is(err, debugfiles.ErrInvalidInput) {
			t.Errorf("%s: %v, want ErrInvalidInput", name, err)
		}
	}
}

func TestFindErrors(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, debugstore.Config{})
	if _, err := s.Find(ctx, "p", debugfiles.ObjectRef{DebugID: "1560cbc5-2654-fc81-bc4b-1d9e3c7a0f22"}); !errors.Is(err, debugfiles.ErrMissing) {
		t.Errorf("nothing uploaded: %v, want ErrMissing", err)
	}
	pdb := upload(t, s, "p", "pe_x86_64.pdb", read(t, filepath.Join(identDir(t), "pe_x86_64.pdb"))).Files[0]
	if _, err := s.Find(ctx, "p", debugfiles.ObjectRef{DebugID: pdb.DebugID}); !errors.Is(err, debugfiles.ErrUnsupported) {
		t.Errorf("PDB only: %v, want ErrUnsupported", err)
	}
	// Identify reads only the MODULE line; the parser finds the bad FUNC.
	broken := "MODULE Linux x86_64 713BD03C1E031801D618E390DE9E0A890 a\nFUNC zz 1 0 f\n"
	b := upload(t, s, "p", "broken.sym", []byte(broken)).Files[0]
	if _, err := s.Find(ctx, "p", debugfiles.ObjectRef{DebugID: b.DebugID}); !errors.Is(err, debugfiles.ErrMalformed) {
		t.Errorf("broken .sym: %v, want ErrMalformed", err)
	}
	// Another project sees nothing.
	if _, err := s.Find(ctx, "other", debugfiles.ObjectRef{DebugID: b.DebugID}); !errors.Is(err, debugfiles.ErrMissing) {
		t.Errorf("other project: %v, want ErrMissing", err)
	}
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	full, stripped, _ := elfVariants(t)
	s, _ := newStore(t, debugstore.Config{})
	m := upload(t, s, "p", "prog", full).Files[0]
	upload(t, s, "p", "stripped", stripped)
	sym := upload(t, s, "p", "x.sym", read(t, filepath.Join(identDir(t), "windows_x86.sym"))).Files[0]
	n, err := s.Delete(ctx, "p", m.DebugID)
	if err != nil || n != 2 {
		t.Fatalf("Delete = %d, %v; want 2", n, err)
	}
	if _, err := s.Find(ctx, "p", debugfiles.ObjectRef{CodeID: m.CodeID}); !errors.Is(err, debugfiles.ErrMissing) {
		t.Errorf("after delete: %v, want ErrMissing", err)
	}
	list, err := s.List(ctx, "p", "")
	if err != nil || len(list) != 1 || list[0].DebugID != sym.DebugID {
		t.Errorf("List after delete = %+v, %v", list, err)
	}
}

// TestFindOpensRealFiles goes through the real parsers: the symbolizer for
// the ELF, the Breakpad parser for the .sym; both name the function nm and
// the .sym put at main's address.
func TestFindOpensRealFiles(t *testing.T) {
	nm := testenv.Tool(t, "nm")
	full, _, _ := elfVariants(t)
	out, err := exec.Command(nm, filepath.Join(identDir(t), "breakpad", "prog")).Output()
	if err != nil {
		t.Fatal(err)
	}
	var checksum uint64
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[2] == "_ZL8checksumPKc" {
			checksum, _ = strconv.ParseUint(f[0], 16, 64)
		}
	}
	if checksum == 0 {
		t.Fatal("nm shows no checksum function")
	}
	s := debugstore.New(debugstore.Config{}, blobstore.New(storage.NewInMemory(), t.TempDir()), nil)
	for name, data := range map[string][]byte{"prog": full, "prog.sym": read(t, filepath.Join(identDir(t), "breakpad", "prog.sym"))} {
		t.Run(name, func(t *testing.T) {
			proj := "real-" + name
			m := upload(t, s, proj, name, data).Files[0]
			mod, err := s.Find(context.Background(), proj, debugfiles.ObjectRef{DebugID: m.DebugID})
			if err != nil {
				t.Fatal(err)
			}
			locs, err := mod.Lookup(checksum + 4)
			if err != nil || len(locs) == 0 || locs[0].Function != "checksum(char const*)" {
				t.Errorf("Lookup(checksum+4) = %+v, %v", locs, err)
			}
		})
	}
}
