package symbolizer_test

import (
	"bytes"
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/debugfiles/symbolizer"
)

// The payload's flags and section numbers (symcache.go), read from the
// outside so that a layout change shows here.
const (
	scFlagDWARF  = 1
	scFlagGoPcln = 1 << 4
	scSecGoPcln  = 12
	scSecGoFunc  = 13
	scSecGoInfo  = 14
)

func scSection(payload []byte, sec int) (off, n int) {
	return int(binary.LittleEndian.Uint64(payload[24+16*sec:])), int(binary.LittleEndian.Uint64(payload[32+16*sec:]))
}

// goFuncProbes returns addresses around every function of a Go 1.20+
// binary, read with debug/gosym (not the code under test): entry-1, entry,
// entry+1, the middle, end-1 and end, plus random .text addresses. It works
// on fully stripped binaries too, which have no symbol table.
func goFuncProbes(t testing.TB, bin string, random int, seed int64) []uint64 {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcln, err := f.Section(".gopclntab").Data()
	if err != nil {
		t.Fatal(err)
	}
	text := f.Section(".text")
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(pcln, text.Addr))
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Funcs) < 100 {
		t.Fatalf("debug/gosym finds only %d functions", len(tab.Funcs))
	}
	set := map[uint64]bool{}
	for _, fn := range tab.Funcs {
		for _, a := range []uint64{fn.Entry - 1, fn.Entry, fn.Entry + 1, (fn.Entry + fn.End) / 2, fn.End - 1, fn.End} {
			set[a] = true
		}
	}
	rng := rand.New(rand.NewSource(seed))
	for range random {
		set[text.Addr+uint64(rng.Int63n(int64(text.Size)))] = true
	}
	out := make([]uint64, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// inlinedAnswers counts the addresses mod answers with more than one level.
func inlinedAnswers(mod debugfiles.Module, addrs []uint64) int {
	n := 0
	for _, a := range addrs {
		if locs, err := mod.Lookup(a); err == nil && len(locs) > 1 {
			n++
		}
	}
	return n
}

// TestSymcacheGoPclntab: a Go binary without DWARF (-w, or -s -w), which
// Open answers from .gopclntab, round-trips through a symcache: the
// decoded module (in place, and from a misaligned payload, which copies)
// answers every probe exactly as Open's, inline levels included, and
// re-encodes to the same bytes.
func TestSymcacheGoPclntab(t *testing.T) {
	for _, name := range []string{"go-nodwarf", "go-stripped", "gocrash-nodwarf", "gocrash-stripped"} {
		t.Run(name, func(t *testing.T) {
			bin := fixture(t, name)
			mod, payload := encodeSymcache(t, bin)
			if st, _ := symbolizer.ModuleStats(mod); st.HasDWARF || !st.HasGoPCLN {
				t.Fatalf("stats %+v: want a pclntab module", st)
			}
			if flags := binary.LittleEndian.Uint32(payload[12:]); flags != scFlagGoPcln {
				t.Errorf("flags %#x, want %#x (pclntab, no DWARF)", flags, scFlagGoPcln)
			}
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			pcln, _ := f.Section(".gopclntab").Data()
			f.Close()
			if off, n := scSection(payload, scSecGoPcln); !bytes.Equal(payload[off:off+n], pcln) {
				t.Errorf("the goPcln section (%d bytes) is not the binary's .gopclntab (%d bytes)", n, len(pcln))
			}
			// Go 1.22+ puts go:func.* inside .gopclntab: stored once.
			if _, n := scSection(payload, scSecGoFunc); n != 0 {
				t.Errorf("gofunc stored apart (%d bytes), want an offset into goPcln", n)
			}
			off, _ := scSection(payload, scSecGoInfo)
			if at := binary.LittleEndian.Uint64(payload[off+8:]); at == 0 || at >= uint64(len(pcln)) {
				t.Errorf("gofunc offset %#x, want inside the %d-byte pclntab", at, len(pcln))
			}

			addrs := goFuncProbes(t, bin, 3000, 7)
			wantInlined := inlinedAnswers(mod, addrs)
			if wantInlined == 0 {
				t.Fatalf("no probe of %s answers with inline levels: the inline tree goes untested", name)
			}
			for _, offset := range []int{0, 1} {
				sc, err := symbolizer.DecodeSymcache(aligned(payload, offset))
				if err != nil {
					t.Fatalf("DecodeSymcache (offset %d): %v", offset, err)
				}
				sameAnswers(t, mod, sc, addrs, true)
				if got := inlinedAnswers(sc, addrs); got != wantInlined {
					t.Errorf("decoded: %d inlined answers, Open's module %d", got, wantInlined)
				}
				var again bytes.Buffer
				if err := symbolizer.EncodeSymcache(&again, sc); err != nil || !bytes.Equal(again.Bytes(), payload) {
					t.Errorf("re-encoding the decoded module differs (err %v)", err)
				}
			}
		})
	}
}

// TestSymcacheGoPclntabLarge: cmd/compile built with -w. The symcache is
// the pclntab plus the symbol table, well under half the binary; decoding
// it maps it in place (a small heap, no parse), and it answers like Open.
func TestSymcacheGoPclntabLarge(t *testing.T) {
	bin := fixture(t, "go-big-nodwarf")
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	openStart := time.Now()
	mod := openFile(t, bin)
	openTime := time.Since(openStart)
	var buf bytes.Buffer
	if err := symbolizer.EncodeSymcache(&buf, mod); err != nil {
		t.Fatal(err)
	}
	payload := buf.Bytes()
	if len(payload) > int(st.Size())/2 {
		t.Errorf("symcache of %d bytes for a %d-byte binary, want under half", len(payload), st.Size())
	}
	data := aligned(payload, 0)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	decodeStart := time.Now()
	sc, err := symbolizer.DecodeSymcache(data)
	decodeTime := time.Since(decodeStart)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("binary %.1f MB, symcache %.1f MB; Open %v, Decode %v; decoded heap %d KB (RetainedBytes %d KB)",
		float64(st.Size())/1e6, float64(len(payload))/1e6, openTime, decodeTime, heap>>10, sc.RetainedBytes()>>10)
	if heap > int64(len(payload))/8 || sc.RetainedBytes() > int64(len(payload))/8 {
		t.Errorf("decoding in place took %d bytes of heap (reports %d) for a %d-byte payload", heap, sc.RetainedBytes(), len(payload))
	}
	all := goFuncProbes(t, bin, 20000, 11)
	rng := rand.New(rand.NewSource(3))
	addrs := make([]uint64, 0, 40000)
	for _, a := range all {
		if rng.Intn(len(all)/30000+1) == 0 {
			addrs = append(addrs, a)
		}
	}
	if inlinedAnswers(sc, addrs) == 0 {
		t.Error("no probe answers with inline levels")
	}
	sameAnswers(t, mod, sc, addrs, true)
	runtime.KeepAlive(data)
}

// checkGoDecode decodes a damaged pclntab payload: an error wraps
// ErrMalformed; a module answers every probe with locations, ErrNoSymbol
// or ErrMalformed, never a panic.
func checkGoDecode(t *testing.T, data []byte, probes []uint64) error {
	t.Helper()
	sc, err := symbolizer.DecodeSymcache(aligned(data, 0))
	if err != nil {
		if !errors.Is(err, debugfiles.ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		return err
	}
	for _, a := range probes {
		if _, err := sc.Lookup(a); err != nil && !errors.Is(err, debugfiles.ErrNoSymbol) && !errors.Is(err, debugfiles.ErrMalformed) {
			t.Fatalf("Lookup(%#x): %v", a, err)
		}
	}
	return nil
}

// TestSymcacheGoCorrupt: damaged pclntab payloads (truncations, bit flips
// over the whole payload and concentrated on the table's header and
// function table, forged pclntab sections and info fields) are rejected or
// answer without panicking; forgeries of what DecodeSymcache checks are
// rejected.
func TestSymcacheGoCorrupt(t *testing.T) {
	bin := fixture(t, "gocrash-stripped")
	_, payload := encodeSymcache(t, bin)
	all := goFuncProbes(t, bin, 200, 9)
	probes := make([]uint64, 0, 600)
	for i := 0; i < len(all); i += len(all)/500 + 1 {
		probes = append(probes, all[i])
	}
	if err := checkGoDecode(t, payload, probes); err != nil {
		t.Fatalf("intact payload: %v", err)
	}
	pclnOff, pclnLen := scSection(payload, scSecGoPcln)
	infoOff, _ := scSection(payload, scSecGoInfo)
	mutate := func(f func(b []byte)) []byte { b := bytes.Clone(payload); f(b); return b }
	put64 := func(off int, v uint64) []byte {
		return mutate(func(b []byte) { binary.LittleEndian.PutUint64(b[off:], v) })
	}
	mustReject := map[string][]byte{
		"no pclntab flag": mutate(func(b []byte) { b[12] &^= scFlagGoPcln }),
		"pclntab magic":   mutate(func(b []byte) { b[pclnOff] ^= 1 }),
		"pclntab pad":     mutate(func(b []byte) { b[pclnOff+4] = 1 }),
		"pclntab quantum": mutate(func(b []byte) { b[pclnOff+6] = 0 }),
		"pointer size":    mutate(func(b []byte) { b[pclnOff+7] = 5 }),
		"nfunc":           put64(pclnOff+8, uint64(pclnLen)),
		"funcnametab":     put64(pclnOff+8+3*8, uint64(pclnLen)+1),
		"pclntable":       put64(pclnOff+8+7*8, uint64(pclnLen)+1),
		"gofunc offset":   put64(infoOff+8, uint64(pclnLen)),
		"gofunc both":     put64(24+16*scSecGoFunc+8, 8),
		"wrapper flag":    mutate(func(b []byte) { b[infoOff+23] = 2 }),
		"info length":     put64(24+16*scSecGoInfo+8, 16),
		"pclntab length":  put64(24+16*scSecGoPcln+8, 40),
		"pclntab offset":  put64(24+16*scSecGoPcln, uint64(len(payload))),
	}
	for name, data := range mustReject {
		if err := checkGoDecode(t, data, probes); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	cases := map[string][]byte{
		// Any runtime.text, gofunc offset or function IDs: answers change,
		// reads stay in bounds.
		"DWARF flag":    mutate(func(b []byte) { b[12] |= scFlagDWARF }),
		"text 0":        put64(infoOff, 0),
		"text max":      put64(infoOff, ^uint64(0)-0x1000),
		"gofunc at 0":   put64(infoOff+8, 0),
		"gofunc at end": put64(infoOff+8, uint64(pclnLen-1)),
		"gofunc none":   put64(infoOff+8, ^uint64(0)),
		"function IDs":  put64(infoOff+16, 0x0102_0304_0506_0708),
	}
	for n := 0; n < len(payload); n += len(payload)/97 + 1 {
		cases[fmt.Sprintf("truncated at %d", n)] = payload[:n]
	}
	rng := rand.New(rand.NewSource(5))
	for i := range 300 {
		pos, bit := rng.Intn(len(payload)), rng.Intn(8)
		cases[fmt.Sprintf("flip %d.%d", pos, bit)] = mutate(func(b []byte) { b[pos] ^= 1 << bit })
		// The table's header, function table and first records.
		pos = pclnOff + rng.Intn(min(pclnLen, 64<<10))
		cases[fmt.Sprintf("pclntab flip %d.%d (%d)", pos, bit, i)] = mutate(func(b []byte) { b[pos] ^= 1 << bit })
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) { checkGoDecode(t, data, probes) })
	}
}
