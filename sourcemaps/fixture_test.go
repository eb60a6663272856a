package sourcemaps

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stacklens/stacklens/internal/testenv"
	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/blobstore"
)

// The JS fixtures are built once per test binary: four bundlers over
// testdata/js/app, each run minified in node, plus the unminified run that
// is the ground truth.
var (
	fixtureOnce sync.Once
	fixture     *jsFixture
	fixtureErr  error
	fixtureDir  string // removed by TestMain
)

var buildNames = []string{"esbuild", "inline", "terser", "rollup", "webpack"}

type scenarioStack struct {
	Scenario string `json:"scenario"`
	Stack    string `json:"stack"`
}

type jsFixture struct {
	nodeModules string
	appDir      string // testdata/js/app
	srcDir      string // testdata/js/app/src
	out         string // build output root
	// truth maps scenario → the unminified run's frames (Sentry order).
	truth map[string][]v8Frame
	// minified maps build → scenario → frames of the minified run.
	minified map[string]map[string][]v8Frame
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

func runNode(nodeModules, dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("node", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "STACKLENS_NODE_MODULES="+nodeModules)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("node %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

func getFixture(t testing.TB) *jsFixture {
	t.Helper()
	nm := testenv.NodeModules(t)
	fixtureOnce.Do(func() {
		fixture, fixtureErr = buildFixture(nm, testenv.RepoRoot(t))
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixture
}

func buildFixture(nm, root string) (*jsFixture, error) {
	dir, err := os.MkdirTemp("", "stacklens-js-")
	if err != nil {
		return nil, err
	}
	fixtureDir = dir
	f := &jsFixture{
		nodeModules: nm,
		appDir:      filepath.Join(root, "testdata", "js", "app"),
		out:         dir,
		minified:    map[string]map[string][]v8Frame{},
	}
	f.srcDir = filepath.Join(f.appDir, "src")
	if _, err := runNode(nm, root, filepath.Join(root, "testdata", "js", "build.mjs"), dir); err != nil {
		return nil, err
	}
	out, err := runNode(nm, f.appDir, filepath.Join(f.srcDir, "cli.js"))
	if err != nil {
		return nil, err
	}
	if f.truth, err = parseScenarioStacks(out); err != nil {
		return nil, fmt.Errorf("unminified run: %v", err)
	}
	for _, b := range buildNames {
		out, err := runNode(nm, dir, filepath.Join(dir, b, "app.min.js"))
		if err != nil {
			return nil, err
		}
		if f.minified[b], err = parseScenarioStacks(out); err != nil {
			return nil, fmt.Errorf("%s run: %v", b, err)
		}
	}
	return f, nil
}

func parseScenarioStacks(out []byte) (map[string][]v8Frame, error) {
	var stacks []scenarioStack
	if err := json.Unmarshal(out, &stacks); err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	m := map[string][]v8Frame{}
	for _, s := range stacks {
		if s.Stack == "" {
			return nil, fmt.Errorf("scenario %s did not throw", s.Scenario)
		}
		m[s.Scenario] = parseV8Stack(s.Stack)
	}
	return m, nil
}

// v8Frame is a parsed stack line; Async marks a frame V8 printed as
// "at async f" (resumed after an await).
type v8Frame struct {
	Frame
	Async bool
}

func frameList(v []v8Frame) []Frame {
	out := make([]Frame, len(v))
	for i := range v {
		out[i] = v[i].Frame
	}
	return out
}

// v8Line is one "    at …" line of error.stack.
var v8Line = regexp.MustCompile(`^\s*at (?:async )?(?:(.+?) \()?(.+?):(\d+):(\d+)\)?$`)

// parseV8Stack turns error.stack into frames the way @sentry/node does:
// oldest first, filename an absolute path (file:// dropped), function the
// V8 name without "async ", "X.<anonymous>" as "X.?", no name as "?".
// Lines without a position ("at Array.forEach (<anonymous>)") become
// frames with that path and no line, as the SDK sends them.
func parseV8Stack(stack string) []v8Frame {
	var frames []v8Frame
	for _, line := range strings.Split(stack, "\n") {
		t := strings.TrimSpace(line)
		if !strings.HasPrefix(t, "at ") {
			continue
		}
		f := v8Frame{Frame: Frame{Function: "?"}, Async: strings.HasPrefix(t, "at async ")}
		if m := v8Line.FindStringSubmatch(t); m != nil {
			if m[1] != "" {
				f.Function = m[1]
			}
			f.AbsPath = strings.TrimPrefix(m[2], "file://")
			f.Lineno, _ = strconv.Atoi(m[3])
			f.Colno, _ = strconv.Atoi(m[4])
		} else {
			rest := strings.TrimPrefix(strings.TrimPrefix(t, "at "), "async ")
			name, path, ok := strings.Cut(rest, " (")
			if ok {
				f.Function, f.AbsPath = name, strings.TrimSuffix(path, ")")
			} else {
				f.AbsPath = rest
			}
		}
		if strings.HasSuffix(f.Function, ".<anonymous>") {
			f.Function = strings.TrimSuffix(f.Function, "<anonymous>") + "?"
		}
		frames = append(frames, f)
	}
	for i, j := 0, len(frames)-1; i < j; i, j = i+1, j-1 {
		frames[i], frames[j] = frames[j], frames[i]
	}
	return frames
}

func newTestService(t testing.TB) *Service {
	t.Helper()
	return New(Config{}, blobstore.New(storage.NewInMemory(), t.TempDir()), nil)
}

func putFile(t testing.TB, s *Service, project string, f FileUpload, path string) FileRecord {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.PutFile(context.Background(), project, f, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("PutFile %s: %v", f.URL, err)
	}
	return rec
}

// tracePos is @jridgewell/trace-mapping's answer for one position.
type tracePos struct {
	Source string  `json:"source"`
	Line   int     `json:"line"`
	Column int     `json:"column"`
	Name   string  `json:"name"`
	Text   *string `json:"text"` // the original line, from sourcesContent
}

type traceJob struct {
	Map     string   `json:"map"`
	URL     string   `json:"url,omitempty"`
	Queries [][2]int `json:"queries"`
}

// traceMapping asks @jridgewell/trace-mapping about (1-based line, 0-based
// column) positions of each map; nil entries have no mapping.
func traceMapping(nodeModules string, jobs []traceJob) ([][]*tracePos, error) {
	in, err := json.Marshal(jobs)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("node", filepath.Join(filepath.Dir(nodeModules), "..", "js", "trace.mjs"))
	cmd.Env = append(os.Environ(), "STACKLENS_NODE_MODULES="+nodeModules)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("trace.mjs: %v\n%s", err, stderr.String())
	}
	var res [][]*tracePos
	return res, json.Unmarshal(out, &res)
}

// isAppFile reports whether a (normalised) path is one of the program's
// sources.
func (f *jsFixture) isAppFile(p string) bool { return strings.HasPrefix(p, f.srcDir+"/") }

// normFile turns a source path into a filesystem path comparable with the
// unminified run's: webpack://<ns>/./src/x.js names src/x.js under appDir.
func (f *jsFixture) normFile(p string) string {
	if rest, ok := strings.CutPrefix(p, "webpack://"); ok {
		_, rel, _ := strings.Cut(rest, "/")
		return filepath.Join(f.appDir, filepath.Clean(rel))
	}
	return p
}

// identAt returns the identifier starting at a 1-based UTF-16 column of a
// source line: the callee name of a call expression at that position.
func identAt(t *testing.T, path string, lineno, colno int) string {
	line := sourceLine(t, path, lineno)
	b := utf16ToByteOffset(line, colno-1)
	end := b
	for end < len(line) {
		c := line[end]
		if c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			end++
			continue
		}
		break
	}
	return line[b:end]
}

func lastSegment(name string) string {
	return name[strings.LastIndexByte(name, '.')+1:]
}

// checkAgainstTraceMapping asserts that every frame in the minified file
// resolved exactly where @jridgewell/trace-mapping says (and has no mapping
// exactly where it has none).
func (f *jsFixture) checkAgainstTraceMapping(t *testing.T, minifiedPath string, in []Frame, res StackResult) {
	t.Helper()
	var q [][2]int
	var idx []int
	for i, fr := range in {
		if fr.AbsPath == minifiedPath {
			q = append(q, [2]int{fr.Lineno, fr.Colno - 1})
			idx = append(idx, i)
		}
	}
	if len(q) == 0 {
		t.Fatalf("no frame in %s", minifiedPath)
	}
	ref, err := traceMapping(f.nodeModules, []traceJob{{Map: minifiedPath + ".map", Queries: q}})
	if err != nil {
		t.Fatal(err)
	}
	for k, i := range idx {
		r, want := res.Frames[i], ref[0][k]
		if want == nil {
			if r.Status != StatusNoMapping {
				t.Errorf("frame %d (%d:%d): status %s, trace-mapping finds no mapping", i, in[i].Lineno, in[i].Colno, r.Status)
			}
			continue
		}
		if r.Status != StatusSymbolicated {
			t.Errorf("frame %d (%d:%d) not symbolicated: %s; problems %+v", i, in[i].Lineno, in[i].Colno, r.Status, res.Problems)
			continue
		}
		if f.normFile(r.AbsPath) != f.normFile(want.Source) || r.Lineno != want.Line || r.Colno != want.Column+1 {
			t.Errorf("frame %d (%d:%d): resolved %s:%d:%d, trace-mapping %s:%d:%d", i, in[i].Lineno, in[i].Colno,
				r.AbsPath, r.Lineno, r.Colno, want.Source, want.Line, want.Column+1)
		}
	}
}

// compareWithTruth checks the resolved frames of the program's sources
// against the unminified run, frame by frame: same file, line and column,
// except for async frames resumed after an await, whose position terser
// does not map (their agreement with trace-mapping is checked instead);
// the same function where the minified code kept a name (comparing the
// last dotted part, as Sentry's grouping does: V8 says "overLimit" where
// the scope is "scenarios.overLimit"); where the minifier dropped the name
// (V8 shows none), Sentry's caller naming: the callee identifier at the
// caller's call site, or <anonymous> when the caller is not app code. Also
// the context line must be the original source line.
func (f *jsFixture) compareWithTruth(t *testing.T, minifiedPath string, in []Frame, res StackResult, truth []v8Frame) {
	t.Helper()
	f.checkAgainstTraceMapping(t, minifiedPath, in, res)
	var gotIdx []int
	for i, r := range res.Frames {
		if r.Status == StatusSymbolicated && f.isAppFile(f.normFile(r.AbsPath)) {
			gotIdx = append(gotIdx, i)
		}
	}
	var want []v8Frame
	for _, w := range truth {
		if f.isAppFile(w.AbsPath) {
			want = append(want, w)
		}
	}
	if len(gotIdx) != len(want) {
		t.Errorf("resolved %d app frames, the unminified run has %d", len(gotIdx), len(want))
		for _, i := range gotIdx {
			g := res.Frames[i]
			t.Logf("  got  %s:%d:%d %s", f.normFile(g.AbsPath), g.Lineno, g.Colno, g.Function)
		}
		for _, w := range want {
			t.Logf("  want %s:%d:%d %s", w.AbsPath, w.Lineno, w.Colno, w.Function)
		}
		return
	}
	for k, w := range want {
		i := gotIdx[k]
		g := res.Frames[i]
		file := f.normFile(g.AbsPath)
		if file != w.AbsPath || (!w.Async && (g.Lineno != w.Lineno || g.Colno != w.Colno)) {
			t.Errorf("frame %d: resolved %s:%d:%d, unminified run %s:%d:%d", k, file, g.Lineno, g.Colno, w.AbsPath, w.Lineno, w.Colno)
		}
		switch {
		case w.Function == "?":
			// Top-level code: V8 has no name to compare with.
		case in[i].Function == "?":
			wantFn := "<anonymous>"
			if i > 0 && res.Frames[i-1].Status == StatusSymbolicated && f.isAppFile(f.normFile(res.Frames[i-1].AbsPath)) {
				c := res.Frames[i-1]
				wantFn = identAt(t, f.normFile(c.AbsPath), c.Lineno, c.Colno)
			}
			if g.Function != wantFn {
				t.Errorf("frame %d (%s:%d, name dropped by the minifier): function %q, caller naming gives %q", k, filepath.Base(w.AbsPath), w.Lineno, g.Function, wantFn)
			}
		case lastSegment(g.Function) != lastSegment(w.Function):
			t.Errorf("frame %d (%s:%d): function %q, unminified run %q", k, filepath.Base(w.AbsPath), w.Lineno, g.Function, w.Function)
		}
		if wantLine := sourceLine(t, file, g.Lineno); g.Context == nil || g.Context.Line != wantLine {
			t.Errorf("frame %d (%s:%d): context line %+v, the file has %q", k, filepath.Base(file), g.Lineno, g.Context, wantLine)
		}
	}
}

func sourceLine(t *testing.T, path string, lineno int) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	if lineno < 1 || lineno > len(lines) {
		t.Fatalf("%s has no line %d", path, lineno)
	}
	return lines[lineno-1]
}

// sentryFixture is the esbuild build after `sentry-cli sourcemaps inject`,
// and the events @sentry/node produced running it.
type sentryFixture struct {
	dir     string // holds app.min.js (+ .map) with debug IDs injected
	debugID string
	events  []map[string]any
}

var (
	sentryOnce sync.Once
	sentryFx   *sentryFixture
	sentryErr  error
)

func getSentryFixture(t testing.TB) *sentryFixture {
	t.Helper()
	fx := getFixture(t)
	cli := testenv.NodeBin(t, "sentry-cli")
	sentryOnce.Do(func() {
		sentryFx, sentryErr = buildSentryFixture(fx, cli)
	})
	if sentryErr != nil {
		t.Fatal(sentryErr)
	}
	return sentryFx
}

func buildSentryFixture(fx *jsFixture, cli string) (*sentryFixture, error) {
	sf := &sentryFixture{dir: filepath.Join(fx.out, "injected")}
	if err := os.MkdirAll(sf.dir, 0o755); err != nil {
		return nil, err
	}
	for _, name := range []string{"app.min.js", "app.min.js.map"} {
		data, err := os.ReadFile(filepath.Join(fx.out, "esbuild", name))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(sf.dir, name), data, 0o644); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(cli, "sourcemaps", "inject", sf.dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("sentry-cli sourcemaps inject: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(sf.dir, "app.min.js"))
	if err != nil {
		return nil, err
	}
	if sf.debugID = findDebugIDComment(data); sf.debugID == "" {
		return nil, fmt.Errorf("sentry-cli inject left no debugId comment")
	}
	script := filepath.Join(filepath.Dir(fx.appDir), "sentry_capture.cjs")
	out, err := runNode(fx.nodeModules, fx.out, script, filepath.Join(sf.dir, "app.min.js"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(out, &sf.events); err != nil {
		return nil, fmt.Errorf("events: %v: %s", err, out)
	}
	return sf, nil
}
