package sourcemaps

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/stacklens/stacklens/sourcemaps/mapping"
)

// module is one minified file (one abs_path) of a stack, with everything
// found for it; loaded once per ResolveStack.
type module struct {
	absPath      string
	debugID      string
	minified     *FileRecord
	text         *textFile // nil when the minified file was not found
	resolvedWith string
	mapURL       string // where the map was looked for ("" when embedded or by debug ID only)
	label        string // data.sourcemap: the map's URL, or the minified file's abs_path
	base         string // sources are resolved against this URL
	smap         *mapping.Map
	mapKey       string // cache key of smap (blob sha256, or minified sha for data: maps)

	failStatus Status // set when frames of this module cannot resolve
	failKey    string // the problem to attach such frames to
}

// stackResolver holds the state of one ResolveStack call.
type stackResolver struct {
	s        *Service
	req      StackRequest
	modules  map[string]*module
	sources  map[string]*lineIndex // uploaded originals by URL (nil: none)
	normIDs  map[string]string     // "~/path" → debug ID, built on first need
	problems []Problem
	probIdx  map[string]int
	// background is the work started ahead of need (prefetches), which
	// ResolveStack waits for: nothing of a request outlives it.
	background sync.WaitGroup
}

// ResolveStack maps every frame of one stack trace back to its original
// position, function name and source context. Frames stay in input order;
// one bad frame never affects the others; artifact problems are reported
// once each, naming the frames they affected.
func (s *Service) ResolveStack(ctx context.Context, req StackRequest) StackResult {
	r := &stackResolver{
		s: s, req: req,
		modules: map[string]*module{},
		sources: map[string]*lineIndex{},
		probIdx: map[string]int{},
	}
	res := StackResult{Frames: make([]FrameResult, len(req.Frames))}
	callsite := ""
	for i, f := range req.Frames {
		var tokenName string
		res.Frames[i], tokenName = r.resolveFrame(ctx, i, f, callsite)
		// The caller of frame i+1 is frame i (Sentry order is oldest
		// first): the mapping name at a call site names the callee.
		callsite = tokenName
	}
	res.Problems = r.problems
	r.background.Wait()
	return res
}

// addProblem records an artifact problem once (by key) and notes frame i
// as affected.
func (r *stackResolver) addProblem(key string, i int, p Problem) {
	if j, ok := r.probIdx[key]; ok {
		if i >= 0 {
			r.problems[j].Frames = append(r.problems[j].Frames, i)
		}
		return
	}
	if i >= 0 {
		p.Frames = []int{i}
	}
	r.probIdx[key] = len(r.problems)
	r.problems = append(r.problems, p)
}

func (r *stackResolver) attach(key string, i int) {
	if j, ok := r.probIdx[key]; ok {
		r.problems[j].Frames = append(r.problems[j].Frames, i)
	}
}

// skippedPath reports frames that are not from a JS file we could have
// (engine built-ins, Node internals, eval code).
func skippedPath(abs string) bool {
	switch abs {
	case "", "[native code]", "native", "<anonymous>", "eval code", "eval", "<unknown>":
		return true
	}
	return strings.HasPrefix(abs, "node:") || strings.HasPrefix(abs, "internal/")
}

func boolPtr(b bool) *bool { return &b }

