package mapping

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParseRejectsMalformed(t *testing.T) {
	src := `"sources":["a.js"],"names":["n"]`
	cases := []struct {
		name, json, wantMsg string
	}{
		{"not-json", `hello`, "source map must be a JSON object"},
		{"empty", ``, "source map must be a JSON object"},
		{"array", `[1,2]`, "JSON object"},
		{"truncated", `{"version":3,"sources":["a.js"],"mappings":"AAAA`, "unterminated string"},
		{"trailing-garbage", `{"version":3,"mappings":""} x`, "trailing data"},
		{"version-2", `{"version":2,"mappings":""}`, "unsupported version"},
		{"no-mappings", `{"version":3,"sources":[]}`, `no "mappings"`},
		{"mappings-not-string", `{"version":3,"mappings":[[0]]}`, "mappings must be a string"},
		{"bad-base64", `{` + src + `,"mappings":"AA*A"}`, "invalid base64"},
		{"truncated-vlq", `{` + src + `,"mappings":"AAAg"}`, "truncated VLQ"},
		{"vlq-overflow", `{` + src + `,"mappings":"ggggggggA"}`, "exceeds 32 bits"},
		{"two-fields", `{` + src + `,"mappings":"AA"}`, "2 fields"},
		{"three-fields", `{` + src + `,"mappings":"AAA"}`, "3 fields"},
		{"six-fields", `{` + src + `,"mappings":"AAAAAA"}`, "more than 5 fields"},
		{"negative-column", `{` + src + `,"mappings":"D"}`, "generated column -1"},
		{"negative-source-line", `{` + src + `,"mappings":"AADA"}`, "out of range"},
		{"negative-source-column", `{` + src + `,"mappings":"AAAD"}`, "out of range"},
		{"source-out-of-range", `{` + src + `,"mappings":"ACAA"}`, "source index 1 out of range"},
		{"source-without-sources", `{"version":3,"mappings":"AAAA"}`, "source index 0 out of range"},
		{"name-out-of-range", `{` + src + `,"mappings":"AAAAC"}`, "name index 1 out of range"},
		{"negative-name", `{` + src + `,"mappings":"AAAAD"}`, "name index -1 out of range"},
		{"bad-escape", `{"version":3,"file":"\q","mappings":""}`, "bad escape"},
		{"control-char", "{\"version\":3,\"file\":\"a\x01\",\"mappings\":\"\"}", "control character"},
		{"sources-not-strings", `{"version":3,"sources":[1],"mappings":""}`, "must be a string or null"},
		{"ignore-out-of-range", `{"version":3,"sources":["a.js"],"ignoreList":[1],"mappings":""}`, "ignoreList entry 1 out of range"},
		{"ignore-negative", `{"version":3,"sources":["a.js"],"ignoreList":[-1],"mappings":""}`, "non-negative integer"},
		{"deep-nesting", `{"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `,"mappings":""}`, "nesting too deep"},
		{"url-section", `{"version":3,"sections":[{"offset":{"line":0,"column":0},"url":"a.map"}]}`, `"url"`},
		{"section-without-map", `{"version":3,"sections":[{"offset":{"line":0,"column":0}}]}`, `no "map"`},
		{"section-without-offset", `{"version":3,"sections":[{"map":{"version":3,"mappings":""}}]}`, `no "offset"`},
		{"section-offset-incomplete", `{"version":3,"sections":[{"offset":{"line":0},"map":{"version":3,"mappings":""}}]}`, "line and column"},
		{"section-offset-negative", `{"version":3,"sections":[{"offset":{"line":-1,"column":0},"map":{"version":3,"mappings":""}}]}`, "non-negative"},
		{"section-offset-fraction", `{"version":3,"sections":[{"offset":{"line":0.5,"column":0},"map":{"version":3,"mappings":""}}]}`, "non-negative integer"},
		{"nested-index-map", `{"version":3,"sections":[{"offset":{"line":0,"column":0},"map":{"version":3,"sections":[]}}]}`, "nested index map"},
		{"sections-out-of-order", `{"version":3,"sections":[{"offset":{"line":2,"column":0},"map":{"version":3,"mappings":""}},{"offset":{"line":1,"column":0},"map":{"version":3,"mappings":""}}]}`, "does not start after"},
		{"sections-same-offset", `{"version":3,"sections":[{"offset":{"line":1,"column":4},"map":{"version":3,"mappings":""}},{"offset":{"line":1,"column":4},"map":{"version":3,"mappings":""}}]}`, "does not start after"},
		{"sections-and-mappings", `{"version":3,"mappings":"","sections":[]}`, `both "sections" and "mappings"`},
		{"section-bad-segment", `{"version":3,"sections":[{"offset":{"line":0,"column":0},"map":{"version":3,"sources":["a"],"mappings":"AAAA"}},{"offset":{"line":3,"column":0},"map":{"version":3,"mappings":"ACAA"}}]}`, "section 1 mappings"},
		{"column-offset-overflow", `{"version":3,"sections":[{"offset":{"line":0,"column":2147483647},"map":{"version":3,"mappings":"C"}}]}`, "out of range"},
		{"too-many-lines", `{"version":3,"sections":[{"offset":{"line":2000000000,"column":0},"map":{"version":3,"mappings":"A"}}]}`, "beyond any plausible size"},
		{"facebook-bad-vlq", `{"version":3,"sources":["a.js"],"mappings":"","x_facebook_sources":[[{"names":["x"],"mappings":"A*"}]]}`, "x_facebook_sources"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Parse([]byte(c.json))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse = %v, %v; want ErrMalformed", m, err)
			}
			if !strings.Contains(err.Error(), c.wantMsg) {
				t.Errorf("error %q does not say %q", err, c.wantMsg)
			}
		})
	}
}

func TestParseMetadata(t *testing.T) {
	data := []byte(`{
		"version": 3,
		"file": "out.min.js",
		"sourceRoot": "https://cdn.example.com/src",
		"sources": ["a.js", null, "sub/c\u00e9.js", "webpack:///./d.js"],
		"sourcesContent": ["const a = \"\ud83d\udca5\";\n", null],
		"names": ["alpha", "b\u00eata"],
		"ignoreList": [3],
		"x_google_ignoreList": [0],
		"debug_id": "ignored-because-debugId-wins",
		"debugId": " 5B2C4E0A-1D2F-4A5B-9C8D-7E6F5A4B3C2D ",
		"unknown": {"nested": [1, 2, {"x": null}], "t": true, "f": false, "n": -1.5e3},
		"mappings": "MAPPINGS"
	}`)
	data = []byte(strings.Replace(string(data), "MAPPINGS", encodeMappings([][][]int{{{0, 0, 0, 0, 0}, {2, 2, 2, 2, 1}}, {}, {}, {{0, 3, 3, 0}}}), 1))
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"File", m.File(), "out.min.js"},
		{"SourceRoot", m.SourceRoot(), "https://cdn.example.com/src"},
		{"Sources", strings.Join(m.Sources(), "|"), "https://cdn.example.com/src/a.js||https://cdn.example.com/src/sub/cé.js|https://cdn.example.com/src/webpack:///./d.js"},
		{"Source(-1)", m.Source(-1), ""},
		{"Source(4)", m.Source(4), ""},
		{"Name(1)", m.Name(1), "bêta"},
		{"Name(2)", m.Name(2), ""},
		{"DebugID", m.DebugID(), "5b2c4e0a-1d2f-4a5b-9c8d-7e6f5a4b3c2d"},
		{"Ignored(3)", m.Ignored(3), true},
		{"Ignored(0) (x_google_ignoreList loses to ignoreList)", m.Ignored(0), false},
		{"Ignored(9)", m.Ignored(9), false},
		{"NumLines", m.NumLines(), 4},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
	if s, ok := m.SourceContent(0); !ok || s != "const a = \"💥\";\n" {
		t.Errorf("SourceContent(0) = %q, %v", s, ok)
	}
	for _, i := range []int{1, 2, 3, -1} {
		if s, ok := m.SourceContent(i); ok {
			t.Errorf("SourceContent(%d) = %q, want absent", i, s)
		}
	}
	tok, ok := m.TokenAt(0, 2)
	if !ok || tok != (Token{GenLine: 0, GenCol: 2, Source: 2, SrcLine: 2, SrcCol: 2, Name: 1}) {
		t.Errorf("TokenAt(0,2) = %+v, %v", tok, ok)
	}
	if _, ok := m.TokenAt(0, 1); ok {
		t.Error("TokenAt(0,1) found a token between segments")
	}
	if m.SizeBytes() < int64(len("const a = \"💥\";\n")) || m.SizeBytes() > int64(4*len(data)) {
		t.Errorf("SizeBytes = %d for a %d-byte map", m.SizeBytes(), len(data))
	}
	if m.Sources()[0] = "mutated"; m.Source(0) == "mutated" {
		t.Error("Sources() exposes the internal slice")
	}
}

func TestXGoogleIgnoreListAndDebugIDSpelling(t *testing.T) {
	m, err := Parse([]byte(`{"version":3,"sources":["a","b"],"x_google_ignoreList":[1],"debug_id":"ABC","mappings":""}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Ignored(0) || !m.Ignored(1) || m.DebugID() != "abc" {
		t.Errorf("Ignored(0)=%v Ignored(1)=%v DebugID=%q", m.Ignored(0), m.Ignored(1), m.DebugID())
	}
}

func TestSourceRootWithTrailingSlashAndIndexMapTables(t *testing.T) {
	data := []byte(`{"version":3,"file":"all.js","sections":[
		{"offset":{"line":0,"column":0},"map":{"version":3,"sourceRoot":"lib/","sources":["a.js"],"sourcesContent":["A"],"names":["x"],"ignoreList":[0],"mappings":"AAAAA"}},
		{"offset":{"line":1,"column":5},"map":{"version":3,"sources":["b.js","c.js"],"names":["y","z"],"mappings":"ACAAC"}}
	]}`)
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.Sources(), "|"); got != "lib/a.js|b.js|c.js" {
		t.Errorf("Sources = %q", got)
	}
	if !m.Ignored(0) || m.Ignored(1) || m.File() != "all.js" {
		t.Errorf("Ignored(0)=%v Ignored(1)=%v File=%q", m.Ignored(0), m.Ignored(1), m.File())
	}
	if c, ok := m.SourceContent(0); !ok || c != "A" {
		t.Errorf("SourceContent(0) = %q, %v", c, ok)
	}
	if _, ok := m.SourceContent(1); ok {
		t.Error("section without sourcesContent has content")
	}
	tok, ok := m.TokenAt(1, 5)
	if !ok || m.Source(tok.Source) != "c.js" || m.Name(tok.Name) != "z" || tok.SrcLine != 0 || tok.SrcCol != 0 {
		t.Errorf("TokenAt(1,5) = %+v %v (%s, %s)", tok, ok, m.Source(tok.Source), m.Name(tok.Name))
	}
}

