package sourcemaps

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"unsafe"
)

// textCodec stores loaded text files (minified bundles, uploaded originals)
// as derived files ("js-text"), on the local disk only: the blob itself is
// already in the object store, so another replica gains nothing from a
// copy there, but a restarted one skips the object-store read, the blob's
// sha256 and the line scan. A decoded textFile's text and line starts are
// views of the mapped file, which Derived keeps mapped while the textFile
// is reachable; the lineIndex points back to its textFile so that holding
// either keeps the mapping, and every string handed out of a lineIndex is
// a copy (see lineIndex.context).
//
// Layout (little-endian; the payload starts 64-byte aligned):
//
//	off  len  field
//	  0    8  magic "JSTEXT01"
//	  8    8  flags: 1 the text is ASCII
//	 16    8  L: line starts
//	 24    8  U: bytes of sourceMappingURL
//	 32    8  D: bytes of the debug ID
//	 40    8  T: bytes of text
//	 48       line starts  L × int32, then zero padding to 8
//	          sourceMappingURL, debug ID, text (U + D + T bytes)
//
// Bump the version with any change to the layout or to what loadText
// derives (the comment scan, the line split).
type textCodec struct{}

const (
	textMagic     = "JSTEXT01"
	textHeader    = 48
	textFlagASCII = 1
)

var errBadText = errors.New("invalid js-text data")

func (textCodec) Format() string { return "js-text" }
func (textCodec) Version() int   { return 1 }

func (textCodec) Encode(w io.Writer, t *textFile) error {
	x := t.lines
	var flags uint64
	if x.ascii {
		flags |= textFlagASCII
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	var b [8]byte
	u64 := func(v uint64) {
		binary.LittleEndian.PutUint64(b[:], v)
		bw.Write(b[:]) // the error is sticky; Flush reports it
	}
	bw.WriteString(textMagic)
	for _, v := range []uint64{flags, uint64(len(x.starts)), uint64(len(t.sourceMappingURL)), uint64(len(t.debugID)), uint64(len(x.text))} {
		u64(v)
	}
	for _, s := range x.starts {
		binary.LittleEndian.PutUint32(b[:4], uint32(s))
		bw.Write(b[:4])
	}
	if n := 4 * len(x.starts) % 8; n != 0 {
		bw.Write(make([]byte, 8-n))
	}
	bw.WriteString(t.sourceMappingURL)
	bw.WriteString(t.debugID)
	bw.WriteString(x.text)
	return bw.Flush()
}

// Decode checks everything a lookup relies on (line starts inside the text,
// increasing, each just after a newline) so that a forged file that passed
// the frame checksum still cannot make a lookup panic.
func (textCodec) Decode(data []byte) (*textFile, int64, error) {
	if len(data) < textHeader || string(data[:8]) != textMagic {
		return nil, 0, fmt.Errorf("%w: bad header", errBadText)
	}
	le := binary.LittleEndian
	flags, nStarts, nURL, nID, nText := le.Uint64(data[8:]), le.Uint64(data[16:]), le.Uint64(data[24:]), le.Uint64(data[32:]), le.Uint64(data[40:])
	if flags&^textFlagASCII != 0 || nStarts == 0 || nText > math.MaxInt32 || nStarts > nText+1 || nURL > 1<<20 || nID > 1<<10 {
		return nil, 0, fmt.Errorf("%w: bad counts", errBadText)
	}
	startsLen := (4*int(nStarts) + 7) &^ 7
	if uint64(len(data)-textHeader) != uint64(startsLen)+nURL+nID+nText {
		return nil, 0, fmt.Errorf("%w: %d bytes, counts say otherwise", errBadText, len(data))
	}
	startsB := data[textHeader : textHeader+4*int(nStarts)]
	off := textHeader + startsLen
	url := string(data[off : off+int(nURL)])
	off += int(nURL)
	id := string(data[off : off+int(nID)])
	off += int(nID)
	textB := data[off:]

	var starts []int32
	copied := int64(0)
	if uintptr(unsafe.Pointer(unsafe.SliceData(startsB)))%4 == 0 && littleEndianHost() {
		starts = unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(startsB))), nStarts)
	} else {
		starts = make([]int32, nStarts)
		for i := range starts {
			starts[i] = int32(le.Uint32(startsB[4*i:]))
		}
		copied = 4 * int64(nStarts)
	}
	if starts[0] != 0 {
		return nil, 0, fmt.Errorf("%w: first line starts at %d", errBadText, starts[0])
	}
	for i := 1; i < len(starts); i++ {
		s := starts[i]
		if s <= starts[i-1] || int64(s) >= int64(len(textB)) || textB[s-1] != '\n' {
			return nil, 0, fmt.Errorf("%w: line %d starts at %d", errBadText, i, s)
		}
	}
	t := &textFile{sourceMappingURL: url, debugID: id}
	t.lines = &lineIndex{
		text:   unsafe.String(unsafe.SliceData(textB), len(textB)),
		starts: starts,
		ascii:  flags&textFlagASCII != 0,
		owner:  t,
	}
	return t, int64(unsafe.Sizeof(*t)+unsafe.Sizeof(*t.lines)) + int64(len(url)+len(id)) + copied, nil
}

func littleEndianHost() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}
