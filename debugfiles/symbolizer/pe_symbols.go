package symbolizer

import (
	"debug/pe"
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
	win32 := f.Machine == pe.IMAGE_FILE_MACHINE_I386
	var syms []sectionSymbol
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
		syms = append(syms, sectionSymbol{rawSymbol{name: name, addr: imageBase + uint64(sec.VirtualAddress) + uint64(s.Value)}, int(s.SectionNumber)})
	}
	return sizeInSections(syms, func(sect int) uint64 {
		sec := f.Sections[sect-1]
		return imageBase + uint64(sec.VirtualAddress) + uint64(max(sec.VirtualSize, sec.Size))
	})
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
