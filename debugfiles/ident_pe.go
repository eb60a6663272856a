package debugfiles

import (
	"debug/pe"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

const (
	peDirExport       = 0
	peDirException    = 3
	peDirDebug        = 6
	peDebugEntrySize  = 28
	peDebugCodeView   = 2
	peMaxDebugEntries = 64
)

func identifyPE(r io.ReaderAt, size int64) ([]FileMeta, error) {
	f, err := pe.NewFile(io.NewSectionReader(r, 0, size))
	if err != nil {
		return nil, err
	}
	meta := FileMeta{Kind: KindPE, Arch: peArch(f.Machine)}
	var dirs []pe.DataDirectory
	switch oh := f.OptionalHeader.(type) {
	case *pe.OptionalHeader32:
		meta.CodeID = fmt.Sprintf("%08x%x", f.TimeDateStamp, oh.SizeOfImage)
		dirs = oh.DataDirectory[:min(int(oh.NumberOfRvaAndSizes), len(oh.DataDirectory))]
	case *pe.OptionalHeader64:
		meta.CodeID = fmt.Sprintf("%08x%x", f.TimeDateStamp, oh.SizeOfImage)
		dirs = oh.DataDirectory[:min(int(oh.NumberOfRvaAndSizes), len(oh.DataDirectory))]
	default:
		return nil, errors.New("PE file without optional header")
	}

	var guid [16]byte
	var age uint32
	if len(dirs) > peDirDebug {
		guid, age, err = peCodeView(f, r, size, dirs[peDirDebug])
		if err != nil {
			return nil, err
		}
	}
	meta.DebugID = formatDebugID(guid, age)

	// Symbolic counts exports as the symbol table; a COFF symbol table (as
	// MinGW leaves in) is a symbol table too.
	if f.NumberOfSymbols > 0 || (len(dirs) > peDirExport && peHasExports(f, r, size, dirs[peDirExport])) {
		meta.Features = addFeature(meta.Features, FeatureSymtab)
	}
	// MinGW images may carry DWARF sections; MSVC ones keep debug info in the PDB.
	for _, s := range f.Sections {
		if s.Name == ".debug_info" {
			meta.Features = addFeature(meta.Features, FeatureDebug)
		}
	}
	if len(dirs) > peDirException && dirs[peDirException].Size > 0 && !peIsStub(f) {
		meta.Features = addFeature(meta.Features, FeatureUnwind)
	}
	return []FileMeta{meta}, nil
}

// peOffset maps an RVA to a file offset through the section table.
func peOffset(f *pe.File, rva uint32) (int64, bool) {
	for _, s := range f.Sections {
		span := max(s.VirtualSize, s.Size)
		if rva >= s.VirtualAddress && rva-s.VirtualAddress < span {
			d := rva - s.VirtualAddress
			if d >= s.Size {
				return 0, false // in the zero-filled tail, no file data
			}
			return int64(s.Offset) + int64(d), true
		}
	}
	return 0, false
}

// peCodeView reads the debug directory and returns the GUID (converted to
// big-endian order) and age of its first CodeView RSDS record; zero if none.
func peCodeView(f *pe.File, r io.ReaderAt, size int64, dir pe.DataDirectory) ([16]byte, uint32, error) {
	var guid [16]byte
	if dir.VirtualAddress == 0 || dir.Size < peDebugEntrySize {
		return guid, 0, nil
	}
	off, ok := peOffset(f, dir.VirtualAddress)
	if !ok {
		return guid, 0, nil
	}
	n := min(dir.Size/peDebugEntrySize, peMaxDebugEntries)
	entries, err := readAtMost(r, off, int64(n)*peDebugEntrySize, size)
	if err != nil {
		return guid, 0, fmt.Errorf("debug directory: %w", err)
	}
	for i := 0; i+peDebugEntrySize <= len(entries); i += peDebugEntrySize {
		e := entries[i : i+peDebugEntrySize]
		if binary.LittleEndian.Uint32(e[12:]) != peDebugCodeView {
			continue
		}
		dataSize := binary.LittleEndian.Uint32(e[16:])
		ptr := binary.LittleEndian.Uint32(e[24:])
		if dataSize < 24 {
			continue
		}
		cv, err := readAtMost(r, int64(ptr), 24, size)
		if err != nil {
			return guid, 0, fmt.Errorf("codeview record: %w", err)
		}
		if string(cv[:4]) != "RSDS" {
			continue // NB10 (PDB 2.0) records carry no GUID
		}
		copy(guid[:], cv[4:20])
		return swapGUIDFields(guid), binary.LittleEndian.Uint32(cv[20:]), nil
	}
	return guid, 0, nil
}

func peHasExports(f *pe.File, r io.ReaderAt, size int64, dir pe.DataDirectory) bool {
	if dir.VirtualAddress == 0 || dir.Size < 40 {
		return false
	}
	off, ok := peOffset(f, dir.VirtualAddress)
	if !ok {
		return false
	}
	b, err := readAtMost(r, off, 40, size)
	if err != nil {
		return false
	}
	return binary.LittleEndian.Uint32(b[20:]) > 0 // NumberOfFunctions
}

// peIsStub recognises packer stubs, whose exception table points at nothing
// usable (symbolic's rule: an empty .pdata next to a .stub* section).
func peIsStub(f *pe.File) bool {
	var stub, emptyPdata bool
	for _, s := range f.Sections {
		stub = stub || strings.HasPrefix(s.Name, ".stub")
		emptyPdata = emptyPdata || (s.Name == ".pdata" && s.Size == 0)
	}
	return stub && emptyPdata
}

func peArch(machine uint16) string {
	switch machine {
	case pe.IMAGE_FILE_MACHINE_I386:
		return "x86"
	case pe.IMAGE_FILE_MACHINE_AMD64:
		return "x86_64"
	case pe.IMAGE_FILE_MACHINE_ARM, pe.IMAGE_FILE_MACHINE_ARMNT:
		return "arm"
	case pe.IMAGE_FILE_MACHINE_ARM64:
		return "arm64"
	case pe.IMAGE_FILE_MACHINE_POWERPC:
		return "ppc"
	}
	return "unknown"
}
