package symbolicate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/sourcemaps"
)

// fuzzJS answers every JS frame the way the real resolver may: one result
// per input frame, some symbolicated, some missing with an event-level
// problem, some malformed, chosen from the frame itself so that a crasher
// replays deterministically.
type fuzzJS struct{}

func (fuzzJS) ResolveStack(_ context.Context, req sourcemaps.StackRequest) sourcemaps.StackResult {
	var res sourcemaps.StackResult
	for i, fr := range req.Frames {
		switch {
		case fr.Lineno <= 0:
			res.Frames = append(res.Frames, sourcemaps.FrameResult{Status: sourcemaps.StatusInvalidLocation})
		case strings.Contains(fr.AbsPath, "missing") || fr.Lineno%3 == 0:
			res.Frames = append(res.Frames, sourcemaps.FrameResult{Status: sourcemaps.StatusMissingSourcemap,
				RawContext: &sourcemaps.Context{Pre: []string{"a"}, Line: "minified", Post: nil}})
			res.Problems = append(res.Problems, sourcemaps.Problem{Type: "js_no_source", SymbolicatorType: "missing_sourcemap",
				URL: fr.AbsPath, Frames: []int{i}, Extra: map[string]any{"n": fr.Colno}})
		case fr.Lineno%3 == 1:
			in := fr.Colno%2 == 0
			res.Frames = append(res.Frames, sourcemaps.FrameResult{
				Status: sourcemaps.StatusSymbolicated, AbsPath: "webpack:///./src/" + fr.Function + ".js", Filename: "src/x.js",
				Function: fr.Function + ".orig", Lineno: fr.Lineno * 2, Colno: fr.Colno + 1, InApp: &in,
				SourceMap: fr.AbsPath + ".map", ResolvedWith: "release",
				Context:    &sourcemaps.Context{Pre: []string{"x"}, Line: "y", Post: []string{"z"}},
				RawContext: &sourcemaps.Context{Line: "minified"},
			})
		default:
			res.Frames = append(res.Frames, sourcemaps.FrameResult{Status: sourcemaps.StatusMalformed})
			res.Problems = append(res.Problems, sourcemaps.Problem{Type: "js_invalid_source", SymbolicatorType: "malformed_sourcemap",
				URL: fr.AbsPath, Message: "bad map", Frames: []int{i}})
		}
	}
	return res
}

// fuzzModule resolves any address to 1 to 3 inline levels, or to nothing,
// depending on the address, so every expansion width is exercised.
type fuzzModule struct{ base uint64 }

func (m fuzzModule) Meta() debugfiles.FileMeta {
	return debugfiles.FileMeta{Kind: debugfiles.KindELF, Arch: "x86_64", Features: []string{debugfiles.FeatureDebug}}
}
func (m fuzzModule) LoadAddress() uint64 { return m.base }
func (m fuzzModule) Lookup(addr uint64) ([]debugfiles.Location, error) {
	levels := int(addr % 4)
	if levels == 0 {
		return nil, debugfiles.ErrNoSymbol
	}
	locs := make([]debugfiles.Location, levels)
	for i := range locs {
		locs[i] = debugfiles.Location{Function: fmt.Sprintf("f%d", i), Symbol: fmt.Sprintf("_Z2f%dv", i),
			SymbolAddr: addr &^ 0xf, File: "/src/a.c", Line: i + 1, Inlined: i > 0}
	}
	return locs, nil
}

// fuzzFinder hands out a module, a malformed or unsupported file, or
// nothing, by the debug ID's first hex digit, and also finds by code ID.
type fuzzFinder struct{}

func (fuzzFinder) Find(_ context.Context, _ string, ref debugfiles.ObjectRef) (debugfiles.Module, error) {
	key := ref.DebugID
	if key == "" {
		key = ref.CodeID
	}
	if key == "" {
		return nil, debugfiles.ErrMissing
	}
	switch key[0] {
	case '0', '1', '2', '3', '4', '5':
		return fuzzModule{base: 0x400000}, nil
	case '6', '7':
		return nil, fmt.Errorf("%w: truncated section", debugfiles.ErrMalformed)
	case '8':
		return nil, debugfiles.ErrUnsupported
	case '9':
		return nil, errors.New("storage: connection reset")
	}
	return nil, debugfiles.ErrMissing
}

