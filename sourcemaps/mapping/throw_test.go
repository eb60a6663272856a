package mapping

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
)

// TestV8ThrowPositionResolves runs each bundle built from testdata/js in
// node, takes the position V8 reports for the throw in Warenkorb.checkout
// (1-based line, UTF-16 column) and checks that Lookup leads back to the
// "new Error" of that line in app.js. The line has an astral-plane emoji
// before the throw, so a byte or rune column would land elsewhere.
func TestV8ThrowPositionResolves(t *testing.T) {
	appSrc, err := os.ReadFile("testdata/js/app.js")
	if err != nil {
		t.Fatal(err)
	}
	wantLine, wantCol := -1, -1
	for i, l := range strings.Split(string(appSrc), "\n") {
		if j := strings.Index(l, "new Error(`Zahlung"); j >= 0 {
			wantLine = i
			wantCol = len(utf16.Encode([]rune(l[:j])))
			if wantCol == len([]rune(l[:j])) {
				t.Fatal("the throwing line lost its astral-plane character before the throw")
			}
		}
	}
	if wantLine < 0 {
		t.Fatal("throwing line not found in app.js")
	}
	script, err := filepath.Abs("testdata/js/throw.mjs")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range realFixtures(t) {
		if f.js == "" {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			out, err := exec.Command("node", script, f.js).CombinedOutput()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, out)
			}
			re := regexp.MustCompile(regexp.QuoteMeta(filepath.Base(f.js)) + `:(\d+):(\d+)\)?\n`)
			mt := re.FindSubmatch(out)
			if mt == nil {
				t.Fatalf("no frame of %s in the stack:\n%s", f.js, out)
			}
			line, _ := strconv.Atoi(string(mt[1]))
			col, _ := strconv.Atoi(string(mt[2]))
			m, err := Parse(f.data)
			if err != nil {
				t.Fatal(err)
			}
			tok, ok := m.Lookup(line-1, col-1)
			if !ok || !strings.HasSuffix(m.Source(tok.Source), "/app.js") || tok.SrcLine != wantLine || tok.SrcCol != wantCol {
				t.Errorf("V8 position %d:%d → %s:%d:%d ok=%v; want app.js:%d:%d", line, col, m.Source(tok.Source), tok.SrcLine, tok.SrcCol, ok, wantLine, wantCol)
			}
			pos := [][2]int{{line - 1, col - 1}}
			compareWithTraceMapping(t, m, pos, traceMapping(t, []traceJob{{f.path, pos}})[0])
		})
	}
}
