package mapping

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"unsafe"
)

// alignedCopy returns data copied to a 64-byte aligned address (as a cache
// frame places a payload), or to an odd address when misalign is set.
func alignedCopy(data []byte, misalign bool) []byte {
	buf := make([]byte, len(data)+128)
	off := int(64 - uintptr(unsafe.Pointer(unsafe.SliceData(buf)))%64)
	if misalign {
		off++
	}
	out := buf[off : off+len(data) : off+len(data)]
	copy(out, data)
	return out
}

func encodeIndex(t testing.TB, m *Map) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := EncodeIndex(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func within(p unsafe.Pointer, data []byte) bool {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	return uintptr(p) >= start && uintptr(p) < start+uintptr(len(data))
}

// assertSameAnswers compares every answer a caller can get from two Maps:
// metadata, tables, every token, and lookups at every segment start (±1),
// column 0 of every line and random positions.
func assertSameAnswers(t *testing.T, want, got *Map) {
	t.Helper()
	if want.File() != got.File() || want.SourceRoot() != got.SourceRoot() || want.DebugID() != got.DebugID() {
		t.Fatalf("metadata: got (%q,%q,%q), want (%q,%q,%q)", got.File(), got.SourceRoot(), got.DebugID(), want.File(), want.SourceRoot(), want.DebugID())
	}
	if !reflect.DeepEqual(want.Sources(), got.Sources()) {
		t.Fatal("sources differ")
	}
	if want.NumNames() != got.NumNames() || want.NumLines() != got.NumLines() || want.NumTokens() != got.NumTokens() {
		t.Fatalf("counts: got names %d lines %d tokens %d, want %d %d %d",
			got.NumNames(), got.NumLines(), got.NumTokens(), want.NumNames(), want.NumLines(), want.NumTokens())
	}
	for i := -1; i <= want.NumSources(); i++ {
		wc, wok := want.SourceContent(i)
		gc, gok := got.SourceContent(i)
		if wc != gc || wok != gok || want.Ignored(i) != got.Ignored(i) || want.Source(i) != got.Source(i) {
			t.Fatalf("source %d differs", i)
		}
	}
	for i := -1; i <= want.NumNames(); i++ {
		if want.Name(i) != got.Name(i) {
			t.Fatalf("name %d: got %q, want %q", i, got.Name(i), want.Name(i))
		}
	}
	if !reflect.DeepEqual(want.FacebookSources(), got.FacebookSources()) {
		t.Fatal("x_facebook_sources differ")
	}
	var wt, gt []Token
	want.Tokens(func(tok Token) bool { wt = append(wt, tok); return true })
	got.Tokens(func(tok Token) bool { gt = append(gt, tok); return true })
	if !reflect.DeepEqual(wt, gt) {
		t.Fatal("tokens differ")
	}
	for _, p := range probePositions(want, 3000, 7) {
		wl, wok := want.Lookup(p[0], p[1])
		gl, gok := got.Lookup(p[0], p[1])
		if wl != gl || wok != gok {
			t.Fatalf("Lookup(%d,%d) = %+v %v, want %+v %v", p[0], p[1], gl, gok, wl, wok)
		}
		wa, wok := want.TokenAt(p[0], p[1])
		ga, gok := got.TokenAt(p[0], p[1])
		if wa != ga || wok != gok {
			t.Fatalf("TokenAt(%d,%d) = %+v %v, want %+v %v", p[0], p[1], ga, gok, wa, wok)
		}
		if wok && wa.Source >= 0 {
			wn, wf := want.FunctionNameAt(wa.Source, wa.SrcLine, wa.SrcCol)
			gn, gf := got.FunctionNameAt(ga.Source, ga.SrcLine, ga.SrcCol)
			if wn != gn || wf != gf {
				t.Fatalf("FunctionNameAt differs at %v", p)
			}
		}
	}
}

func TestIndexRoundTrip(t *testing.T) {
	type input struct {
		name string
		data []byte
	}
	var inputs []input
	for _, f := range realFixtures(t) {
		inputs = append(inputs, input{f.name, f.data})
	}
	for _, c := range edgeCases(t) {
		inputs = append(inputs, input{"edge/" + c.name, c.data})
	}
	inputs = append(inputs,
		input{"facebook", []byte(`{"version":3,"sources":["a.js","b.js"],"names":["x"],"mappings":"AAAAA;AACA","x_facebook_sources":[[{"names":["<global>","f","g"],"mappings":"AAA,ECE;CDE,EAC"}],null]}`)},
		input{"ignore-list-and-roots", []byte(`{"version":3,"file":"out.js","sourceRoot":"src/","debugId":"ABCDEF01-2345-6789-ABCD-EF0123456789","sources":["a.js",null,"c.js"],"sourcesContent":["x",null],"ignoreList":[2],"names":[],"mappings":"AAAA,EEAE;AACA,EDAA;;EAAA"}`)},
		input{"empty", []byte(`{"version":3,"sources":[],"names":[],"mappings":""}`)},
	)
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			orig, err := Parse(in.data)
			if err != nil {
				t.Fatal(err)
			}
			enc := encodeIndex(t, orig)
			for _, misalign := range []bool{false, true} {
				data := alignedCopy(enc, misalign)
				dec, size, err := DecodeIndex(data)
				if err != nil {
					t.Fatalf("misalign=%v: %v", misalign, err)
				}
				if size <= 0 || size != dec.SizeBytes() {
					t.Errorf("size %d, SizeBytes %d", size, dec.SizeBytes())
				}
				if dec.NumTokens() > 0 {
					// The packed segments are used in place (that is the
					// point of the format), aligned or not.
					if !within(unsafe.Pointer(&dec.segs.data[0]), data) {
						t.Errorf("misalign=%v: segments copied", misalign)
					}
				}
				assertSameAnswers(t, orig, dec)
				// DecodeIndex copies every string; the codec leaves the
				// contents (only them) in the data.
				viewed, _, err := IndexCodec{}.Decode(data)
				if err != nil {
					t.Fatal(err)
				}
				assertSameAnswers(t, orig, viewed)
				for i := range dec.NumSources() {
					if c, _ := dec.SourceContent(i); c != "" && within(unsafe.Pointer(unsafe.StringData(c)), data) {
						t.Errorf("DecodeIndex: content %d points into the data", i)
					}
					// What the index stores of a content (its chunks,
					// compressed or not) is left in the data.
					if c := viewed.contents[i]; c != "" && !within(unsafe.Pointer(unsafe.StringData(c)), data) {
						t.Errorf("IndexCodec.Decode: content %d copied", i)
					}
					if s := viewed.Source(i); s != "" && within(unsafe.Pointer(unsafe.StringData(s)), data) {
						t.Errorf("IndexCodec.Decode: source name %d points into the data", i)
					}
				}
				for i := range dec.NumNames() {
					if n := viewed.Name(i); n != "" && within(unsafe.Pointer(unsafe.StringData(n)), data) {
						t.Errorf("IndexCodec.Decode: name %d points into the data", i)
					}
				}
				if again := encodeIndex(t, dec); !bytes.Equal(again, enc) {
					t.Errorf("misalign=%v: re-encoding the decoded map gives other bytes", misalign)
				}
			}
		})
	}
}