func TestFacebookSources(t *testing.T) {
	// Function map: <global> from 1:0, "foo" from line 3 col 2, "bar" from
	// line 3 col 10, back to "foo" on line 5 (Metro's relative encoding).
	data := []byte(`{"version":3,"sources":["a.js","b.js"],"mappings":"AAAA",
		"x_facebook_sources":[[{"names":["<global>","foo","bar"],"mappings":"AAA,ECE,QC;CDE"}],null]}`)
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	fs := m.FacebookSources()
	if len(fs) != 2 || len(fs[1].Functions) != 0 {
		t.Fatalf("FacebookSources = %+v", fs)
	}
	want := []FunctionStart{{0, 0, "<global>"}, {2, 2, "foo"}, {2, 10, "bar"}, {4, 1, "foo"}}
	if len(fs[0].Functions) != len(want) {
		t.Fatalf("functions = %+v, want %+v", fs[0].Functions, want)
	}
	for i, f := range fs[0].Functions {
		if f != want[i] {
			t.Errorf("function %d = %+v, want %+v", i, f, want[i])
		}
	}
	for _, c := range []struct {
		line, col int
		want      string
	}{{0, 5, "<global>"}, {2, 1, "<global>"}, {2, 2, "foo"}, {2, 50, "bar"}, {3, 0, "bar"}, {9, 9, "foo"}} {
		if got, ok := m.FunctionNameAt(0, c.line, c.col); !ok || got != c.want {
			t.Errorf("FunctionNameAt(0,%d,%d) = %q %v, want %q", c.line, c.col, got, ok, c.want)
		}
	}
	if _, ok := m.FunctionNameAt(1, 0, 0); ok {
		t.Error("source without a function map named a function")
	}
}

