package sourcemaps

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stacklens/stacklens/internal/testenv"
)

// TestRealNPMBundles resolves frames at positions spread over two
// minified files published on npm with their maps (axios, preact) and
// checks every one against @jridgewell/trace-mapping: same source URL, line
// and column, no mapping where it finds none, and the same original line
// as context.
func TestRealNPMBundles(t *testing.T) {
	nm := testenv.NodeModules(t)
	tests := []struct {
		name, file, url string
	}{
		{"axios", filepath.Join(nm, "axios", "dist", "axios.min.js"), "https://cdn.example.com/npm/axios/dist/axios.min.js"},
		{"preact", filepath.Join(nm, "preact", "dist", "preact.mjs"), "https://cdn.example.com/npm/preact/dist/preact.mjs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestService(t)
			minified := readFile(t, tt.file)
			const release = "npm"
			putFile(t, s, "web", FileUpload{URL: "~" + stripHostname(tt.url), Release: release}, tt.file)
			putFile(t, s, "web", FileUpload{URL: "~" + stripHostname(tt.url) + ".map", Release: release}, tt.file+".map")

			// Positions: the start of every line and then every 53rd
			// UTF-16 unit, plus the units around each position.
			var frames []Frame
			var queries [][2]int
			for i, line := range strings.Split(string(minified), "\n") {
				n := len(utf16.Encode([]rune(line)))
				for c := 0; c < n; c += 53 {
					for _, col := range []int{c, c + 1} {
						if col < n {
							frames = append(frames, Frame{AbsPath: tt.url, Lineno: i + 1, Colno: col + 1, Function: "e"})
							queries = append(queries, [2]int{i + 1, col})
						}
					}
				}
			}
			ref, err := traceMapping(nm, []traceJob{{Map: tt.file + ".map", URL: tt.url + ".map", Queries: queries}})
			if err != nil {
				t.Fatal(err)
			}
			var resolved, unmapped int
			// Resolve in stacks of 50 frames, as events carry them.
			for start := 0; start < len(frames); start += 50 {
				end := min(start+50, len(frames))
				res := s.ResolveStack(context.Background(), StackRequest{Project: "web", Release: release, Frames: frames[start:end]})
				for k, r := range res.Frames {
					want := ref[0][start+k]
					where := fmt.Sprintf("%d:%d", frames[start+k].Lineno, frames[start+k].Colno)
					if want == nil {
						unmapped++
						if r.Status != StatusNoMapping {
							t.Errorf("%s: status %s, trace-mapping finds no mapping", where, r.Status)
						}
						continue
					}
					resolved++
					if r.Status != StatusSymbolicated {
						t.Errorf("%s: status %s, trace-mapping finds %s:%d:%d", where, r.Status, want.Source, want.Line, want.Column)
						continue
					}
					if r.AbsPath != want.Source || r.Lineno != want.Line || r.Colno != want.Column+1 {
						t.Errorf("%s: resolved %s:%d:%d, trace-mapping %s:%d:%d", where, r.AbsPath, r.Lineno, r.Colno, want.Source, want.Line, want.Column+1)
					}
					if want.Text != nil {
						text := strings.TrimSuffix(*want.Text, "\r")
						if r.Context == nil {
							t.Errorf("%s: no context, the source has %q", where, text)
						} else if utf16Len(text) <= maxContextWidth && r.Context.Line != text {
							t.Errorf("%s: context line %q, the source has %q", where, r.Context.Line, text)
						}
					}
					if r.Function == "" {
						t.Errorf("%s: empty function", where)
					}
				}
			}
			if resolved < 100 {
				t.Errorf("only %d positions resolved (%d unmapped): the test is not testing much", resolved, unmapped)
			}
			t.Logf("%d positions checked against trace-mapping (%d without mapping)", resolved+unmapped, unmapped)
		})
	}
}
