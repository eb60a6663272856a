package debugfiles_test

import (
	"bytes"
	"debug/macho"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/internal/testenv"
)

func inflIdentDir(t testing.TB) string {
	return filepath.Join(testenv.RepoRoot(t), "testdata", "native", "ident")
}

func inflRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// zlibSection is a legacy GNU compressed section: "ZLIB", the declared
// inflated size, then (here) no stream at all: the declaration alone is
// what readers allocate.
func zlibSection(declared uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte("ZLIB"), declared)
}

// readelfSizes maps section name to size, and reports which sections carry
// the C (compressed) flag, as readelf -SW prints them.
func readelfSizes(t *testing.T, readelf, path string) (sizes map[string]uint64, compressed map[string]bool) {
	t.Helper()
	out, err := exec.Command(readelf, "-SW", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	// [Nr] Name Type Address Off Size ES Flg Lk Inf Al
	row := regexp.MustCompile(`^\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([A-Za-z]*)\s+\d+`)
	sizes, compressed = map[string]uint64{}, map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n, _ := strconv.ParseUint(m[2], 16, 64)
		sizes[m[1]] = n
		compressed[m[1]] = strings.Contains(m[3], "C")
	}
	return sizes, compressed
}

// TestInflatedSectionBytes: the declared inflated size of compressed debug
// sections, which the store compares with its budget before any DWARF
// parser allocates it (regression: a 1 MiB ELF with a .zdebug_str
// declaring 1 GiB made the server allocate 3 GiB on its first
// symbolication; a Mach-O __zdebug_ section makes debug/macho allocate its
// declared size at once).
func TestInflatedSectionBytes(t *testing.T) {
	objcopy, readelf := testenv.Tool(t, "objcopy"), testenv.Tool(t, "readelf")
	dir := t.TempDir()
	src := filepath.Join(inflIdentDir(t), "breakpad", "prog")
	gabi := filepath.Join(dir, "gabi")
	if out, err := exec.Command(objcopy, "--compress-debug-sections=zlib-gabi", src, gabi).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	// The SHF_COMPRESSED sections declare the sizes they had before.
	before, _ := readelfSizes(t, readelf, src)
	_, flagged := readelfSizes(t, readelf, gabi)
	var want uint64
	for name, c := range flagged {
		if c {
			want += before[name]
		}
	}
	if want == 0 {
		t.Fatal("objcopy compressed no section")
	}
	blob := filepath.Join(dir, "blob")
	if err := os.WriteFile(blob, zlibSection(1<<40), 0o644); err != nil {
		t.Fatal(err)
	}
	zdebug := filepath.Join(dir, "zdebug")
	if out, err := exec.Command(objcopy, "--add-section", ".zdebug_str="+blob, src, zdebug).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	maxed := filepath.Join(dir, "maxed")
	if err := os.WriteFile(blob, zlibSection(^uint64(0)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(objcopy, "--add-section", ".zdebug_info="+blob, zdebug, maxed).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}

	machoData := inflRead(t, filepath.Join(inflIdentDir(t), "macho_x86_64.dsym"))
	machoBomb := machoZdebug(t, machoData, 1<<40)

	tests := []struct {
		name string
		data []byte
		want uint64
	}{
		{"plain ELF", inflRead(t, src), 0},
		{"ELF with SHF_COMPRESSED sections", inflRead(t, gabi), want},
		{"ELF with a .zdebug section", inflRead(t, zdebug), 1 << 40},
		{"ELF whose sizes overflow", inflRead(t, maxed), ^uint64(0)},
		{"plain Mach-O", machoData, 0},
		{"Mach-O with a __zdebug section", machoBomb, 1 << 40},
		{"PE", inflRead(t, filepath.Join(inflIdentDir(t), "pe_x86_64.dll")), 0},
		{"not an object", []byte("hello"), 0},
		{"truncated ELF", inflRead(t, gabi)[:300], 0},
	}
	for _, tc := range tests {
		if got := debugfiles.InflatedSectionBytes(bytes.NewReader(tc.data), int64(len(tc.data))); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// machoZdebug renames the first __debug_* section of a thin Mach-O to its
// __zdebug_* name (same 16-byte field) and writes a ZLIB header declaring
// size into its contents.
func machoZdebug(t *testing.T, data []byte, declared uint64) []byte {
	t.Helper()
	f, err := macho.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range f.Sections {
		if !strings.HasPrefix(s.Name, "__debug_") || len(s.Name) > 14 || s.Size < 12 {
			continue
		}
		out := append([]byte{}, data...)
		var name [16]byte
		copy(name[:], s.Name)
		i := bytes.Index(out, name[:])
		if i < 0 {
			t.Fatalf("section name %q not found", s.Name)
		}
		var zname [16]byte
		copy(zname[:], "__z"+s.Name[2:])
		copy(out[i:], zname[:])
		copy(out[s.Offset:], zlibSection(declared))
		return out
	}
	t.Fatal("no __debug_ section to rename")
	return nil
}

// FuzzInflatedSectionBytes: any input gives a number, never a panic or a
// read past the end.
func FuzzInflatedSectionBytes(f *testing.F) {
	for _, name := range []string{"macho_x86_64.dsym", "macho_fat.dylib", "pe_x86_64.dll", "elf_i386.so"} {
		data := inflRead(f, filepath.Join(inflIdentDir(f), name))
		f.Add(data)
		f.Add(data[:len(data)/3])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		debugfiles.InflatedSectionBytes(bytes.NewReader(data), int64(len(data)))
	})
}