// TestLookupNeverBorrowsAcrossLines is the rule DESIGN.md insists on,
// asserted directly (the trace-mapping tests cover it too).
func TestLookupNeverBorrowsAcrossLines(t *testing.T) {
	m, err := Parse([]byte(`{"version":3,"sources":["a.js"],"mappings":"AAAA;;KACA"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]int{{1, 0}, {1, 100}, {2, 0}, {2, 4}, {3, 0}, {-1, 0}, {0, -1}} {
		if tok, ok := m.Lookup(p[0], p[1]); ok {
			t.Errorf("Lookup(%d,%d) = %+v, want no mapping", p[0], p[1], tok)
		}
	}
	if tok, ok := m.Lookup(2, 1<<40); !ok || tok.GenCol != 5 {
		t.Errorf("Lookup(2, huge) = %+v %v", tok, ok)
	}
}

func TestFirstControlMatchesBytewiseCheck(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	interesting := []byte{0, 0x1f, 0x20, 0x21, '"', '\\', 0x7f, 0x80, 0xff, 'a'}
	for range 100000 {
		b := make([]byte, r.IntN(24))
		for i := range b {
			if r.IntN(4) == 0 {
				b[i] = interesting[r.IntN(len(interesting))]
			} else {
				b[i] = 0x20 + byte(r.IntN(0xe0))
			}
		}
		want := -1
		for i, c := range b {
			if c < 0x20 {
				want = i
				break
			}
		}
		if got := firstControl(b); got != want {
			t.Fatalf("firstControl(%q) = %d, want %d", b, got, want)
		}
	}
}
