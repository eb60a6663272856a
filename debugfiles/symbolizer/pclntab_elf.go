package symbolizer

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
)

// elfGoImage finds, in a Go ELF executable, what the pclntab refers to
// outside itself: runtime.text (function entries are offsets from it) and
// moduledata.gofunc (the go:func.* symbol, base of the funcdata offsets
// that lead to inline trees).
type elfGoImage struct {
	f         *elf.File
	pclnAddr  uint64
	textStart uint64 // .text's address, the fallback for runtime.text
}

// moduledata word indexes (runtime/symtab.go), the same from Go 1.20
// (which added covctrs) to 1.26: pcHeader; funcnametab, cutab, filetab,
// pctab, pclntable, ftab (3 words each); findfunctab, minpc, maxpc; text …
const (
	mdWordFuncnametab = 1
	mdWordText        = 22
	mdWordGofunc      = 40
	mdWords           = 41
)

func (g elfGoImage) open(data []byte) (*pclnTab, error) {
	text, gofunc := g.textStart, uint64(0)
	if syms, err := g.f.Symbols(); err == nil {
		for _, s := range syms {
			switch s.Name {
			case "runtime.text":
				text = s.Value
			case "go:func.*":
				gofunc = s.Value
			}
		}
	}
	if gofunc == 0 {
		// Stripped (-s): find runtime.firstmoduledata, which starts with a
		// pointer to the pclntab header, and read gofunc from it.
		if mdText, mdGofunc, ok := g.findModuledata(data); ok {
			text, gofunc = mdText, mdGofunc
		}
	}
	tab, err := newPclnTab(data, text)
	if err != nil {
		return nil, err
	}
	if gofunc != 0 {
		tab.gofunc = g.bytesAt(gofunc)
		// Since Go 1.22 go:func.* lies inside .gopclntab: share its bytes
		// rather than hold a second copy (a symcache then stores them once).
		if n := len(tab.gofunc); n > 0 && bytes.HasSuffix(data, tab.gofunc) {
			tab.gofunc = data[len(data)-n:]
		}
	}
	tab.learnFuncIDs()
	return tab, nil
}

// findModuledata scans the data sections for a moduledata whose pcHeader is
// the pclntab and whose funcnametab slice points where the header says: a
// match on both (and a plausible text address) is not a coincidence.
func (g elfGoImage) findModuledata(pcln []byte) (text, gofunc uint64, ok bool) {
	if len(pcln) < 8 {
		return 0, 0, false
	}
	ptrSize := int(pcln[7])
	if ptrSize != 4 && ptrSize != 8 {
		return 0, 0, false
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if g.f.Data == elf.ELFDATA2MSB {
		order = binary.BigEndian
	}
	word := func(b []byte, i int) uint64 {
		if ptrSize == 4 {
			return uint64(order.Uint32(b[i*4:]))
		}
		return order.Uint64(b[i*8:])
	}
	if len(pcln) < 8+4*ptrSize {
		return 0, 0, false
	}
	funcnameOff := word(pcln[8:], 3)
	// Go 1.26 puts it in its own .go.module section, earlier releases in
	// .noptrdata; any writable section with contents is a candidate.
	for _, s := range g.f.Sections {
		if s.Flags&elf.SHF_ALLOC == 0 || s.Flags&elf.SHF_WRITE == 0 || s.Type == elf.SHT_NOBITS {
			continue
		}
		b, err := s.Data()
		if err != nil {
			continue
		}
		for off := 0; off+mdWords*ptrSize <= len(b); off += ptrSize {
			md := b[off:]
			if word(md, 0) != g.pclnAddr || word(md, mdWordFuncnametab) != g.pclnAddr+funcnameOff {
				continue
			}
			text, gofunc = word(md, mdWordText), word(md, mdWordGofunc)
			if !g.mapped(text) || !g.mapped(gofunc) {
				continue
			}
			return text, gofunc, true
		}
	}
	return 0, 0, false
}

// mapped reports whether addr lies in a section with file contents.
func (g elfGoImage) mapped(addr uint64) bool {
	for _, s := range g.f.Sections {
		if s.Flags&elf.SHF_ALLOC != 0 && s.Type != elf.SHT_NOBITS && addr >= s.Addr && addr < s.Addr+s.Size {
			return true
		}
	}
	return false
}

// bytesAt returns the contents of the section holding addr, from addr on.
func (g elfGoImage) bytesAt(addr uint64) []byte {
	for _, s := range g.f.Sections {
		if s.Flags&elf.SHF_ALLOC == 0 || s.Type == elf.SHT_NOBITS || addr < s.Addr || addr >= s.Addr+s.Size {
			continue
		}
		b, err := s.Data()
		if err != nil || addr-s.Addr >= uint64(len(b)) {
			return nil
		}
		return b[addr-s.Addr:]
	}
	return nil
}
