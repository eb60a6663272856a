// Package symbolicate is the event pipeline: it walks a Sentry event's stack
// traces, plans which artifacts each frame needs, resolves JS and native
// frames concurrently, and writes enriched frames, statuses and event errors
// back into the event.
package symbolicate

import (
	"context"
	"errors"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/sourcemaps"
)

// ErrInvalidEvent marks an event that is not a JSON object or has stack
// traces of the wrong shape (HTTP 400).
var ErrInvalidEvent = errors.New("invalid event")

// ErrTooManyFrames marks an event over the frame limit (HTTP 413).
var ErrTooManyFrames = errors.New("too many frames")

// JSResolver resolves JS stack traces (implemented by sourcemaps.Resolver).
type JSResolver interface {
	ResolveStack(ctx context.Context, req sourcemaps.StackRequest) sourcemaps.StackResult
}

// Config of the pipeline.
type Config struct {
	MaxFrames int // per event, across all stack traces
}

// Symbolicator processes events. Safe for concurrent use.
type Symbolicator struct {
	cfg    Config
	js     JSResolver
	native debugfiles.Finder
}

// New returns a Symbolicator. js or native may be nil (those frames are then
// left unresolved with a status saying why).
func New(cfg Config, js JSResolver, native debugfiles.Finder) *Symbolicator {
	return &Symbolicator{cfg: cfg, js: js, native: native}
}

// Process symbolicates event (decoded with json.Decoder.UseNumber) for
// project and returns the enriched event. Unknown fields pass through.
func (s *Symbolicator) Process(ctx context.Context, project string, event map[string]any) (map[string]any, error) {
	return event, errors.New("TODO")
}
