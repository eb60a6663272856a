package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/internal/testenv"
)

type goFrame struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

// TestGoCrashReports builds testdata/native/gocrash with DWARF and without
// (-ldflags=-w: only .gopclntab is left), uploads it, and checks that every
// program counter the program reported resolves to the frame the Go runtime
// itself gives for it (runtime.CallersFrames).
func TestGoCrashReports(t *testing.T) {
	srv := testenv.StartServer(t)
	root := testenv.RepoRoot(t)
	for _, v := range []struct{ name, ldflags string }{
		{"dwarf", "-B=gobuildid"},
		{"pclntab", "-B=gobuildid -w"},
	} {
		t.Run(v.name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "gocrash-"+v.name)
			runCmd(t, root, nil, "go", "build", "-ldflags="+v.ldflags, "-o", bin, "./testdata/native/gocrash")
			project := "go-" + v.name
			stacklens(t, "upload", "debug-files", "--url", srv.URL, "--project", project, "--quiet", bin)
			var report struct {
				Event json.RawMessage
				Truth [][]goFrame
			}
			if err := json.Unmarshal(runCmd(t, "", nil, bin), &report); err != nil {
				t.Fatal(err)
			}
			event := decodeJSON(t, report.Event)
			res := symbolicate(t, srv.URL, project, event)
			exc := obj(list(obj(res["exception"])["values"])[0])
			out := list(obj(exc["stacktrace"])["frames"])
			in := list(obj(obj(list(obj(event["exception"])["values"])[0])["stacktrace"])["frames"])
			// Group output frames by input frame; the innermost level of each
			// group is the last one.
			var groups [][]map[string]any
			for _, f := range out {
				fm := obj(f)
				if len(groups) > 0 && obj(fm["data"])["inlined"] == true {
					groups[len(groups)-1] = append(groups[len(groups)-1], fm)
					continue
				}
				groups = append(groups, []map[string]any{fm})
			}
			if len(groups) != len(in) || len(in) != len(report.Truth) {
				t.Fatalf("%d input frames, %d groups, %d truth entries", len(in), len(groups), len(report.Truth))
			}
			checked := 0
			for i, g := range groups {
				want := report.Truth[i][0]
				inner := g[len(g)-1]
				addr := str(obj(in[i])["instruction_addr"])
				if st := obj(inner["data"])["symbolicator_status"]; st != "symbolicated" {
					t.Errorf("pc %s (%s): status %v", addr, want.Function, st)
					continue
				}
				if str(inner["function"]) != want.Function || str(inner["abs_path"]) != want.File || num(inner["lineno"]) != want.Line {
					t.Errorf("pc %s: got %v at %v:%v, runtime.CallersFrames says %s at %s:%d", addr, inner["function"], inner["abs_path"], inner["lineno"], want.Function, want.File, want.Line)
				}
				checked++
			}
			if checked < 6 {
				t.Errorf("only %d frames checked", checked)
			}
			// The frames of the program's own package are all there.
			var names []string
			for _, f := range out {
				names = append(names, str(obj(f)["function"]))
			}
			joined := strings.Join(names, " ")
			for _, fn := range []string{"main.main", "main.checkout", "main.(*cart).total", "main.limit", "main.report"} {
				if !strings.Contains(joined, fn) {
					t.Errorf("no frame for %s in %s", fn, joined)
				}
			}
		})
	}
}
