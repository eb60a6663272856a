package debugfiles_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/internal/testenv"
)

// identFixtures returns the committed fixtures built by
// testdata/native/ident/build.sh (Mach-O, PE, PDB, cross-arch ELF).
func identFixtures(t testing.TB) []string {
	t.Helper()
	dir := filepath.Join(testenv.RepoRoot(t), "testdata", "native", "ident")
	var out []string
	for _, pat := range []string{"macho_*", "pe_*", "elf_*", "*.sym"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	if len(out) < 14 {
		t.Fatalf("expected the committed fixtures in %s, found %d", dir, len(out))
	}
	return out
}

const identSource = `#include <stdio.h>
static int square(int x) { return x * x; }
int compute(int n) { int s = 0; for (int i = 0; i < n; i++) s += square(i); return s; }
int main(int argc, char **argv) { printf("%d\n", compute(argc + 3)); return 0; }
`

var (
	elfOnce  sync.Once
	elfFiles map[string]string
	elfErr   error
)

// gccELFs builds, once per test binary, the ELF variants a Linux build
// produces: with and without DWARF, stripped, the --only-keep-debug
// companion, compressed DWARF (SHF_COMPRESSED and legacy .zdebug) and no
// build-id at all.
func gccELFs(t testing.TB) map[string]string {
	t.Helper()
	gcc := testenv.Tool(t, "gcc")
	objcopy := testenv.Tool(t, "objcopy")
	strip := testenv.Tool(t, "strip")
	elfOnce.Do(func() {
		dir, err := os.MkdirTemp("", "stacklens-ident-")
		if err != nil {
			elfErr = err
			return
		}
		src := filepath.Join(dir, "prog.c")
		if elfErr = os.WriteFile(src, []byte(identSource), 0o644); elfErr != nil {
			return
		}
		p := func(n string) string { return filepath.Join(dir, n) }
		steps := [][]string{
			{gcc, "-g", "-O2", src, "-o", p("debug")},
			{gcc, "-O2", src, "-o", p("nodebug")},
			{gcc, "-g", "-O2", "-Wl,--build-id=none", src, "-o", p("nobuildid")},
			{gcc, "-g", "-O2", "-gz=zlib", src, "-o", p("gz")},
			{gcc, "-g", "-O2", "-gz=zlib-gnu", src, "-o", p("zdebug")},
			{gcc, "-g", "-O2", "-shared", "-fPIC", src, "-o", p("lib.so")},
			{objcopy, "--only-keep-debug", p("debug"), p("debug.debug")},
			{strip, "-o", p("stripped"), p("debug")},
		}
		for _, s := range steps {
			if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
				// Old binutils lack zlib-gnu; that variant is optional.
				if strings.Contains(strings.Join(s, " "), "zlib-gnu") {
					continue
				}
				elfErr = errors.New(strings.Join(s, " ") + ": " + string(out))
				return
			}
		}
		elfFiles = map[string]string{}
		for _, n := range []string{"debug", "nodebug", "nobuildid", "gz", "zdebug", "lib.so", "debug.debug", "stripped"} {
			if _, err := os.Stat(p(n)); err == nil {
				elfFiles[n] = p(n)
			}
		}
	})
	if elfErr != nil {
		t.Fatal(elfErr)
	}
	return elfFiles
}

func identifyFile(t *testing.T, path string) []debugfiles.FileMeta {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	metas, err := debugfiles.Identify(f, st.Size())
	if err != nil {
		t.Fatalf("Identify(%s): %v", filepath.Base(path), err)
	}
	return metas
}

type sentryCheck struct {
	Type     string `json:"type"`
	Variants []struct {
		DebugID string  `json:"debug_id"`
		CodeID  *string `json:"code_id"`
		Arch    string  `json:"arch"`
	} `json:"variants"`
	Features string `json:"features"`
}