func (r *stackResolver) resolveFrame(ctx context.Context, i int, f Frame, callsite string) (FrameResult, string) {
	abs := strings.TrimPrefix(f.AbsPath, "async ")
	out := FrameResult{
		AbsPath: abs, Function: f.Function, Lineno: f.Lineno, Colno: f.Colno, InApp: f.InApp,
	}
	if skippedPath(abs) {
		out.Status = StatusSkipped
		out.InApp = boolPtr(false)
		return out, ""
	}
	if strings.Contains(abs, "/node_modules/") || strings.Contains(abs, "webpack/bootstrap") {
		out.InApp = boolPtr(false)
	}
	if f.Lineno <= 0 {
		out.Status = StatusInvalidLocation
		r.addProblem("loc:"+abs+":"+fmt.Sprint(f.Lineno, f.Colno), i, Problem{
			Type: "js_invalid_sourcemap_location", SymbolicatorType: "invalid_location", URL: abs,
			Message: fmt.Sprintf("frame in %s has no line number (lineno %d): it cannot be looked up", abs, f.Lineno),
			Extra:   map[string]any{"row": f.Lineno, "column": f.Colno, "source": abs},
		})
		return out, ""
	}
	mod := r.module(ctx, abs)
	if mod.text != nil {
		out.RawContext = mod.text.lines.context(f.Lineno, f.Colno)
	}
	if mod.failStatus != "" {
		out.Status = mod.failStatus
		r.attach(mod.failKey, i)
		return out, ""
	}
	m := mod.smap
	// A missing column is looked up at column 0, as Sentry does
	// (colno.unwrap_or(0).saturating_sub(1)): the first segment of the line
	// is the best guess left, and SDKs that omit colno are rare.
	line0, col0 := f.Lineno-1, max(f.Colno-1, 0)
	if mod.text != nil && line0 >= mod.text.lines.numLines() {
		out.Status = StatusNoMapping
		r.addProblem("loc:"+abs+":"+fmt.Sprint(f.Lineno, f.Colno), i, Problem{
			Type: "js_invalid_sourcemap_location", SymbolicatorType: "invalid_location", URL: abs,
			Message: fmt.Sprintf("frame %s:%d:%d is past the end of the uploaded file (%d lines): the uploaded %s is not the file that ran; upload the build of this release",
				abs, f.Lineno, f.Colno, mod.text.lines.numLines(), mod.minifiedURL()),
			Extra: map[string]any{"row": f.Lineno, "column": f.Colno, "source": abs},
		})
		return out, ""
	}
	tok, ok := m.Lookup(line0, col0)
	if !ok || tok.Source < 0 {
		out.Status = StatusNoMapping
		r.addProblem("loc:"+abs+":"+fmt.Sprint(f.Lineno, f.Colno), i, Problem{
			Type: "js_invalid_sourcemap_location", SymbolicatorType: "invalid_location", URL: abs,
			Message: fmt.Sprintf("source map %s has no mapping at %s:%d:%d: the map does not describe this position (a map of another build, or code the bundler did not map)",
				mod.label, abs, f.Lineno, f.Colno),
			Extra: map[string]any{"row": f.Lineno, "column": f.Colno, "source": abs, "sourcemap": mod.label},
		})
		return out, ""
	}
	tokenName := ""
	if tok.Name >= 0 {
		tokenName = m.Name(tok.Name)
	}
	out.Status = StatusSymbolicated
	out.SourceMap = mod.label
	out.ResolvedWith = mod.resolvedWith
	out.Lineno, out.Colno = tok.SrcLine+1, tok.SrcCol+1
	src := m.Source(tok.Source)
	if src != "" {
		out.AbsPath = joinURL(mod.base, src)
		out.Filename = shortFilename(src)
		out.Module = generateModule(out.AbsPath, src)
	}
	out.InApp = inApp(out.AbsPath, m.Ignored(tok.Source), out.InApp)

	frameFn := f.Function
	if frameFn == "?" {
		frameFn = ""
	}
	scopeName, found := r.s.functionNameAt(ctx, mod, line0, col0, tok)
	if !found {
		scopeName = frameFn
		if scopeName == "" {
			scopeName = "<unknown>"
		}
	}
	out.Function = foldFunctionName(pickFunctionName(frameFn, scopeName, callsite))

	if src != "" {
		out.Context = r.sourceContext(ctx, i, mod, tok.Source, out.AbsPath, out.Lineno, out.Colno)
	}
	return out, tokenName
}

// inApp applies the rules that force a frame out of the app (ignore-listed
// sources, dependencies, bundler runtime); otherwise the SDK's value stands.
func inApp(absPath string, ignored bool, sdk *bool) *bool {
	if ignored || strings.Contains(absPath, "node_modules/") || strings.Contains(absPath, "webpack/bootstrap") ||
		strings.HasPrefix(absPath, "node:") || absPath == "[native code]" {
		return boolPtr(false)
	}
	return sdk
}

