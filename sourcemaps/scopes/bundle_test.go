package scopes

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stacklens/stacklens/internal/testenv"
)

// hasMethod tells whether some scope is named `<owner>.<key>`, the key an
// identifier token.
func hasMethod(ix *Index, key string) bool {
	for i := 0; i < ix.Len(); i++ {
		n := ix.Scope(i).Name
		if len(n) >= 3 && n[len(n)-2].Text == "." && n[len(n)-1].Ident && n[len(n)-1].Text == key {
			return true
		}
	}
	return false
}

// TestRealBundles parses real bundles that contain methods named like
// statement keywords (ajv's CodeGen: `if(e,n,i){...}`, `for(e,n){...}`),
// which once made the scanner miss functions and Parse fail the count check.
func TestRealBundles(t *testing.T) {
	nm := testenv.NodeModules(t)
	esbuild := testenv.NodeBin(t, "esbuild")
	terser := testenv.NodeBin(t, "terser")
	entry := filepath.Join(testenv.RepoRoot(t), "sourcemaps", "mapping", "testdata", "bench", "entry.js")
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string // the command; it writes out
		out     string
		minFunc int
	}{
		{"esbuild bench bundle minified", []string{esbuild, entry, "--bundle", "--minify", "--sourcemap",
			"--platform=node", "--format=esm", "--log-level=error", "--outfile=" + filepath.Join(dir, "min.js")}, "min.js", 5000},
		{"esbuild bench bundle", []string{esbuild, entry, "--bundle", "--sourcemap",
			"--platform=node", "--format=esm", "--log-level=error", "--outfile=" + filepath.Join(dir, "dev.js")}, "dev.js", 5000},
		// The whole bench bundle takes terser ~9 s; its CodeGen module alone
		// is enough for the keyword-named methods.
		{"terser ajv codegen", []string{terser, filepath.Join(nm, "ajv", "dist", "compile", "codegen", "index.js"),
			"--compress", "--mangle", "-o", filepath.Join(dir, "codegen.min.js")}, "codegen.min.js", 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(tc.args[0], tc.args[1:]...)
			cmd.Env = append(os.Environ(), "NODE_PATH="+nm)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, b)
			}
			src, err := os.ReadFile(filepath.Join(dir, tc.out))
			if err != nil {
				t.Fatal(err)
			}
			ix, err := Parse(src)
			if err != nil {
				t.Fatalf("Parse(%d bytes): %v", len(src), err)
			}
			if ix.Len() <= tc.minFunc {
				t.Errorf("found %d scopes, want more than %d", ix.Len(), tc.minFunc)
			}
			for _, key := range []string{"if", "for", "try", "else"} {
				if !hasMethod(ix, key) {
					t.Errorf("no scope named <class>.%s", key)
				}
			}
		})
	}
}
