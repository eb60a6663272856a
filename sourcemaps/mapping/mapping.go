// Package mapping decodes JavaScript source maps (ECMA-426: regular maps and
// index maps with "sections") into compact flat arrays and answers
// "which original position produced this generated position" exactly.
//
// Positions are 0-based; generated and original columns count UTF-16 code
// units, as the spec and every JS engine do.
//
// Semantics chosen where the spec leaves room; lookups are checked against
// @jridgewell/trace-mapping 0.3.31 in the tests:
//   - Lookup finds the segment on the same generated line with the greatest
//     column <= the queried column; it never borrows from an earlier line.
//     Segments out of order within a line are sorted (stably). Among
//     segments sharing a column, an exact hit gives the first written and a
//     position past them the last (trace-mapping does the same).
//   - A 1-field segment is a token with Source -1 ("generated code with no
//     original"), not a missing token.
//   - A segment with a bad VLQ, 2, 3 or more than 5 fields, a negative
//     accumulated value, or a source/name index outside the tables makes the
//     whole map ErrMalformed (no partial trust). Empty segments ("A,,B",
//     a trailing ",") are skipped; a "-0" VLQ reads as 0.
//   - Index maps: a section's column offset applies to its first line only;
//     a section's mappings stop where the next section begins (as in
//     trace-mapping's FlattenMap); sections must be strictly increasing by
//     offset; nested index maps (which trace-mapping accepts, the spec does
//     not) and "url" sections are ErrMalformed. Sources, contents, names and
//     ignore lists of the sections are merged in section order; File and
//     DebugID come from the top level.
//   - Sources are not URL-resolved (trace-mapping normalises them with
//     resolve-uri: "webpack:///./a.js" becomes "webpack:///a.js"); see
//     Map.Sources.
//   - "version" may be absent; if present it must be 3. The JSON must be
//     well-formed (strings, escapes, numbers and nesting are validated).
package mapping

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unsafe"
)

// ErrMalformed is wrapped by every error Parse returns.
var ErrMalformed = errors.New("malformed source map")

// Token is one decoded mapping segment.
type Token struct {
	GenLine, GenCol int // 0-based; GenCol in UTF-16 code units
	Source          int // index into Sources, -1 when the segment has no source (1-field segment)
	SrcLine, SrcCol int // 0-based; 0 when Source is -1
	Name            int // index into Names, -1 when none
}

// Map is a parsed source map. It is immutable and safe for concurrent use.
type Map struct {
	file, sourceRoot, debugID string

	sources  []string // sourceRoot applied
	contents []string // the texts; for a Map decoded from an index, the chunks as stored (see chunks)
	hasCont  []bool
	chunks   *contentChunks // nil for a Map from Parse
	names    []string
	ignored  []bool // nil when the map has no ignore list

	lineStart []int32 // len = lines+1; line i's segments are [lineStart[i], lineStart[i+1])
	segs      segTable

	blockStart, blocks []int32 // two-level index of long lines, see buildBlocks

	fbSources []FacebookSource // nil unless x_facebook_sources present

	size int64
}

// File is the map's "file" member.
func (m *Map) File() string { return m.file }

// SourceRoot is the top-level "sourceRoot" member as written (already
// applied to Sources).
func (m *Map) SourceRoot() string { return m.sourceRoot }

// Sources returns the source names with the map's (or, in an index map, the
// section's) sourceRoot applied the way ECMA-426 does before URL resolution:
// a non-empty sourceRoot is prefixed, with a "/" between them unless the
// root already ends in one. Nothing else is changed: "webpack:///./src/a.js"
// stays as written, and resolving a relative source against the map's URL is
// the caller's job (only it knows that URL). A null source is "". The slice
// is a copy.
func (m *Map) Sources() []string { return append([]string(nil), m.sources...) }

// NumSources is len(Sources()) without the copy.
func (m *Map) NumSources() int { return len(m.sources) }

// Source returns Sources()[i], or "" when i is out of range.
func (m *Map) Source(i int) string {
	if i < 0 || i >= len(m.sources) {
		return ""
	}
	return m.sources[i]
}

// HasSourceContent reports whether SourceContent(i) has a text, without
// decompressing it.
func (m *Map) HasSourceContent(i int) bool {
	return i >= 0 && i < len(m.contents) && m.hasCont[i]
}

// SourceContent returns sourcesContent[i]; ok is false when the entry is
// null, missing or i is out of range. A Map decoded from an index keeps
// contents compressed and inflates the whole text on each call: callers
// that need some lines ask ContentRange and ContentText instead.
func (m *Map) SourceContent(i int) (string, bool) {
	if !m.HasSourceContent(i) {
		return "", false
	}
	return m.wholeContent(i)
}

