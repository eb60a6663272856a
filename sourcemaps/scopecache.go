package sourcemaps

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"unsafe"

	"github.com/stacklens/stacklens/sourcemaps/scopes"
)

// scopeTable is a minified file's function scopes in a form that can be
// stored as a derived file: parsing a large bundle's scopes costs hundreds
// of milliseconds, far more than its source map. It answers Innermost
// exactly as the scopes.Index it was built from (checked in the tests).
// failed records that scopes.Parse could not read the file, so that a
// restart does not try again.
type scopeTable struct {
	failed bool
	scopes []scopes.Scope // in order of start, outer before inner
	// Breakpoints of the innermost-scope function: from at[i] until
	// at[i+1], scope which[i] is innermost (-1: top-level code).
	at    []scopes.Pos
	which []int32
	size  int64
}

func newScopeTable(idx *scopes.Index) *scopeTable {
	t := &scopeTable{scopes: make([]scopes.Scope, idx.Len())}
	for i := range t.scopes {
		t.scopes[i] = idx.Scope(i)
	}
	t.finish()
	return t
}

func posLess(p, q scopes.Pos) bool { return p.Line < q.Line || (p.Line == q.Line && p.Col < q.Col) }

// finish computes the breakpoints (scopes sorted by start, outer first,
// properly nested, as scopes.Parse returns them) and the size.
func (t *scopeTable) finish() {
	t.at, t.which = t.at[:0], t.which[:0]
	emit := func(at scopes.Pos, scope int32) {
		if n := len(t.at); n > 0 && t.at[n-1] == at {
			t.which[n-1] = scope
			return
		}
		t.at = append(t.at, at)
		t.which = append(t.which, scope)
	}
	var stack []int32
	top := func() int32 {
		if len(stack) == 0 {
			return -1
		}
		return stack[len(stack)-1]
	}
	for i, sc := range t.scopes {
		for len(stack) > 0 && !posLess(sc.Start, t.scopes[top()].End) {
			end := t.scopes[top()].End
			stack = stack[:len(stack)-1]
			emit(end, top())
		}
		emit(sc.Start, int32(i))
		stack = append(stack, int32(i))
	}
	for len(stack) > 0 {
		end := t.scopes[top()].End
		stack = stack[:len(stack)-1]
		emit(end, top())
	}
	size := int64(unsafe.Sizeof(*t)) + int64(len(t.scopes))*int64(unsafe.Sizeof(scopes.Scope{})) +
		int64(len(t.at))*int64(unsafe.Sizeof(scopes.Pos{})+4)
	for _, sc := range t.scopes {
		for _, p := range sc.Name {
			size += int64(unsafe.Sizeof(p)) + int64(len(p.Text))
		}
	}
	t.size = size
}

// Innermost is scopes.Index.Innermost.
func (t *scopeTable) Innermost(p scopes.Pos) (scopes.Scope, bool) {
	if p.Line < 0 || p.Col < 0 || p.Line > math.MaxInt32 || p.Col > math.MaxInt32 {
		return scopes.Scope{}, false
	}
	i := sort.Search(len(t.at), func(i int) bool { return posLess(p, t.at[i]) }) - 1
	if i < 0 || t.which[i] < 0 {
		return scopes.Scope{}, false
	}
	return t.scopes[t.which[i]], true
}

// scopeCodec stores scope tables as derived files ("js-scopes"). Its
// version must be bumped whenever the encoding changes or scopes.Parse
// changes its answers (or starts reading files it failed on): stored
// tables, failures included, are otherwise served as they are.
//
// Layout (little-endian): magic "JSSCOPE1", u8 failed, u32 scope count;
// per scope: start line, start column, end line, end column (u32 each),
// u32 name parts; per part: u8 ident, at line, at column (u32), u32 text
// length, text. Decoding copies everything to the heap: tables are small
// next to the text they index.
type scopeCodec struct{}

const scopeMagic = "JSSCOPE1"

var errBadScopes = errors.New("invalid js-scopes data")

func (scopeCodec) Format() string { return "js-scopes" }

// Version 2: the scanner reads methods named like keywords (ajv's
// CodeGen if/for/else) and so parses files that version 1 stored as failed.
func (scopeCodec) Version() int      { return 2 }
func (scopeCodec) RetainsData() bool { return false }

