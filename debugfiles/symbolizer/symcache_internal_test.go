package symbolizer

import (
	"bytes"
	"debug/gosym"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"slices"
	"sort"
	"testing"
	"unsafe"

	"github.com/stacklens/stacklens/debugfiles"
)

// lastAtOrBelow is find's specification, by plain binary search.
func lastAtOrBelow(addrs []uint64, a uint64) int {
	return sort.Search(len(addrs), func(i int) bool { return addrs[i] > a }) - 1
}

func identity(a *uint64) uint64 { return *a }

// probesAround: every element, its neighbours, the extremes and addresses
// past the 32-bit range of the array.
func probesAround(addrs []uint64, rng *rand.Rand) []uint64 {
	probes := []uint64{0, 1, math.MaxUint64, math.MaxUint64 - 1}
	for _, a := range addrs {
		probes = append(probes, a, a-1, a+1)
	}
	if n := len(addrs); n > 0 {
		lo, hi := addrs[0], addrs[n-1]
		probes = append(probes, lo-1, hi+1, lo+math.MaxUint32, lo+math.MaxUint32+1, lo+1<<33, hi+1<<32, hi+1<<40)
		for range 200 {
			probes = append(probes, lo+uint64(rng.Int63n(int64(hi-lo)+1)))
		}
	}
	return probes
}

// checkFind compares x.find with the specification on every probe.
func checkFind(t *testing.T, name string, x addrIndex, addrs []uint64, probes []uint64) {
	t.Helper()
	if x.len() != len(addrs) {
		t.Fatalf("%s: len %d, want %d", name, x.len(), len(addrs))
	}
	bad := 0
	for _, a := range probes {
		if got, want := x.find(a), lastAtOrBelow(addrs, a); got != want {
			if bad++; bad <= 5 {
				t.Errorf("%s: find(%#x) = %d, want %d", name, a, got, want)
			}
		}
	}
}

// TestAddrIndexLayouts: the uint32-offset and uint64 layouts answer find
// exactly as a plain binary search does, over random sorted arrays with
// runs of duplicates, at and around every element, below the base and far
// above the last address.
func TestAddrIndexLayouts(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	bases := []uint64{0, 1, 0x400000, 0x7fff_0000_0000, math.MaxUint64 - math.MaxUint32}
	for _, n := range []int{0, 1, 2, 63, 64, 65, 127, 128, 129, 1000, 4097} {
		for _, base := range bases {
			for _, span := range []uint64{1, 100, 1 << 20, math.MaxUint32} {
				addrs := make([]uint64, n)
				for i := range addrs {
					addrs[i] = base + uint64(rng.Int63n(int64(span)+1))
				}
				// Runs of duplicates, as several rows at one address have.
				for i := 1; i < n; i++ {
					if rng.Intn(4) == 0 {
						addrs[i] = addrs[i-1]
					}
				}
				slices.Sort(addrs)
				if n > 0 {
					addrs[0] = base // the span's ends are in the array
					if n > 1 {
						addrs[n-1] = base + span
					}
				}
				name := fmt.Sprintf("n=%d base=%#x span=%#x", n, base, span)
				narrow := newAddrIndex(addrs, identity)
				if narrow.wide || len(narrow.addrs64) != 0 {
					t.Fatalf("%s: built the 64-bit layout for a span that fits", name)
				}
				wide := newAddrIndex64(slices.Clone(addrs))
				if !wide.wide || len(wide.addrs32) != 0 {
					t.Fatalf("%s: newAddrIndex64 built the 32-bit layout", name)
				}
				if !reflect.DeepEqual(narrow.tops, wide.tops) {
					t.Fatalf("%s: tops differ", name)
				}
				probes := probesAround(addrs, rng)
				checkFind(t, name+" 32-bit", narrow, addrs, probes)
				checkFind(t, name+" 64-bit", wide, addrs, probes)
			}
		}
	}
}

// TestAddrIndexWideSpan: addresses spanning more than 2^32 get the 64-bit
// layout from newAddrIndex, which still finds every one.
func TestAddrIndexWideSpan(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for _, n := range []int{2, 65, 3000} {
		addrs := make([]uint64, n)
		for i := range addrs {
			addrs[i] = 0x1000 + uint64(rng.Int63n(1<<36))
		}
		slices.Sort(addrs)
		addrs[0], addrs[n-1] = 0x1000, max(addrs[n-1], 0x1000+math.MaxUint32+1)
		x := newAddrIndex(addrs, identity)
		if !x.wide || len(x.addrs32) != 0 {
			t.Fatalf("n=%d: span %#x > 2^32-1 built the 32-bit layout", n, addrs[n-1]-addrs[0])
		}
		checkFind(t, fmt.Sprintf("n=%d wide span", n), x, addrs, probesAround(addrs, rng))
	}
}

