package scopes

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf16"

	"github.com/go-sourcemap/sourcemap"

	"github.com/stacklens/stacklens/internal/testenv"
)

// bundle is testdata/app.js minified by a real tool, with its source map and
// what V8 recorded when running it.
type bundle struct {
	tool    string
	min     []byte
	sm      *sourcemap.Consumer
	records []v8Record
}

type v8Record struct {
	Label string  `json:"label"` // the expected original name
	Line  int     `json:"line"`  // 1-based, as V8 reports
	Col   int     `json:"col"`   // 1-based, UTF-16
	Src   *string `json:"src"`   // Function.prototype.toString of the function, when reachable
}

var (
	bundlesOnce sync.Once
	bundles     []*bundle
	bundlesErr  string
)

// minifiers produce the bundles; each command gets the input path, the
// output path and the map path.
var minifiers = []struct {
	tool string
	args func(nodeBin func(string) string, in, out, mapOut string) []string
}{
	{"esbuild", func(bin func(string) string, in, out, _ string) []string {
		return []string{bin("esbuild"), in, "--bundle", "--minify", "--charset=utf8", "--format=iife", "--sourcemap", "--outfile=" + out}
	}},
	{"terser", func(bin func(string) string, in, out, mapOut string) []string {
		return []string{bin("terser"), in, "--compress", "--mangle", "--toplevel", "--source-map", "includeSources,url='" + filepath.Base(mapOut) + "'", "-o", out}
	}},
	{"terser-wrapped", func(bin func(string) string, in, out, mapOut string) []string {
		// Short lines put functions across line breaks.
		return []string{bin("terser"), in, "--compress", "--mangle", "--toplevel", "--format", "max_line_len=60", "--source-map", "includeSources,url='" + filepath.Base(mapOut) + "'", "-o", out}
	}},
}

func loadBundles(t *testing.T) []*bundle {
	t.Helper()
	bundlesOnce.Do(func() {
		nodeBin := func(name string) string { return testenv.NodeBin(t, name) }
		dir, err := os.MkdirTemp("", "scopes-groundtruth")
		if err != nil {
			bundlesErr = err.Error()
			return
		}
		defer os.RemoveAll(dir)
		in, err := filepath.Abs(filepath.Join("testdata", "app.js"))
		if err != nil {
			bundlesErr = err.Error()
			return
		}
		for _, m := range minifiers {
			out := filepath.Join(dir, m.tool+".min.js")
			mapOut := out + ".map"
			args := m.args(nodeBin, in, out, mapOut)
			if b, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
				bundlesErr = m.tool + ": " + err.Error() + ": " + string(b)
				return
			}
			run := exec.Command("node", out)
			run.Dir = dir
			stdout, err := run.Output()
			if err != nil {
				bundlesErr = m.tool + " bundle failed in node: " + err.Error()
				return
			}
			var res struct{ Records []v8Record }
			if err := json.Unmarshal(stdout, &res); err != nil {
				bundlesErr = m.tool + ": " + err.Error()
				return
			}
			min, err := os.ReadFile(out)
			if err != nil {
				bundlesErr = err.Error()
				return
			}
			mapData, err := os.ReadFile(mapOut)
			if err != nil {
				bundlesErr = err.Error()
				return
			}
			sm, err := sourcemap.Parse(mapOut, mapData)
			if err != nil {
				bundlesErr = err.Error()
				return
			}
			bundles = append(bundles, &bundle{tool: m.tool, min: min, sm: sm, records: res.Records})
		}
	})
	if bundlesErr != "" {
		t.Fatal(bundlesErr)
	}
	return bundles
}

// offsetOf converts a Pos back to a byte offset, independently of the
// package: lines end at \n, \r\n, \r, U+2028, U+2029; columns are UTF-16.
func offsetOf(src string, p Pos) int {
	line, i := 0, 0
	for line < p.Line && i < len(src) {
		switch {
		case src[i] == '\n':
			line++
			i++
		case src[i] == '\r':
			line++
			i++
			if i < len(src) && src[i] == '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "\u2028") || strings.HasPrefix(src[i:], "\u2029"):
			line++
			i += 3
		default:
			i++
		}
	}
	col := 0
	for j, r := range src[i:] {
		if col >= p.Col {
			return i + j
		}
		col += len(utf16.Encode([]rune{r}))
	}
	return len(src)
}