func (scopeCodec) Encode(w io.Writer, t *scopeTable) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var b [4]byte
	u32 := func(v int) error {
		if v < 0 || v > math.MaxUint32 {
			return fmt.Errorf("sourcemaps: scope table value %d out of range", v)
		}
		binary.LittleEndian.PutUint32(b[:], uint32(v))
		_, err := bw.Write(b[:])
		return err
	}
	bw.WriteString(scopeMagic)
	if t.failed {
		bw.WriteByte(1)
	} else {
		bw.WriteByte(0)
	}
	if err := u32(len(t.scopes)); err != nil {
		return err
	}
	for _, sc := range t.scopes {
		for _, v := range []int{sc.Start.Line, sc.Start.Col, sc.End.Line, sc.End.Col, len(sc.Name)} {
			if err := u32(v); err != nil {
				return err
			}
		}
		for _, p := range sc.Name {
			if p.Ident {
				bw.WriteByte(1)
			} else {
				bw.WriteByte(0)
			}
			for _, v := range []int{p.At.Line, p.At.Col, len(p.Text)} {
				if err := u32(v); err != nil {
					return err
				}
			}
			bw.WriteString(p.Text)
		}
	}
	return bw.Flush()
}

func (scopeCodec) Decode(data []byte) (*scopeTable, int64, error) {
	off := 0
	need := func(n int) error {
		if n > len(data)-off {
			return fmt.Errorf("%w: truncated at offset %d", errBadScopes, off)
		}
		return nil
	}
	u32 := func() (int, error) {
		if err := need(4); err != nil {
			return 0, err
		}
		v := binary.LittleEndian.Uint32(data[off:])
		off += 4
		if v > math.MaxInt32 {
			return 0, fmt.Errorf("%w: value %d out of range", errBadScopes, v)
		}
		return int(v), nil
	}
	if err := need(len(scopeMagic) + 1); err != nil {
		return nil, 0, err
	}
	if string(data[:len(scopeMagic)]) != scopeMagic {
		return nil, 0, fmt.Errorf("%w: bad magic", errBadScopes)
	}
	off = len(scopeMagic)
	t := &scopeTable{failed: data[off] != 0}
	off++
	n, err := u32()
	if err != nil {
		return nil, 0, err
	}
	if n > (len(data)-off)/20 { // 5 u32 per scope at least
		return nil, 0, fmt.Errorf("%w: %d scopes cannot fit", errBadScopes, n)
	}
	t.scopes = make([]scopes.Scope, n)
	for i := range t.scopes {
		var v [5]int
		for j := range v {
			if v[j], err = u32(); err != nil {
				return nil, 0, err
			}
		}
		sc := scopes.Scope{Start: scopes.Pos{Line: v[0], Col: v[1]}, End: scopes.Pos{Line: v[2], Col: v[3]}}
		if posLess(sc.End, sc.Start) || (i > 0 && posLess(sc.Start, t.scopes[i-1].Start)) {
			return nil, 0, fmt.Errorf("%w: scope %d out of order", errBadScopes, i)
		}
		if v[4] > (len(data)-off)/13 { // 1 + 3 u32 per part at least
			return nil, 0, fmt.Errorf("%w: %d name parts cannot fit", errBadScopes, v[4])
		}
		if v[4] > 0 {
			sc.Name = make([]scopes.NamePart, v[4])
		}
		for j := range sc.Name {
			if err := need(1); err != nil {
				return nil, 0, err
			}
			p := scopes.NamePart{Ident: data[off] != 0}
			off++
			var line, col, l int
			if line, err = u32(); err == nil {
				if col, err = u32(); err == nil {
					l, err = u32()
				}
			}
			if err != nil {
				return nil, 0, err
			}
			if err := need(l); err != nil {
				return nil, 0, err
			}
			p.At = scopes.Pos{Line: line, Col: col}
			p.Text = string(data[off : off+l])
			off += l
			sc.Name[j] = p
		}
		t.scopes[i] = sc
	}
	if off != len(data) {
		return nil, 0, fmt.Errorf("%w: %d bytes of trailing data", errBadScopes, len(data)-off)
	}
	t.finish()
	return t, t.size, nil
}
