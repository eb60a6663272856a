package debugfiles

import (
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"io"
	"strings"
)

// Bounds on what identification reads from an ELF file: notes are tiny, and
// the fallback id hashes one page of .text.
const (
	maxELFNoteBytes = 1 << 20
	textHashBytes   = 4096
	ntGNUBuildID    = 3
)

func identifyELF(r io.ReaderAt, size int64) ([]FileMeta, error) {
	f, err := elf.NewFile(io.NewSectionReader(r, 0, size))
	if err != nil {
		return nil, err
	}
	meta := FileMeta{Kind: KindELF, Arch: elfArch(f, elfFlags(f, r, size))}

	buildID, err := elfBuildID(f, r, size)
	if err != nil {
		return nil, err
	}
	var id [16]byte
	switch {
	case buildID != nil:
		copy(id[:], buildID)
		meta.CodeID = hex.EncodeToString(buildID)
	default:
		// Without a build-id, Sentry (symbolic) hashes the first page of .text.
		if text := elfSection(f, "text"); text != nil {
			page, err := readAtMost(r, int64(text.Offset), int64(min(text.Size, textHashBytes)), size)
			if err != nil {
				return nil, err
			}
			for i, b := range page {
				id[i%16] ^= b
			}
		}
	}
	// On little-endian targets the bytes are read as a Windows-style GUID
	// (symbolic does the same); big-endian ones are already in GUID order.
	if f.ByteOrder == binary.LittleEndian {
		id = swapGUIDFields(id)
	}
	meta.DebugID = formatDebugID(id, 0)

	for _, s := range f.Sections {
		if s.Type == elf.SHT_NOBITS || s.Offset == 0 {
			continue
		}
		switch {
		case (s.Type == elf.SHT_SYMTAB || s.Type == elf.SHT_DYNSYM) && s.Size > 0:
			meta.Features = addFeature(meta.Features, FeatureSymtab)
		}
	}
	if elfSection(f, "debug_info") != nil {
		meta.Features = addFeature(meta.Features, FeatureDebug)
	}
	if elfSection(f, "eh_frame") != nil || elfSection(f, "debug_frame") != nil {
		meta.Features = addFeature(meta.Features, FeatureUnwind)
	}
	return []FileMeta{meta}, nil
}

// elfSection finds a section with data by its name without the leading dot,
// also under its legacy compressed ".z" name (".zdebug_info"), as symbolic
// does. SHF_COMPRESSED sections keep their plain name.
func elfSection(f *elf.File, name string) *elf.Section {
	for _, s := range f.Sections {
		if s.Type == elf.SHT_NOBITS || s.Offset == 0 {
			continue
		}
		n, ok := strings.CutPrefix(s.Name, ".z")
		if !ok {
			n = strings.TrimPrefix(s.Name, ".")
		}
		if n == name {
			return s
		}
	}
	return nil
}

// elfBuildID returns the NT_GNU_BUILD_ID note's descriptor: first from
// PT_NOTE segments, then from SHT_NOTE sections (a separate debug file may
// keep the section while its segments point at stripped data). nil if none.
func elfBuildID(f *elf.File, r io.ReaderAt, size int64) ([]byte, error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		if id := elfNoteBuildID(f, r, size, int64(p.Off), p.Filesz, p.Align); id != nil {
			return id, nil
		}
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE || s.Offset == 0 {
			continue
		}
		if id := elfNoteBuildID(f, r, size, int64(s.Offset), s.Size, s.Addralign); id != nil {
			return id, nil
		}
	}
	return nil, nil
}

// elfNoteBuildID scans one note area. Damaged notes are skipped rather than
// failing identification: the build-id may still be found elsewhere.
func elfNoteBuildID(f *elf.File, r io.ReaderAt, size, off int64, n, align uint64) []byte {
	if n == 0 || n > maxELFNoteBytes {
		return nil
	}
	data, err := readAtMost(r, off, int64(n), size)
	if err != nil {
		return nil
	}
	pad := uint64(4)
	if align == 8 {
		pad = 8
	}
	bo := f.ByteOrder
	for len(data) >= 12 {
		namesz, descsz, typ := uint64(bo.Uint32(data)), uint64(bo.Uint32(data[4:])), bo.Uint32(data[8:])
		data = data[12:]
		nameEnd := alignUp(namesz, pad)
		if nameEnd > uint64(len(data)) || descsz > uint64(len(data))-nameEnd {
			return nil
		}
		name := data[:namesz]
		desc := data[nameEnd : nameEnd+descsz]
		if typ == ntGNUBuildID && string(name) == "GNU\x00" && len(desc) > 0 {
			return append([]byte(nil), desc...)
		}
		next := nameEnd + alignUp(descsz, pad)
		if next > uint64(len(data)) {
			return nil
		}
		data = data[next:]
	}
	return nil
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }

// elfFlags reads e_flags, which debug/elf does not expose.
func elfFlags(f *elf.File, r io.ReaderAt, size int64) uint32 {
	off := int64(0x24)
	if f.Class == elf.ELFCLASS64 {
		off = 0x30
	}
	b, err := readAtMost(r, off, 4, size)
	if err != nil {
		return 0
	}
	return f.ByteOrder.Uint32(b)
}

// elfArch names the machine as Sentry does.
func elfArch(f *elf.File, flags uint32) string {
	switch f.Machine {
	case elf.EM_386:
		return "x86"
	case elf.EM_X86_64:
		return "x86_64"
	case elf.EM_AARCH64:
		return "arm64"
	case elf.EM_ARM:
		return "arm"
	case elf.EM_PPC:
		return "ppc"
	case elf.EM_PPC64:
		return "ppc64"
	case elf.EM_MIPS, elf.EM_MIPS_RS3_LE:
		// EF_MIPS_ABI_O64 | EF_MIPS_ABI_EABI64 mark the 64-bit ABIs.
		if flags&0x6000 != 0 {
			return "mips64"
		}
		return "mips"
	}
	return "unknown"
}

func addFeature(fs []string, f string) []string {
	for _, x := range fs {
		if x == f {
			return fs
		}
	}
	return append(fs, f)
}
