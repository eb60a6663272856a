package symbolizer

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ianlancetaylor/demangle"
)

// nameID indexes nameTable; 0 means "no name".
type nameID uint32

// nameTable interns raw (possibly mangled) names at Open and demangles each
// lazily, once: demangling costs microseconds, a lookup should cost ~100 ns,
// and a big binary has far more names than any event will ever touch.
type nameTable struct {
	rawNames []string
	cache    []atomic.Pointer[string]
	index    map[string]nameID // only used while building
	mu       sync.Mutex        // guards growth of demangled during build only
}

func (t *nameTable) intern(s string) nameID {
	if s == "" {
		return 0
	}
	if t.index == nil {
		t.index = make(map[string]nameID)
		t.rawNames = append(t.rawNames, "")
	}
	if id, ok := t.index[s]; ok {
		return id
	}
	id := nameID(len(t.rawNames))
	t.rawNames = append(t.rawNames, s)
	t.index[s] = id
	return id
}

// freeze drops the build-time map and allocates the demangle cache.
func (t *nameTable) freeze() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.index = nil
	t.cache = make([]atomic.Pointer[string], len(t.rawNames))
}

func (t *nameTable) len() int {
	if len(t.rawNames) == 0 {
		return 0
	}
	return len(t.rawNames) - 1
}

func (t *nameTable) raw(id nameID) string {
	if int(id) >= len(t.rawNames) {
		return ""
	}
	return t.rawNames[id]
}

func (t *nameTable) demangled(id nameID) string {
	if id == 0 || int(id) >= len(t.cache) {
		return t.raw(id)
	}
	if p := t.cache[id].Load(); p != nil {
		return *p
	}
	d := demangleName(t.rawNames[id])
	t.cache[id].Store(&d)
	return d
}

// demangleName demangles C++ (Itanium) and Rust (legacy and v0) names in
// llvm-symbolizer's style: parameter lists kept, clone suffixes printed as
// " (.constprop.0)". A name that is not mangled comes back unchanged.
func demangleName(s string) string {
	if !isMangled(s) {
		return s
	}
	out, err := demangle.ToString(s, demangle.LLVMStyle)
	if err != nil {
		return s
	}
	return out
}

// stripVersion removes ELF symbol versions ("memcpy@@GLIBC_2.14",
// "foo@VERS") that readers like nm append.
func stripVersion(s string) string {
	if i := strings.IndexByte(s, '@'); i > 0 {
		return s[:i]
	}
	return s
}

func isMangled(s string) bool {
	return strings.HasPrefix(s, "_Z") || strings.HasPrefix(s, "_R") || strings.HasPrefix(s, "__Z")
}

// goPrintName spells a Go function name the way the Go runtime prints it
// (runtime.funcNameForPrint, used by runtime.CallersFrames, panics and
// pprof): the type arguments of a generic instantiation, which the binary
// records as GC shapes ("main.apply[go.shape.struct { ... }]"), become
// "[...]". Like the runtime it cuts from the first '[' to the last ']', so
// closures inside generic functions ("pkg.f[...].func1") keep their suffix.
func goPrintName(name string) string {
	i := strings.IndexByte(name, '[')
	if i < 0 {
		return name
	}
	j := strings.LastIndexByte(name, ']')
	if j <= i {
		return name
	}
	return name[:i] + "[...]" + name[j+1:]
}