// fuzzSeeds are real event shapes: what @sentry/node, browsers, sentry-native
// and the tests of this package and of sourcemaps send.
var fuzzSeeds = []string{
	nativeEvent,
	`{"platform":"javascript","release":"1.0","dist":"web",
	 "exception":[{"type":"TypeError","stacktrace":{"frames":[
	   {"filename":"/srv/app/dist/app.min.js","lineno":1,"colno":120,"function":"r","in_app":true},
	   {"abs_path":"https://x/missing.js","lineno":1,"colno":3,"function":"?"},
	   {"abs_path":"https://x/missing.js","lineno":2,"colno":3,"function":"?"}]}}],
	 "stacktrace":{"frames":[{"abs_path":"https://x/app.js","lineno":2,"colno":5}]},
	 "debug_meta":{"images":[{"type":"sourcemap","code_file":"/srv/app/dist/app.min.js","debug_id":"BBBBBBBB-0000-0000-0000-000000000000"}]}}`,
	`{"platform":"node","exception":{"values":[{"type":"Error","value":"boom","mechanism":{"type":"generic","handled":true},
	  "stacktrace":{"frames":[
	    {"filename":"node:internal/process/task_queues","module":"task_queues","function":"process.processTicksAndRejections","lineno":95,"colno":5,"in_app":false},
	    {"filename":"/srv/app/dist/app.min.js","module":"app.min","function":"?","lineno":1,"colno":5432,"in_app":true,
	     "pre_context":["x"],"context_line":"y","post_context":["z"]}]}}]},
	  "debug_meta":{"images":[{"type":"sourcemap","code_file":"/srv/app/dist/app.min.js","debug_id":"0123abcd-0000-4000-8000-000000000000"}]}}`,
	`{"platform":"native","threads":{"values":[{"id":1,"crashed":true,"stacktrace":{"instruction_addr_adjustment":"all_but_first",
	   "registers":{"rip":"0x401003"},"frames":[{"instruction_addr":"0x401001"},{"instruction_addr":"4198402"},{"instruction_addr":4198403}]}},
	   {"id":2,"stacktrace":{"frames":[{"instruction_addr":"0x401002","platform":"c"}]}}]},
	 "debug_meta":{"images":[{"type":"elf","debug_id":"1560cbc5-2654-fc81-bc4b-437e89e95fb5","code_id":"c5cb6015","image_addr":"0x400000","image_size":65536,"image_vmaddr":"0x400000"},
	   {"type":"pe","debug_id":"7AAAAAAA-0000-0000-0000-000000000000-1","code_id":"5AB38077-9000","image_addr":"0x500000","image_size":4096},
	   {"type":"macho","debug_id":"9bbbbbbb-0000-0000-0000-000000000000","image_addr":"0x600000","image_size":"4096"}]}}`,
	`{"exception":{"values":[{"stacktrace":{"frames":[{"instruction_addr":"0x10","lineno":"3","abs_path":{"a":1},"colno":null,"data":null}]},"raw_stacktrace":7}]}}`,
	`{"exception":{"values":[null,{"stacktrace":null},{"stacktrace":{"frames":null}}]},"threads":[{"stacktrace":{"frames":[{}]}}]}`,
	`{"platform":"javascript","exception":{"type":"E","stacktrace":{"frames":[
	  {"abs_path":"https://x/app.js","lineno":1,"colno":1,"data":{"symbolicator_status":"symbolicated"}}]}}}`,
	`{"stacktrace":3}`,
	`{"debug_meta":{"images":[null,1,"x",{"type":"elf","image_addr":"0xffffffffffffffff","image_size":18446744073709551615}]},
	  "stacktrace":{"frames":[{"instruction_addr":"0xffffffffffffffff"},{"instruction_addr":"0x0"},{"instruction_addr":-1},{"instruction_addr":1e400}]}}`,
	`{"errors":"not a list","platform":"native","stacktrace":{"frames":[{"instruction_addr":"0x401001"}]},
	  "debug_meta":{"images":[{"type":"elf","debug_id":"1","image_addr":"0x400000","image_size":4096}]}}`,
}

