// Package tracetext renders an enriched Sentry event as a readable stack
// trace for a terminal: most recent call first, source context around the
// line, and for every frame that did not resolve, the reason.
package tracetext

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Options control rendering.
type Options struct {
	Context bool // print source context lines
	Color   bool // ANSI colours
}

type printer struct {
	w    io.Writer
	opts Options
	err  error
}

func (p *printer) printf(format string, args ...any) {
	if p.err != nil {
		return
	}
	_, p.err = fmt.Fprintf(p.w, format, args...)
}

func (p *printer) style(code, s string) string {
	if !p.opts.Color || s == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// Format writes event (a decoded enriched event) to w.
func Format(w io.Writer, event map[string]any, opts Options) error {
	p := &printer{w: w, opts: opts}
	printed := 0
	for _, ex := range values(event["exception"], true) {
		st, _ := ex["stacktrace"].(map[string]any)
		title := strings.TrimSpace(str(ex["type"]) + ": " + str(ex["value"]))
		title = strings.TrimSuffix(strings.TrimPrefix(title, ": "), ":")
		p.trace(title, st)
		printed++
	}
	for _, th := range values(event["threads"], false) {
		st, _ := th["stacktrace"].(map[string]any)
		if st == nil {
			continue
		}
		title := "Thread " + str(th["id"])
		if n := str(th["name"]); n != "" {
			title += " (" + n + ")"
		}
		if b, _ := th["crashed"].(bool); b {
			title += " [crashed]"
		}
		p.trace(title, st)
		printed++
	}
	if st, ok := event["stacktrace"].(map[string]any); ok {
		p.trace("Stack trace", st)
		printed++
	}
	if printed == 0 {
		p.printf("(the event has no stack trace)\n")
	}
	if errs, _ := event["errors"].([]any); len(errs) > 0 {
		p.printf("\n%s\n", p.style("1", "Problems"))
		for _, e := range errs {
			m, ok := e.(map[string]any)
			if !ok {
				continue
			}
			p.printf("  - %s%s\n", p.style("33", str(m["type"])), describeError(m))
		}
	}
	return p.err
}

func describeError(m map[string]any) string {
	var parts []string
	for _, k := range []string{"url", "image_path", "image_uuid", "symbolicator_type", "message"} {
		if v := str(m[k]); v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	var rest []string
	for k, v := range m {
		switch k {
		case "type", "url", "image_path", "image_uuid", "symbolicator_type", "message", "frames", "name":
			continue
		}
		rest = append(rest, k+"="+str(v))
	}
	sort.Strings(rest)
	parts = append(parts, rest...)
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, " ")
}

func values(v any, singleObjectAllowed bool) []map[string]any {
	var list []any
	switch t := v.(type) {
	case []any:
		list = t
	case map[string]any:
		if vals, ok := t["values"].([]any); ok {
			list = vals
		} else if singleObjectAllowed {
			list = []any{t}
		}
	}
	var out []map[string]any
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func (p *printer) trace(title string, st map[string]any) {
	p.printf("%s\n", p.style("1", title))
	frames, _ := st["frames"].([]any)
	// Sentry stores the oldest call first; people read the newest first.
	for i := len(frames) - 1; i >= 0; i-- {
		f, ok := frames[i].(map[string]any)
		if !ok {
			continue
		}
		p.frame(f)
	}
	p.printf("\n")
}

func (p *printer) frame(f map[string]any) {
	data, _ := f["data"].(map[string]any)
	fn := str(f["function"])
	if fn == "" {
		fn = "<unknown>"
	}
	loc := str(f["abs_path"])
	if loc == "" {
		loc = str(f["filename"])
	}
	if l := str(f["lineno"]); l != "" {
		loc += ":" + l
		if c := str(f["colno"]); c != "" {
			loc += ":" + c
		}
	}
	if loc == "" {
		loc = str(f["package"])
	}
	addr := str(f["instruction_addr"])
	line := "  at " + p.style("36", fn)
	if loc != "" {
		line += " (" + loc + ")"
	}
	if addr != "" {
		line += " " + p.style("2", addr)
	}
	if b, _ := data["inlined"].(bool); b {
		line += " " + p.style("2", "[inlined]")
	}
	if b, ok := f["in_app"].(bool); ok && !b {
		line += " " + p.style("2", "[not in app]")
	}
	status := str(data["symbolicator_status"])
	if status != "" && status != "symbolicated" && status != "skipped" {
		line += " " + p.style("31", "["+status+": "+Explain(status)+"]")
	}
	p.printf("%s\n", line)
	if !p.opts.Context {
		return
	}
	ctx := str(f["context_line"])
	if ctx == "" {
		return
	}
	lineno, _ := strconv.Atoi(str(f["lineno"]))
	pre, _ := f["pre_context"].([]any)
	post, _ := f["post_context"].([]any)
	width := len(strconv.Itoa(lineno + len(post)))
	for i, l := range pre {
		p.printf("      %*d | %s\n", width, lineno-len(pre)+i, str(l))
	}
	p.printf("    %s %*d | %s\n", p.style("33", ">"), width, lineno, p.style("1", ctx))
	for i, l := range post {
		p.printf("      %*d | %s\n", width, lineno+1+i, str(l))
	}
}

// Explain says in a few words why a frame has a status.
func Explain(status string) string {
	switch status {
	case "symbolicated":
		return "resolved"
	case "missing_symbol":
		return "the debug file has no symbol at this address"
	case "unknown_image":
		return "the address is in no image of debug_meta.images"
	case "missing":
		return "no debug file uploaded for this image"
	case "malformed":
		return "the uploaded debug file or source map cannot be parsed"
	case "missing_sourcemap":
		return "no source map found for this file"
	case "missing_source":
		return "nothing uploaded for this file"
	case "no_mapping":
		return "the source map has no mapping at this line and column"
	case "invalid_location":
		return "the frame has no usable line/column"
	case "invalid_addr":
		return "instruction_addr is not a valid address"
	case "skipped":
		return "not an application frame that can be mapped"
	}
	return status
}

func str(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case json.Number:
		return t.String()
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
