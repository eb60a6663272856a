package symbolicate

import (
	"fmt"
	"strings"
)

// stack is one stack trace of an event, with where it lives.
type stack struct {
	path      string         // e.g. "exception.values.0.stacktrace"
	container map[string]any // holds "stacktrace" (and gets "raw_stacktrace"); nil for the top-level trace
	trace     map[string]any // the stacktrace object
	frames    []map[string]any
}

// framePath names frame i of s in errors[] entries.
func (s *stack) framePath(i int) string { return fmt.Sprintf("%s.frames.%d", s.path, i) }

// collectStacks finds every stack trace of the event in Sentry's places:
// exception (values object, bare list, or single object), threads, and the
// deprecated top-level stacktrace.
func collectStacks(event map[string]any) ([]*stack, error) {
	var out []*stack
	add := func(path string, container map[string]any, key string) error {
		v, present := container[key]
		if !present || v == nil {
			return nil
		}
		st, ok := asMap(v)
		if !ok {
			return fmt.Errorf("%w: %s must be an object", ErrInvalidEvent, path)
		}
		fv, present := st["frames"]
		if !present || fv == nil {
			return nil
		}
		list, ok := asList(fv)
		if !ok {
			return fmt.Errorf("%w: %s.frames must be a list", ErrInvalidEvent, path)
		}
		s := &stack{path: path, trace: st}
		if key == "stacktrace" && container != nil && path != "stacktrace" {
			s.container = container
		}
		for i, f := range list {
			fm, ok := asMap(f)
			if !ok {
				return fmt.Errorf("%w: %s.frames.%d must be an object", ErrInvalidEvent, path, i)
			}
			s.frames = append(s.frames, fm)
		}
		out = append(out, s)
		return nil
	}
	values := func(name string, v any) ([]any, string, error) {
		switch t := v.(type) {
		case nil:
			return nil, "", nil
		case []any:
			return t, name, nil
		case map[string]any:
			if vals, present := t["values"]; present {
				if vals == nil {
					return nil, "", nil
				}
				l, ok := asList(vals)
				if !ok {
					return nil, "", fmt.Errorf("%w: %s.values must be a list", ErrInvalidEvent, name)
				}
				return l, name + ".values", nil
			}
			if name == "exception" {
				return []any{t}, name, nil // a single exception object
			}
			return nil, "", nil
		}
		return nil, "", fmt.Errorf("%w: %s must be an object or a list", ErrInvalidEvent, name)
	}
	for _, name := range []string{"exception", "threads"} {
		list, prefix, err := values(name, event[name])
		if err != nil {
			return nil, err
		}
		single := prefix == name && !isList(event[name])
		for i, item := range list {
			m, ok := asMap(item)
			if !ok {
				if item == nil {
					continue
				}
				return nil, fmt.Errorf("%w: %s.%d must be an object", ErrInvalidEvent, prefix, i)
			}
			path := fmt.Sprintf("%s.%d.stacktrace", prefix, i)
			if single {
				path = name + ".stacktrace"
			}
			if err := add(path, m, "stacktrace"); err != nil {
				return nil, err
			}
		}
	}
	if err := add("stacktrace", event, "stacktrace"); err != nil {
		return nil, err
	}
	return out, nil
}

func isList(v any) bool { _, ok := v.([]any); return ok }

// frame platforms that take the native path, as in Sentry's processing.
var nativePlatforms = map[string]bool{
	"native": true, "c": true, "cocoa": true, "objc": true, "swift": true, "csharp": true, "cpp": true, "rust": true,
}

var jsPlatforms = map[string]bool{"javascript": true, "node": true}

type frameKind int

const (
	kindOther frameKind = iota
	kindJS
	kindNative
)

// classify decides how a frame is resolved: by its own platform, else the
// event's, else by its shape (an instruction_addr without a line is native).
func classify(frame map[string]any, eventPlatform string) frameKind {
	platform := strings.ToLower(asString(frame["platform"]))
	if platform == "" {
		platform = eventPlatform
	}
	_, hasAddr := frame["instruction_addr"]
	hasAddr = hasAddr && frame["instruction_addr"] != nil
	_, hasLine := frame["lineno"]
	switch {
	case jsPlatforms[platform]:
		if hasAddr && !hasLine {
			return kindNative
		}
		return kindJS
	case nativePlatforms[platform]:
		if hasAddr {
			return kindNative
		}
		return kindOther
	case platform == "":
		if hasAddr && !hasLine {
			return kindNative
		}
		if hasLine && (frame["abs_path"] != nil || frame["filename"] != nil) && !hasAddr {
			return kindJS
		}
	}
	return kindOther
}
