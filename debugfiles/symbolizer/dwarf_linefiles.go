package symbolizer

import (
	"bytes"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/binary"
	"errors"
	"strings"
)

// lineSections are the raw sections a line-program header refers to. They
// let file names be spelled as llvm-symbolizer and addr2line spell them:
// debug/dwarf joins a file's directory with path.Join, which cleans the
// result ("./build-debug/../Parser/token.c" becomes "Parser/token.c"), and
// for DWARF 5 it does not prepend the compilation directory to a relative
// include directory; either way the printed path no longer matches what
// the toolchain wrote and every other tool shows.
type lineSections struct {
	line    []byte // .debug_line
	lineStr []byte // .debug_line_str (DWARF 5)
	str     []byte // .debug_str
	order   binary.ByteOrder
}

var errLineHeader = errors.New("line program header")

type lineReader struct {
	b     []byte
	off   int
	order binary.ByteOrder
	err   bool
}

func (r *lineReader) need(n int) bool {
	if r.err || n < 0 || r.off+n > len(r.b) || r.off+n < r.off {
		r.err = true
		return false
	}
	return true
}

func (r *lineReader) u8() uint8 {
	if !r.need(1) {
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

func (r *lineReader) u16() uint16 {
	if !r.need(2) {
		return 0
	}
	r.off += 2
	return r.order.Uint16(r.b[r.off-2:])
}

func (r *lineReader) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	r.off += 4
	return r.order.Uint32(r.b[r.off-4:])
}

func (r *lineReader) u64() uint64 {
	if !r.need(8) {
		return 0
	}
	r.off += 8
	return r.order.Uint64(r.b[r.off-8:])
}

func (r *lineReader) uleb() uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		b := r.u8()
		if r.err {
			return 0
		}
		if shift < 64 {
			v |= uint64(b&0x7f) << shift
		}
		if b&0x80 == 0 {
			return v
		}
	}
}

func (r *lineReader) skip(n uint64) {
	if n > uint64(len(r.b)) || !r.need(int(n)) {
		r.err = true
		return
	}
	r.off += int(n)
}

func (r *lineReader) cstr() string {
	if r.err {
		return ""
	}
	i := bytes.IndexByte(r.b[r.off:], 0)
	if i < 0 {
		r.err = true
		return ""
	}
	s := string(r.b[r.off : r.off+i])
	r.off += i + 1
	return s
}

func cstrAt(b []byte, off uint64) (string, bool) {
	return cstring(b, off)
}

// DWARF forms and line-number content types used in DWARF 5 headers.
const (
	formBlock2   = 0x03
	formBlock4   = 0x04
	formData2    = 0x05
	formData4    = 0x06
	formData8    = 0x07
	formString   = 0x08
	formBlock    = 0x09
	formBlock1   = 0x0a
	formData1    = 0x0b
	formSdata    = 0x0d
	formStrp     = 0x0e
	formUdata    = 0x0f
	formData16   = 0x1e
	formLineStrp = 0x1f
	lnctPath     = 1
	lnctDirIndex = 2
)

type entryField struct{ content, form uint64 }

// llvmFileNames parses the header of the line program at off and returns
// the name of every file-table entry (indexed like debug/dwarf's
// LineReader.Files: from 1 before DWARF 5, from 0 since) spelled the way
// llvm's DWARFDebugLine::Prologue::getFileNameByIndex spells an absolute
// file path: a relative name is appended, without cleaning, to its include
// directory, itself appended to the compilation directory when relative
// (except, in DWARF 5, for directory 0, which already is the compilation
// directory).
func (s *lineSections) llvmFileNames(off uint64, compDir string) ([]string, error) {
	if s == nil || off >= uint64(len(s.line)) {
		return nil, errLineHeader
	}
	r := &lineReader{b: s.line, off: int(off), order: s.order}
	unitLen := uint64(r.u32())
	dwarf64 := false
	if unitLen == 0xffffffff {
		dwarf64 = true
		unitLen = r.u64()
	}
	if r.err || unitLen > uint64(len(r.b)-r.off) {
		return nil, errLineHeader
	}
	r.b = r.b[:r.off+int(unitLen)]
	version := r.u16()
	if version < 2 || version > 5 {
		return nil, errLineHeader
	}
	if version >= 5 {
		r.u8() // address_size
		r.u8() // segment_selector_size
	}
	if dwarf64 {
		r.u64()
	} else {
		r.u32()
	}
	r.u8() // minimum_instruction_length
	if version >= 4 {
		r.u8() // maximum_operations_per_instruction
	}
	r.u8() // default_is_stmt
	r.u8() // line_base
	r.u8() // line_range
	opcodeBase := r.u8()
	if opcodeBase > 0 {
		r.skip(uint64(opcodeBase) - 1)
	}
	if r.err {
		return nil, errLineHeader
	}
	if version < 5 {
		var dirs []string
		for {
			d := r.cstr()
			if r.err {
				return nil, errLineHeader
			}
			if d == "" {
				break
			}
			dirs = append(dirs, d)
		}
		names := []string{""}
		for {
			name := r.cstr()
			if r.err {
				return nil, errLineHeader
			}
			if name == "" {
				break
			}
			dirIdx := r.uleb()
			r.uleb() // mtime
			r.uleb() // length
			if r.err {
				return nil, errLineHeader
			}
			var dir string
			if dirIdx > 0 && dirIdx <= uint64(len(dirs)) {
				dir = dirs[dirIdx-1]
			}
			names = append(names, llvmJoin(name, dir, compDir, true))
		}
		return names, nil
	}
	dirs, err := s.readEntries(r, dwarf64)
	if err != nil {
		return nil, err
	}
	files, err := s.readEntries(r, dwarf64)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(files))
	for i, f := range files {
		var dir string
		if f.dirIdx < uint64(len(dirs)) {
			dir = dirs[f.dirIdx].path
		}
		names[i] = llvmJoin(f.path, dir, compDir, f.dirIdx != 0)
	}
	return names, nil
}

