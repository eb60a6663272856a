package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/stacklens/stacklens/internal/testenv"
)

// fixture is a source map produced by a real toolchain (or shipped in a
// real npm package), plus the generated file when we built it.
type fixture struct {
	name string
	path string // the map file
	data []byte
	js   string // the generated file, for maps built here
}

var (
	fixturesOnce sync.Once
	fixturesDir  string
	fixturesList []fixture
	fixturesErr  error
)

// fixtureDir is shared by all tests of the binary; TestMain removes it.
func TestMain(m *testing.M) {
	code := m.Run()
	if fixturesDir != "" {
		os.RemoveAll(fixturesDir)
	}
	os.Exit(code)
}

func run(dir, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %v: %v\n%s", name, args, err, out.String())
	}
	return nil
}

// realFixtures builds (once per test binary) maps with esbuild and terser
// from testdata/js, and collects the maps axios and preact ship, plus two
// index maps assembled from those real maps.
func realFixtures(t testing.TB) []fixture {
	t.Helper()
	nm := testenv.NodeModules(t)
	esbuild := testenv.NodeBin(t, "esbuild")
	terser := testenv.NodeBin(t, "terser")
	fixturesOnce.Do(func() {
		fixturesList, fixturesErr = buildFixtures(nm, esbuild, terser)
	})
	if fixturesErr != nil {
		t.Fatal(fixturesErr)
	}
	return fixturesList
}

func buildFixtures(nm, esbuild, terser string) ([]fixture, error) {
	dir, err := os.MkdirTemp("", "mapping-fixtures-")
	if err != nil {
		return nil, err
	}
	fixturesDir = dir
	src, err := filepath.Abs("testdata/js/app.js")
	if err != nil {
		return nil, err
	}
	builds := []struct {
		name string
		args []string
	}{
		{"esbuild-minify-ascii", []string{"--minify"}},
		{"esbuild-minify-utf8", []string{"--minify", "--charset=utf8"}},
		{"esbuild-bundle", []string{"--charset=utf8"}},
	}
	for _, b := range builds {
		args := append([]string{src, "--bundle", "--format=esm", "--sourcemap", "--outfile=" + filepath.Join(dir, b.name+".js")}, b.args...)
		if err := run(dir, esbuild, args...); err != nil {
			return nil, err
		}
	}
	// terser composes its map with esbuild's (an input source map).
	if err := run(dir, terser, "esbuild-bundle.js", "--compress", "--mangle",
		"--source-map", "content='esbuild-bundle.js.map',url='terser-composed.js.map'",
		"-o", "terser-composed.js"); err != nil {
		return nil, err
	}
	var list []fixture
	add := func(name, path string) error {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		list = append(list, fixture{name: name, path: path, data: data})
		return nil
	}
	for _, b := range builds {
		if err := add(b.name, filepath.Join(dir, b.name+".js.map")); err != nil {
			return nil, err
		}
		list[len(list)-1].js = filepath.Join(dir, b.name+".js")
	}
	if err := add("terser-composed", filepath.Join(dir, "terser-composed.js.map")); err != nil {
		return nil, err
	}
	list[len(list)-1].js = filepath.Join(dir, "terser-composed.js")
	if err := add("axios", filepath.Join(nm, "axios/dist/axios.min.js.map")); err != nil {
		return nil, err
	}
	preactMaps, err := filepath.Glob(filepath.Join(nm, "preact/*/dist/*.map"))
	if err != nil {
		return nil, err
	}
	preactMaps = append([]string{filepath.Join(nm, "preact/dist/preact.mjs.map")}, preactMaps...)
	for _, p := range preactMaps {
		rel, _ := filepath.Rel(filepath.Join(nm, "preact"), p)
		if err := add("preact/"+rel, p); err != nil {
			return nil, err
		}
	}
	// Index map 1: the terser map on line 0, preact's map starting further
	// along line 0 (so its column offset must apply to its first line only),
	// axios's map after preact's lines at a non-zero column.
	terserJS, err := os.ReadFile(filepath.Join(dir, "terser-composed.js"))
	if err != nil {
		return nil, err
	}
	preactJS, err := os.ReadFile(filepath.Join(nm, "preact/dist/preact.mjs"))
	if err != nil {
		return nil, err
	}
	firstLine, _, _ := bytes.Cut(terserJS, []byte("\n"))
	preactLines := bytes.Count(preactJS, []byte("\n")) + 1
	idx1, err := indexMap([]indexSection{
		{0, 0, list[3].data},
		{0, len(firstLine) + 7, fixtureData(list, "preact/dist/preact.mjs.map")},
		{preactLines, 3, fixtureData(list, "axios")},
	})
	if err != nil {
		return nil, err
	}
	// Index map 2: sections that cut the previous section's mappings short
	// (mid-line and across lines), which FlattenMap clips.
	idx2, err := indexMap([]indexSection{
		{0, 0, fixtureData(list, "esbuild-bundle")},
		{20, 11, fixtureData(list, "preact/hooks/dist/hooks.mjs.map")},
		{21, 500, fixtureData(list, "preact/compat/dist/compat.mjs.map")},
	})
	if err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{"index-terser-preact-axios": idx1, "index-clipped": idx2} {
		p := filepath.Join(dir, name+".map")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return nil, err
		}
		if err := add(name, p); err != nil {
			return nil, err
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })
	return list, nil
}

