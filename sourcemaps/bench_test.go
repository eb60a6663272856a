package sourcemaps

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stacklens/stacklens/sourcemaps/mapping"
)

var (
	bigOnce sync.Once
	bigDir  string
	bigErr  error
)

// BenchmarkResolveStackWarm: a 50-frame stack over a ~1.5 MB minified file
// with a ~5.4 MB map (terser + rollup + axios bundled by esbuild), frames at
// real mapped positions, everything already parsed and cached. Reports
// ns per frame.
func BenchmarkResolveStackWarm(b *testing.B) {
	fx := getFixture(b)
	bigOnce.Do(func() {
		_, bigErr = runNode(fx.nodeModules, fx.out, filepath.Join(filepath.Dir(fx.appDir), "build.mjs"), fx.out, "big")
		bigDir = filepath.Join(fx.out, "big")
	})
	if bigErr != nil {
		b.Fatal(bigErr)
	}
	min := filepath.Join(bigDir, "app.min.js")
	s := newTestService(b)
	putFile(b, s, "web", FileUpload{URL: "~/static/app.min.js", Release: "1"}, min)
	mapRec := putFile(b, s, "web", FileUpload{URL: "~/static/app.min.js.map", Release: "1"}, min+".map")
	m, err := mapping.Parse(readFile(b, min+".map"))
	if err != nil {
		b.Fatal(err)
	}
	var all []mapping.Token
	for tok := range m.Tokens {
		all = append(all, tok)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	frames := make([]Frame, 50)
	for i := range frames {
		tok := all[rng.IntN(len(all))]
		frames[i] = Frame{AbsPath: "https://ex.com/static/app.min.js", Lineno: tok.GenLine + 1, Colno: tok.GenCol + 1, Function: "e"}
	}
	req := StackRequest{Project: "web", Release: "1", Frames: frames}
	ctx := context.Background()
	res := s.ResolveStack(ctx, req) // cold: parses map, file, scopes
	for i, r := range res.Frames {
		if r.Status != StatusSymbolicated {
			b.Fatalf("frame %d: %s %+v", i, r.Status, res.Problems)
		}
	}
	b.ReportMetric(float64(mapRec.Size)/(1<<20), "map-MiB")
	b.ResetTimer()
	for b.Loop() {
		s.ResolveStack(ctx, req)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frames)), "ns/frame")
}