// TestGroundTruthV8 runs minified bundles in node: every probed function
// records its own V8 stack position and Function.prototype.toString. The
// innermost scope at that position must span exactly the function's source
// text, and its name, mapped back through the bundle's source map, must be
// the expected original name.
func TestGroundTruthV8(t *testing.T) {
	for _, b := range loadBundles(t) {
		t.Run(b.tool, func(t *testing.T) {
			ix, err := Parse(b.min)
			if err != nil {
				t.Fatal(err)
			}
			src := string(b.min)
			if len(b.records) < 20 {
				t.Fatalf("only %d records from node", len(b.records))
			}
			extents := 0
			for _, r := range b.records {
				p := Pos{r.Line - 1, r.Col - 1}
				sc, ok := ix.Innermost(p)
				if !ok {
					t.Errorf("%s: %v is top level", r.Label, p)
					continue
				}
				if r.Src != nil {
					extents++
					got := src[offsetOf(src, sc.Start):offsetOf(src, sc.End)]
					if got != *r.Src {
						t.Errorf("%s: scope text\n%q\nV8's function text\n%q", r.Label, got, *r.Src)
					}
				}
				if got := mappedName(b.sm, sc.Name); got != r.Label {
					t.Errorf("%s: mapped scope name %q (minified %s)", r.Label, got, nameString(sc.Name))
				}
			}
			if extents < 15 {
				t.Errorf("only %d extents checked", extents)
			}
		})
	}
}

// mappedName maps the identifier parts of a name through the source map,
// the way the JS resolver does: the name of the mapping at the token.
func mappedName(sm *sourcemap.Consumer, parts []NamePart) string {
	if len(parts) == 0 {
		return "<anonymous>"
	}
	var b strings.Builder
	for _, p := range parts {
		if !p.Ident {
			b.WriteString(p.Text)
			continue
		}
		source, name, line, col, ok := sm.Source(p.At.Line+1, p.At.Col)
		if ok && name == "" && startsSegment(sm, p.At) {
			// terser writes no name for some tokens (non-ASCII names,
			// private methods): read the identifier at the original position.
			name = identAt(sm.SourceContent(source), line, col)
		}
		if name == "" {
			name = p.Text
		}
		b.WriteString(name)
	}
	return b.String()
}

// TestLineTerminatorsMatchV8 checks the line breaks the package counts
// against the line:column V8 reports for frames after \r, \r\n, U+2028,
// U+2029 and astral characters.
func TestLineTerminatorsMatchV8(t *testing.T) {
	testenv.NodeModules(t)
	src := "var a=\"x\u2028y\";var b='😀'\r\nvar c=`\r`;/*\u2029*/var s={f(){return new Error().stack.split('\\n')[1]}};\rfunction g(){return s.f()}console.log(JSON.stringify(g()))\n"
	f := filepath.Join(t.TempDir(), "lt.js")
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("node", f).Output()
	if err != nil {
		t.Fatal(err)
	}
	var frame string
	if err := json.Unmarshal(out, &frame); err != nil {
		t.Fatal(err)
	}
	// "    at Object.f (/path/lt.js:LINE:COL)"
	i := strings.LastIndex(frame, f+":")
	if i < 0 {
		t.Fatalf("unexpected frame %q", frame)
	}
	var line, col int
	if _, err := fmt.Sscanf(frame[i+len(f)+1:], "%d:%d)", &line, &col); err != nil {
		t.Fatalf("frame %q: %v", frame, err)
	}
	want := strings.Index(src, "new Error")
	if got := LineCol([]byte(src), want); got != (Pos{line - 1, col - 1}) {
		t.Errorf("LineCol = %v, V8 reports %d:%d", got, line, col)
	}
	ix, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	sc, ok := ix.Innermost(Pos{line - 1, col - 1})
	if !ok || mappedNameNoMap(sc.Name) != "s.f" {
		t.Errorf("Innermost at V8's position = %v %q, want s.f", ok, nameString(sc.Name))
	}
}

func mappedNameNoMap(parts []NamePart) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

// identAt returns the identifier starting at 1-based line, 0-based UTF-16
// column of an original source.
func identAt(src string, line, col int) string {
	lines := strings.Split(src, "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	u := utf16.Encode([]rune(lines[line-1]))
	if col < 0 || col > len(u) {
		return ""
	}
	rest := []rune(string(utf16.Decode(u[col:])))
	end := 0
	for end < len(rest) && (rest[end] == '#' && end == 0 || rest[end] == '_' || rest[end] == '$' || unicode.IsLetter(rest[end]) || unicode.IsDigit(rest[end])) {
		end++
	}
	return string(rest[:end])
}

// startsSegment tells whether a mapping segment starts exactly at p (the
// mapping one column earlier differs), as opposed to covering it from an
// earlier token.
func startsSegment(sm *sourcemap.Consumer, p Pos) bool {
	if p.Col == 0 {
		return true
	}
	s1, _, l1, c1, ok1 := sm.Source(p.Line+1, p.Col)
	s0, _, l0, c0, ok0 := sm.Source(p.Line+1, p.Col-1)
	return ok1 && (!ok0 || s0 != s1 || l0 != l1 || c0 != c1)
}