// TestIdentifyMatchesSentryCLI checks every id, arch and feature against
// sentry-cli (symbolic), the reference implementation of these rules.
func TestIdentifyMatchesSentryCLI(t *testing.T) {
	cli := testenv.NodeBin(t, "sentry-cli")
	files := identFixtures(t)
	for _, p := range gccELFs(t) {
		files = append(files, p)
	}
	sort.Strings(files)
	kindOf := map[string]debugfiles.Kind{"elf": debugfiles.KindELF, "dsym": debugfiles.KindMachO,
		"pe": debugfiles.KindPE, "pdb": debugfiles.KindPDB, "breakpad": debugfiles.KindBreakpad}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			out, err := exec.Command(cli, "debug-files", "check", "--json", path).Output()
			if err != nil {
				t.Fatalf("sentry-cli: %v", err)
			}
			var want sentryCheck
			if err := json.Unmarshal(out, &want); err != nil {
				t.Fatalf("sentry-cli output %q: %v", out, err)
			}
			got := identifyFile(t, path)
			if len(got) != len(want.Variants) {
				t.Fatalf("%d variants, sentry-cli reports %d", len(got), len(want.Variants))
			}
			var features []string
			for i, v := range want.Variants {
				g := got[i]
				code := ""
				if v.CodeID != nil {
					code = *v.CodeID
				}
				if g.DebugID != v.DebugID || g.CodeID != code || g.Arch != v.Arch || g.Kind != kindOf[want.Type] {
					t.Errorf("variant %d: got %s/%s/%s/%s, sentry-cli %s/%s/%s/%s", i,
						g.Kind, g.DebugID, g.CodeID, g.Arch, want.Type, v.DebugID, code, v.Arch)
				}
				for _, f := range g.Features {
					if !slices.Contains(features, f) {
						features = append(features, f)
					}
				}
			}
			// sentry-cli prints the union of the variants' features.
			var wantFeatures []string
			for _, f := range strings.Split(want.Features, ",") {
				if f = strings.TrimSpace(f); f != "" {
					wantFeatures = append(wantFeatures, f)
				}
			}
			sort.Strings(features)
			sort.Strings(wantFeatures)
			if !slices.Equal(features, wantFeatures) {
				t.Errorf("features %v, sentry-cli %v", features, wantFeatures)
			}
		})
	}
}

// swapFirstFields applies the documented GUID rule to a hex build-id.
func swapFirstFields(h string) string {
	rev := func(s string) string {
		var b strings.Builder
		for i := len(s) - 2; i >= 0; i -= 2 {
			b.WriteString(s[i : i+2])
		}
		return b.String()
	}
	h = (h + strings.Repeat("0", 32))[:32]
	return rev(h[0:8]) + "-" + rev(h[8:12]) + "-" + rev(h[12:16]) + "-" + h[16:20] + "-" + h[20:32]
}

// TestIdentifyELFBuildIDMatchesReadelf takes the build-id from binutils and
// derives the debug_id by the documented rule.
func TestIdentifyELFBuildIDMatchesReadelf(t *testing.T) {
	readelf := testenv.Tool(t, "readelf")
	buildID := regexp.MustCompile(`Build ID: ([0-9a-f]+)`)
	elfs := gccELFs(t)
	for name, path := range elfs {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(readelf, "-n", path).Output()
			if err != nil {
				t.Fatal(err)
			}
			got := identifyFile(t, path)[0]
			m := buildID.FindSubmatch(out)
			if name == "nobuildid" {
				if m != nil || got.CodeID != "" {
					t.Fatalf("readelf build-id %q, code_id %q: want neither", m, got.CodeID)
				}
				return
			}
			if m == nil {
				t.Fatalf("readelf shows no build-id:\n%s", out)
			}
			if got.CodeID != string(m[1]) {
				t.Errorf("code_id %s, readelf build-id %s", got.CodeID, m[1])
			}
			if want := swapFirstFields(string(m[1])); got.DebugID != want {
				t.Errorf("debug_id %s, want %s", got.DebugID, want)
			}
		})
	}
	// A binary, its stripped copy and its debug companion share the ids.
	ids := map[string]bool{}
	for _, n := range []string{"debug", "stripped", "debug.debug"} {
		ids[identifyFile(t, elfs[n])[0].DebugID] = true
	}
	if len(ids) != 1 {
		t.Errorf("binary, stripped binary and debug companion have ids %v", ids)
	}
}

