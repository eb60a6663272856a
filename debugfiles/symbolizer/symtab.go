package symbolizer

import (
	"sort"
	"strings"
)

// rawSymbol is one function symbol as read from a symbol table.
type rawSymbol struct {
	name string
	addr uint64
	size uint64 // 0: unknown, the symbol extends to the next one
}

type symbol struct {
	addr uint64
	end  uint64 // exclusive; for unsized symbols the next symbol's start
	name nameID
}

// symbolIndex is the symbol-table fallback: sorted, one symbol per address.
type symbolIndex struct {
	syms []symbol
}

func newSymbolIndex(raw []rawSymbol, names *nameTable) symbolIndex {
	if len(raw) == 0 {
		return symbolIndex{}
	}
	// Aliases share an address; like llvm-symbolizer keep the one with the
	// largest size, then the greatest name, so both tools agree.
	sort.Slice(raw, func(i, j int) bool {
		a, b := raw[i], raw[j]
		if a.addr != b.addr {
			return a.addr < b.addr
		}
		if a.size != b.size {
			return a.size < b.size
		}
		return strings.Compare(a.name, b.name) < 0
	})
	out := make([]symbol, 0, len(raw))
	for i, s := range raw {
		if i+1 < len(raw) && raw[i+1].addr == s.addr {
			continue
		}
		out = append(out, symbol{addr: s.addr, end: s.addr + s.size, name: names.intern(s.name)})
	}
	for i := range out {
		if out[i].end > out[i].addr {
			continue
		}
		if i+1 < len(out) {
			out[i].end = out[i+1].addr
		} else {
			out[i].end = ^uint64(0)
		}
	}
	return symbolIndex{syms: out}
}

// find returns the symbol covering addr.
func (x *symbolIndex) find(addr uint64) (symbol, bool) {
	i := sort.Search(len(x.syms), func(i int) bool { return x.syms[i].addr > addr }) - 1
	if i < 0 || addr >= x.syms[i].end {
		return symbol{}, false
	}
	return x.syms[i], true
}

// sectionSymbol is a symbol of a format whose records carry no size, with
// its 1-based section number.
type sectionSymbol struct {
	rawSymbol
	sect int
}

// sizeInSections sizes symbols like llvm's computeSymbolSizes: each up to
// the next higher symbol address of the same section, the last one up to
// sectionEnd(its section).
func sizeInSections(syms []sectionSymbol, sectionEnd func(sect int) uint64) []rawSymbol {
	sort.SliceStable(syms, func(i, j int) bool {
		if syms[i].sect != syms[j].sect {
			return syms[i].sect < syms[j].sect
		}
		return syms[i].addr < syms[j].addr
	})
	out := make([]rawSymbol, 0, len(syms))
	for i, s := range syms {
		end := sectionEnd(s.sect)
		for j := i + 1; j < len(syms) && syms[j].sect == s.sect; j++ {
			if syms[j].addr > s.addr {
				end = syms[j].addr
				break
			}
		}
		if end > s.addr {
			s.size = end - s.addr
		}
		out = append(out, s.rawSymbol)
	}
	return out
}
