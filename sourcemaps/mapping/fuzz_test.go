package mapping

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stacklens/stacklens/internal/testenv"
)

// FuzzParse: Parse never panics or hangs, fails only with ErrMalformed, and
// whatever parses answers lookups consistently.
func FuzzParse(f *testing.F) {
	nm := testenv.NodeModules(f)
	for _, rel := range []string{
		"preact/hooks/dist/hooks.mjs.map",
		"preact/devtools/dist/devtools.mjs.map",
		"preact/jsx-runtime/dist/jsxRuntime.mjs.map",
		"preact/test-utils/dist/testUtils.mjs.map",
	} {
		data, err := os.ReadFile(filepath.Join(nm, rel))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		for _, n := range []int{1, 17, len(data) / 3, len(data) / 2, len(data) - 2} {
			f.Add(data[:n])
		}
	}
	for _, c := range edgeCases(f) {
		f.Add(c.data)
	}
	f.Add([]byte(`{"version":3,"sources":["a.js"],"mappings":"","x_facebook_sources":[[{"names":["<global>","f"],"mappings":"AAA,ECE;CDE"}]]}`))
	f.Add([]byte(`{"version":3,"sections":[{"offset":{"line":0,"column":4},"map":{"version":3,"sources":["a"],"names":["n"],"mappings":"AAAAA;CACA,E"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		checkConsistent(t, m)
	})
}

func checkConsistent(t *testing.T, m *Map) {
	n := 0
	m.Tokens(func(tok Token) bool {
		n++
		if tok.Source < -1 || tok.Source >= m.NumSources() || tok.Name < -1 || tok.Name >= m.NumNames() {
			t.Fatalf("token %+v indexes outside the tables", tok)
		}
		for _, col := range []int{tok.GenCol, tok.GenCol + 1, tok.GenCol - 1} {
			got, ok := m.Lookup(tok.GenLine, col)
			if col >= tok.GenCol && (!ok || got.GenLine != tok.GenLine || got.GenCol > col || got.GenCol < tok.GenCol) {
				t.Fatalf("Lookup(%d,%d) = %+v %v, token %+v", tok.GenLine, col, got, ok, tok)
			}
		}
		if at, ok := m.TokenAt(tok.GenLine, tok.GenCol); !ok || at.GenCol != tok.GenCol {
			t.Fatalf("TokenAt misses token %+v", tok)
		}
		m.Source(tok.Source)
		m.Name(tok.Name)
		m.SourceContent(tok.Source)
		m.Ignored(tok.Source)
		m.FunctionNameAt(tok.Source, tok.SrcLine, tok.SrcCol)
		return n < 10000
	})
	for l := -1; l < m.NumLines()+2 && l < 1000; l++ {
		m.Lookup(l, 0)
		m.Lookup(l, 1<<31)
	}
	if m.SizeBytes() <= 0 {
		t.Fatal("SizeBytes not positive")
	}
}