// TestRowTableLayouts: packed rows give back exactly the rowData they were
// packed from; a row whose file and line need more than 31 bits together
// keeps the 8-byte layout.
func TestRowTableLayouts(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, c := range []struct {
		maxFile, maxLine uint32
		wide             bool
	}{
		{0, 0, false}, {1, 1, false}, {3000, 40000, false}, {1<<15 - 1, 1<<16 - 1, false},
		{0, 1<<31 - 1, false}, {1<<31 - 1, 0, false},
		{1, 1<<31 - 1, true}, {1 << 15, 1 << 16, true}, {5, math.MaxUint32, true},
	} {
		name := fmt.Sprintf("maxFile=%d maxLine=%d", c.maxFile, c.maxLine)
		rows := make([]rowData, 500)
		for i := range rows {
			rows[i] = rowData{file: uint32(rng.Int63n(int64(c.maxFile) + 1)), line: uint32(rng.Int63n(int64(c.maxLine) + 1))}
			if rng.Intn(5) == 0 {
				rows[i].file |= rowEnd
			}
		}
		rows[0] = rowData{file: c.maxFile, line: c.maxLine}
		rows[1] = rowData{file: c.maxFile | rowEnd, line: c.maxLine}
		tab := packRows(slices.Clone(rows))
		if tab.isWide != c.wide {
			t.Errorf("%s: wide layout %v, want %v", name, tab.isWide, c.wide)
		}
		if tab.len() != len(rows) {
			t.Fatalf("%s: %d rows, want %d", name, tab.len(), len(rows))
		}
		for i, want := range rows {
			if got := tab.at(i); got != want {
				t.Fatalf("%s: row %d = %+v, want %+v", name, i, got, want)
			}
			if tab.isEnd(i) != (want.file&rowEnd != 0) {
				t.Fatalf("%s: row %d isEnd %v", name, i, tab.isEnd(i))
			}
		}
	}
}

// handModule builds a small module by hand: two sequences of line rows
// (the second at hi), an inline call and a symbol. A line that needs 32
// bits forces the 8-byte rows; hi more than 4 GiB above the first address
// forces 64-bit address arrays.
func handModule(bigLine uint32, hi uint64) *module {
	m := &module{meta: debugfiles.FileMeta{Kind: debugfiles.KindELF, ObjectName: "hand"}, loadAddr: 0x1000}
	outer, inner, far := m.names.intern("outer"), m.names.intern("inner"), m.names.intern("_Z3farv")
	m.symbols = symbolIndex{syms: []symbol{{addr: 0x1000, end: 0x1040, name: outer}, {addr: hi, end: hi + 0x20, name: far}}}
	x := &dwarfIndex{
		files: []string{"a.c", "b.h"},
		rows: []lineRow{
			{addr: 0x1000, file: 0, line: 10},
			{addr: 0x1008, file: 1, line: bigLine},
			{addr: 0x1010, file: 1, line: 3},
			{addr: 0x1010, file: 0, line: 12},
			{addr: 0x1020, file: 0, line: 14, end: true},
			{addr: hi, file: 1, line: 7},
			{addr: hi + 0x10, file: 0, line: 0},
			{addr: hi + 0x20, file: 0, line: 0, end: true},
		},
		nodes: []fnNode{
			{parent: -1, name: outer, entry: 0x1000},
			{parent: 0, name: inner, entry: 0x1000, callFile: 1, callLine: 11},
			{parent: -1, name: far, symbol: far, entry: hi},
		},
		segs: []segment{{0x1000, 0}, {0x1008, 1}, {0x1010, 0}, {0x1030, -1}, {hi, 2}, {hi + 0x20, -1}},
	}
	x.compact()
	m.dwarf = x
	m.names.freeze()
	return m
}

// handProbes: every row and segment address, its neighbours, and a sweep.
func handProbes(m *module, hi uint64) []uint64 {
	var probes []uint64
	for a := uint64(0xff0); a < 0x1050; a++ {
		probes = append(probes, a)
	}
	for a := hi - 0x10; a < hi+0x40; a++ {
		probes = append(probes, a)
	}
	return append(probes, 0, math.MaxUint64, hi+1<<32, 0x1000+1<<32)
}

