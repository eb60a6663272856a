package mapping

import (
	"sort"
	"unsafe"
)

// Metro (React Native) writes "x_facebook_sources": one entry per source,
// null or [functionMap, ...]; functionMap is {"names": [...], "mappings": "..."}
// where mappings lists where each function's body starts in the ORIGINAL
// source. Each segment is VLQ (columnDelta, nameDelta[, lineDelta]); lines
// start at 1 and move only by lineDelta, the column restarts at 0 after
// every ';' and the name index runs on across the whole string. That is how
// metro-symbolicate's SourceMetadataMapConsumer reads it.

// FunctionStart is where a named function's scope begins in an original
// source (0-based line, UTF-16 column).
type FunctionStart struct {
	Line, Col int
	Name      string
}

// FacebookSource is the Metro function map of one source: function starts
// sorted by position. Functions is nil when the source has none.
type FacebookSource struct {
	Functions []FunctionStart
}

type rawFBFunc struct {
	line, col int32
	name      strRef
}

type rawFBSource struct {
	funcs []rawFBFunc
}

func (s *scanner) facebookSources(a *arena) ([]rawFBSource, error) {
	if s.peek() == 'n' {
		return nil, s.literal("null")
	}
	var out []rawFBSource
	err := s.array(func() error {
		var src rawFBSource
		if s.peek() == 'n' {
			out = append(out, src)
			return s.literal("null")
		}
		first := true
		err := s.array(func() error {
			// Only metadata field 0 (functions) is defined.
			if !first {
				return s.skipValue(0)
			}
			first = false
			if s.peek() == 'n' {
				return s.literal("null")
			}
			var names []strRef
			var mappings []byte
			var escaped bool
			err := s.object(func(key string) error {
				var err error
				switch key {
				case "names":
					names, err = s.stringArray(a, "x_facebook_sources name")
				case "mappings":
					mappings, escaped, err = s.rawString()
				default:
					err = s.skipValue(0)
				}
				return err
			})
			if err != nil {
				return err
			}
			if escaped {
				mappings = appendUnescaped(nil, mappings)
			}
			src.funcs, err = s.decodeFunctionMap(mappings, names)
			return err
		})
		out = append(out, src)
		return err
	})
	return out, err
}

func (s *scanner) decodeFunctionMap(m []byte, names []strRef) ([]rawFBFunc, error) {
	var funcs []rawFBFunc
	line, col, name := int64(0), int64(0), int64(0)
	i := 0
	for i < len(m) {
		switch m[i] {
		case ';':
			col = 0
			i++
			continue
		case ',':
			i++
			continue
		}
		var vals [3]int64
		n := 0
		for i < len(m) && m[i] != ',' && m[i] != ';' {
			if n == 3 {
				return nil, s.errorf("x_facebook_sources segment has more than 3 fields")
			}
			var acc uint64
			shift := uint(0)
			for {
				if i >= len(m) {
					return nil, s.errorf("x_facebook_sources: truncated VLQ")
				}
				d := int8(base64Digits[m[i]])
				if d < 0 {
					return nil, s.errorf("x_facebook_sources: invalid base64 %q", m[i])
				}
				i++
				acc |= uint64(d&31) << shift
				if d&32 == 0 {
					break
				}
				shift += 5
				if shift > 30 {
					return nil, s.errorf("x_facebook_sources: VLQ value exceeds 32 bits")
				}
			}
			v := int64(acc >> 1)
			if acc&1 != 0 {
				v = -v
			}
			vals[n] = v
			n++
		}
		if n < 2 {
			return nil, s.errorf("x_facebook_sources segment has %d fields (want 2 or 3)", n)
		}
		col += vals[0]
		name += vals[1]
		line += vals[2]
		if col < 0 || col > 1<<31-1 || line < 0 || line > 1<<31-1 {
			return nil, s.errorf("x_facebook_sources position out of range")
		}
		if name < 0 || name >= int64(len(names)) {
			return nil, s.errorf("x_facebook_sources name index %d out of range", name)
		}
		funcs = append(funcs, rawFBFunc{line: int32(line), col: int32(col), name: names[name]})
	}
	sort.SliceStable(funcs, func(i, j int) bool {
		if funcs[i].line != funcs[j].line {
			return funcs[i].line < funcs[j].line
		}
		return funcs[i].col < funcs[j].col
	})
	return funcs, nil
}

// buildFacebookSources aligns each map's function maps with the merged
// sources table; nil when no map has any.
func buildFacebookSources(maps []*rawMap, a *arena) []FacebookSource {
	found := false
	for _, rm := range maps {
		found = found || rm.hasFBSources
	}
	if !found {
		return nil
	}
	var out []FacebookSource
	for _, rm := range maps {
		for i := range rm.sources {
			var fs FacebookSource
			if i < len(rm.fbSources) && len(rm.fbSources[i].funcs) > 0 {
				raw := rm.fbSources[i].funcs
				fs.Functions = make([]FunctionStart, len(raw))
				for j, f := range raw {
					fs.Functions[j] = FunctionStart{Line: int(f.line), Col: int(f.col), Name: f.name.in(a)}
				}
			}
			out = append(out, fs)
		}
	}
	return out
}

func facebookSize(fs []FacebookSource) int64 {
	n := int64(len(fs)) * int64(unsafe.Sizeof(FacebookSource{}))
	for _, f := range fs {
		n += int64(len(f.Functions)) * int64(unsafe.Sizeof(FunctionStart{}))
	}
	return n
}

// FacebookSources returns the Metro function maps ("x_facebook_sources"),
// indexed like Sources; nil when the map has none. The result is shared:
// do not modify it.
func (m *Map) FacebookSources() []FacebookSource { return m.fbSources }

// FunctionNameAt returns the name of the function whose Metro function map
// entry is the last one at or before the original position (0-based line,
// UTF-16 column) in source i.
func (m *Map) FunctionNameAt(source, line, col int) (string, bool) {
	if source < 0 || source >= len(m.fbSources) {
		return "", false
	}
	fns := m.fbSources[source].Functions
	j := sort.Search(len(fns), func(k int) bool {
		f := fns[k]
		return f.Line > line || (f.Line == line && f.Col > col)
	})
	if j == 0 {
		return "", false
	}
	return fns[j-1].Name, true
}