// Name returns names[i], or "" when i is out of range.
func (m *Map) Name(i int) string {
	if i < 0 || i >= len(m.names) {
		return ""
	}
	return m.names[i]
}

// NumNames is the length of the names table.
func (m *Map) NumNames() int { return len(m.names) }

// Ignored reports whether source i is in "ignoreList" (or, when that is
// absent, "x_google_ignoreList").
func (m *Map) Ignored(i int) bool {
	return i >= 0 && i < len(m.ignored) && m.ignored[i]
}

// DebugID is the "debugId" (or "debug_id") member, lower-cased.
func (m *Map) DebugID() string { return m.debugID }

// SizeBytes approximates the memory the Map retains.
func (m *Map) SizeBytes() int64 { return m.size }

// NumLines is the number of generated lines that have an index entry
// (lines after the last segment are not counted).
func (m *Map) NumLines() int { return len(m.lineStart) - 1 }

// NumTokens is the number of segments.
func (m *Map) NumTokens() int { return m.segs.n }

func (m *Map) token(line, i int) Token {
	s := m.segs.seg(i)
	return Token{
		GenLine: line,
		GenCol:  int(m.segs.col(i)),
		Source:  int(s.source),
		SrcLine: int(s.srcLine),
		SrcCol:  int(s.srcCol),
		Name:    int(s.name),
	}
}

