package symbolizer_test

import (
	"debug/dwarf"
	"debug/macho"
	"debug/pe"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/debugfiles/symbolizer"
	"github.com/stacklens/stacklens/internal/testenv"
)

func identDir(t testing.TB) string {
	return filepath.Join(testenv.RepoRoot(t), "testdata", "native", "ident")
}

// everyAddress returns every byte address of the given ranges plus the
// line-table rows of d (when not nil): the fixtures are small, so the
// probe is exhaustive (function starts, middles and ends included).
func everyAddress(ranges [][2]uint64, d *dwarf.Data) []uint64 {
	set := map[uint64]bool{}
	for _, r := range ranges {
		for a := r[0]; a < r[1]; a++ {
			set[a] = true
		}
	}
	if d != nil {
		rd := d.Reader()
		for {
			e, err := rd.Next()
			if err != nil || e == nil {
				break
			}
			if e.Tag == dwarf.TagCompileUnit {
				if lr, err := d.LineReader(e); err == nil && lr != nil {
					var le dwarf.LineEntry
					for lr.Next(&le) == nil {
						set[le.Address] = true
					}
				}
			}
			rd.SkipChildren()
		}
	}
	out := make([]uint64, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func openSection(t *testing.T, p string, off, size int64, kind debugfiles.Kind) debugfiles.Module {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if size < 0 {
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		size = st.Size()
	}
	m, err := symbolizer.Open(io.NewSectionReader(f, off, size), size, debugfiles.FileMeta{Kind: kind, ObjectName: filepath.Base(p)})
	if err != nil {
		t.Fatalf("Open(%s@%d): %v", p, off, err)
	}
	return m
}

func machoText(t *testing.T, f *macho.File) [][2]uint64 {
	var out [][2]uint64
	for _, s := range f.Sections {
		if s.Seg == "__TEXT" && s.Name == "__text" {
			out = append(out, [2]uint64{s.Addr, s.Addr + s.Size})
		}
	}
	if len(out) == 0 {
		t.Fatal("no __TEXT,__text")
	}
	return out
}

// TestMachOGroundTruth compares Open+Lookup on the Mach-O fixtures of
// testdata/native/ident (clang-14 -O1 -g, ld64.lld; helper is inlined into
// entry) with llvm-symbolizer at every address of __text and every
// line-table row: thin dylibs (symbol table only), each slice of the fat
// dylib (cut out as debugfiles/store does before Open), and the dSYM, which
// llvm-symbolizer reads as the dylib's companion (--dsym-hint) the way a
// crash report is symbolicated.
func TestMachOGroundTruth(t *testing.T) {
	dir := identDir(t)
	// llvm-symbolizer finds a dSYM through a bundle: build one around the
	// committed DWARF file.
	bundle := filepath.Join(t.TempDir(), "macho_x86_64.dylib.dSYM")
	dwarfDir := filepath.Join(bundle, "Contents", "Resources", "DWARF")
	if err := os.MkdirAll(dwarfDir, 0o755); err != nil {
		t.Fatal(err)
	}
	dsymData, err := os.ReadFile(filepath.Join(dir, "macho_x86_64.dsym"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dwarfDir, "macho_x86_64.dylib"), dsymData, 0o644); err != nil {
		t.Fatal(err)
	}

	type slice struct {
		name       string
		file       string // what we open
		off, size  int64
		llvmObj    string
		llvmArgs   []string
		wantDWARF  bool
		wantInline bool
	}
	cases := []slice{
		{name: "x86_64-dylib", file: "macho_x86_64.dylib", size: -1, llvmObj: "macho_x86_64.dylib"},
		{name: "arm64-dylib", file: "macho_arm64.dylib", size: -1, llvmObj: "macho_arm64.dylib"},
		{name: "x86_64-dsym", file: "macho_x86_64.dsym", size: -1, llvmObj: "macho_x86_64.dylib",
			llvmArgs: []string{"--dsym-hint=" + bundle}, wantDWARF: true, wantInline: true},
	}
	ff, err := macho.OpenFat(filepath.Join(dir, "macho_fat.dylib"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range ff.Arches {
		arch := map[macho.Cpu]string{macho.CpuAmd64: "x86_64", macho.CpuArm64: "arm64"}[a.Cpu]
		cases = append(cases, slice{name: "fat-" + arch, file: "macho_fat.dylib", off: int64(a.Offset), size: int64(a.Size),
			llvmObj: "macho_fat.dylib", llvmArgs: []string{"--default-arch=" + arch}})
	}
	ff.Close()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.file)
			mod := openSection(t, p, tc.off, tc.size, debugfiles.KindMachO)
			st, _ := symbolizer.ModuleStats(mod)
			if st.HasDWARF != tc.wantDWARF {
				t.Fatalf("HasDWARF = %v, want %v", st.HasDWARF, tc.wantDWARF)
			}
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			size := tc.size
			if size < 0 {
				fi, _ := f.Stat()
				size = fi.Size()
			}
			mf, err := macho.NewFile(io.NewSectionReader(f, tc.off, size))
			if err != nil {
				t.Fatal(err)
			}
			var d *dwarf.Data
			if tc.wantDWARF {
				if d, err = mf.DWARF(); err != nil {
					t.Fatal(err)
				}
			}
			addrs := everyAddress(machoText(t, mf), d)
			c := compareWithLLVM(t, mod, filepath.Join(dir, tc.llvmObj), addrs, tc.llvmArgs...)
			c.report(t, tc.name)
			if len(c.failures) > 0 || c.rate() < 1 {
				t.Errorf("%d unexplained disagreements, %.2f%% literal", len(c.failures), 100*c.rate())
			}
			inlined := 0
			for _, a := range addrs {
				if locs, err := mod.Lookup(a); err == nil && len(locs) > 1 {
					inlined++
				}
			}
			if c.agree == 0 || (tc.wantInline && inlined == 0) {
				t.Errorf("fixture exercised too little: %d resolved, %d inlined", c.agree, inlined)
			}
		})
	}
}