func (mod *module) minifiedURL() string {
	if mod.minified != nil && mod.minified.URL != "" {
		return mod.minified.URL
	}
	return mod.absPath
}

// where says which release/dist a lookup used, for messages.
func (r *stackResolver) where() string {
	if r.req.Release == "" {
		return "(the event has no release)"
	}
	d := r.req.Dist
	if d == "" {
		d = "_ (none)"
	}
	return fmt.Sprintf("in release %q dist %s", r.req.Release, d)
}

func (r *stackResolver) getRecord(ctx context.Context, key string) (*FileRecord, error) {
	rec, err := r.getStored(ctx, key)
	if rec == nil {
		return nil, err
	}
	return &rec.FileRecord, err
}

func (r *stackResolver) getStored(ctx context.Context, key string) (*storedRecord, error) {
	rec, err := r.s.lookupStored(ctx, key)
	if err != nil {
		r.s.logger.Warn("sourcemaps: reading record", "key", key, "err", err)
	}
	return rec, err
}

// releaseKeys returns the record keys of the release candidates, without
// repeats.
func (r *stackResolver) releaseKeys(cands []string) []string {
	keys := make([]string, 0, len(cands))
	seen := make(map[string]bool, len(cands))
	for _, c := range cands {
		if k := releaseKey(r.req.Project, r.req.Release, r.req.Dist, c); !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

// firstRecord returns the record of the first key, in order, that has one
// accepted by want, and the store errors met before it. The keys are read
// concurrently: on a first request (nothing cached) each is an object-store
// round trip, and the upload usually matches one of the last candidates
// (~/path), so reading them one by one cost a round trip per candidate.
func (r *stackResolver) firstRecord(ctx context.Context, keys []string, want func(*FileRecord) bool) (*storedRecord, error) {
	type answer struct {
		rec *storedRecord
		err error
	}
	answers := make([]answer, len(keys))
	if r.s.recordsCached(keys) {
		// One of them is cached (the one found last time, most likely):
		// in order, stopping at the first found, as cheap as it gets.
		var errs error
		for _, k := range keys {
			rec, err := r.getStored(ctx, k)
			errs = errors.Join(errs, err)
			if rec != nil && want(&rec.FileRecord) {
				return rec, errs
			}
		}
		return nil, errs
	}
	if len(keys) == 1 {
		answers[0].rec, answers[0].err = r.getStored(ctx, keys[0])
	} else {
		var wg sync.WaitGroup
		for i, k := range keys {
			wg.Go(func() { answers[i].rec, answers[i].err = r.getStored(ctx, k) })
		}
		wg.Wait()
	}
	var errs error
	for _, a := range answers {
		errs = errors.Join(errs, a.err)
		if a.rec != nil && want(&a.rec.FileRecord) {
			return a.rec, errs
		}
	}
	return nil, errs
}

// mapFind is where findMapRecord found a module's map.
type mapFind struct {
	rec       *FileRecord // nil: not found
	byDebugID bool
	err       error // store failures met
}

// findMapRecord looks for the record of a module's map: by debug ID, else
// by release at the URL ref names (relative to the frame's file abs, and to
// the minified file's upload URL when it is known). It touches no module,
// so that it can run while the minified file loads.
func (r *stackResolver) findMapRecord(ctx context.Context, abs, uploadURL, ref, debugID string) mapFind {
	var f mapFind
	if debugID != "" {
		rec, err := r.getRecord(ctx, debugKey(r.req.Project, debugID, "map"))
		f.err = errors.Join(f.err, err)
		if rec != nil {
			f.rec, f.byDebugID = rec, true
			return f
		}
	}
	if ref == "" || r.req.Release == "" {
		return f
	}
	cands := releaseCandidates(joinURL(abs, ref))
	if uploadURL != "" {
		// The upload's own URL may differ from the frame's (another
		// host, or ~/ against a Node path); its neighbour counts too.
		cands = append(cands, releaseCandidates(joinURL(uploadURL, ref))...)
	}
	rec, err := r.firstRecord(ctx, r.releaseKeys(cands), func(rec *FileRecord) bool { return rec.Type == TypeSourceMap })
	f.err = errors.Join(f.err, err)
	if rec != nil {
		f.rec = &rec.FileRecord
	}
	return f
}

// mapPrefetch is a findMapRecord (and load of the map it finds) started
// before the minified file is loaded, so that a replica that has neither
// in memory downloads both at once. loadModule uses its answer only where
// the file's own references would give the same (see answer).
type mapPrefetch struct {
	ref, debugID string
	// guessed: started before the minified file's record was read, with
	// the conventional map URL and without the upload URL's candidates.
	guessed bool
	done    chan struct{}
	find    mapFind
}

func (r *stackResolver) startMapPrefetch(ctx context.Context, abs, uploadURL, ref, debugID string, guessed bool) *mapPrefetch {
	p := &mapPrefetch{ref: ref, debugID: debugID, guessed: guessed, done: make(chan struct{})}
	r.background.Go(func() {
		defer close(p.done)
		p.find = r.findMapRecord(ctx, abs, uploadURL, ref, debugID)
		if p.find.rec != nil {
			// Into the caches; loadModule reads it from there.
			_, _ = r.s.loadMapBlob(ctx, p.find.rec.SHA256)
		}
	})
	return p
}

// answer returns the prefetch's result if findMapRecord(ref, debugID),
// run now with everything the module knows, would return the same.
func (p *mapPrefetch) answer(ref, debugID string) (mapFind, bool) {
	if p == nil || p.debugID != debugID {
		return mapFind{}, false
	}
	if debugID == "" && p.ref != ref {
		return mapFind{}, false
	}
	<-p.done
	switch {
	case p.find.byDebugID:
		return p.find, true // found by debug ID: the URL was not looked at
	case p.ref != ref:
		return mapFind{}, false
	case p.guessed && p.find.rec == nil:
		// It did not look next to the upload URL.
		return mapFind{}, false
	}
	return p.find, true
}

// guessMapPrefetch starts looking for a cold module's map before its
// minified file's record is read: by the event's debug ID, and at the URL
// most builds use (the file's name plus ".map").
func (r *stackResolver) guessMapPrefetch(ctx context.Context, m *module) *mapPrefetch {
	keys := r.releaseKeys(releaseCandidates(m.absPath))
	if m.debugID != "" {
		keys = append(keys, debugKey(r.req.Project, m.debugID, "minified"))
	}
	if r.s.recordsCached(keys) {
		return nil // seen moments ago: its artifacts are in memory
	}
	ref := ""
	if r.req.Release != "" {
		p := tildePath(m.absPath)
		if base := p[strings.LastIndexByte(p, '/')+1:]; base != "" && base != "~" {
			ref = base + ".map"
		}
	}
	if ref == "" && m.debugID == "" {
		return nil
	}
	return r.startMapPrefetch(ctx, m.absPath, "", ref, m.debugID, true)
}

// prefetchMap starts the map's look-up from the references stored in the
// minified file's record (computed at upload, see storedRecord), unless
// the guess already looks there.
func (r *stackResolver) prefetchMap(ctx context.Context, m *module, refs *textRefs, guess *mapPrefetch) *mapPrefetch {
	ref := m.minified.Headers["sourcemap"]
	if ref == "" {
		ref = refs.SourceMappingURL
	}
	debugID := m.debugID
	if debugID == "" {
		debugID = refs.DebugID
	}
	if debugID == "" {
		debugID = m.minified.DebugID
	}
	if strings.HasPrefix(ref, "data:") || (ref == "" && debugID == "") {
		return nil
	}
	if guess != nil && guess.ref == ref && guess.debugID == debugID {
		// The guess is this look-up but for the candidates next to the
		// upload URL, which loadModule reads if the guess finds nothing.
		return nil
	}
	return r.startMapPrefetch(ctx, m.absPath, m.minified.URL, ref, debugID, false)
}

// debugIDFor finds the debug ID of the file at abs: debug_meta's code_file
// equal to abs, else equal after normalising both to "~/path" (a Node
// frame's /srv/x.js, an app:///x.js and https://h/x.js all compare by path).
func (r *stackResolver) debugIDFor(abs string) string {
	if id, ok := r.req.DebugIDs[abs]; ok {
		if n, ok := normalizeDebugID(id); ok {
			return n
		}
	}
	if len(r.req.DebugIDs) == 0 {
		return ""
	}
	if r.normIDs == nil {
		r.normIDs = make(map[string]string, len(r.req.DebugIDs))
		for file, id := range r.req.DebugIDs {
			if n, ok := normalizeDebugID(id); ok {
				r.normIDs[tildePath(strings.TrimPrefix(file, "async "))] = n
			}
		}
	}
	return r.normIDs[tildePath(abs)]
}

func tildePath(u string) string {
	u, _, _ = strings.Cut(u, "#")
	u, _, _ = strings.Cut(u, "?")
	return "~" + stripHostname(u)
}

func (r *stackResolver) module(ctx context.Context, abs string) *module {
	if m, ok := r.modules[abs]; ok {
		return m
	}
	m := &module{absPath: abs}
	r.modules[abs] = m
	r.loadModule(ctx, m)
	return m
}

func (r *stackResolver) fail(m *module, st Status, key string, p Problem) {
	m.failStatus, m.failKey = st, key
	r.addProblem(key, -1, p)
}

// loadModule finds the minified file and its map (DESIGN.md "Resolving a JS
// frame", step 1) and records why when it cannot.
func (r *stackResolver) loadModule(ctx context.Context, m *module) {
	s, proj := r.s, r.req.Project
	m.debugID = r.debugIDFor(m.absPath)
	guess := r.guessMapPrefetch(ctx, m)
	var storeErr error
	var stored *storedRecord
	if m.debugID != "" {
		rec, err := r.getStored(ctx, debugKey(proj, m.debugID, "minified"))
		storeErr = errors.Join(storeErr, err)
		if rec != nil {
			stored, m.resolvedWith = rec, "debug-id"
		}
	}
	if stored == nil && r.req.Release != "" {
		rec, err := r.firstRecord(ctx, r.releaseKeys(releaseCandidates(m.absPath)), func(rec *FileRecord) bool { return rec.Type != TypeSourceMap })
		storeErr = errors.Join(storeErr, err)
		if rec != nil {
			stored, m.resolvedWith = rec, "release"
		}
	}
	var prefetch *mapPrefetch
	if stored != nil {
		m.minified = &stored.FileRecord
	}
	// A record from the cache means a module seen moments ago, whose
	// artifacts are in memory: nothing to fetch ahead.
	if stored != nil && !stored.cached {
		refs := stored.Refs
		// The scope index of the minified file: needed by the first
		// frame's function name, fetched (never built) meanwhile.
		sha := m.minified.SHA256
		r.background.Go(func() { s.scopeIdx.Peek(ctx, sha) })
		if refs != nil {
			prefetch = r.prefetchMap(ctx, m, refs, guess)
		}
	}
	ref := ""
	if m.minified != nil {
		t, err := s.loadText(ctx, m.minified.SHA256)
		if err != nil {
			s.logger.Warn("sourcemaps: loading minified file", "url", m.minified.URL, "sha256", m.minified.SHA256, "err", err)
			key := "minified-load:" + m.minified.SHA256
			r.fail(m, StatusMissingSource, key, Problem{
				Type: "js_no_source", SymbolicatorType: "missing_source", URL: m.absPath,
				Message: fmt.Sprintf("the uploaded file %s for %s could not be read (%v); upload it again", m.minified.URL, m.absPath, err),
			})
			return
		}
		m.text = t
		if m.debugID == "" {
			m.debugID = t.debugID
		}
		if m.debugID == "" {
			m.debugID = m.minified.DebugID
		}
		ref = m.minified.Headers["sourcemap"]
		if ref == "" {
			ref = t.sourceMappingURL
		}
	}

	m.label, m.base = m.absPath, m.absPath
	var mapRec *FileRecord
	switch {
	case strings.HasPrefix(ref, "data:"):
		data, ok := decodeDataURL(ref)
		if !ok {
			r.fail(m, StatusMalformed, "map:"+m.absPath, Problem{
				Type: "js_invalid_source", SymbolicatorType: "malformed_sourcemap", URL: m.absPath,
				Message: fmt.Sprintf("the inline (data: URL) source map of %s cannot be decoded; rebuild with a valid inline map or upload the map", m.absPath),
			})
			return
		}
		m.mapKey = "data:" + m.minified.SHA256
		sm, err := s.loadMap(ctx, m.mapKey, func(context.Context) ([]byte, error) { return data, nil })
		if err != nil {
			r.fail(m, StatusMalformed, "map:"+m.absPath, Problem{
				Type: "js_invalid_source", SymbolicatorType: "malformed_sourcemap", URL: m.absPath,
				Message: fmt.Sprintf("the inline source map of %s is invalid: %v", m.absPath, err),
			})
			return
		}
		m.smap = sm
		return
	case ref != "":
		m.mapURL = joinURL(m.absPath, ref)
		m.label, m.base = m.mapURL, m.mapURL
	}
	found, ok := prefetch.answer(ref, m.debugID)
	if !ok {
		found, ok = guess.answer(ref, m.debugID)
	}
	if !ok {
		uploadURL := ""
		if m.minified != nil {
			uploadURL = m.minified.URL
		}
		found = r.findMapRecord(ctx, m.absPath, uploadURL, ref, m.debugID)
	}
	storeErr = errors.Join(storeErr, found.err)
	if found.rec != nil {
		mapRec = found.rec
		if found.byDebugID {
			m.resolvedWith = "debug-id"
		} else if m.resolvedWith == "" {
			m.resolvedWith = "release"
		}
	}

	switch {
	case m.minified == nil && mapRec == nil:
		msg := r.missingMinifiedMessage(m)
		if storeErr != nil {
			msg += fmt.Sprintf(" (the artifact store failed: %v)", storeErr)
		}
		r.fail(m, StatusMissingSource, "nosource:"+m.absPath, Problem{
			Type: "js_no_source", SymbolicatorType: "missing_source", URL: m.absPath, Message: msg,
		})
		return
	case mapRec == nil && ref == "" && m.debugID == "":
		r.fail(m, StatusMissingSourcemap, "nomapref:"+m.absPath, Problem{
			Type: "js_no_source", SymbolicatorType: "missing_sourcemap", URL: m.absPath,
			Message: fmt.Sprintf("%s was found (uploaded as %s) but names no source map: it has no //# sourceMappingURL comment, no SourceMap header and no debug ID; build it with source maps, or upload it with its map (sourcemap=URL) or inject debug IDs",
				m.absPath, m.minifiedURL()),
		})
		return
	case mapRec == nil:
		var want []string
		if m.debugID != "" {
			want = append(want, "debug ID "+m.debugID)
		}
		if m.mapURL != "" {
			want = append(want, fmt.Sprintf("URL %s %s", m.mapURL, r.where()))
		}
		url := m.mapURL
		if url == "" {
			url = m.absPath
		}
		msg := fmt.Sprintf("no source map for %s: looked for %s; upload the map (stacklens upload sourcemaps DIR --release R, or sentry-cli sourcemaps upload)",
			m.absPath, strings.Join(want, " and "))
		if storeErr != nil {
			msg += fmt.Sprintf(" (the artifact store failed: %v)", storeErr)
		}
		r.fail(m, StatusMissingSourcemap, "nomap:"+url, Problem{
			Type: "js_no_source", SymbolicatorType: "missing_sourcemap", URL: url, Message: msg,
		})
		return
	}
	if m.mapURL == "" && mapRec.URL != "" && m.minified == nil {
		// Found by debug ID with nothing else to go by: the map's upload
		// URL is the best base for its relative sources.
		m.label = mapRec.URL
	}
	m.mapKey = mapRec.SHA256
	sm, err := s.loadMapBlob(ctx, mapRec.SHA256)
	if err != nil {
		url := m.label
		r.fail(m, StatusMalformed, "badmap:"+mapRec.SHA256, Problem{
			Type: "js_invalid_source", SymbolicatorType: "malformed_sourcemap", URL: url,
			Message: fmt.Sprintf("the source map %s (uploaded as %s) for %s is invalid: %v; upload a valid map", url, mapRec.URL, m.absPath, err),
		})
		return
	}
	m.smap = sm
	if id := sm.DebugID(); id != "" && m.text != nil && m.text.debugID != "" {
		if n, _ := normalizeDebugID(id); n != m.text.debugID {
			r.addProblem("mismatch:"+mapRec.SHA256, -1, Problem{
				Type: "js_invalid_source", SymbolicatorType: "mismatched_sourcemap", URL: m.label,
				Message: fmt.Sprintf("the source map %s has debug ID %s but %s has %s: the map belongs to another build", m.label, n, m.absPath, m.text.debugID),
			})
		}
	}
}

func (r *stackResolver) missingMinifiedMessage(m *module) string {
	switch {
	case m.debugID != "" && r.req.Release != "":
		return fmt.Sprintf("no minified file or source map for %s: nothing uploaded with debug ID %s, nor under %s %s; upload the build output (stacklens upload sourcemaps DIR --release %s, or sentry-cli sourcemaps upload)",
			m.absPath, m.debugID, tildePath(m.absPath), r.where(), r.req.Release)
	case m.debugID != "":
		return fmt.Sprintf("no minified file or source map uploaded with debug ID %s (for %s); upload the build output that has this debug ID (stacklens upload sourcemaps DIR, or sentry-cli sourcemaps upload)",
			m.debugID, m.absPath)
	case r.req.Release != "":
		return fmt.Sprintf("no minified file for %s %s (and no debug ID in the event): upload it as %s with its map (stacklens upload sourcemaps DIR --release %s --url-prefix ~/…), or inject debug IDs",
			m.absPath, r.where(), tildePath(m.absPath), r.req.Release)
	default:
		return fmt.Sprintf("cannot find artifacts for %s: the event has no release and no debug ID for it; inject debug IDs (sentry-cli sourcemaps inject) or set a release and upload with --release",
			m.absPath)
	}
}

// sourceContext returns the original source's lines around the frame, from
// the map's sourcesContent or an uploaded original matched by URL.
func (r *stackResolver) sourceContext(ctx context.Context, i int, mod *module, srcIdx int, url string, line, col int) *Context {
	if x, ok := r.s.sourceLines(ctx, mod.mapKey, mod.smap, srcIdx, line); ok {
		return x.context(line, col)
	}
	x, seen := r.sources[url]
	if !seen {
		x = r.findSource(ctx, mod, url)
		r.sources[url] = x
	}
	if x == nil {
		r.addProblem("nocontent:"+url, i, Problem{
			Type: "js_missing_sources_content", SymbolicatorType: "missing_sources_content", URL: url,
			Message: fmt.Sprintf("source map %s has no sourcesContent for %s and no original source was uploaded under that URL; build maps with sourcesContent or upload the sources", mod.label, url),
			Extra:   map[string]any{"source": url, "sourcemap": mod.label},
		})
		return nil
	}
	return x.context(line, col)
}

func (r *stackResolver) findSource(ctx context.Context, mod *module, url string) *lineIndex {
	var keys []string
	for _, cand := range releaseCandidates(url) {
		if mod.debugID != "" {
			keys = append(keys, debugSourceKey(r.req.Project, mod.debugID, cand))
		}
		if r.req.Release != "" {
			keys = append(keys, releaseKey(r.req.Project, r.req.Release, r.req.Dist, cand))
		}
	}
	for _, k := range keys {
		rec, _ := r.getRecord(ctx, k)
		if rec == nil || rec.Type == TypeSourceMap {
			continue
		}
		t, err := r.s.loadText(ctx, rec.SHA256)
		if err != nil {
			continue
		}
		return t.lines
	}
	return nil
}