// TestIdentifyMachOUUIDMatchesDwarfdump compares every architecture's
// LC_UUID with llvm-dwarfdump --uuid.
func TestIdentifyMachOUUIDMatchesDwarfdump(t *testing.T) {
	dwarfdump := testenv.Tool(t, "llvm-dwarfdump")
	line := regexp.MustCompile(`UUID: ([0-9A-F-]{36}) \(([^)]+)\)`)
	for _, path := range identFixtures(t) {
		if !strings.Contains(filepath.Base(path), "macho_") {
			continue
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			out, err := exec.Command(dwarfdump, "--uuid", path).Output()
			if err != nil {
				t.Fatal(err)
			}
			ms := line.FindAllSubmatch(out, -1)
			got := identifyFile(t, path)
			if len(ms) == 0 || len(ms) != len(got) {
				t.Fatalf("llvm-dwarfdump lists %d UUIDs, Identify %d:\n%s", len(ms), len(got), out)
			}
			for i, m := range ms {
				uuid := strings.ToLower(string(m[1]))
				if got[i].DebugID != uuid || got[i].CodeID != strings.ReplaceAll(uuid, "-", "") || got[i].Arch != string(m[2]) {
					t.Errorf("arch %d: got %s %s %s, llvm-dwarfdump %s (%s)", i, got[i].DebugID, got[i].CodeID, got[i].Arch, uuid, m[2])
				}
			}
		})
	}
}

// TestIdentifyPEMatchesReadobj checks code_id and debug_id against the PE
// headers and CodeView record as llvm-readobj decodes them.
func TestIdentifyPEMatchesReadobj(t *testing.T) {
	readobj := testenv.Tool(t, "llvm-readobj")
	stamp := regexp.MustCompile(`(?m)^\s*TimeDateStamp: .*\(0x([0-9A-F]+)\)`)
	sizeOfImage := regexp.MustCompile(`SizeOfImage: (\d+)`)
	guid := regexp.MustCompile(`PDBGUID: \(([0-9A-F ]+)\)`)
	age := regexp.MustCompile(`PDBAge: (\d+)`)
	for _, path := range identFixtures(t) {
		if !strings.HasSuffix(path, ".dll") {
			continue
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			out, err := exec.Command(readobj, "--file-headers", "--coff-debug-directory", path).Output()
			if err != nil {
				t.Fatal(err)
			}
			s, sz, g, a := stamp.FindSubmatch(out), sizeOfImage.FindSubmatch(out), guid.FindSubmatch(out), age.FindSubmatch(out)
			if s == nil || sz == nil || g == nil || a == nil {
				t.Fatalf("unexpected llvm-readobj output:\n%s", out)
			}
			var n, ageN uint64
			for _, c := range string(sz[1]) {
				n = n*10 + uint64(c-'0')
			}
			for _, c := range string(a[1]) {
				ageN = ageN*10 + uint64(c-'0')
			}
			wantCode := strings.ToLower(strings.Repeat("0", 8-len(s[1]))+string(s[1])) + strings.ToLower(strconvHex(n))
			raw := strings.ToLower(strings.ReplaceAll(string(g[1]), " ", ""))
			wantDebug := swapFirstFields(raw)
			if ageN != 0 {
				wantDebug += "-" + strconvHex(ageN)
			}
			got := identifyFile(t, path)[0]
			if got.CodeID != wantCode || got.DebugID != wantDebug {
				t.Errorf("got %s %s, llvm-readobj gives %s %s", got.CodeID, got.DebugID, wantCode, wantDebug)
			}
		})
	}
}

func strconvHex(n uint64) string {
	const digits = "0123456789abcdef"
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n >>= 4 {
		b = append([]byte{digits[n&15]}, b...)
	}
	return string(b)
}

