package debugfiles

import (
	"bytes"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/binary"
	"io"
	"math"
	"strings"
)

// InflatedSectionBytes returns how many bytes the compressed sections of
// the object file in r declare they inflate to: ELF SHF_COMPRESSED sections
// (the Chdr size) and the legacy GNU ".zdebug_*" sections ("ZLIB" and a
// big-endian size) of ELF, Mach-O (every architecture of a fat file) and PE.
//
// DWARF readers allocate what these headers declare (debug/macho up front,
// debug/elf as it inflates), so a small upload can demand gigabytes of
// memory when it is first symbolicated; callers compare the result with
// their decompression budget before parsing debug information. The sum
// saturates at math.MaxUint64. A file that is not one of these formats, or
// does not parse, reports 0: identification is what rejects those.
func InflatedSectionBytes(r io.ReaderAt, size int64) uint64 {
	sr := io.NewSectionReader(r, 0, size)
	var total uint64
	add := func(n uint64) {
		if total > math.MaxUint64-n {
			total = math.MaxUint64
			return
		}
		total += n
	}
	if f, err := elf.NewFile(sr); err == nil {
		for _, s := range f.Sections {
			switch {
			case s.Type == elf.SHT_NOBITS:
			case s.Flags&elf.SHF_COMPRESSED != 0:
				// debug/elf reports the Chdr's uncompressed size as Size.
				add(s.Size)
			case strings.HasPrefix(s.Name, ".zdebug"):
				add(zlibHeaderSize(s.ReaderAt))
			}
		}
		return total
	}
	if f, err := macho.NewFatFile(sr); err == nil {
		for _, a := range f.Arches {
			add(machoInflated(a.File))
		}
		return total
	}
	if f, err := macho.NewFile(sr); err == nil {
		return machoInflated(f)
	}
	if f, err := pe.NewFile(sr); err == nil {
		for _, s := range f.Sections {
			if strings.HasPrefix(s.Name, ".zdebug") {
				add(zlibHeaderSize(s.ReaderAt))
			}
		}
		return total
	}
	return 0
}

func machoInflated(f *macho.File) uint64 {
	var total uint64
	for _, s := range f.Sections {
		if !strings.HasPrefix(s.Name, "__zdebug") {
			continue
		}
		n := zlibHeaderSize(s)
		if total > math.MaxUint64-n {
			return math.MaxUint64
		}
		total += n
	}
	return total
}

// zlibHeaderSize reads the size of a legacy "ZLIB" compressed section, 0
// when the section does not start with that header.
func zlibHeaderSize(r io.ReaderAt) uint64 {
	var hdr [12]byte
	if n, _ := r.ReadAt(hdr[:], 0); n != len(hdr) || !bytes.Equal(hdr[:4], []byte("ZLIB")) {
		return 0
	}
	return binary.BigEndian.Uint64(hdr[4:])
}
