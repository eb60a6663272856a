package sourcemaps

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// makeBundle builds a sentry-cli artifact bundle (manifest.json + files).
func makeBundle(t testing.TB, manifest map[string]any, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	man, err := json.Marshal(manifest)
	if err != nil {
		t.Fatal(err)
	}
	w, err := zw.Create("manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(man)
	for name, data := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// eventStack turns a real @sentry/node event into a StackRequest the way
// the symbolicate pipeline does (abs_path, else filename; debug_meta
// sourcemap images).
func eventStack(t *testing.T, ev map[string]any) (string, StackRequest) {
	t.Helper()
	var req StackRequest
	req.DebugIDs = map[string]string{}
	if dm, ok := ev["debug_meta"].(map[string]any); ok {
		imgs, _ := dm["images"].([]any)
		for _, im := range imgs {
			m := im.(map[string]any)
			if m["type"] == "sourcemap" {
				req.DebugIDs[m["code_file"].(string)] = m["debug_id"].(string)
			}
		}
	}
	values := ev["exception"].(map[string]any)["values"].([]any)
	exc := values[len(values)-1].(map[string]any)
	frames := exc["stacktrace"].(map[string]any)["frames"].([]any)
	for _, fv := range frames {
		f := fv.(map[string]any)
		fr := Frame{}
		fr.AbsPath, _ = f["abs_path"].(string)
		if fr.AbsPath == "" {
			fr.AbsPath, _ = f["filename"].(string)
		}
		fr.Function, _ = f["function"].(string)
		if n, ok := f["lineno"].(float64); ok {
			fr.Lineno = int(n)
		}
		if n, ok := f["colno"].(float64); ok {
			fr.Colno = int(n)
		}
		if b, ok := f["in_app"].(bool); ok {
			fr.InApp = &b
		}
		req.Frames = append(req.Frames, fr)
	}
	tags, _ := ev["tags"].(map[string]any)
	scenario, _ := tags["scenario"].(string)
	return scenario, req
}

// TestGroundTruthSentryNodeEvent runs the debug-ID-injected esbuild build
// under the real @sentry/node SDK, uploads the build as a sentry-cli
// artifact bundle without any release, and resolves the SDK's own events
// (its filename/function conventions, its debug_meta images) against the
// unminified run.
func TestGroundTruthSentryNodeEvent(t *testing.T) {
	fx := getFixture(t)
	sf := getSentryFixture(t)
	s := newTestService(t)
	min := filepath.Join(sf.dir, "app.min.js")
	bundle := makeBundle(t, map[string]any{
		"files": map[string]any{
			"files/_/_/app.min.js": map[string]any{"type": "minified_source", "url": "~/app.min.js",
				"headers": map[string]string{"Debug-Id": sf.debugID, "Sourcemap": "app.min.js.map"}},
			"files/_/_/app.min.js.map": map[string]any{"type": "source_map", "url": "~/app.min.js.map",
				"headers": map[string]string{"debug-id": sf.debugID}},
		},
		"debug_id": "6f6c2c1e-1111-4c2b-9f7d-3c1e2b7a9d10", "org": "o", "project": "web",
	}, map[string][]byte{
		"files/_/_/app.min.js":     readFile(t, min),
		"files/_/_/app.min.js.map": readFile(t, min+".map"),
	})
	sum, err := s.PutBundle(context.Background(), "web", "", "", bytes.NewReader(bundle), int64(len(bundle)))
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Files) != 2 || sum.Release != "" {
		t.Fatalf("bundle summary %+v", sum)
	}
	if len(sf.events) != len(fx.truth) {
		t.Fatalf("%d events, %d scenarios", len(sf.events), len(fx.truth))
	}
	for _, ev := range sf.events {
		scenario, req := eventStack(t, ev)
		t.Run(scenario, func(t *testing.T) {
			truth, ok := fx.truth[scenario]
			if !ok {
				t.Fatalf("event for unknown scenario %q", scenario)
			}
			if req.DebugIDs[min] != sf.debugID {
				t.Fatalf("event debug_meta %v lacks %s → %s", req.DebugIDs, min, sf.debugID)
			}
			req.Project = "web"
			res := s.ResolveStack(context.Background(), req)
			fx.compareWithTruth(t, min, req.Frames, res, truth)
			for i, r := range res.Frames {
				if r.Status == StatusSymbolicated && r.ResolvedWith != "debug-id" {
					t.Errorf("frame %d resolved_with %q, want debug-id", i, r.ResolvedWith)
				}
			}
			// Frames of the capture script and of node_modules have no
			// artifacts (and are reported so); the build's own must not.
			for _, p := range res.Problems {
				if p.URL == min || p.URL == min+".map" {
					t.Errorf("problem with the uploaded build: %+v", p)
				}
			}
		})
	}
}

// TestSourcesFromBundle: a map without sourcesContent takes its context
// from the original sources shipped in the same (debug ID) bundle, matched
// by URL; without them each source is reported once as
// js_missing_sources_content.
func TestSourcesFromBundle(t *testing.T) {
	fx := getFixture(t)
	sf := getSentryFixture(t)
	min := filepath.Join(sf.dir, "app.min.js")
	var m map[string]any
	if err := json.Unmarshal(readFile(t, min+".map"), &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "sourcesContent")
	stripped, _ := json.Marshal(m)
	manifest := map[string]any{"files": map[string]any{
		"min": map[string]any{"type": "minified_source", "url": "~/app.min.js", "headers": map[string]string{"debug-id": sf.debugID, "sourcemap": "app.min.js.map"}},
		"map": map[string]any{"type": "source_map", "url": "~/app.min.js.map", "headers": map[string]string{"debug-id": sf.debugID}},
	}}
	files := map[string][]byte{"min": readFile(t, min), "map": stripped}
	withSources := func(on bool) *Service {
		s := newTestService(t)
		mf := map[string]any{"files": map[string]any{}}
		for k, v := range manifest["files"].(map[string]any) {
			mf["files"].(map[string]any)[k] = v
		}
		fs := map[string][]byte{}
		for k, v := range files {
			fs[k] = v
		}
		if on {
			for _, name := range []string{"cart.js", "format.js", "tasks.js", "main.js", "cli.js"} {
				p := filepath.Join(fx.srcDir, name)
				mf["files"].(map[string]any)["src/"+name] = map[string]any{"type": "source", "url": "~" + p}
				fs["src/"+name] = readFile(t, p)
			}
		}
		b := makeBundle(t, mf, fs)
		if _, err := s.PutBundle(context.Background(), "web", "", "", bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
		return s
	}
	ev := sf.events[0]
	scenario, req := eventStack(t, ev)
	req.Project = "web"

	res := withSources(true).ResolveStack(context.Background(), req)
	fx.compareWithTruth(t, min, req.Frames, res, fx.truth[scenario])

	res = withSources(false).ResolveStack(context.Background(), req)
	seen := map[string]bool{}
	for _, p := range res.Problems {
		if p.Type == "js_missing_sources_content" {
			if seen[p.URL] {
				t.Errorf("source %s reported twice", p.URL)
			}
			seen[p.URL] = true
			if p.Extra["sourcemap"] == "" || len(p.Frames) == 0 {
				t.Errorf("problem %+v lacks sourcemap or frames", p)
			}
		}
	}
	for i, r := range res.Frames {
		if r.Status == StatusSymbolicated && fx.isAppFile(r.AbsPath) {
			if r.Context != nil {
				t.Errorf("frame %d has context without any source", i)
			}
			if !seen[r.AbsPath] {
				t.Errorf("frame %d: no js_missing_sources_content for %s", i, r.AbsPath)
			}
		}
	}
}