// TestSymcacheHandLayouts: a symcache round trip answers every lookup as the
// module it was built from, in all four layouts (32/64-bit addresses ×
// packed/8-byte rows), which the header's flags name; the hand-built
// answers are checked too, so the comparison is not of two empty modules.
func TestSymcacheHandLayouts(t *testing.T) {
	for _, c := range []struct {
		bigLine uint32
		hi      uint64
	}{
		{100, 0x2000},
		{100, 0x1000 + 1<<32 + 0x100},
		{0xfffffff0, 0x2000},
		{0xfffffff0, 0x7f00_0000_0000},
	} {
		wideRows, wideAddrs := c.bigLine > 1<<30, c.hi-0x1000 > math.MaxUint32
		t.Run(fmt.Sprintf("wideRows=%v wideAddrs=%v", wideRows, wideAddrs), func(t *testing.T) {
			m := handModule(c.bigLine, c.hi)
			x := m.dwarf
			if x.rowTab.isWide != wideRows || x.rowIdx.wide != wideAddrs || x.segIdx.wide != wideAddrs {
				t.Fatalf("layout: rows wide %v, row addrs wide %v, segment addrs wide %v; want %v, %v, %v",
					x.rowTab.isWide, x.rowIdx.wide, x.segIdx.wide, wideRows, wideAddrs, wideAddrs)
			}
			locs, err := m.Lookup(0x100c)
			if err != nil || len(locs) != 2 || locs[1].Function != "inner" || locs[1].File != "b.h" || locs[1].Line != int(c.bigLine) ||
				locs[0].Function != "outer" || locs[0].File != "a.c" || locs[0].Line != 11 || !locs[1].Inlined {
				t.Fatalf("Lookup(0x100c) = %+v, %v", locs, err)
			}
			locs, err = m.Lookup(c.hi + 4)
			if err != nil || len(locs) != 1 || locs[0].Function != "far()" || locs[0].File != "b.h" || locs[0].Line != 7 {
				t.Fatalf("Lookup(hi+4) = %+v, %v", locs, err)
			}

			var buf bytes.Buffer
			if err := EncodeSymcache(&buf, m); err != nil {
				t.Fatal(err)
			}
			payload := buf.Bytes()
			flags := binary.LittleEndian.Uint32(payload[12:])
			want := uint32(flagDWARF)
			if !wideAddrs {
				want |= flagRowAddrs32 | flagSegAddrs32
			}
			if !wideRows {
				want |= flagRowsPacked | x.rowTab.lineBits<<flagLineBitsPos
			}
			if flags != want {
				t.Errorf("flags %#x, want %#x", flags, want)
			}
			probes := handProbes(m, c.hi)
			for _, copyOut := range []bool{false, true} {
				sc, err := decodeSymcache(alignedCopy(payload), copyOut)
				if err != nil {
					t.Fatalf("decode (copy %v): %v", copyOut, err)
				}
				if d := sc.m.dwarf; d.rowTab.isWide != wideRows || d.rowIdx.wide != wideAddrs || d.segIdx.wide != wideAddrs {
					t.Errorf("decoded layout differs from the built one")
				}
				for _, a := range probes {
					wl, werr := m.Lookup(a)
					gl, gerr := sc.Lookup(a)
					if !reflect.DeepEqual(wl, gl) || fmt.Sprint(werr) != fmt.Sprint(gerr) {
						t.Fatalf("Lookup(%#x): got %+v, %v; want %+v, %v", a, gl, gerr, wl, werr)
					}
				}
				// Re-encoding the decoded module gives the same bytes.
				var again bytes.Buffer
				if err := EncodeSymcache(&again, sc); err != nil || !bytes.Equal(again.Bytes(), payload) {
					t.Errorf("re-encoding the decoded module differs (err %v)", err)
				}
			}
			corruptHand(t, payload)
		})
	}
}

// alignedCopy copies b to 8-byte aligned memory.
func alignedCopy(b []byte) []byte {
	buf := make([]uint64, (len(b)+7)/8+1)
	out := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(buf))), len(b))
	copy(out, b)
	return out
}