type lineEntry struct {
	path   string
	dirIdx uint64
}

// readEntries reads a DWARF 5 directory or file-name table.
func (s *lineSections) readEntries(r *lineReader, dwarf64 bool) ([]lineEntry, error) {
	nfmt := r.u8()
	fields := make([]entryField, nfmt)
	for i := range fields {
		fields[i] = entryField{content: r.uleb(), form: r.uleb()}
	}
	count := r.uleb()
	if r.err || count > uint64(len(r.b)) {
		return nil, errLineHeader
	}
	out := make([]lineEntry, 0, count)
	for i := uint64(0); i < count; i++ {
		var e lineEntry
		for _, f := range fields {
			var str string
			var val uint64
			switch f.form {
			case formString:
				str = r.cstr()
			case formLineStrp, formStrp:
				var o uint64
				if dwarf64 {
					o = r.u64()
				} else {
					o = uint64(r.u32())
				}
				sec := s.str
				if f.form == formLineStrp {
					sec = s.lineStr
				}
				var ok bool
				if str, ok = cstrAt(sec, o); !ok {
					return nil, errLineHeader
				}
			case formUdata:
				val = r.uleb()
			case formSdata:
				val = r.uleb()
			case formData1:
				val = uint64(r.u8())
			case formData2:
				val = uint64(r.u16())
			case formData4:
				val = uint64(r.u32())
			case formData8:
				val = r.u64()
			case formData16:
				r.skip(16)
			case formBlock:
				r.skip(r.uleb())
			case formBlock1:
				r.skip(uint64(r.u8()))
			case formBlock2:
				r.skip(uint64(r.u16()))
			case formBlock4:
				r.skip(uint64(r.u32()))
			default:
				// strx and other forms need tables this parser does not
				// read; the caller falls back to debug/dwarf's names.
				return nil, errLineHeader
			}
			switch f.content {
			case lnctPath:
				e.path = str
			case lnctDirIndex:
				e.dirIdx = val
			}
		}
		if r.err {
			return nil, errLineHeader
		}
		out = append(out, e)
	}
	return out, nil
}

func isAbsPath(p string) bool {
	if len(p) > 0 && (p[0] == '/' || p[0] == '\\') {
		return true
	}
	return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') &&
		(p[0]|0x20 >= 'a' && p[0]|0x20 <= 'z')
}

// llvmJoin is getFileNameByIndex(AbsoluteFilePath) for one entry.
func llvmJoin(name, includeDir, compDir string, prependCompDir bool) string {
	if isAbsPath(name) {
		return name
	}
	var p string
	if prependCompDir && compDir != "" && !isAbsPath(includeDir) {
		p = llvmAppend(p, compDir)
	}
	p = llvmAppend(p, includeDir)
	return llvmAppend(p, name)
}

// llvmAppend is llvm::sys::path::append for one POSIX component.
func llvmAppend(p, c string) string {
	if c == "" {
		return p
	}
	if p != "" && p[len(p)-1] == '/' {
		return p + strings.TrimLeft(c, "/")
	}
	if c[0] != '/' && p != "" {
		p += "/"
	}
	return p + c
}

// newLineSections reads the sections lineSections needs through read
// (section name without its format's prefix, "." for ELF and PE, "__" for
// Mach-O); a missing or unreadable section reads as nil, and without
// debug_line there is nothing to use.
func newLineSections(read func(name string) []byte, prefix string, order binary.ByteOrder) *lineSections {
	ls := &lineSections{line: read(prefix + "debug_line"), lineStr: read(prefix + "debug_line_str"), str: read(prefix + "debug_str"), order: order}
	if ls.line == nil {
		return nil
	}
	return ls
}

func elfLineSections(f *elf.File) *lineSections {
	return newLineSections(func(name string) []byte {
		s := f.Section(name)
		if s == nil || s.Type == elf.SHT_NOBITS {
			return nil
		}
		b, err := s.Data()
		if err != nil {
			return nil
		}
		return b
	}, ".", f.ByteOrder)
}

func machoLineSections(f *macho.File) *lineSections {
	return newLineSections(func(name string) []byte {
		s := f.Section(name)
		if s == nil {
			return nil
		}
		b, err := s.Data()
		if err != nil {
			return nil
		}
		return b
	}, "__", f.ByteOrder)
}

func peLineSections(f *pe.File) *lineSections {
	return newLineSections(func(name string) []byte {
		s := f.Section(name)
		if s == nil {
			return nil
		}
		b, err := s.Data()
		if err != nil {
			return nil
		}
		// Section data is padded to the file alignment; the virtual size
		// is the real length.
		if s.VirtualSize > 0 && uint64(s.VirtualSize) < uint64(len(b)) {
			b = b[:s.VirtualSize]
		}
		return b
	}, ".", binary.LittleEndian)
}