// TestIdentifyPDBMatchesPdbutil checks GUID and age against llvm-pdbutil,
// and that each PDB carries the debug_id its DLL points at.
func TestIdentifyPDBMatchesPdbutil(t *testing.T) {
	pdbutil := testenv.Tool(t, "llvm-pdbutil")
	guid := regexp.MustCompile(`GUID: \{([0-9A-F-]+)\}`)
	age := regexp.MustCompile(`Age: (\d+)`)
	for _, path := range identFixtures(t) {
		if !strings.HasSuffix(path, ".pdb") {
			continue
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			out, err := exec.Command(pdbutil, "dump", "--summary", path).Output()
			if err != nil {
				t.Fatal(err)
			}
			g, a := guid.FindSubmatch(out), age.FindSubmatch(out)
			if g == nil || a == nil {
				t.Fatalf("unexpected llvm-pdbutil output:\n%s", out)
			}
			want := strings.ToLower(string(g[1]))
			if string(a[1]) != "0" {
				want += "-" + string(a[1]) // single-digit ages in these fixtures
			}
			got := identifyFile(t, path)[0]
			if got.DebugID != want {
				t.Errorf("debug_id %s, llvm-pdbutil %s", got.DebugID, want)
			}
			dll := identifyFile(t, strings.TrimSuffix(path, ".pdb")+".dll")[0]
			if dll.DebugID != got.DebugID {
				t.Errorf("DLL points at %s, PDB is %s", dll.DebugID, got.DebugID)
			}
		})
	}
}

// TestIdentifyRejectsBadInput feeds garbage and every prefix of real files:
// each must identify or fail with ErrInvalidInput, never panic.
func TestIdentifyRejectsBadInput(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":      {},
		"text":       []byte("hello world\n"),
		"zip":        []byte("PK\x03\x04rest"),
		"elf magic":  []byte("\x7fELF"),
		"MZ only":    []byte("MZ"),
		"java class": {0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 0x34},
		"msf magic":  []byte("Microsoft C/C++ MSF 7.00\r\n\x1aDS\x00\x00\x00"),
		"module":     []byte("MODULE Linux x86_64 nothex a\n"),
	} {
		_, err := debugfiles.Identify(bytes.NewReader(data), int64(len(data)))
		if !errors.Is(err, debugfiles.ErrInvalidInput) {
			t.Errorf("%s: err %v, want ErrInvalidInput", name, err)
		}
	}
	for _, path := range identFixtures(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		step := max(1, len(data)/97)
		for n := 0; n < len(data); n += step {
			if _, err := debugfiles.Identify(bytes.NewReader(data[:n]), int64(n)); err != nil && !errors.Is(err, debugfiles.ErrInvalidInput) {
				t.Errorf("%s[:%d]: %v does not wrap ErrInvalidInput", filepath.Base(path), n, err)
			}
		}
	}
}

func TestNormalizeDebugID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"1560CBC5-2654-FC81-BC4B-1D9E3C7A0F22", "1560cbc5-2654-fc81-bc4b-1d9e3c7a0f22"},
		{"1560cbc52654fc81bc4b1d9e3c7a0f22", "1560cbc5-2654-fc81-bc4b-1d9e3c7a0f22"},
		{"1560CBC52654FC81BC4B1D9E3C7A0F220", "1560cbc5-2654-fc81-bc4b-1d9e3c7a0f22"},
		{"C0BCC3F19827FE653058404B2831D9E61", "c0bcc3f1-9827-fe65-3058-404b2831d9e6-1"},
		{"c0bcc3f1-9827-fe65-3058-404b2831d9e6-1a", "c0bcc3f1-9827-fe65-3058-404b2831d9e6-1a"},
		{"{c0bcc3f1-9827-fe65-3058-404b2831d9e6}", "c0bcc3f1-9827-fe65-3058-404b2831d9e6"},
		{"not-an-id", ""},
		{"c0bcc3f1-9827-fe65-3058-404b2831d9eZ", ""},
	} {
		got, err := debugfiles.NormalizeDebugID(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("NormalizeDebugID(%q) = %q, want error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeDebugID(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if got := debugfiles.NormalizeCodeID("5AB38077-9000"); got != "5ab380779000" {
		t.Errorf("NormalizeCodeID = %q", got)
	}
}