// corruptHand decodes bit flips and forged fields of payload: errors wrap
// ErrMalformed, modules answer without panicking, and the forgeries that
// break an invariant find relies on are rejected.
func corruptHand(t *testing.T, payload []byte) {
	t.Helper()
	decode := func(b []byte) (*Symcache, error) {
		sc, err := decodeSymcache(alignedCopy(b), false)
		if err != nil {
			if !errors.Is(err, debugfiles.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return nil, err
		}
		for a := uint64(0xff0); a < 0x1040; a++ {
			if _, err := sc.Lookup(a); err != nil && !errors.Is(err, debugfiles.ErrNoSymbol) {
				t.Fatalf("Lookup(%#x): %v", a, err)
			}
		}
		return sc, nil
	}
	section := func(b []byte, sec int) []byte {
		off := binary.LittleEndian.Uint64(b[24+16*sec:])
		n := binary.LittleEndian.Uint64(b[32+16*sec:])
		return b[off : off+n]
	}
	for pos := range payload {
		for bit := range 8 {
			b := bytes.Clone(payload)
			b[pos] ^= 1 << bit
			decode(b)
		}
	}
	flags := binary.LittleEndian.Uint32(payload[12:])
	mustReject := map[string]func(b []byte){
		"unknown flag": func(b []byte) { binary.LittleEndian.PutUint32(b[12:], flags|1<<5) },
		"pclntab flag without its sections": func(b []byte) {
			binary.LittleEndian.PutUint32(b[12:], flags|flagGoPcln)
		},
		"width flags without DWARF": func(b []byte) {
			binary.LittleEndian.PutUint32(b[12:], flags&^flagDWARF|flagRowAddrs32)
		},
		"line bits without packed rows": func(b []byte) {
			binary.LittleEndian.PutUint32(b[12:], flags&^flagRowsPacked|3<<flagLineBitsPos)
		},
		"row addresses flip width": func(b []byte) { binary.LittleEndian.PutUint32(b[12:], flags^flagRowAddrs32) },
		"segment addresses flip width": func(b []byte) {
			binary.LittleEndian.PutUint32(b[12:], flags^flagSegAddrs32)
		},
		"rows flip width": func(b []byte) {
			binary.LittleEndian.PutUint32(b[12:], (flags^flagRowsPacked)&^flagLineBitsMask)
		},
		"rows out of order": func(b []byte) {
			s := section(b, secRowAddrs)
			w := len(s) / 8 // 8 rows: 4 or 8 bytes each
			copy(s[w:2*w], s[5*w:6*w])
		},
		"segments out of order": func(b []byte) {
			s := section(b, secSegAddrs)
			w := len(s) / 6
			tmp := bytes.Clone(s[w : 2*w])
			copy(s[w:2*w], s[2*w:3*w])
			copy(s[2*w:3*w], tmp)
		},
		"row file out of range": func(b []byte) {
			s := section(b, secRows)
			if flags&flagRowsPacked != 0 {
				lineBits := flags & flagLineBitsMask >> flagLineBitsPos
				binary.LittleEndian.PutUint32(s, 2<<lineBits)
			} else {
				binary.LittleEndian.PutUint32(s, 2)
			}
		},
		"segment node out of range": func(b []byte) { binary.LittleEndian.PutUint32(section(b, secSegNodes), 3) },
	}
	if flags&flagRowAddrs32 == 0 {
		// (With offsets, moving the base moves every address: harmless.)
		mustReject["row sample disagrees"] = func(b []byte) {
			s := section(b, secRowTops)
			binary.LittleEndian.PutUint64(s, binary.LittleEndian.Uint64(s)+1)
		}
	} else {
		mustReject["first row offset not 0"] = func(b []byte) { binary.LittleEndian.PutUint32(section(b, secRowAddrs), 1) }
		mustReject["offsets overflow"] = func(b []byte) {
			s := section(b, secRowTops)
			binary.LittleEndian.PutUint64(s, math.MaxUint64-2)
		}
	}
	for name, f := range mustReject {
		b := bytes.Clone(payload)
		f(b)
		if _, err := decode(b); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// TestSymcacheLegacyGoNotEncodable: a module answered from a pre-1.20
// pclntab through debug/gosym is not encodable (its table is not kept in
// a form the symcache holds): ErrNotEncodable, as for foreign modules.
func TestSymcacheLegacyGoNotEncodable(t *testing.T) {
	m := &module{gotab: &goTable{legacy: &gosym.Table{}}}
	m.names.freeze()
	if err := EncodeSymcache(&bytes.Buffer{}, m); !errors.Is(err, ErrNotEncodable) {
		t.Fatalf("EncodeSymcache(legacy gosym module) = %v, want ErrNotEncodable", err)
	}
	type foreign struct{ debugfiles.Module }
	if err := EncodeSymcache(&bytes.Buffer{}, foreign{}); !errors.Is(err, ErrNotEncodable) {
		t.Fatalf("EncodeSymcache(foreign module) = %v, want ErrNotEncodable", err)
	}
}
