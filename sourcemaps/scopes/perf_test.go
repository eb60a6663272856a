package scopes

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stacklens/stacklens/internal/testenv"
)

var (
	bigOnce sync.Once
	bigOne  []byte // terser's own bundle minified by esbuild (~0.5 MB, one line)
	bigErr  string
)

// largeInput returns a minified real-world library, and that library
// repeated to at least 5 MB.
func largeInput(tb testing.TB) (one, big []byte) {
	tb.Helper()
	bigOnce.Do(func() {
		mods := testenv.NodeModules(tb)
		esbuild := testenv.NodeBin(tb, "esbuild")
		out := filepath.Join(tb.TempDir(), "terser.min.js")
		cmd := exec.Command(esbuild, filepath.Join(mods, "terser", "dist", "bundle.min.js"), "--minify", "--charset=utf8", "--outfile="+out)
		if b, err := cmd.CombinedOutput(); err != nil {
			bigErr = err.Error() + ": " + string(b)
			return
		}
		b, err := os.ReadFile(out)
		if err != nil {
			bigErr = err.Error()
			return
		}
		bigOne = b
	})
	if bigErr != "" {
		tb.Fatal(bigErr)
	}
	var buf bytes.Buffer
	for buf.Len() < 5<<20 {
		buf.Write(bigOne)
		buf.WriteString(";\n")
	}
	return bigOne, buf.Bytes()
}

// TestLargeBundle parses a 5 MB minified file: every copy of the library
// must give the same scopes, shifted by one line per copy.
func TestLargeBundle(t *testing.T) {
	one, big := largeInput(t)
	ixOne, err := Parse(one)
	if err != nil {
		t.Fatal(err)
	}
	copies := len(big) / (len(one) + 2)
	linesPerCopy := bytes.Count(one, []byte("\n")) + 1
	start := time.Now()
	ix, err := Parse(big)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes: %d scopes in %v, index retains %d bytes", len(big), ix.Len(), elapsed, ix.SizeBytes())
	if ix.Len() != copies*ixOne.Len() || ixOne.Len() < 1000 {
		t.Fatalf("scopes: %d in %d copies, %d in one", ix.Len(), copies, ixOne.Len())
	}
	for i := 0; i < ixOne.Len(); i += 97 {
		s := ixOne.Scope(i)
		probe := s.Start
		for c := 0; c < copies; c++ {
			got, ok := ix.Innermost(Pos{probe.Line + c*linesPerCopy, probe.Col})
			want, _ := ixOne.Innermost(probe)
			if !ok || nameString(got.Name) != nameString(shiftLines(want.Name, c*linesPerCopy)) || got.Start.Line != want.Start.Line+c*linesPerCopy {
				t.Fatalf("copy %d scope %d: got %v %s, want %s", c, i, ok, nameString(got.Name), nameString(want.Name))
			}
		}
	}
}

func shiftLines(ps []NamePart, n int) []NamePart {
	out := append([]NamePart(nil), ps...)
	for i := range out {
		if out[i].Ident {
			out[i].At.Line += n
		}
	}
	return out
}

func BenchmarkParse5MB(b *testing.B) {
	_, big := largeInput(b)
	b.SetBytes(int64(len(big)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(big); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInnermost(b *testing.B) {
	_, big := largeInput(b)
	ix, err := Parse(big)
	if err != nil {
		b.Fatal(err)
	}
	probes := make([]Pos, 0, ix.Len())
	for i := 0; i < ix.Len(); i++ {
		probes = append(probes, ix.Scope(i).Start)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ix.Innermost(probes[i%len(probes)])
	}
}
