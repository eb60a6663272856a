// Package nativefixtures builds and runs the native crash programs in
// testdata/native/sym (C, C++ and Go) for tests: each prints, as it
// crashes, a Sentry-style event (frames oldest first, instruction_addr from
// backtrace() or runtime.Callers, debug_meta.images with code_id/debug_id,
// image_addr, image_size). It is a test helper: it fails the test on error.
package nativefixtures

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stacklens/stacklens/internal/testenv"
)

// Crasher is one built and run crash program.
type Crasher struct {
	Name string // "c", "cpp" or "go"
	// Binary is the executable that ran, with DWARF (gcc -O2 -g, or go build).
	Binary string
	// Stripped is Binary after `strip` (symbol tables gone: for C/C++ the
	// .dynsym only), DebugOnly its `objcopy --only-keep-debug` companion;
	// both share Binary's build-id. Empty for Go.
	Stripped, DebugOnly string
	// Event is the JSON event the program printed.
	Event []byte
}

// BuildCrashers compiles the crash programs into a fresh temporary
// directory, runs each once, and returns them. Builds take a few seconds:
// call it once per test binary when several tests need the crashers.
func BuildCrashers(t testing.TB) []Crasher {
	t.Helper()
	src := filepath.Join(testenv.RepoRoot(t), "testdata", "native", "sym")
	dir := t.TempDir()
	var out []Crasher
	for _, c := range []struct{ name, compiler, file string }{
		{"c", "gcc", "crash.c"},
		{"cpp", "g++", "crash.cpp"},
	} {
		bin := filepath.Join(dir, "crash-"+c.name)
		run(t, src, testenv.Tool(t, c.compiler), "-O2", "-g", "-o", bin, c.file)
		cr := Crasher{Name: c.name, Binary: bin, Stripped: bin + ".stripped", DebugOnly: bin + ".debug"}
		run(t, src, testenv.Tool(t, "strip"), "-o", cr.Stripped, bin)
		run(t, src, testenv.Tool(t, "objcopy"), "--only-keep-debug", bin, cr.DebugOnly)
		cr.Event = runCrash(t, bin)
		out = append(out, cr)
	}
	gobin := filepath.Join(dir, "crash-go")
	// -B gobuildid gives the Go binary a GNU build-id (derived from the Go
	// build ID), so its image has a code_id and debug_id like C programs.
	run(t, filepath.Join(src, "goprog"), testenv.Tool(t, "go"), "build", "-ldflags=-B gobuildid", "-o", gobin, ".")
	out = append(out, Crasher{Name: "go", Binary: gobin, Event: runCrash(t, gobin, "crash")})
	return out
}

func run(t testing.TB, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// runCrash runs bin, expects it to die (by SIGSEGV, or exit status 2 for
// Go), and returns the event it printed.
func runCrash(t testing.TB, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("%s was expected to crash, got err=%v\n%s", bin, err, stderr.String())
	}
	ev := bytes.TrimSpace(stdout.Bytes())
	if len(ev) == 0 || ev[0] != '{' {
		t.Fatalf("%s printed no event: %q\nstderr: %s", bin, stdout.String(), stderr.String())
	}
	return ev
}
