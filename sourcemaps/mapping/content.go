package mapping

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/klauspost/compress/s2"
)

// An index stores each source's content as chunks of whole lines,
// compressed one by one: a frame's context needs a few lines of one
// source, so a replica that takes the index from the object store moves a
// quarter of the bytes and inflates a chunk or two per frame, not the
// megabytes of sourcesContent a bundle's map carries.
const (
	// contentChunk is the text a chunk holds before it ends at the next
	// line break (a longer line stays whole).
	contentChunk = 16 << 10
	// minCompressedChunk: smaller chunks are stored as they are.
	minCompressedChunk = 512
	// maxChunkExpansion bounds how much larger than its stored bytes a
	// compressed chunk's text may be: a forged index cannot make a frame's
	// context inflate gigabytes out of a few bytes. Chunks of real text
	// that compress better are stored as they are.
	maxChunkExpansion = 64
)

// contentChunks is how a Map decoded from an index holds its sources'
// contents; a Map from Parse has none (contents holds the texts).
type contentChunks struct {
	start     []uint32 // per source, its first chunk; len sources+1
	firstLine []uint32 // per chunk, the 0-based line it starts with
	textLen   []uint32 // per chunk, bytes of text
	// A chunk's stored bytes are size bytes at off in its source's entry
	// of Map.contents (the chunks' stored bytes one after another): the
	// text itself when size is textLen, else the text s2-compressed.
	off, size []uint32 // per chunk
}

// ContentRange names the part of a source's content that covers some
// lines: the chunks First..Last of the source (0, 0 for a whole text).
type ContentRange struct {
	Source, First, Last int
}

// ContentPart is the text of a ContentRange: whole lines, starting with
// line FirstLine (0-based) of the source. Copy is set when the text is
// the ContentPart's own (inflated) rather than a view of the Map's
// memory, which lives only as long as the Map.
type ContentPart struct {
	Text      string
	FirstLine int
	Copy      bool
}

// ContentRange returns the part of source i's content that holds lines
// first..last (0-based, clamped to the source); ok is false when the
// source has no content.
func (m *Map) ContentRange(i, first, last int) (ContentRange, bool) {
	if !m.HasSourceContent(i) {
		return ContentRange{}, false
	}
	c := m.chunks
	if c == nil {
		return ContentRange{Source: i}, true
	}
	lo, hi := int(c.start[i]), int(c.start[i+1])
	// The last chunk starting at or before line.
	find := func(line int) int {
		k := sort.Search(hi-lo, func(k int) bool { return int(c.firstLine[lo+k]) > line })
		return lo + max(k-1, 0)
	}
	return ContentRange{Source: i, First: find(first) - lo, Last: find(max(first, last)) - lo}, true
}

// ContentText returns the text of r. It inflates the chunks when they are
// stored compressed; ok is false when they do not inflate (a damaged
// index) or r is not a range of this Map.
func (m *Map) ContentText(r ContentRange) (ContentPart, bool) {
	if !m.HasSourceContent(r.Source) {
		return ContentPart{}, false
	}
	c := m.chunks
	if c == nil {
		if r.First != 0 || r.Last != 0 {
			return ContentPart{}, false
		}
		return ContentPart{Text: m.contents[r.Source]}, true
	}
	lo, hi := int(c.start[r.Source]), int(c.start[r.Source+1])
	if lo == hi && r.First == 0 && r.Last == 0 {
		return ContentPart{}, true // an empty text
	}
	j0, j1 := lo+r.First, lo+r.Last
	if r.First < 0 || r.First > r.Last || j1 >= hi {
		return ContentPart{}, false
	}
	stored := m.contents[r.Source]
	chunk := func(j int) string { return stored[c.off[j] : c.off[j]+c.size[j]] }
	part := ContentPart{FirstLine: int(c.firstLine[j0])}
	if j0 == j1 && uint32(len(chunk(j0))) == c.textLen[j0] {
		part.Text = chunk(j0) // stored raw: a view
		return part, true
	}
	total := 0
	for j := j0; j <= j1; j++ {
		total += int(c.textLen[j])
	}
	buf := make([]byte, 0, total)
	for j := j0; j <= j1; j++ {
		z := chunk(j)
		if uint32(len(z)) == c.textLen[j] {
			buf = append(buf, z...)
			continue
		}
		zb := unsafe.Slice(unsafe.StringData(z), len(z))
		if n, err := s2.DecodedLen(zb); err != nil || n != int(c.textLen[j]) {
			return ContentPart{}, false
		}
		out, err := s2.Decode(buf[len(buf):cap(buf)], zb)
		if err != nil || len(out) != int(c.textLen[j]) {
			return ContentPart{}, false
		}
		buf = buf[:len(buf)+len(out)]
	}
	// buf is this function's own and never written again.
	part.Text, part.Copy = unsafe.String(unsafe.SliceData(buf), len(buf)), true
	return part, true
}

