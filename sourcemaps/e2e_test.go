package sourcemaps

import (
	"context"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"testing"
)

// TestGroundTruthBuilds bundles the fixture program with esbuild, terser
// (composed map), rollup and webpack, runs each minified build in node,
// uploads the build by release + URL, resolves every scenario's stack and
// checks each frame against the unminified run of the original sources.
func TestGroundTruthBuilds(t *testing.T) {
	fx := getFixture(t)
	for _, b := range buildNames {
		t.Run(b, func(t *testing.T) {
			s := newTestService(t)
			min := filepath.Join(fx.out, b, "app.min.js")
			release := b + "@1.0"
			putFile(t, s, "web", FileUpload{URL: "~" + min, Release: release}, min)
			wantLabel := min + ".map"
			if b == "inline" {
				wantLabel = min // the map is inside the file
			} else {
				putFile(t, s, "web", FileUpload{URL: "~" + min + ".map", Release: release}, min+".map")
			}
			scenarios := sortedKeys(fx.truth)
			for _, sc := range scenarios {
				t.Run(sc, func(t *testing.T) {
					frames := frameList(fx.minified[b][sc])
					res := s.ResolveStack(context.Background(), StackRequest{Project: "web", Release: release, Frames: frames})
					if len(res.Frames) != len(frames) {
						t.Fatalf("%d results for %d frames", len(res.Frames), len(frames))
					}
					fx.compareWithTruth(t, min, frames, res, fx.truth[sc])
					for i, r := range res.Frames {
						if r.Status == StatusSymbolicated && r.ResolvedWith != "release" {
							t.Errorf("frame %d resolved_with %q, want release", i, r.ResolvedWith)
						}
						if r.Status == StatusSymbolicated && r.SourceMap != wantLabel {
							t.Errorf("frame %d data.sourcemap %q, want %q", i, r.SourceMap, wantLabel)
						}
					}
				})
			}
		})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestConcurrentResolve: many goroutines resolving against one Service
// (shared caches, cold start included) get identical answers.
func TestConcurrentResolve(t *testing.T) {
	fx := getFixture(t)
	s := newTestService(t)
	min := filepath.Join(fx.out, "esbuild", "app.min.js")
	putFile(t, s, "web", FileUpload{URL: "~" + min, Release: "1"}, min)
	putFile(t, s, "web", FileUpload{URL: "~" + min + ".map", Release: "1"}, min+".map")
	req := StackRequest{Project: "web", Release: "1", Frames: frameList(fx.minified["esbuild"]["tooLoud"])}
	results := make([]StackResult, 8)
	var wg sync.WaitGroup
	for g := range results {
		wg.Go(func() { results[g] = s.ResolveStack(context.Background(), req) })
	}
	wg.Wait()
	for g := 1; g < len(results); g++ {
		if !reflect.DeepEqual(results[g], results[0]) {
			t.Fatalf("goroutine %d got a different result", g)
		}
	}
	if st := s.CacheStats(); st.Loads == 0 || st.Entries == 0 {
		t.Errorf("cache stats %+v: nothing cached", st)
	}
}
