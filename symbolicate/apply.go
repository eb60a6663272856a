package symbolicate

import (
	"errors"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/sourcemaps"
)

func setContext(frame map[string]any, c *sourcemaps.Context) {
	if c == nil {
		return
	}
	pre := make([]any, len(c.Pre))
	for i, l := range c.Pre {
		pre[i] = l
	}
	post := make([]any, len(c.Post))
	for i, l := range c.Post {
		post[i] = l
	}
	frame["pre_context"] = pre
	frame["context_line"] = c.Line
	frame["post_context"] = post
}

func (p *pass) applyJS(ps *plannedStack) {
	if len(ps.js) == 0 {
		return
	}
	rawFrames, _ := asList(ps.raw["frames"])
	for k, i := range ps.js {
		f := ps.st.frames[i]
		d := frameData(f)
		if k >= len(ps.jsResult.Frames) {
			// A resolver that returned fewer results is a bug; the frame
			// stays as sent rather than taking another frame's result.
			d["symbolicated"] = false
			d["symbolicator_status"] = "internal_error"
			continue
		}
		r := ps.jsResult.Frames[k]
		if r.RawContext != nil && i < len(rawFrames) {
			if raw, ok := asMap(rawFrames[i]); ok && raw["context_line"] == nil {
				setContext(raw, r.RawContext)
			}
		}
		if r.InApp != nil {
			f["in_app"] = *r.InApp
		}
		d["symbolicator_status"] = string(r.Status)
		if r.Status != sourcemaps.StatusSymbolicated {
			d["symbolicated"] = false
			if f["context_line"] == nil {
				if r.Context != nil {
					setContext(f, r.Context)
				} else if r.RawContext != nil {
					setContext(f, r.RawContext)
				}
			}
			continue
		}
		ps.changed = true
		d["symbolicated"] = true
		if r.SourceMap != "" {
			d["sourcemap"] = r.SourceMap
		}
		if r.ResolvedWith != "" {
			d["resolved_with"] = r.ResolvedWith
		}
		if r.AbsPath != "" {
			f["abs_path"] = r.AbsPath
		}
		if r.Filename != "" {
			f["filename"] = r.Filename
		}
		if r.Module != "" {
			f["module"] = r.Module
		}
		if r.Function != "" {
			f["function"] = r.Function
		}
		if r.Lineno > 0 {
			f["lineno"] = r.Lineno
		}
		if r.Colno > 0 {
			f["colno"] = r.Colno
		}
		delete(f, "pre_context")
		delete(f, "context_line")
		delete(f, "post_context")
		setContext(f, r.Context)
	}
	for _, prob := range ps.jsResult.Problems {
		var paths []string
		for _, k := range prob.Frames {
			if k >= 0 && k < len(ps.js) {
				paths = append(paths, ps.st.framePath(ps.js[k]))
			}
		}
		e := map[string]any{"type": prob.Type}
		if prob.SymbolicatorType != "" {
			e["symbolicator_type"] = prob.SymbolicatorType
		}
		if prob.URL != "" {
			e["url"] = prob.URL
		}
		if prob.Message != "" {
			e["message"] = prob.Message
		}
		for k, v := range prob.Extra {
			if _, taken := e[k]; !taken {
				e[k] = v
			}
		}
		p.addError("js|"+prob.Type+"|"+prob.URL+"|"+prob.SymbolicatorType, e, paths)
	}
}

// addError records an event error once per key, accumulating the paths of
// the frames it affected.
func (p *pass) addError(key string, e map[string]any, paths []string) {
	if p.seenErr == nil {
		p.seenErr = map[string]map[string]any{}
	}
	if old, ok := p.seenErr[key]; ok {
		frames, _ := old["frames"].([]any)
		for _, path := range paths {
			frames = append(frames, path)
		}
		if len(frames) > 0 {
			old["frames"] = frames
		}
		return
	}
	if len(paths) > 0 {
		e["name"] = paths[0]
		frames := make([]any, len(paths))
		for i, path := range paths {
			frames[i] = path
		}
		e["frames"] = frames
	}
	p.seenErr[key] = e
	p.errors = append(p.errors, e)
}

func (p *pass) applyNative(ps *plannedStack) {
	for i, f := range ps.st.frames {
		if !ps.native[i] {
			continue
		}
		res := resolveNativeFrame(p.images, f, ps.adjust[i])
		if res.status == statusSymbolicated {
			ps.replaced[i] = res.frames
			ps.changed = true
			continue
		}
		d := frameData(f)
		d["symbolicated"] = false
		d["symbolicator_status"] = res.status
		im := res.image
		if im == nil {
			continue
		}
		if im.codeFile != "" && f["package"] == nil {
			f["package"] = im.codeFile
		}
		var typ, msg string
		switch res.status {
		case statusMissing:
			typ = "native_missing_dsym"
			msg = "no debug file uploaded for debug_id " + im.debugID
			if im.codeID != "" {
				msg += " / code_id " + im.codeID
			}
			msg += ": upload it with `stacklens upload debug-files` or `sentry-cli debug-files upload`"
		case statusMalformed:
			typ = "native_bad_dsym"
			msg = "the uploaded debug file cannot be used: " + errorText(im.err)
		default:
			continue
		}
		e := map[string]any{
			"type":       typ,
			"image_path": im.codeFile,
			"image_uuid": im.debugID,
			"message":    msg,
		}
		if im.arch != "" {
			e["image_arch"] = im.arch
		}
		p.addError("native|"+im.debugID+"|"+im.codeID+"|"+im.codeFile, e, []string{ps.st.framePath(i)})
	}
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (p *pass) finish(ps *plannedStack) {
	if !ps.changed && len(ps.js) == 0 && len(ps.native) == 0 {
		return
	}
	frames := make([]any, 0, len(ps.st.frames))
	for i, f := range ps.st.frames {
		if r := ps.replaced[i]; r != nil {
			for _, x := range r {
				frames = append(frames, x)
			}
			continue
		}
		frames = append(frames, f)
	}
	ps.st.trace["frames"] = frames
	if ps.changed && ps.st.container != nil {
		ps.st.container["raw_stacktrace"] = ps.raw
	}
}

// annotateImages merges Sentry's per-image processing results into
// debug_meta.images: debug_status, and features/arch from the file found.
func (p *pass) annotateImages() {
	for _, im := range p.images {
		switch {
		case !im.needed:
			im.raw["debug_status"] = "unused"
		case im.err == nil && im.module != nil:
			im.raw["debug_status"] = "found"
			meta := im.module.Meta()
			if im.raw["arch"] == nil && meta.Arch != "" {
				im.raw["arch"] = meta.Arch
			}
			feats := map[string]any{}
			for _, name := range []string{"has_debug_info", "has_unwind_info", "has_symbols", "has_sources"} {
				feats[name] = false
			}
			for _, f := range meta.Features {
				switch f {
				case debugfiles.FeatureDebug:
					feats["has_debug_info"] = true
				case debugfiles.FeatureUnwind:
					feats["has_unwind_info"] = true
				case debugfiles.FeatureSymtab:
					feats["has_symbols"] = true
				case debugfiles.FeatureSources:
					feats["has_sources"] = true
				}
			}
			im.raw["features"] = feats
		case errors.Is(im.err, debugfiles.ErrMissing):
			im.raw["debug_status"] = "missing"
		default:
			im.raw["debug_status"] = "malformed"
		}
	}
}

func (p *pass) writeErrors() {
	if len(p.errors) == 0 {
		return
	}
	existing, _ := asList(p.event["errors"])
	for _, e := range p.errors {
		existing = append(existing, e)
	}
	p.event["errors"] = existing
}
