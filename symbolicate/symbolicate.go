// Package symbolicate is the event pipeline: it walks a Sentry event's stack
// traces, plans which artifacts each frame needs, resolves JS and native
// frames concurrently, and writes enriched frames, statuses and event errors
// back into the event.
package symbolicate

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/sourcemaps"
)

// ErrInvalidEvent marks an event that is not a JSON object or has stack
// traces of the wrong shape (HTTP 400).
var ErrInvalidEvent = errors.New("invalid event")

// ErrTooManyFrames marks an event over the frame limit (HTTP 413).
var ErrTooManyFrames = errors.New("too many frames")

// JSResolver resolves JS stack traces (implemented by sourcemaps.Service).
type JSResolver interface {
	ResolveStack(ctx context.Context, req sourcemaps.StackRequest) sourcemaps.StackResult
}

// Config of the pipeline.
type Config struct {
	MaxFrames   int // per event, across all stack traces
	Concurrency int // debug files loaded at once per event
}

// RegisterFlags registers the pipeline's flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.IntVar(&c.MaxFrames, "symbolicate.max-frames", 10000, "maximum number of frames in one event, across all stack traces")
	f.IntVar(&c.Concurrency, "symbolicate.concurrency", 4, "debug files loaded concurrently for one event")
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
	if cfg.MaxFrames <= 0 {
		cfg.MaxFrames = 10000
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	return &Symbolicator{cfg: cfg, js: js, native: native}
}

// Process symbolicates event (decoded with json.Decoder.UseNumber) for
// project and returns the enriched event. Unknown fields pass through. Only
// a malformed event or one over the limits fails as a whole; a frame that
// cannot be resolved gets a status instead.
func (s *Symbolicator) Process(ctx context.Context, project string, event map[string]any) (map[string]any, error) {
	if event == nil {
		return nil, fmt.Errorf("%w: the event must be a JSON object", ErrInvalidEvent)
	}
	stacks, err := collectStacks(event)
	if err != nil {
		return nil, err
	}
	total := 0
	for _, st := range stacks {
		total += len(st.frames)
	}
	if total > s.cfg.MaxFrames {
		return nil, fmt.Errorf("%w: the event has %d frames, the limit is %d", ErrTooManyFrames, total, s.cfg.MaxFrames)
	}
	eventPlatform := strings.ToLower(asString(event["platform"]))

	p := &pass{s: s, project: project, event: event, images: collectImages(event)}
	for _, st := range stacks {
		p.plan(st, eventPlatform)
	}
	if err := p.loadImages(ctx); err != nil {
		return nil, err
	}
	if err := p.resolveJS(ctx); err != nil {
		return nil, err
	}
	for _, ps := range p.stacks {
		p.applyNative(ps)
	}
	for _, ps := range p.stacks {
		p.finish(ps)
	}
	p.annotateImages()
	p.writeErrors()
	return event, nil
}

// plannedStack is one stack trace with its frames sorted by kind.
type plannedStack struct {
	st       *stack
	raw      map[string]any // deep copy of the stacktrace before processing
	kinds    []frameKind
	native   map[int]bool // frames that are native and still to do
	adjust   []bool       // per frame: step back from a return address
	js       []int        // indices of JS frames to resolve, in order
	jsResult sourcemaps.StackResult
	// replaced[i] are the frames that replace input frame i (nil = keep)
	replaced [][]map[string]any
	changed  bool
}

type pass struct {
	s       *Symbolicator
	project string
	event   map[string]any
	images  []*image
	stacks  []*plannedStack
	errors  []map[string]any
	seenErr map[string]map[string]any
}

func alreadyProcessed(frame map[string]any) bool {
	d, ok := asMap(frame["data"])
	if !ok {
		return false
	}
	_, done := d["symbolicator_status"]
	return done
}

func (p *pass) plan(st *stack, eventPlatform string) {
	ps := &plannedStack{
		st:       st,
		raw:      cloneJSON(st.trace).(map[string]any),
		kinds:    make([]frameKind, len(st.frames)),
		native:   map[int]bool{},
		adjust:   make([]bool, len(st.frames)),
		replaced: make([][]map[string]any, len(st.frames)),
	}
	mode := strings.ToLower(asString(st.trace["instruction_addr_adjustment"]))
	n := len(st.frames)
	crashingRet := false
	if n > 0 {
		if a, ok := parseAddr(st.frames[n-1]["instruction_addr"]); ok {
			crashingRet = crashingFrameIsReturnAddress(st.trace, a)
		}
	}
	for i, f := range st.frames {
		if alreadyProcessed(f) {
			continue
		}
		k := classify(f, eventPlatform)
		ps.kinds[i] = k
		switch k {
		case kindJS:
			ps.js = append(ps.js, i)
		case kindNative:
			ps.native[i] = true
			ps.adjust[i] = shouldAdjust(mode, i, n, crashingRet)
			if a, ok := parseAddr(f["instruction_addr"]); ok {
				if im := findImage(p.images, a); im != nil {
					im.needed = true
				}
			}
		}
	}
	p.stacks = append(p.stacks, ps)
}

func (p *pass) loadImages(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.s.cfg.Concurrency)
	for _, im := range p.images {
		if !im.needed {
			continue
		}
		g.Go(func() error {
			im.load(gctx, p.s.native, p.project)
			return nil
		})
	}
	_ = g.Wait()
	return ctx.Err()
}

func (p *pass) resolveJS(ctx context.Context) error {
	if p.s.js == nil {
		for _, ps := range p.stacks {
			for _, i := range ps.js {
				f := ps.st.frames[i]
				d := frameData(f)
				d["symbolicated"] = false
				d["symbolicator_status"] = string(sourcemaps.StatusMissingSourcemap)
			}
		}
		return nil
	}
	release := asString(p.event["release"])
	dist := asString(p.event["dist"])
	debugIDs := sourcemapDebugIDs(p.event)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, ps := range p.stacks {
		if len(ps.js) == 0 {
			continue
		}
		req := sourcemaps.StackRequest{Project: p.project, Release: release, Dist: dist, DebugIDs: debugIDs}
		for _, i := range ps.js {
			req.Frames = append(req.Frames, jsFrame(ps.st.frames[i]))
		}
		g.Go(func() error {
			ps.jsResult = p.s.js.ResolveStack(gctx, req)
			return nil
		})
	}
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, ps := range p.stacks {
		p.applyJS(ps)
	}
	return nil
}

// sourcemapDebugIDs maps code_file → debug_id from debug_meta images of type
// sourcemap.
func sourcemapDebugIDs(event map[string]any) map[string]string {
	dm, _ := asMap(event["debug_meta"])
	list, _ := asList(dm["images"])
	out := map[string]string{}
	for _, v := range list {
		m, ok := asMap(v)
		if !ok || strings.ToLower(asString(m["type"])) != "sourcemap" {
			continue
		}
		file := firstString(m, "code_file", "name")
		id := strings.ToLower(firstString(m, "debug_id", "id"))
		if file != "" && id != "" {
			out[file] = id
		}
	}
	return out
}

func jsFrame(f map[string]any) sourcemaps.Frame {
	out := sourcemaps.Frame{AbsPath: asString(f["abs_path"]), Function: asString(f["function"])}
	if out.AbsPath == "" {
		out.AbsPath = asString(f["filename"])
	}
	out.Lineno, _ = asInt(f["lineno"])
	out.Colno, _ = asInt(f["colno"])
	if b, ok := f["in_app"].(bool); ok {
		out.InApp = &b
	}
	return out
}
