package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stacklens/stacklens/internal/testenv"
)

// TestJSEventsFromSentryNode is the whole JS path as a user runs it: the
// fixture program is bundled by esbuild, uploaded with `stacklens upload
// sourcemaps` under a release, run minified under the real @sentry/node SDK,
// and each captured event is posted to the real server. Every application
// frame must come back at the file, line and column where the unminified
// program threw, with that line as context.
func TestJSEventsFromSentryNode(t *testing.T) {
	srv := testenv.StartServer(t)
	fx := jsFixture(t)
	upload := stacklens(t, "upload", "sourcemaps", fx.dist, "--url", srv.URL, "--project", "shop",
		"--release", "fixture@1.0", "--url-prefix", "~"+fx.dist, "--quiet")
	t.Logf("upload: %s", upload)
	truth, events := fx.truth, fx.events
	checked := 0
	for _, ev := range events {
		scenario := str(obj(ev["tags"])["scenario"])
		want, ok := truth[scenario]
		if !ok || len(want) == 0 {
			t.Fatalf("event for unknown scenario %q", scenario)
		}
		res := symbolicate(t, srv.URL, "shop", ev)
		values := list(obj(res["exception"])["values"])
		exc := obj(values[len(values)-1])
		frames := list(obj(exc["stacktrace"])["frames"])
		raw := list(obj(exc["raw_stacktrace"])["frames"])
		inFrames := list(obj(obj(list(obj(ev["exception"])["values"])[len(values)-1])["stacktrace"])["frames"])
		if len(raw) != len(inFrames) {
			t.Errorf("%s: raw_stacktrace has %d frames, the event had %d", scenario, len(raw), len(inFrames))
		}
		var got []map[string]any
		for i, f := range frames {
			fm := obj(f)
			if strings.HasSuffix(str(obj(raw[i])["filename"]), "app.min.js") {
				got = append(got, fm)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d frames in the bundle, the unminified run has %d application frames", scenario, len(got), len(want))
			continue
		}
		for i, w := range want {
			g := got[i]
			data := obj(g["data"])
			where := scenario + " frame " + str(g["function"])
			if data["symbolicator_status"] != "symbolicated" || data["resolved_with"] != "release" || !strings.HasSuffix(str(data["sourcemap"]), "app.min.js.map") {
				t.Errorf("%s: data %v", where, data)
				continue
			}
			if filepath.Base(str(g["abs_path"])) != filepath.Base(w.File) || !strings.Contains(str(g["abs_path"]), "app/src/") ||
				num(g["lineno"]) != w.Line || num(g["colno"]) != w.Col {
				t.Errorf("%s: got %s:%v:%v, unminified run threw at %s:%d:%d", where, g["abs_path"], g["lineno"], g["colno"], w.File, w.Line, w.Col)
				continue
			}
			if ctx := str(g["context_line"]); ctx != sourceLine(t, w.File, w.Line) {
				t.Errorf("%s: context_line %q, source has %q", where, ctx, sourceLine(t, w.File, w.Line))
			}
			if str(g["function"]) == "" || str(g["function"]) == "?" {
				t.Errorf("%s: no function name", where)
			}
			checked++
		}
	}
	if checked < 10 {
		t.Fatalf("only %d frames checked", checked)
	}
	t.Logf("%d application frames from %d SDK events resolved to the unminified run's positions", checked, len(events))

	// The same event through the terminal client shows the original frames.
	evFile := filepath.Join(t.TempDir(), "event.json")
	b, _ := json.Marshal(events[0])
	if err := os.WriteFile(evFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	text := string(stacklens(t, "symbolicate", "--url", srv.URL, "--project", "shop", evFile))
	if !strings.Contains(text, "app/src/") || !strings.Contains(text, "> ") {
		t.Errorf("stacklens symbolicate output lacks original frames or context:\n%s", text)
	}
}

// jsBuild is the fixture program bundled by esbuild, its unminified run's
// stacks per scenario, and the events @sentry/node captured from the
// minified build.
type jsBuild struct {
	dist   string
	truth  map[string][]v8Frame
	events []map[string]any
}

var (
	jsOnce  sync.Once
	jsFx    *jsBuild
	jsFxErr string
)

func jsFixture(t *testing.T) *jsBuild {
	t.Helper()
	jsOnce.Do(func() {
		ok := false
		defer func() {
			if !ok && jsFxErr == "" {
				jsFxErr = "building the JS fixture failed (see the first test that built it)"
			}
		}()
		jsFx = buildJSFixture(t)
		ok = true
	})
	if jsFx == nil {
		t.Fatal(jsFxErr)
	}
	return jsFx
}

func buildJSFixture(t *testing.T) *jsBuild {
	root := testenv.RepoRoot(t)
	appDir := filepath.Join(root, "testdata", "js", "app")
	out := sharedTempDir(t, "js")
	fx := &jsBuild{dist: filepath.Join(out, "esbuild"), truth: map[string][]v8Frame{}}
	node(t, root, filepath.Join(root, "testdata", "js", "build.mjs"), out, "esbuild")
	var truthRuns []struct{ Scenario, Stack string }
	if err := json.Unmarshal(node(t, appDir, filepath.Join(appDir, "src", "cli.js")), &truthRuns); err != nil {
		t.Fatal(err)
	}
	for _, r := range truthRuns {
		fx.truth[r.Scenario] = appFrames(parseV8(r.Stack))
	}
	if err := json.Unmarshal(node(t, out, filepath.Join(root, "testdata", "js", "sentry_capture.cjs"), filepath.Join(fx.dist, "app.min.js")), &fx.events); err != nil {
		t.Fatal(err)
	}
	return fx
}

// appFrames keeps the frames in the fixture's own sources.
func appFrames(frames []v8Frame) []v8Frame {
	var out []v8Frame
	for _, f := range frames {
		if strings.Contains(f.File, filepath.Join("testdata", "js", "app", "src")) {
			out = append(out, f)
		}
	}
	return out
}
