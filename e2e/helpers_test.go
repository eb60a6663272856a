package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stacklens/stacklens/internal/testenv"
)

// Fixtures shared by several tests live in directories removed when the
// test binary ends.
var (
	sharedMu   sync.Mutex
	sharedDirs []string
)

func sharedTempDir(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "stacklens-e2e-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	sharedMu.Lock()
	sharedDirs = append(sharedDirs, dir)
	sharedMu.Unlock()
	return dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	sharedMu.Lock()
	for _, d := range sharedDirs {
		os.RemoveAll(d)
	}
	sharedMu.Unlock()
	os.Exit(code)
}

// runCmd runs a program and returns its standard output, failing the test
// with everything it printed if it fails.
func runCmd(t testing.TB, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// runCmdWith runs a program with stdin and returns its standard output.
func runCmdWith(t testing.TB, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstderr:\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// node runs a script with the pinned packages of testdata/node available.
func node(t testing.TB, dir string, args ...string) []byte {
	t.Helper()
	nm := testenv.NodeModules(t)
	return runCmd(t, dir, []string{"STACKLENS_NODE_MODULES=" + nm}, "node", args...)
}

// stacklens runs the stacklens binary as a client.
func stacklens(t testing.TB, args ...string) []byte {
	t.Helper()
	return runCmd(t, "", nil, testenv.Binary(t), args...)
}

// symbolicate posts an event and decodes the enriched event.
func symbolicate(t testing.TB, serverURL, project string, event any) map[string]any {
	t.Helper()
	body, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(serverURL+"/api/v1/projects/"+project+"/symbolicate", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("symbolicate: %s: %s", resp.Status, out)
	}
	return decodeJSON(t, out)
}

func decodeJSON(t testing.TB, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decoding %q: %v", b, err)
	}
	return m
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func num(v any) int {
	switch n := v.(type) {
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	case float64:
		return int(n)
	}
	return 0
}

func str(v any) string { s, _ := v.(string); return s }

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

func list(v any) []any { l, _ := v.([]any); return l }

// v8Frame is one "at …" line of a V8 error.stack.
type v8Frame struct {
	Function string
	File     string
	Line     int
	Col      int
}

var v8Line = regexp.MustCompile(`^\s*at (?:async )?(?:(.+?) \()?(.+?):(\d+):(\d+)\)?$`)

// parseV8 returns the positioned frames of error.stack, oldest first (the
// order of Sentry events).
func parseV8(stack string) []v8Frame {
	var out []v8Frame
	for _, line := range strings.Split(stack, "\n") {
		m := v8Line.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		l, _ := strconv.Atoi(m[3])
		c, _ := strconv.Atoi(m[4])
		out = append(out, v8Frame{Function: m[1], File: strings.TrimPrefix(m[2], "file://"), Line: l, Col: c})
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// sourceLine returns line n (1-based) of a file.
func sourceLine(t testing.TB, path string, n int) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	if n < 1 || n > len(lines) {
		t.Fatalf("%s has no line %d", path, n)
	}
	return strings.TrimSuffix(lines[n-1], "\r")
}

func repoPath(t testing.TB, parts ...string) string {
	return filepath.Join(append([]string{testenv.RepoRoot(t)}, parts...)...)
}
