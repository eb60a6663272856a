package debugfiles

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Magic prefixes of the formats Identify understands.
var (
	magicELF = []byte("\x7fELF")
	magicMSF = []byte("Microsoft C/C++ MSF 7.00\r\n\x1aDS\x00\x00\x00")
	magicSym = []byte("MODULE ")
)

// Identify reads the identifiers and features of an object or debug file:
// one FileMeta per architecture (a fat Mach-O holds several). ObjectName is
// set only when the file names itself (Breakpad's MODULE line); callers fill
// it from the upload's file name otherwise. Unknown, truncated or corrupt
// input gives an error wrapping ErrInvalidInput.
func Identify(r io.ReaderAt, size int64) ([]FileMeta, error) {
	if size <= 0 {
		return nil, fmt.Errorf("%w: empty file", ErrInvalidInput)
	}
	head, err := readAtMost(r, 0, min(size, 64), size)
	if err != nil {
		return nil, fmt.Errorf("%w: reading header: %v", ErrInvalidInput, err)
	}
	var metas []FileMeta
	switch {
	case bytes.HasPrefix(head, magicELF):
		metas, err = identifyELF(r, size)
	case len(head) >= 4 && isMachO(head):
		metas, err = identifyMachO(r, size)
	case bytes.HasPrefix(head, []byte("MZ")):
		metas, err = identifyPE(r, size)
	case bytes.HasPrefix(head, magicMSF):
		metas, err = identifyPDB(r, size)
	case bytes.HasPrefix(head, magicSym):
		metas, err = identifyBreakpad(r, size)
	default:
		return nil, fmt.Errorf("%w: not an ELF, Mach-O, PE, PDB or Breakpad file", ErrInvalidInput)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidInput, err)
	}
	for i := range metas {
		metas[i].Size = size
		sort.Strings(metas[i].Features)
		if metas[i].Features == nil {
			metas[i].Features = []string{}
		}
	}
	return metas, nil
}

// NormalizeCodeID returns a code_id in its stored form: lowercase hex digits
// only. Events send PE code ids in upper case and Mach-O ones with dashes.
func NormalizeCodeID(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, c := range strings.ToLower(s) {
		if (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// NormalizeDebugID parses a debug_id in any of the forms the debugid crate
// accepts (hyphenated or not, any case, Breakpad's 32 hex digits + age, an
// optional "-age" or "{…}" braces) and returns the canonical lowercase
// "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx[-age]" form.
func NormalizeDebugID(s string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimPrefix(t, "{"), "}")
	var guid, age string
	switch {
	case len(t) >= 36 && t[8] == '-' && t[13] == '-' && t[18] == '-' && t[23] == '-':
		guid = strings.ReplaceAll(t[:36], "-", "")
		age = t[36:]
		if age != "" {
			if age[0] != '-' && age[0] != '.' {
				return "", fmt.Errorf("%w: bad debug id %q", ErrInvalidInput, s)
			}
			age = age[1:]
		}
	case len(t) >= 32:
		guid = t[:32]
		age = strings.TrimPrefix(t[32:], "-")
	default:
		return "", fmt.Errorf("%w: bad debug id %q", ErrInvalidInput, s)
	}
	raw, err := hex.DecodeString(guid)
	if err != nil || len(raw) != 16 || len(age) > 8 {
		return "", fmt.Errorf("%w: bad debug id %q", ErrInvalidInput, s)
	}
	var ageN uint64
	for _, c := range age {
		d := strings.IndexRune("0123456789abcdef", c)
		if d < 0 {
			return "", fmt.Errorf("%w: bad debug id age in %q", ErrInvalidInput, s)
		}
		ageN = ageN<<4 | uint64(d)
	}
	var g [16]byte
	copy(g[:], raw)
	return formatDebugID(g, uint32(ageN)), nil
}

// formatDebugID writes a GUID held in big-endian (network) byte order, plus
// "-age" in hex when age is non-zero, as Sentry's debug_id.
func formatDebugID(g [16]byte, age uint32) string {
	s := fmt.Sprintf("%x-%x-%x-%x-%x", g[0:4], g[4:6], g[6:8], g[8:10], g[10:16])
	if age != 0 {
		s += fmt.Sprintf("-%x", age)
	}
	return s
}

// swapGUIDFields converts a GUID stored with little-endian Data1/2/3 fields
// (Windows GUID layout, and how ELF build-ids are read on little-endian
// targets) into big-endian byte order.
func swapGUIDFields(g [16]byte) [16]byte {
	g[0], g[1], g[2], g[3] = g[3], g[2], g[1], g[0]
	g[4], g[5] = g[5], g[4]
	g[6], g[7] = g[7], g[6]
	return g
}

// readAtMost reads n bytes at off, failing rather than returning short data.
// n is always bounded by the caller (never an unchecked header count).
func readAtMost(r io.ReaderAt, off, n, size int64) ([]byte, error) {
	if off < 0 || n < 0 || off > size || n > size-off {
		return nil, fmt.Errorf("range [%d, +%d) outside the file (%d bytes)", off, n, size)
	}
	buf := make([]byte, n)
	got, err := r.ReadAt(buf, off)
	if got == len(buf) {
		return buf, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return nil, err
}
