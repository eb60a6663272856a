package scopes

import "sort"

// positions converts byte offsets to (line, UTF-16 column) in one pass over
// the source: minified files are often one multi-megabyte line, where
// counting from the line start for every offset would be quadratic.
type positions struct {
	offs []int32
	pos  []pos32
}

func newPositions(src []byte, offs []int32) *positions {
	sorted := append([]int32(nil), offs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	uniq := sorted[:0]
	for i, o := range sorted {
		if i == 0 || o != sorted[i-1] {
			uniq = append(uniq, o)
		}
	}
	p := &positions{offs: uniq, pos: make([]pos32, len(uniq))}
	var line, col int32
	i := 0
	for k, target := range uniq {
		for i < int(target) && i < len(src) {
			c := src[i]
			switch {
			case c == '\n':
				line, col = line+1, 0
				i++
			case c == '\r':
				line, col = line+1, 0
				i++
				if i < len(src) && src[i] == '\n' && i < int(target) {
					i++
				}
			case c < 0x80:
				col++
				i++
			case c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && (src[i+2] == 0xA8 || src[i+2] == 0xA9):
				line, col = line+1, 0 // U+2028, U+2029
				i += 3
			case c >= 0xF0:
				col += 2 // a 4-byte sequence is an astral character: a surrogate pair
				i++
			case c >= 0xC0:
				col++
				i++
			default:
				i++ // continuation byte
			}
		}
		p.pos[k] = pos32{line, col}
	}
	return p
}

func (p *positions) at(off int32) pos32 {
	k := sort.Search(len(p.offs), func(k int) bool { return p.offs[k] >= off })
	if k == len(p.offs) {
		return pos32{}
	}
	return p.pos[k]
}

// LineCol converts a byte offset of src to a Pos with the same rules the
// index uses (JS line terminators, UTF-16 columns).
func LineCol(src []byte, off int) Pos {
	if off < 0 {
		off = 0
	}
	if off > len(src) {
		off = len(src)
	}
	return newPositions(src, []int32{int32(off)}).pos[0].pos()
}