func peText(t *testing.T, f *pe.File) [][2]uint64 {
	var base uint64
	switch oh := f.OptionalHeader.(type) {
	case *pe.OptionalHeader32:
		base = uint64(oh.ImageBase)
	case *pe.OptionalHeader64:
		base = oh.ImageBase
	}
	var text [][2]uint64
	for _, s := range f.Sections {
		if s.Characteristics&pe.IMAGE_SCN_MEM_EXECUTE != 0 {
			lo := base + uint64(s.VirtualAddress)
			text = append(text, [2]uint64{lo, lo + uint64(s.VirtualSize)})
		}
	}
	if len(text) == 0 {
		t.Fatal("no executable section")
	}
	return text
}

// TestPEGroundTruth compares Open+Lookup on PE images with llvm-symbolizer
// at every address of the code and every line-table row:
//   - images with DWARF and a COFF symbol table, as MinGW toolchains make
//     them (built here from testdata/native/ident/lib.c by clang-14 -O1
//     -gdwarf and lld-link /debug:dwarf, for x86_64, x86 and arm64;
//     helper is inlined into entry);
//   - the committed MSVC-style fixtures (CodeView in a PDB, no symbol
//     table in the image), copied away from their PDB: this package does
//     not read PDBs, and both must agree that nothing is known there
//     rather than invent a name.
func TestPEGroundTruth(t *testing.T) {
	dir := identDir(t)
	tmp := t.TempDir()
	clang, lld := testenv.Tool(t, "clang-14"), testenv.Tool(t, "lld-link-14")
	type peCase struct {
		name      string
		wantDWARF bool
	}
	var cases []peCase
	for _, tg := range []struct{ name, triple string }{
		{"x86_64", "x86_64-pc-windows-msvc"}, {"x86", "i686-pc-windows-msvc"}, {"arm64", "aarch64-pc-windows-msvc"},
	} {
		obj := filepath.Join(tmp, "dw_"+tg.name+".obj")
		run(t, dir, clang, "--target="+tg.triple, "-gdwarf", "-O1", "-c", "lib.c", "-o", obj)
		run(t, tmp, lld, "/nologo", "/dll", "/noentry", "/nodefaultlib", "/debug:dwarf", "/brepro",
			"/out:"+filepath.Join(tmp, "dw_"+tg.name+".dll"), obj)
		cases = append(cases, peCase{name: "dw_" + tg.name + ".dll", wantDWARF: true})
	}
	for _, name := range []string{"pe_x86_64.dll", "pe_x86.dll", "pe_arm64.dll"} {
		// A copy away from its PDB, which llvm-symbolizer would find
		// next to the image.
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, peCase{name: name})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(tmp, tc.name)
			mod := openSection(t, p, 0, -1, debugfiles.KindPE)
			if st, _ := symbolizer.ModuleStats(mod); st.HasDWARF != tc.wantDWARF {
				t.Fatalf("HasDWARF = %v, want %v", st.HasDWARF, tc.wantDWARF)
			}
			f, err := pe.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var d *dwarf.Data
			if tc.wantDWARF {
				if d, err = f.DWARF(); err != nil {
					t.Fatal(err)
				}
			}
			addrs := everyAddress(peText(t, f), d)
			c := compareWithLLVM(t, mod, p, addrs)
			c.report(t, tc.name)
			if len(c.failures) > 0 || c.rate() < 1 {
				t.Errorf("%d unexplained disagreements, %.2f%% literal", len(c.failures), 100*c.rate())
			}
			if tc.wantDWARF {
				inlined := 0
				for _, a := range addrs {
					if locs, err := mod.Lookup(a); err == nil && len(locs) > 1 {
						inlined++
					}
				}
				if c.agree == 0 || inlined == 0 {
					t.Errorf("fixture exercised too little: %d resolved, %d inlined", c.agree, inlined)
				}
			}
		})
	}
}
