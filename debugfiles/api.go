// Package debugfiles identifies native object and debug files (ELF, Mach-O,
// PE, PDB, Breakpad), stores them by debug ID and code ID, and maps
// instruction addresses to functions, files, lines and inline chains.
package debugfiles

import (
	"context"
	"errors"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrMissing: no debug file for that debug_id/code_id was uploaded.
	ErrMissing = errors.New("debug file not found")
	// ErrMalformed: the file exists but cannot be parsed.
	ErrMalformed = errors.New("malformed debug file")
	// ErrNoSymbol: the file is fine but has nothing at that address.
	ErrNoSymbol = errors.New("no symbol at address")
	// ErrUnsupported: a file type we recognise but cannot use.
	ErrUnsupported = errors.New("unsupported debug file")
	// ErrInvalidInput: an upload that is not a usable object file or zip.
	ErrInvalidInput = errors.New("invalid input")
)

// Kind of object file.
type Kind string

const (
	KindELF      Kind = "elf"
	KindMachO    Kind = "macho"
	KindPE       Kind = "pe"
	KindPDB      Kind = "pdb"
	KindBreakpad Kind = "breakpad"
)

// Feature names as Sentry reports them.
const (
	FeatureSymtab  = "symtab"
	FeatureDebug   = "debug"
	FeatureUnwind  = "unwind"
	FeatureSources = "sources"
)

// FileMeta identifies one uploaded debug file.
type FileMeta struct {
	DebugID    string   `json:"debug_id"`
	CodeID     string   `json:"code_id,omitempty"`
	Kind       Kind     `json:"kind"`
	Arch       string   `json:"arch"`
	Features   []string `json:"features"`
	ObjectName string   `json:"object_name,omitempty"`
	SHA256     string   `json:"sha256,omitempty"`
	Size       int64    `json:"size,omitempty"`
	UploadedAt string   `json:"uploaded_at,omitempty"`
}

// ObjectRef names the object an event image refers to.
type ObjectRef struct {
	DebugID string
	CodeID  string
}

// Location is one symbolicated frame (one inline level).
type Location struct {
	Function   string // demangled, qualified
	Symbol     string // raw (mangled) name, "" if unknown
	SymbolAddr uint64 // start of the function, in the object's address space
	File       string // absolute (comp_dir joined) path, "" if unknown
	Line       int
	Inlined    bool // true for every level but the outermost
}

// Module is a parsed, ready-to-query debug file.
type Module interface {
	Meta() FileMeta
	// LoadAddress is the object's preferred base (first PT_LOAD vaddr, Mach-O
	// __TEXT vmaddr, PE ImageBase) used when the event gives no image_vmaddr.
	LoadAddress() uint64
	// Lookup returns the frames at addr (object address space), outermost
	// first: the last element is the innermost inlined function. ErrNoSymbol
	// if nothing covers addr.
	Lookup(addr uint64) ([]Location, error)
}

// Finder finds a project's debug file for an object and returns it parsed.
// Prefers a file with line info over one with only a symbol table.
type Finder interface {
	Find(ctx context.Context, project string, ref ObjectRef) (Module, error)
}
