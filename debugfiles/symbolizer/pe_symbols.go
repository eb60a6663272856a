package symbolizer

import (
	"debug/pe"
	"sort"
	"strings"
)

// peSymbols returns the COFF function symbols of f at their virtual
// addresses, sized like llvm's computeSymbolSizes (COFF records carry no
// size): up to the next symbol of the same section, the last one up to the
// section's end. On 32-bit x86 the C decorations are removed as
// llvm-symbolizer's demanglePE32ExternCFunc does ("_f", "_f@8", "@f@8" →
// "f"); like the Mach-O leading underscore this is applied on reading, so
// a name such as "__Z3foov" becomes an Itanium-mangled "_Z3foov".
func peSymbols(f *pe.File, imageBase uint64) []rawSymbol {
	type sym struct {
		rawSymbol
		sect int16
	}
	win32 := f.Machine == pe.IMAGE_FILE_MACHINE_I386
	var syms []sym
	for _, s := range f.Symbols {
		// COFF function symbols: type 0x20 (DT_FCN); section numbers are 1-based.
		if s.SectionNumber <= 0 || int(s.SectionNumber) > len(f.Sections) || s.Type&0x20 == 0 || s.Name == "" {
			continue
		}
		name := s.Name
		if win32 {
			name = undecoratePE32(name)
		}
		sec := f.Sections[s.SectionNumber-1]
		syms = append(syms, sym{rawSymbol{name: name, addr: imageBase + uint64(sec.VirtualAddress) + uint64(s.Value)}, s.SectionNumber})
	}
	sort.SliceStable(syms, func(i, j int) bool {
		if syms[i].sect != syms[j].sect {
			return syms[i].sect < syms[j].sect
		}
		return syms[i].addr < syms[j].addr
	})
	out := make([]rawSymbol, 0, len(syms))
	for i, s := range syms {
		sec := f.Sections[s.sect-1]
		end := imageBase + uint64(sec.VirtualAddress) + uint64(max(sec.VirtualSize, sec.Size))
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

// undecoratePE32 removes the cdecl/stdcall/fastcall/vectorcall decorations
// of 32-bit Windows C names; MSVC C++ names ("?...") are left alone.
func undecoratePE32(name string) string {
	front := name[0]
	if front == '?' {
		return name
	}
	if front == '_' || front == '@' {
		name = name[1:]
	}
	if at := strings.LastIndexByte(name, '@'); at >= 0 {
		digits := name[at+1:]
		if strings.Trim(digits, "0123456789") == "" {
			name = name[:at]
		}
	}
	return strings.TrimSuffix(name, "@")
}
