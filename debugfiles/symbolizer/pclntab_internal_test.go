package symbolizer

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/internal/testenv"
)

// buildGocrash builds testdata/native/gocrash with -ldflags=-s -w.
func buildGocrash(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "gocrash")
	cmd := exec.Command(testenv.Tool(t, "go"), "build", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = filepath.Join(testenv.RepoRoot(t), "testdata", "native", "gocrash")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func openGoModule(t *testing.T, p string) *module {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	mod, err := Open(f, st.Size(), debugfiles.FileMeta{Kind: debugfiles.KindELF})
	if err != nil {
		t.Fatal(err)
	}
	m := mod.(*module)
	if m.gotab == nil || m.gotab.pcln == nil {
		t.Fatal("no Go 1.20+ pclntab decoded")
	}
	return m
}

// TestPclnTabWithoutInlineTree checks the fallback for a stripped binary
// whose moduledata (and so the inline trees) cannot be found: inside
// inlined code the physical function is reported alone, without the
// inlined code's file:line (which would pair a function with another
// function's line); elsewhere the answer is unchanged.
func TestPclnTabWithoutInlineTree(t *testing.T) {
	m := openGoModule(t, buildGocrash(t))
	full := m.gotab.pcln
	if full.gofunc == nil {
		t.Fatal("moduledata not found in the stripped binary")
	}
	reduced := *full
	reduced.gofunc = nil
	inlinedPCs, plainPCs := 0, 0
	for i := uint32(0); i < full.nfunc; i++ {
		f, err := full.funcAt(i)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(full.funcName(f.nameOff), "main.") {
			continue
		}
		for pc := f.entry; pc < f.end; pc++ {
			want, err1 := full.lookup(pc)
			got, err2 := reduced.lookup(pc)
			if err1 != nil || err2 != nil {
				t.Fatalf("pc 0x%x: %v / %v", pc, err1, err2)
			}
			if len(want) > 1 {
				inlinedPCs++
				if len(got) != 1 || got[0].Function != want[0].Function || got[0].File != "" || got[0].Line != 0 {
					t.Errorf("pc 0x%x: without the tree %+v, want %s alone", pc, got, want[0].Function)
				}
				continue
			}
			plainPCs++
			if len(got) != 1 || got[0] != want[0] {
				t.Errorf("pc 0x%x: %+v, want %+v", pc, got, want)
			}
		}
	}
	if inlinedPCs == 0 || plainPCs == 0 {
		t.Fatalf("exercised %d inlined and %d plain PCs", inlinedPCs, plainPCs)
	}
}

func gocrashPclntab(t testing.TB) (data []byte, text uint64) {
	t.Helper()
	f, err := elf.Open(buildGocrash(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := f.Section(".gopclntab")
	if s == nil {
		t.Fatal("no .gopclntab")
	}
	if data, err = s.Data(); err != nil {
		t.Fatal(err)
	}
	return data, f.Section(".text").Addr
}

// checkPcln decodes a (possibly damaged) pclntab: it must give a table or
// an error, and lookups must give locations or wrapped errors, never panic
// or loop.
func checkPcln(t *testing.T, data []byte, text uint64) {
	tab, err := newPclnTab(data, text)
	if err != nil {
		return
	}
	tab.gofunc = data // any bytes: inline records are read from them bounded
	tab.learnFuncIDs()
	for pc := text; pc < text+0x20000; pc += 0x7f1 {
		if _, err := tab.lookup(pc); err != nil && !errors.Is(err, debugfiles.ErrNoSymbol) && !errors.Is(err, debugfiles.ErrMalformed) {
			t.Fatalf("lookup(0x%x): %v", pc, err)
		}
	}
}

// TestPclnTabCorrupted flips bytes over the header, the function table and
// the first records, and truncates the table on a grid.
func TestPclnTabCorrupted(t *testing.T) {
	data, text := gocrashPclntab(t)
	for off := 0; off < 4096 && off < len(data); off += 11 {
		for _, v := range []byte{0x00, 0xff} {
			mut := bytes.Clone(data)
			mut[off] = v
			checkPcln(t, mut, text)
		}
	}
	for n := 0; n < len(data); n += len(data)/50 + 1 {
		checkPcln(t, data[:n], text)
	}
}

func FuzzPclnTab(f *testing.F) {
	data, text := gocrashPclntab(f)
	f.Add(data[:8192])
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkPcln(t, data, text)
	})
}
