// Package sourcemaps stores JavaScript artifacts (minified files, source
// maps, original sources, artifact bundles), finds the right ones for a
// frame (debug ID, release/dist/URL rules) and maps minified positions back
// to original file, line, column, function name and source context.
package sourcemaps

import (
	"context"
	"errors"
	"io"
)

// ErrInvalidInput marks an upload or request that is malformed (HTTP 400).
var ErrInvalidInput = errors.New("invalid input")

// ErrNotFound marks a missing artifact.
var ErrNotFound = errors.New("artifact not found")

// ArtifactType of an uploaded JS file.
type ArtifactType string

const (
	TypeMinified  ArtifactType = "minified_source"
	TypeSourceMap ArtifactType = "source_map"
	TypeSource    ArtifactType = "source"
	TypeRAMBundle ArtifactType = "indexed_ram_bundle"
)

// FileUpload describes one uploaded JS artifact.
type FileUpload struct {
	URL       string       // e.g. "~/static/app.min.js"; required unless DebugID known
	Release   string       // optional; without it the file is indexed by debug ID only
	Dist      string       // optional
	Type      ArtifactType // "" = detect from content
	SourceMap string       // SourceMap header value for a minified file, if any
	DebugID   string       // optional override; otherwise read from content
}

// FileRecord is what the store keeps (and lists) about one artifact.
type FileRecord struct {
	URL      string            `json:"url"`
	Type     ArtifactType      `json:"type"`
	SHA256   string            `json:"sha256"`
	Size     int64             `json:"size"`
	DebugID  string            `json:"debug_id,omitempty"`
	Release  string            `json:"release,omitempty"`
	Dist     string            `json:"dist,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
	Uploaded string            `json:"uploaded_at,omitempty"`
}

// BundleSummary reports what an artifact bundle contained.
type BundleSummary struct {
	Release string       `json:"release,omitempty"`
	Dist    string       `json:"dist,omitempty"`
	Files   []FileRecord `json:"files"`
}

// Frame is one JS frame of an event, as the SDK sent it.
type Frame struct {
	AbsPath  string // abs_path, or filename when abs_path is empty
	Lineno   int    // 1-based; 0 = absent
	Colno    int    // 1-based; 0 = absent
	Function string // minified name; "" or "?" when unknown
	InApp    *bool
}

// StackRequest is one JS stack trace to resolve.
type StackRequest struct {
	Project string
	Release string
	Dist    string
	// DebugIDs maps a minified file's code_file (as it appears in frames'
	// abs_path/filename) to its debug ID, from debug_meta.images[type=sourcemap].
	DebugIDs map[string]string
	Frames   []Frame // Sentry order: oldest first, crashing frame last
}

// Status of one resolved frame (data.symbolicator_status).
type Status string

const (
	StatusSymbolicated     Status = "symbolicated"
	StatusMissingSourcemap Status = "missing_sourcemap" // minified file or its map not found
	StatusMissingSource    Status = "missing_source"    // nothing uploaded for this URL at all
	StatusNoMapping        Status = "no_mapping"        // map found, no token at that position
	StatusMalformed        Status = "malformed"         // map/file could not be parsed
	StatusInvalidLocation  Status = "invalid_location"  // line 0/missing, column missing
	StatusSkipped          Status = "skipped"           // not a JS frame we process ([native code], node internals)
)

// Context holds source lines around a frame's line.
type Context struct {
	Pre  []string
	Line string
	Post []string
}

// FrameResult is the outcome for one input frame.
type FrameResult struct {
	Status       Status
	AbsPath      string
	Filename     string
	Module       string
	Function     string
	Lineno       int
	Colno        int
	Context      *Context // original source context, nil if unavailable
	RawContext   *Context // minified-file context for raw_stacktrace, nil if unavailable
	InApp        *bool
	SourceMap    string // URL of the map used (data.sourcemap)
	ResolvedWith string // "debug-id", "release", "url"
}

// Problem is an event-level error (Sentry's errors[] entry) about one artifact.
type Problem struct {
	Type             string // js_no_source, js_invalid_source, js_missing_sources_content, js_invalid_sourcemap_location
	SymbolicatorType string // missing_source, missing_sourcemap, malformed_sourcemap, ...
	URL              string
	Message          string
	Extra            map[string]any
	// Frames are the indices (into StackRequest.Frames) of the frames this
	// problem affected, so the event error can name them.
	Frames []int
}

// StackResult is the outcome for one stack trace: one FrameResult per input
// frame, in input order, and the artifact problems met (each once).
type StackResult struct {
	Frames   []FrameResult
	Problems []Problem
}

// Uploader is implemented by the artifact store; used by the HTTP API.
type Uploader interface {
	PutFile(ctx context.Context, project string, f FileUpload, body io.Reader) (FileRecord, error)
	PutBundle(ctx context.Context, project, release, dist string, zip io.ReaderAt, size int64) (BundleSummary, error)
	ListReleaseFiles(ctx context.Context, project, release string) ([]FileRecord, error)
}