func TestIndexCodecNames(t *testing.T) {
	var c IndexCodec
	if c.Format() != "sourcemap-index" || c.Version() != 2 {
		t.Fatalf("format %q version %d", c.Format(), c.Version())
	}
}

func TestDecodeIndexRejectsCorrupt(t *testing.T) {
	m, err := Parse(fixtureData(realFixtures(t), "axios"))
	if err != nil {
		t.Fatal(err)
	}
	enc := encodeIndex(t, m)
	le := binary.LittleEndian
	patch := func(off int, v uint64, width int) []byte {
		b := bytes.Clone(enc)
		switch width {
		case 8:
			le.PutUint64(b[off:], v)
		case 4:
			le.PutUint32(b[off:], uint32(v))
		default:
			b[off] = byte(v)
		}
		return b
	}
	nLines := int(le.Uint64(enc[8:]))
	descOff := indexHeader + pad8(4*nLines)
	nBlocks := (m.NumTokens() + segBlock - 1) / segBlock
	// reencode encodes m with one segment changed (EncodeIndex does not
	// check what it writes).
	reencode := func(change func(c *int32, s *segment)) []byte {
		var cols []int32
		var segs []segment
		m.Tokens(func(t Token) bool {
			cols = append(cols, int32(t.GenCol))
			segs = append(segs, segment{int32(t.Source), int32(t.SrcLine), int32(t.SrcCol), int32(t.Name)})
			return true
		})
		change(&cols[len(cols)/2], &segs[len(segs)/2])
		forged := *m
		forged.segs = packSegments(cols, segs)
		return encodeIndex(t, &forged)
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"short header", enc[:40]},
		{"bad magic", append([]byte("XMINDEX\x01"), enc[8:]...)},
		{"truncated by one byte", enc[:len(enc)-1]},
		{"truncated in half", enc[:len(enc)/2]},
		{"trailing byte", append(bytes.Clone(enc), 0)},
		{"absurd segment count", patch(16, 1<<40, 8)},
		{"segment count off by one", patch(16, uint64(m.NumTokens()+1), 8)},
		{"absurd line count", patch(8, 1<<62, 8)},
		{"zero lines", patch(8, 0, 8)},
		{"absurd sources", patch(24, 1<<31-1, 8)},
		{"absurd names", patch(32, 1<<33, 8)},
		{"unknown flag", patch(48, 4, 8)},
		{"functions without facebook flag", patch(40, 1, 8)},
		{"string bytes too many", patch(56, le.Uint64(enc[56:])+1, 8)},
		{"line table not starting at 0", patch(indexHeader, 1, 4)},
		{"line table decreasing", patch(indexHeader+4, 1<<31-1, 4)},
		{"block base column past int32", patch(descOff, 1<<31, 4)},
		{"source index out of range", reencode(func(_ *int32, s *segment) { s.source = int32(m.NumSources()) })},
		{"name index out of range", reencode(func(_ *int32, s *segment) { s.name = int32(m.NumNames()) })},
		{"name without source", reencode(func(_ *int32, s *segment) { s.source, s.name = -1, 0 })},
		{"column out of order (forged)", reencode(func(c *int32, _ *segment) { *c = 1<<31 - 1 })},
		{"field width over 32", patch(descOff+20, 33, 4)},
		{"unused width bits", patch(descOff+20, 1<<30, 4)},
		{"widths wider than the records", patch(descOff+blockDescLen*(nBlocks-1)+20, 32|32<<6|32<<12|32<<18|32<<24, 4)},
		{"other block size", patch(64, 5, 1)},
		{"nonzero block size padding", patch(69, 1, 1)},
		// Billions of segments in few bytes (found by FuzzDecodeIndex
		// when one segment could take no bit at all).
		{"segment count past the descriptors", patch(16, 1<<31-1, 8)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := DecodeIndex(c.data); !errors.Is(err, ErrBadIndex) {
				t.Fatalf("err = %v, want ErrBadIndex", err)
			}
		})
	}
}