// Lookup returns the token covering the 0-based generated (line, UTF-16
// column): the segment on that same line with the greatest GenCol <= col.
// ok is false when the line has no segment at or before col.
//
// Several segments may share a column. Like trace-mapping, an exact hit
// answers with the first of them and a position past them with the last
// (the segment written last "covers" the code that follows).
func (m *Map) Lookup(line, col int) (Token, bool) {
	if line < 0 || col < 0 || line >= len(m.lineStart)-1 {
		return Token{}, false
	}
	start := int(m.lineStart[line])
	lo, hi := start, int(m.lineStart[line+1])
	c := int32(math.MaxInt32)
	if col < math.MaxInt32 {
		c = int32(col)
	}
	if m.blockStart != nil {
		if bs, be := int(m.blockStart[line]), int(m.blockStart[line+1]); bs < be {
			// k = number of block keys <= c; the first column > c is then
			// in (start+k*blockSize, start+(k+1)*blockSize].
			blo, bhi := bs, be
			for blo < bhi {
				mid := int(uint(blo+bhi) >> 1)
				if m.blocks[mid] <= c {
					blo = mid + 1
				} else {
					bhi = mid
				}
			}
			k := blo - bs
			lo = start + k*blockSize
			hi = min(hi, lo+blockSize)
		}
	}
	// First index in [lo,hi) whose column is > c.
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if m.segs.col(mid) <= c {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == start {
		return Token{}, false
	}
	k := lo - 1
	if k > start && m.segs.col(k-1) == c && m.segs.col(k) == c {
		k = m.firstAt(start, k, c)
	}
	return m.token(line, k), true
}

// firstAt returns the first index in [lo,hi] whose column is c, given
// cols[hi] == c and the range sorted.
func (m *Map) firstAt(lo, hi int, c int32) int {
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if m.segs.col(mid) < c {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// TokenAt returns the segment that starts exactly at (line, col) (the
// first one when several do).
func (m *Map) TokenAt(line, col int) (Token, bool) {
	t, ok := m.Lookup(line, col)
	if !ok || t.GenCol != col {
		return Token{}, false
	}
	return t, true
}

// Tokens calls yield for every token in generated order until it returns
// false.
func (m *Map) Tokens(yield func(Token) bool) {
	for line := 0; line+1 < len(m.lineStart); line++ {
		for i := m.lineStart[line]; i < m.lineStart[line+1]; i++ {
			if !yield(m.token(line, int(i))) {
				return
			}
		}
	}
}

// strRef names a string added to the arena; it resolves once the arena is
// frozen. The zero strRef is an absent (or null) string.
type strRef struct {
	idx     int32
	present bool
}

// arena collects every string the Map keeps so they share one allocation,
// sized exactly, and none of them pins the (much larger) input. Strings are
// recorded as slices of the input during the JSON scan and copied (and
// unescaped) once, in freeze, when their total size is known.
type arena struct {
	pending []pendingString
	total   int
	str     string
	offs    []int
}

type pendingString struct {
	raw     []byte
	escaped bool
}

func (a *arena) add(raw []byte, escaped bool) strRef {
	a.pending = append(a.pending, pendingString{raw, escaped})
	a.total += len(raw)
	return strRef{idx: int32(len(a.pending) - 1), present: true}
}

// freeze copies the recorded strings into one buffer and turns it into a
// string without a second copy: the buffer is never written again, which
// is what makes unsafe.String sound here.
func (a *arena) freeze() {
	buf := make([]byte, 0, a.total)
	a.offs = make([]int, len(a.pending)+1)
	for i, p := range a.pending {
		a.offs[i] = len(buf)
		if p.escaped {
			buf = appendUnescaped(buf, p.raw)
		} else {
			buf = append(buf, p.raw...)
		}
	}
	a.offs[len(a.pending)] = len(buf)
	a.pending = nil
	if cap(buf)-len(buf) > len(buf)/8 {
		// Escapes such as esbuild's \u00FC shrank the text noticeably.
		buf = append([]byte(nil), buf...)
	}
	if len(buf) > 0 {
		a.str = unsafe.String(unsafe.SliceData(buf), len(buf))
	}
}

func (r strRef) in(a *arena) string {
	if !r.present {
		return ""
	}
	return a.str[a.offs[r.idx]:a.offs[r.idx+1]]
}

// rawMap is one map object as read from JSON, before its mappings are decoded.
type rawMap struct {
	hasVersion       bool
	version          float64
	file, sourceRoot strRef
	debugID          strRef
	sources          []strRef
	contents         []strRef
	names            []strRef
	hasMappings      bool
	mappings         []byte // raw, still JSON-escaped if mappingsEscaped
	mappingsEscaped  bool
	ignore           []int32
	hasIgnore        bool
	googleIgnore     []int32
	hasGoogleIgnore  bool
	hasSections      bool
	sections         []rawSection
	fbSources        []rawFBSource
	hasFBSources     bool
}

type rawSection struct {
	line, col int32
	m         *rawMap
}

func (s *scanner) stringOrNull(a *arena, what string) (strRef, error) {
	if s.peek() == 'n' {
		return strRef{}, s.literal("null")
	}
	if s.peek() != '"' {
		return strRef{}, s.errorf("%s must be a string or null", what)
	}
	raw, esc, err := s.rawString()
	if err != nil {
		return strRef{}, err
	}
	return a.add(raw, esc), nil
}

func (s *scanner) stringArray(a *arena, what string) ([]strRef, error) {
	if s.peek() == 'n' {
		return nil, s.literal("null")
	}
	var out []strRef
	err := s.array(func() error {
		r, err := s.stringOrNull(a, what)
		out = append(out, r)
		return err
	})
	return out, err
}

func (s *scanner) indexArray(what string) ([]int32, error) {
	var out []int32
	err := s.array(func() error {
		v, err := s.index(what)
		out = append(out, v)
		return err
	})
	return out, err
}

// parseMapObject reads one source map object. inSection is true for the
// "map" of an index-map section, where "sections" is not allowed.
func (s *scanner) parseMapObject(a *arena, inSection bool) (*rawMap, error) {
	if s.peek() != '{' {
		return nil, s.errorf("source map must be a JSON object")
	}
	rm := &rawMap{}
	err := s.object(func(key string) error {
		var err error
		switch key {
		case "version":
			rm.hasVersion = true
			rm.version, err = s.number()
		case "file":
			rm.file, err = s.stringOrNull(a, "file")
		case "sourceRoot":
			rm.sourceRoot, err = s.stringOrNull(a, "sourceRoot")
		case "debugId", "debug_id":
			if key == "debug_id" && rm.debugID.present {
				return s.skipValue(0) // "debugId" is the standard spelling; it wins
			}
			rm.debugID, err = s.stringOrNull(a, key)
		case "sources":
			rm.sources, err = s.stringArray(a, "sources entry")
		case "sourcesContent":
			rm.contents, err = s.stringArray(a, "sourcesContent entry")
		case "names":
			rm.names, err = s.stringArray(a, "names entry")
		case "mappings":
			if s.peek() != '"' {
				return s.errorf("mappings must be a string")
			}
			rm.hasMappings = true
			rm.mappings, rm.mappingsEscaped, err = s.rawString()
		case "ignoreList":
			rm.hasIgnore = true
			rm.ignore, err = s.indexArray("ignoreList entry")
		case "x_google_ignoreList":
			rm.hasGoogleIgnore = true
			rm.googleIgnore, err = s.indexArray("x_google_ignoreList entry")
		case "x_facebook_sources":
			rm.hasFBSources = true
			rm.fbSources, err = s.facebookSources(a)
		case "sections":
			if inSection {
				return s.errorf("nested index map: a section's map has \"sections\"")
			}
			rm.hasSections = true
			err = s.array(func() error {
				sec, err := s.parseSection(a)
				rm.sections = append(rm.sections, sec)
				return err
			})
		default:
			err = s.skipValue(0)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if rm.hasVersion && rm.version != 3 {
		return nil, fmt.Errorf("%w: unsupported version %v (want 3)", ErrMalformed, rm.version)
	}
	if rm.hasSections && rm.hasMappings {
		return nil, fmt.Errorf("%w: map has both \"sections\" and \"mappings\"", ErrMalformed)
	}
	if !rm.hasSections && !rm.hasMappings {
		return nil, fmt.Errorf("%w: map has no \"mappings\"", ErrMalformed)
	}
	return rm, nil
}

func (s *scanner) parseSection(a *arena) (rawSection, error) {
	var sec rawSection
	hasOffset, hasURL := false, false
	err := s.object(func(key string) error {
		switch key {
		case "offset":
			hasOffset = true
			hasLine, hasCol := false, false
			err := s.object(func(k string) error {
				var err error
				switch k {
				case "line":
					hasLine = true
					sec.line, err = s.index("section offset line")
				case "column":
					hasCol = true
					sec.col, err = s.index("section offset column")
				default:
					err = s.skipValue(0)
				}
				return err
			})
			if err == nil && (!hasLine || !hasCol) {
				err = s.errorf("section offset needs line and column")
			}
			return err
		case "map":
			m, err := s.parseMapObject(a, true)
			sec.m = m
			return err
		case "url":
			hasURL = true
			return s.skipValue(0)
		default:
			return s.skipValue(0)
		}
	})
	if err != nil {
		return sec, err
	}
	switch {
	case hasURL:
		return sec, s.errorf("index map section refers to its map by \"url\"; such maps cannot be fetched, inline the map instead")
	case sec.m == nil:
		return sec, s.errorf("index map section has no \"map\"")
	case !hasOffset:
		return sec, s.errorf("index map section has no \"offset\"")
	}
	return sec, nil
}

// Parse decodes a source map (regular, or index map with "sections"). It
// never panics; malformed input gives an error wrapping ErrMalformed. The
// returned Map does not retain data.
func Parse(data []byte) (*Map, error) {
	s := &scanner{data: data}
	a := &arena{}
	rm, err := s.parseMapObject(a, false)
	if err != nil {
		return nil, err
	}
	if s.peek() != 0 {
		return nil, s.errorf("trailing data after the source map")
	}
	if rm.hasSections {
		return buildIndexMap(rm, a, len(data))
	}
	return buildRegularMap(rm, a, len(data))
}

// tables gathers the merged sources/names/contents/ignore tables of all
// (section) maps as references into the arena.
type tables struct {
	sources, contents, names []strRef
	roots                    []strRef // sourceRoot per source
	ignored                  []bool
	anyIgnore                bool
}

func (t *tables) add(rm *rawMap) error {
	base := len(t.sources)
	n := len(rm.sources)
	t.sources = append(t.sources, rm.sources...)
	for i := 0; i < n; i++ {
		t.roots = append(t.roots, rm.sourceRoot)
		var c strRef
		if i < len(rm.contents) {
			c = rm.contents[i]
		}
		t.contents = append(t.contents, c)
	}
	t.names = append(t.names, rm.names...)
	t.ignored = append(t.ignored, make([]bool, n)...)
	list := rm.ignore
	if !rm.hasIgnore {
		list = rm.googleIgnore
	}
	for _, i := range list {
		if int(i) >= n {
			return fmt.Errorf("%w: ignoreList entry %d out of range [0,%d)", ErrMalformed, i, n)
		}
		t.ignored[base+int(i)] = true
		t.anyIgnore = true
	}
	return nil
}

// mappingsBytes returns the mappings with JSON escapes removed (never
// needed for real maps: the VLQ alphabet has nothing to escape).
func (rm *rawMap) mappingsBytes() []byte {
	if rm.mappingsEscaped {
		return appendUnescaped(nil, rm.mappings)
	}
	return rm.mappings
}

// segmentBound is an upper bound of the segments in a mappings string
// (every segment but the last ends in ',' or ';'), so the arrays are sized
// once; bytes.Count is vectorised and costs well under 1% of decoding.
// segmentBound counts the non-empty segments of a mappings string, the
// capacity to reserve: counting separators instead would let a string of
// empty lines reserve 20 bytes per ';'.
func segmentBound(mappings []byte) int {
	n := 0
	prevSep := true
	for _, c := range mappings {
		sep := c == ',' || c == ';'
		if prevSep && !sep {
			n++
		}
		prevSep = sep
	}
	return n
}

func buildRegularMap(rm *rawMap, a *arena, inputLen int) (*Map, error) {
	var t tables
	if err := t.add(rm); err != nil {
		return nil, err
	}
	mp := rm.mappingsBytes()
	b := newBuilder(segmentBound(mp), maxLinesBase+inputLen)
	p := &sectionPlacement{nSources: int32(len(rm.sources)), nNames: int32(len(rm.names))}
	if err := b.decode(mp, p); err != nil {
		return nil, err
	}
	b.finish()
	return assemble(rm, a, &t, b, []*rawMap{rm}), nil
}

func buildIndexMap(rm *rawMap, a *arena, inputLen int) (*Map, error) {
	var t tables
	hint := 0
	for i, sec := range rm.sections {
		if i > 0 {
			prev := rm.sections[i-1]
			if sec.line < prev.line || (sec.line == prev.line && sec.col <= prev.col) {
				return nil, fmt.Errorf("%w: index map section %d (offset %d:%d) does not start after section %d (offset %d:%d)",
					ErrMalformed, i, sec.line, sec.col, i-1, prev.line, prev.col)
			}
		}
		hint += segmentBound(sec.m.mappings)
	}
	b := newBuilder(hint, maxLinesBase+inputLen)
	maps := make([]*rawMap, 0, len(rm.sections))
	for i, sec := range rm.sections {
		p := &sectionPlacement{
			lineOff:            sec.line,
			colOff:             sec.col,
			srcBase:            int32(len(t.sources)),
			nameBase:           int32(len(t.names)),
			nSources:           int32(len(sec.m.sources)),
			nNames:             int32(len(sec.m.names)),
			sectionDescription: fmt.Sprintf("section %d ", i),
		}
		if i+1 < len(rm.sections) {
			p.clip = true
			p.stopLine, p.stopCol = rm.sections[i+1].line, rm.sections[i+1].col
		}
		if err := t.add(sec.m); err != nil {
			return nil, err
		}
		if len(t.sources) > math.MaxInt32 || len(t.names) > math.MaxInt32 {
			return nil, fmt.Errorf("%w: too many sources or names", ErrMalformed)
		}
		if err := b.decode(sec.m.mappingsBytes(), p); err != nil {
			return nil, err
		}
		maps = append(maps, sec.m)
	}
	b.finish()
	return assemble(rm, a, &t, b, maps), nil
}

func assemble(top *rawMap, a *arena, t *tables, b *builder, maps []*rawMap) *Map {
	a.freeze()
	str := a.str
	m := &Map{
		file:       top.file.in(a),
		sourceRoot: top.sourceRoot.in(a),
		debugID:    strings.ToLower(strings.TrimSpace(top.debugID.in(a))),
		sources:    make([]string, len(t.sources)),
		contents:   make([]string, len(t.contents)),
		hasCont:    make([]bool, len(t.contents)),
		names:      make([]string, len(t.names)),
		lineStart:  b.lineStart,
		segs:       b.packed,
		blockStart: b.blockStart,
		blocks:     b.blocks,
	}
	var extra int64
	for i, r := range t.sources {
		src := r.in(a)
		if root := t.roots[i].in(a); root != "" && r.present {
			if strings.HasSuffix(root, "/") {
				src = root + src
			} else {
				src = root + "/" + src
			}
			extra += int64(len(src))
		}
		m.sources[i] = src
	}
	for i, r := range t.contents {
		m.contents[i] = r.in(a)
		m.hasCont[i] = r.present
	}
	for i, r := range t.names {
		m.names[i] = r.in(a)
	}
	if t.anyIgnore {
		m.ignored = t.ignored
	}
	m.fbSources = buildFacebookSources(maps, a)
	const strHeader = int64(unsafe.Sizeof(""))
	m.size = int64(unsafe.Sizeof(*m)) + int64(len(str)) + extra +
		strHeader*int64(len(m.sources)+len(m.contents)+len(m.names)) +
		int64(len(m.hasCont)+len(m.ignored)) +
		4*int64(cap(m.lineStart)+cap(m.blockStart)+cap(m.blocks)) + m.segs.sizeBytes() +
		facebookSize(m.fbSources)
	return m
}