func fixtureData(list []fixture, name string) []byte {
	for _, f := range list {
		if f.name == name {
			return f.data
		}
	}
	panic("fixture " + name + " not built")
}

type indexSection struct {
	line, col int
	mapJSON   []byte
}

func indexMap(sections []indexSection) ([]byte, error) {
	type offset struct {
		Line   int `json:"line"`
		Column int `json:"column"`
	}
	type section struct {
		Offset offset          `json:"offset"`
		Map    json.RawMessage `json:"map"`
	}
	doc := struct {
		Version  int       `json:"version"`
		File     string    `json:"file"`
		Sections []section `json:"sections"`
	}{Version: 3, File: "combined.js"}
	for _, s := range sections {
		doc.Sections = append(doc.Sections, section{offset{s.line, s.col}, s.mapJSON})
	}
	return json.Marshal(doc)
}

// probePositions lists every segment start, ±1 around it, column 0 of every
// line (and two lines past the end) and n random positions.
func probePositions(m *Map, n int, seed uint64) [][2]int {
	var pos [][2]int
	maxCol := 0
	m.Tokens(func(tok Token) bool {
		pos = append(pos, [2]int{tok.GenLine, tok.GenCol}, [2]int{tok.GenLine, tok.GenCol + 1})
		if tok.GenCol > 0 {
			pos = append(pos, [2]int{tok.GenLine, tok.GenCol - 1})
		}
		maxCol = max(maxCol, tok.GenCol)
		return true
	})
	for l := 0; l < m.NumLines()+2; l++ {
		pos = append(pos, [2]int{l, 0})
	}
	r := rand.New(rand.NewPCG(seed, 42))
	for range n {
		pos = append(pos, [2]int{r.IntN(m.NumLines() + 2), r.IntN(maxCol + 10)})
	}
	return pos
}

// traceAnswer is one line of testdata/trace.mjs output.
type traceAnswer struct {
	kind      int // 0 no segment, 1 one-field segment, 2 mapped
	source    string
	line, col int
	name      string
	srcIdx    int
	nameIdx   int
}

// traceJob asks trace-mapping about positions in one map file.
type traceJob struct {
	Map       string   `json:"map"`
	Positions [][2]int `json:"positions"`
}

// traceMapping runs @jridgewell/trace-mapping (testdata/trace.mjs) on all
// jobs in one node process and returns the answers per job.
func traceMapping(t testing.TB, jobs []traceJob) [][]traceAnswer {
	t.Helper()
	nm := testenv.NodeModules(t)
	jobsJSON, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	jobsFile := writeTemp(t, "jobs.json", jobsJSON)
	script, err := filepath.Abs("testdata/trace.mjs")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", script, nm, jobsFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("trace.mjs: %v\n%s", err, stderr.String())
	}
	var raw [][][]any
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) != len(jobs) {
		t.Fatalf("trace.mjs answered %d jobs, asked %d", len(raw), len(jobs))
	}
	answers := make([][]traceAnswer, len(jobs))
	for j, job := range raw {
		if len(job) != len(jobs[j].Positions) {
			t.Fatalf("trace.mjs answered %d positions, asked %d", len(job), len(jobs[j].Positions))
		}
		answers[j] = make([]traceAnswer, len(job))
		for i, r := range job {
			a := traceAnswer{kind: int(r[0].(float64)), srcIdx: -1, nameIdx: -1}
			if a.kind == 2 {
				a.source, _ = r[1].(string)
				a.line = int(r[2].(float64))
				a.col = int(r[3].(float64))
				a.name, _ = r[4].(string)
				a.srcIdx = int(r[5].(float64))
				a.nameIdx = int(r[6].(float64))
			}
			answers[j][i] = a
		}
	}
	return answers
}

// writeTemp writes data to a file in t.TempDir.
func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