// FuzzDecodeIndex: DecodeIndex never panics; what it accepts answers
// queries without panicking and keeps Parse's invariants.
func FuzzDecodeIndex(f *testing.F) {
	for _, c := range edgeCases(f) {
		m, err := Parse(c.data)
		if err != nil {
			f.Fatal(err)
		}
		enc := encodeIndex(f, m)
		f.Add(enc)
		f.Add(enc[:len(enc)/2])
		flipped := bytes.Clone(enc)
		flipped[len(flipped)/3] ^= 0x40
		f.Add(flipped)
	}
	m, err := Parse([]byte(`{"version":3,"sources":["a.js","b.js"],"sourcesContent":["q"],"ignoreList":[1],"names":["x"],"mappings":"AAAAA;AACA","x_facebook_sources":[[{"names":["<global>","f"],"mappings":"AAA,ECE;CDE"}],null]}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(encodeIndex(f, m))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, size, err := DecodeIndex(data)
		if err != nil {
			if !errors.Is(err, ErrBadIndex) {
				t.Fatalf("error does not wrap ErrBadIndex: %v", err)
			}
			return
		}
		if size <= 0 {
			t.Fatalf("size %d", size)
		}
		checkConsistent(t, m)
		var buf bytes.Buffer
		if err := EncodeIndex(&buf, m); err != nil {
			t.Fatal(err)
		}
		m2, _, err := DecodeIndex(buf.Bytes())
		if err != nil {
			t.Fatalf("re-encoded map does not decode: %v", err)
		}
		if m2.NumTokens() != m.NumTokens() || m2.NumSources() != m.NumSources() {
			t.Fatal("re-encoded map differs")
		}
	})
}

// BenchmarkDecodeIndex5MB: what a restart pays for the benchmark map once
// its index is on disk (compare BenchmarkParse5MB); the frame checksum and
// the page faults of the mapping come on top.
func BenchmarkDecodeIndex5MB(b *testing.B) {
	m, err := Parse(benchMap(b))
	if err != nil {
		b.Fatal(err)
	}
	data := alignedCopy(encodeIndex(b, m), false)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodeIndex(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data))/float64(len(benchMap(b))), "index/map-bytes")
}

func BenchmarkEncodeIndex5MB(b *testing.B) {
	m, err := Parse(benchMap(b))
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := EncodeIndex(&buf, m); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}

// TestContentRanges: every window of lines of every source of the real
// maps reads, through a decoded index's chunks, exactly as the source's
// lines from Parse; windows inside one stored-raw chunk are views.
func TestContentRanges(t *testing.T) {
	for _, f := range realFixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			orig, err := Parse(f.data)
			if err != nil {
				t.Fatal(err)
			}
			data := alignedCopy(encodeIndex(t, orig), false)
			dec, _, err := IndexCodec{}.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			compressed := 0
			for i := range orig.NumSources() {
				text, ok := orig.SourceContent(i)
				if _, dok := dec.ContentRange(i, 0, 0); dok != ok {
					t.Fatalf("source %d: ContentRange ok %v, has content %v", i, dok, ok)
				}
				if !ok {
					continue
				}
				lines := strings.SplitAfter(text, "\n")
				for _, w := range [][2]int{{-3, 2}, {0, 0}, {len(lines) / 2, len(lines)/2 + 10}, {len(lines) - 3, len(lines) + 5}, {len(lines) + 10, len(lines) + 20}} {
					r, ok := dec.ContentRange(i, w[0], w[1])
					if !ok {
						t.Fatalf("source %d: no range", i)
					}
					p, ok := dec.ContentText(r)
					if !ok {
						t.Fatalf("source %d lines %v: ContentText failed", i, w)
					}
					if !strings.HasPrefix(text[len(strings.Join(lines[:min(p.FirstLine, len(lines))], "")):], p.Text) {
						t.Fatalf("source %d lines %v: text from line %d is not the source's", i, w, p.FirstLine)
					}
					got := strings.SplitAfter(p.Text, "\n")
					if p.FirstLine > max(w[0], 0) || (p.FirstLine+len(got) < min(w[1], len(lines)-1) && p.FirstLine+len(got) < len(lines)) {
						t.Fatalf("source %d lines %v: part covers from line %d, %d lines", i, w, p.FirstLine, len(got))
					}
					if p.Copy {
						compressed++
					} else if p.Text != "" && !within(unsafe.Pointer(unsafe.StringData(p.Text)), data) {
						t.Fatalf("source %d: a part that is not a copy is not a view", i)
					}
				}
			}
			if len(f.data) > 200_000 && compressed == 0 {
				t.Error("nothing stored compressed")
			}
		})
	}
}

// TestDamagedChunks: chunk tables that disagree with the stored content
// are rejected; compressed bytes damaged behind the frame checksum's back
// read as no content, never as a panic.
func TestDamagedChunks(t *testing.T) {
	m, err := Parse(fixtureData(realFixtures(t), "axios"))
	if err != nil {
		t.Fatal(err)
	}
	dec, _, err := DecodeIndex(alignedCopy(encodeIndex(t, m), false))
	if err != nil {
		t.Fatal(err)
	}
	c := dec.chunks
	z := -1
	for j := range c.size {
		if c.size[j] < c.textLen[j] {
			z = j
			break
		}
	}
	if z < 0 {
		t.Fatal("no compressed chunk")
	}
	src := sort.Search(len(c.start), func(i int) bool { return c.start[i] > uint32(z) }) - 1
	bad := *c
	bad.size = append([]uint32(nil), c.size...)
	bad.size[z]++
	if err := bad.check(dec.contents, dec.hasCont); !errors.Is(err, ErrBadIndex) {
		t.Errorf("size off by one: %v", err)
	}
	bomb := *c
	bomb.textLen = append([]uint32(nil), c.textLen...)
	bomb.textLen[z] = c.size[z]*maxChunkExpansion + 1
	if err := bomb.check(dec.contents, dec.hasCont); !errors.Is(err, ErrBadIndex) {
		t.Errorf("a chunk %dx its stored size: %v", maxChunkExpansion+1, err)
	}
	stored := []byte(dec.contents[src])
	for k := c.off[z]; k < c.off[z]+c.size[z]; k += 7 {
		stored[k] ^= 0x5a
	}
	dec.contents[src] = string(stored)
	r := ContentRange{Source: src, First: z - int(c.start[src]), Last: z - int(c.start[src])}
	if p, ok := dec.ContentText(r); ok {
		want, _ := m.SourceContent(src)
		if !strings.Contains(want, p.Text) {
			t.Error("damaged chunk inflated to text that is not the source's")
		}
	}
	if _, ok := dec.ContentText(ContentRange{Source: src, First: 0, Last: 1 << 20}); ok {
		t.Error("range past the chunks accepted")
	}
}
