// Package testenv gives tests the real external tools they need (node
// packages, llvm-symbolizer, a MinIO server, the stacklens binary) and fails
// loudly when one is missing. Set STACKLENS_SKIP_MISSING_TOOLS=1 to skip such
// tests instead on a developer machine; CI never sets it.
package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// missing fails (or, on explicit opt-in, skips) a test whose tool is absent.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("STACKLENS_SKIP_MISSING_TOOLS") == "1" && os.Getenv("CI") == "" {
		t.Skip("missing tool (STACKLENS_SKIP_MISSING_TOOLS=1): " + msg)
	}
	t.Fatal("required test tool missing: " + msg + " (run ./scripts/test.sh, which installs everything)")
}

// RepoRoot returns the repository root (the directory holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testenv: cannot locate source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// NodeModules returns testdata/node/node_modules, checking that node and the
// pinned packages are installed.
func NodeModules(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		missing(t, "node is not on PATH")
	}
	dir := filepath.Join(RepoRoot(t), "testdata", "node", "node_modules")
	if _, err := os.Stat(filepath.Join(dir, ".package-lock.json")); err != nil {
		missing(t, "node packages not installed in %s (npm ci --ignore-scripts in testdata/node)", dir)
	}
	return dir
}

// NodeBin returns the path of an executable from testdata/node/node_modules/.bin.
func NodeBin(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(NodeModules(t), ".bin", name)
	if _, err := os.Stat(p); err != nil {
		missing(t, "%s not installed in testdata/node", name)
	}
	return p
}

// Tool returns the path of a program on PATH (e.g. llvm-symbolizer).
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, "%s is not on PATH", name)
	}
	return p
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