// wholeContent returns source i's text (every chunk inflated).
func (m *Map) wholeContent(i int) (string, bool) {
	if m.chunks == nil {
		return m.contents[i], true
	}
	n := int(m.chunks.start[i+1] - m.chunks.start[i])
	if n == 0 {
		return "", true
	}
	p, ok := m.ContentText(ContentRange{Source: i, First: 0, Last: n - 1})
	return p.Text, ok
}

// chunkedContents splits and compresses the sources' contents for an
// index (the sources in parallel: a bundle's are megabytes, and this runs
// on the first request for a map). A Map decoded from an index is already
// chunked and is returned as it is.
func (m *Map) chunkedContents() ([]string, *contentChunks) {
	if m.chunks != nil {
		return m.contents, m.chunks
	}
	type split struct {
		stored                    string
		firstLine, textLen, sizes []uint32
	}
	parts := make([]split, len(m.contents))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(m.contents) {
					return
				}
				if !m.hasCont[i] {
					continue
				}
				p := &parts[i]
				var b strings.Builder
				text, line := m.contents[i], 0
				for len(text) > 0 {
					n := len(text)
					if n > contentChunk {
						if k := strings.IndexByte(text[contentChunk:], '\n'); k >= 0 {
							n = contentChunk + k + 1
						}
					}
					t := text[:n]
					stored := t
					if n >= minCompressedChunk {
						z := s2.EncodeBetter(nil, unsafe.Slice(unsafe.StringData(t), n))
						if len(z) <= n-n/8 && n <= maxChunkExpansion*len(z) {
							stored = unsafe.String(unsafe.SliceData(z), len(z))
						}
					}
					b.WriteString(stored)
					p.firstLine = append(p.firstLine, uint32(line))
					p.textLen = append(p.textLen, uint32(n))
					p.sizes = append(p.sizes, uint32(len(stored)))
					line += strings.Count(t, "\n")
					text = text[n:]
				}
				p.stored = b.String()
			}
		})
	}
	wg.Wait()
	c := &contentChunks{start: make([]uint32, 1, len(m.contents)+1)}
	stored := make([]string, len(m.contents))
	for i, p := range parts {
		stored[i] = p.stored
		c.firstLine = append(c.firstLine, p.firstLine...)
		c.textLen = append(c.textLen, p.textLen...)
		c.start = append(c.start, uint32(len(c.firstLine)))
		off := uint32(0)
		for _, n := range p.sizes {
			c.off = append(c.off, off)
			c.size = append(c.size, n)
			off += n
		}
	}
	return stored, c
}

// check verifies chunk tables read from an index (size included) against
// the stored contents, and fills in off: lookups then never index outside
// them.
func (c *contentChunks) check(contents []string, hasCont []bool) error {
	nChunks := uint32(len(c.firstLine))
	if len(c.start) != len(contents)+1 || c.start[0] != 0 || c.start[len(c.start)-1] != nChunks ||
		len(c.textLen) != len(c.firstLine) || len(c.size) != len(c.firstLine) {
		return fmt.Errorf("%w: chunk table does not cover the sources", ErrBadIndex)
	}
	c.off = make([]uint32, nChunks)
	for i := range contents {
		lo, hi := c.start[i], c.start[i+1]
		if hi < lo || hi > nChunks {
			return fmt.Errorf("%w: chunks of source %d out of range", ErrBadIndex, i)
		}
		if !hasCont[i] && hi > lo {
			return fmt.Errorf("%w: source %d has no content but %d chunks", ErrBadIndex, i, hi-lo)
		}
		var sum uint64
		for j := lo; j < hi; j++ {
			if c.textLen[j] == 0 || c.size[j] == 0 || c.size[j] > c.textLen[j] || uint64(c.textLen[j]) > maxChunkExpansion*uint64(c.size[j]) ||
				(j == lo && c.firstLine[j] != 0) || (j > lo && c.firstLine[j] <= c.firstLine[j-1]) {
				return fmt.Errorf("%w: chunk %d of source %d is inconsistent", ErrBadIndex, j-lo, i)
			}
			c.off[j] = uint32(sum)
			sum += uint64(c.size[j])
		}
		if sum != uint64(len(contents[i])) {
			return fmt.Errorf("%w: chunks of source %d hold %d bytes, the content %d", ErrBadIndex, i, sum, len(contents[i]))
		}
	}
	return nil
}