func FuzzProcess(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	s := New(Config{MaxFrames: 2000, Concurrency: 2}, fuzzJS{}, fuzzFinder{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var event map[string]any
		if err := dec.Decode(&event); err != nil || event == nil {
			return // the HTTP layer rejects non-objects before the pipeline
		}
		stacksIn, err := collectStacks(event)
		if err != nil {
			// Process must reject the same events collectStacks rejects.
			if _, perr := s.Process(context.Background(), "proj", event); !errors.Is(perr, ErrInvalidEvent) {
				t.Fatalf("collectStacks failed with %v, Process with %v", err, perr)
			}
			return
		}
		before := map[string][]map[string]any{}
		hadRaw := map[string]bool{}
		for _, st := range stacksIn {
			if st.container != nil {
				_, hadRaw[st.path] = st.container["raw_stacktrace"]
			}
			frames := make([]map[string]any, len(st.frames))
			for i, fr := range st.frames {
				frames[i] = cloneJSON(fr).(map[string]any)
			}
			before[st.path] = frames
		}

		out, err := s.Process(context.Background(), "proj", event)
		if err != nil {
			if errors.Is(err, ErrInvalidEvent) || errors.Is(err, ErrTooManyFrames) {
				return
			}
			t.Fatalf("Process failed with an error the HTTP layer would reply 500 for: %v", err)
		}
		encoded, err := json.Marshal(out)
		if err != nil {
			t.Fatalf("output does not encode as JSON: %v", err)
		}
		dec = json.NewDecoder(bytes.NewReader(encoded))
		dec.UseNumber()
		var again map[string]any
		if err := dec.Decode(&again); err != nil {
			t.Fatalf("output does not decode again: %v\n%s", err, encoded)
		}
		stacksOut, err := collectStacks(again)
		if err != nil {
			t.Fatalf("output has malformed stack traces: %v\n%s", err, encoded)
		}
		after := map[string]*stack{}
		for _, st := range stacksOut {
			after[st.path] = st
		}
		for path, in := range before {
			st, ok := after[path]
			if !ok {
				t.Fatalf("stack trace %s disappeared from the output\n%s", path, encoded)
			}
			if len(st.frames) < len(in) {
				t.Fatalf("stack trace %s: %d frames in, %d out (never fewer)\n%s", path, len(in), len(st.frames), encoded)
			}
			checkOrder(t, path, in, st.frames, encoded)
			if raw, present := st.container["raw_stacktrace"]; st.container != nil && present && !hadRaw[path] {
				checkRaw(t, path, in, raw, encoded)
			}
		}
		// A processed event goes through again (a retry of the ingest
		// pipeline) without error.
		if _, err := s.Process(context.Background(), "proj", again); err != nil && !errors.Is(err, ErrTooManyFrames) {
			t.Fatalf("re-processing the output failed: %v\n%s", err, encoded)
		}
	})
}

// checkOrder verifies that the input frames appear in the output in their
// order: each input frame becomes a run of output frames, the first of
// which (the outermost) is not marked inlined by the pipeline, and native
// expansions keep the input instruction_addr on every frame of the run.
func checkOrder(t *testing.T, path string, in, out []map[string]any, encoded []byte) {
	t.Helper()
	if len(out) == len(in) {
		for i := range in {
			if !sameJSON(in[i]["instruction_addr"], out[i]["instruction_addr"]) {
				t.Fatalf("%s frame %d: instruction_addr %v became %v\n%s", path, i, in[i]["instruction_addr"], out[i]["instruction_addr"], encoded)
			}
		}
		return
	}
	// Walk the output greedily: extra frames must be inline levels that
	// repeat the preceding input frame's address.
	j := 0
	for i := range in {
		if j >= len(out) {
			t.Fatalf("%s: output ran out of frames at input frame %d\n%s", path, i, encoded)
		}
		if !sameJSON(in[i]["instruction_addr"], out[j]["instruction_addr"]) {
			t.Fatalf("%s: input frame %d (addr %v) is output frame %d with addr %v\n%s", path, i, in[i]["instruction_addr"], j, out[j]["instruction_addr"], encoded)
		}
		j++
		for j < len(out) && isPipelineInline(out[j]) && (i+1 >= len(in) || !isInputInline(in[i+1])) {
			if !sameJSON(in[i]["instruction_addr"], out[j]["instruction_addr"]) {
				t.Fatalf("%s: inline frame %d of input frame %d has addr %v, want %v\n%s", path, j, i, out[j]["instruction_addr"], in[i]["instruction_addr"], encoded)
			}
			j++
		}
	}
	if j != len(out) {
		t.Fatalf("%s: %d output frames left over after matching %d input frames\n%s", path, len(out)-j, len(in), encoded)
	}
}

func isPipelineInline(f map[string]any) bool {
	d, _ := asMap(f["data"])
	b, _ := d["inlined"].(bool)
	return b
}

// isInputInline is a frame the client already marked inlined; the greedy
// walk must not swallow it as an expansion of its predecessor.
func isInputInline(f map[string]any) bool { return isPipelineInline(f) }

func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// checkRaw verifies that raw_stacktrace keeps every input frame, in order,
// with the fields a client sent (the pipeline may add minified context).
func checkRaw(t *testing.T, path string, in []map[string]any, raw any, encoded []byte) {
	t.Helper()
	m, ok := raw.(map[string]any)
	if !ok {
		t.Fatalf("%s: raw_stacktrace is %T, want an object\n%s", path, raw, encoded)
	}
	frames, _ := m["frames"].([]any)
	if len(frames) != len(in) {
		t.Fatalf("%s: raw_stacktrace has %d frames, the input had %d\n%s", path, len(frames), len(in), encoded)
	}
	for i, f := range frames {
		fm, ok := f.(map[string]any)
		if !ok {
			t.Fatalf("%s: raw frame %d is %T\n%s", path, i, f, encoded)
		}
		for _, k := range []string{"instruction_addr", "abs_path", "filename", "lineno", "colno", "function"} {
			if !sameJSON(fm[k], in[i][k]) {
				t.Fatalf("%s: raw frame %d %s = %v, input had %v\n%s", path, i, k, fm[k], in[i][k], encoded)
			}
		}
	}
}
