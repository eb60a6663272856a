package symbolicate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/sourcemaps"
)

// fakeModule answers lookups from a table keyed by exact address.
type fakeModule struct {
	meta    debugfiles.FileMeta
	base    uint64
	byAddr  map[uint64][]debugfiles.Location
	queried []uint64
}

func (m *fakeModule) Meta() debugfiles.FileMeta { return m.meta }
func (m *fakeModule) LoadAddress() uint64       { return m.base }
func (m *fakeModule) Lookup(addr uint64) ([]debugfiles.Location, error) {
	m.queried = append(m.queried, addr)
	if l, ok := m.byAddr[addr]; ok {
		return l, nil
	}
	return nil, debugfiles.ErrNoSymbol
}

type fakeFinder struct {
	byDebugID map[string]debugfiles.Module
	errs      map[string]error
	mu        sync.Mutex
	calls     int
}

func (f *fakeFinder) Find(_ context.Context, project string, ref debugfiles.ObjectRef) (debugfiles.Module, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if project != "proj" {
		return nil, fmt.Errorf("wrong project %q", project)
	}
	if err, ok := f.errs[ref.DebugID]; ok {
		return nil, err
	}
	if m, ok := f.byDebugID[ref.DebugID]; ok {
		return m, nil
	}
	return nil, debugfiles.ErrMissing
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// roundTrip re-encodes and decodes the output, so assertions see what a
// client would.
func roundTrip(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(m); err != nil {
		t.Fatal(err)
	}
	return decode(t, buf.String())
}

func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("dig %v: not an object at %q", path, k)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("dig %v: no index %d", path, k)
			}
			v = l[k]
		}
	}
	return v
}

const nativeEvent = `{
 "platform": "native",
 "extra": {"keep": [1, 2, {"x": 18446744073709551615}]},
 "exception": {"values": [{"type": "SIGSEGV", "stacktrace": {
   "registers": {"rip": "0x7f0000001100"},
   "frames": [
     {"instruction_addr": "0x7f0000001201"},
     {"instruction_addr": "0x9000", "trust": "scan"},
     {"instruction_addr": "0x7f0000002001"},
     {"instruction_addr": "0x7f0000001100", "trust": "context"}
 ]}}]},
 "debug_meta": {"images": [
   {"type": "elf", "code_file": "/opt/app/bin/app", "debug_id": "1560CBC5-2654-FC81-BC4B-437E89E95FB5", "code_id": "C5CB6015542681FCBC4B", "image_addr": "0x7f0000000000", "image_size": 16384},
   {"type": "elf", "code_file": "/opt/app/lib/libmissing.so", "debug_id": "aaaaaaaa-0000-0000-0000-000000000000", "image_addr": "0x7f0000010000", "image_size": 4096},
   {"type": "sourcemap", "code_file": "https://x/app.js", "debug_id": "bbbbbbbb-0000-0000-0000-000000000000"}
 ]}
}`

func newNativeFixture() (*fakeFinder, *fakeModule) {
	mod := &fakeModule{
		meta: debugfiles.FileMeta{Arch: "x86_64", Features: []string{debugfiles.FeatureDebug, debugfiles.FeatureSymtab}},
		base: 0x400000,
		byAddr: map[uint64][]debugfiles.Location{
			// 0x7f0000001201 - image + base - 1 (return address)
			0x401200: {
				{Function: "main", Symbol: "main", SymbolAddr: 0x401100, File: "/src/main.c", Line: 10},
				{Function: "ns::helper()", Symbol: "_ZN2ns6helperEv", SymbolAddr: 0x401180, File: "/src/helper.h", Line: 20, Inlined: true},
			},
			// the crashing frame is not adjusted: rip equals its address
			0x401100: {{Function: "crash", Symbol: "crash", SymbolAddr: 0x4010f0, File: "/src/crash.c", Line: 3}},
		},
	}
	return &fakeFinder{byDebugID: map[string]debugfiles.Module{"1560cbc5-2654-fc81-bc4b-437e89e95fb5": mod}}, mod
}

func TestNativeFramesExpandInlinesInEventOrder(t *testing.T) {
	finder, mod := newNativeFixture()
	s := New(Config{}, nil, finder)
	out, err := s.Process(context.Background(), "proj", decode(t, nativeEvent))
	if err != nil {
		t.Fatal(err)
	}
	out = roundTrip(t, out)
	frames := dig(t, out, "exception", "values", 0, "stacktrace", "frames").([]any)
	if len(frames) != 5 {
		t.Fatalf("want 5 frames (1 expanded into 2), got %d: %v", len(frames), frames)
	}
	type want struct {
		function, symbolAddr, file, status string
		line                               int
		inlined                            bool
	}
	wants := []want{
		{"main", "0x7f0000001100", "main.c", "symbolicated", 10, false},
		{"ns::helper()", "0x7f0000001180", "helper.h", "symbolicated", 20, true},
		{"", "", "", "unknown_image", 0, false},
		{"", "", "", "missing_symbol", 0, false},
		{"crash", "0x7f00000010f0", "crash.c", "symbolicated", 3, false},
	}
	for i, w := range wants {
		f := frames[i].(map[string]any)
		data := f["data"].(map[string]any)
		if got := data["symbolicator_status"]; got != w.status {
			t.Errorf("frame %d status %v, want %s", i, got, w.status)
		}
		if w.status != "symbolicated" {
			if data["symbolicated"] != false {
				t.Errorf("frame %d: symbolicated should be false", i)
			}
			continue
		}
		if f["function"] != w.function || f["symbol_addr"] != w.symbolAddr || f["filename"] != w.file {
			t.Errorf("frame %d = %v, want %+v", i, f, w)
		}
		if n, _ := f["lineno"].(json.Number).Int64(); int(n) != w.line {
			t.Errorf("frame %d line %v want %d", i, f["lineno"], w.line)
		}
		if got, _ := data["inlined"].(bool); got != w.inlined {
			t.Errorf("frame %d inlined=%v want %v", i, got, w.inlined)
		}
		if f["package"] != "/opt/app/bin/app" {
			t.Errorf("frame %d package %v", i, f["package"])
		}
	}
	if frames[0].(map[string]any)["instruction_addr"] != "0x7f0000001201" || frames[1].(map[string]any)["instruction_addr"] != "0x7f0000001201" {
		t.Error("inline expansion must keep the input instruction_addr")
	}
	// 0x7f0000002001 is a return address too: looked up at 0x402000.
	if !reflect.DeepEqual(mod.queried, []uint64{0x401200, 0x402000, 0x401100}) {
		t.Errorf("lookups at %#x", mod.queried)
	}
	raw := dig(t, out, "exception", "values", 0, "raw_stacktrace", "frames").([]any)
	if len(raw) != 4 || raw[0].(map[string]any)["function"] != nil {
		t.Errorf("raw_stacktrace must hold the 4 original frames: %v", raw)
	}
	if dig(t, out, "exception", "values", 0, "raw_stacktrace", "registers", "rip") != "0x7f0000001100" {
		t.Error("raw_stacktrace keeps registers")
	}
	if dig(t, out, "extra", "keep", 2, "x").(json.Number) != "18446744073709551615" {
		t.Error("unknown fields must pass through unchanged")
	}
	images := dig(t, out, "debug_meta", "images").([]any)
	if images[0].(map[string]any)["debug_status"] != "found" || images[1].(map[string]any)["debug_status"] != "unused" {
		t.Errorf("image statuses: %v", images)
	}
	if _, ok := out["errors"]; ok {
		t.Errorf("no missing image was needed, no errors expected: %v", out["errors"])
	}
}

func TestAdjustmentModes(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want []uint64
	}{
		{"all", []uint64{0x401200, 0x402000, 0x4010ff}},
		{"none", []uint64{0x401201, 0x402001, 0x401100}},
		{"all_but_first", []uint64{0x401200, 0x402000, 0x401100}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			finder, mod := newNativeFixture()
			ev := strings.Replace(nativeEvent, `"registers"`, `"instruction_addr_adjustment": "`+tc.mode+`", "registers"`, 1)
			if _, err := New(Config{}, nil, finder).Process(context.Background(), "proj", decode(t, ev)); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(mod.queried, tc.want) {
				t.Errorf("lookups at %#x, want %#x", mod.queried, tc.want)
			}
		})
	}
	t.Run("auto with ip differing from the crashing frame", func(t *testing.T) {
		finder, mod := newNativeFixture()
		ev := strings.Replace(nativeEvent, `"rip": "0x7f0000001100"`, `"rip": "0x7f0000001000"`, 1)
		if _, err := New(Config{}, nil, finder).Process(context.Background(), "proj", decode(t, ev)); err != nil {
			t.Fatal(err)
		}
		if got := mod.queried[len(mod.queried)-1]; got != 0x4010ff {
			t.Errorf("crashing frame looked up at %#x, want 0x4010ff", got)
		}
	})
}

func TestMissingAndMalformedImagesReportedOnce(t *testing.T) {
	ev := `{"platform":"native","threads":{"values":[
	  {"id":1,"stacktrace":{"frames":[{"instruction_addr":"0x7f0000010010"},{"instruction_addr":"0x7f0000010020"}]}},
	  {"id":2,"stacktrace":{"frames":[{"instruction_addr":"0x7f0000010030"},{"instruction_addr":"0x7f0000020030"}]}}]},
	 "errors":[{"type":"invalid_data","name":"x"}],
	 "debug_meta":{"images":[
	   {"type":"elf","code_file":"/lib/libmissing.so","debug_id":"aaaaaaaa-0000-0000-0000-000000000000","image_addr":"0x7f0000010000","image_size":4096},
	   {"type":"elf","code_file":"/lib/libbad.so","debug_id":"cccccccc-0000-0000-0000-000000000000","image_addr":"0x7f0000020000","image_size":4096}]}}`
	finder := &fakeFinder{errs: map[string]error{"cccccccc-0000-0000-0000-000000000000": fmt.Errorf("%w: truncated section", debugfiles.ErrMalformed)}}
	out, err := New(Config{}, nil, finder).Process(context.Background(), "proj", decode(t, ev))
	if err != nil {
		t.Fatal(err)
	}
	out = roundTrip(t, out)
	if finder.calls != 2 {
		t.Errorf("each image must be looked up once per event, got %d calls", finder.calls)
	}
	errs := out["errors"].([]any)
	if len(errs) != 3 {
		t.Fatalf("want the original error + 2 image errors, got %v", errs)
	}
	missing := errs[1].(map[string]any)
	if missing["type"] != "native_missing_dsym" || missing["image_path"] != "/lib/libmissing.so" || missing["image_uuid"] != "aaaaaaaa-0000-0000-0000-000000000000" {
		t.Errorf("missing error: %v", missing)
	}
	if got := missing["frames"].([]any); len(got) != 3 || got[0] != "threads.values.0.stacktrace.frames.0" || got[2] != "threads.values.1.stacktrace.frames.0" {
		t.Errorf("missing error frames: %v", got)
	}
	bad := errs[2].(map[string]any)
	if bad["type"] != "native_bad_dsym" || !strings.Contains(bad["message"].(string), "truncated section") {
		t.Errorf("malformed error: %v", bad)
	}
	st := dig(t, out, "threads", "values", 1, "stacktrace", "frames", 1, "data", "symbolicator_status")
	if st != "malformed" {
		t.Errorf("status %v", st)
	}
	if _, ok := dig(t, out, "threads", "values", 0).(map[string]any)["raw_stacktrace"]; ok {
		t.Error("no frame was processed: no raw_stacktrace expected")
	}
}

type fakeJS struct {
	mu   sync.Mutex
	reqs []sourcemaps.StackRequest
}

func (f *fakeJS) ResolveStack(_ context.Context, req sourcemaps.StackRequest) sourcemaps.StackResult {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	sort.Slice(f.reqs, func(i, j int) bool { return len(f.reqs[i].Frames) > len(f.reqs[j].Frames) })
	f.mu.Unlock()
	var res sourcemaps.StackResult
	for i, fr := range req.Frames {
		if strings.Contains(fr.AbsPath, "missing") {
			res.Frames = append(res.Frames, sourcemaps.FrameResult{Status: sourcemaps.StatusMissingSourcemap,
				RawContext: &sourcemaps.Context{Pre: []string{"a"}, Line: "minified", Post: []string{}}})
			res.Problems = append(res.Problems, sourcemaps.Problem{Type: "js_no_source", SymbolicatorType: "missing_sourcemap", URL: fr.AbsPath, Frames: []int{i}})
			continue
		}
		res.Frames = append(res.Frames, sourcemaps.FrameResult{
			Status: sourcemaps.StatusSymbolicated, AbsPath: "webpack:///./src/cart.js", Filename: "src/cart.js",
			Function: "Cart.total", Lineno: fr.Lineno * 10, Colno: fr.Colno + 1, SourceMap: fr.AbsPath + ".map", ResolvedWith: "release",
			Context:    &sourcemaps.Context{Pre: []string{"x"}, Line: "y", Post: []string{"z"}},
			RawContext: &sourcemaps.Context{Line: "minified"},
		})
	}
	return res
}

func TestJSFramesAndShapes(t *testing.T) {
	ev := `{"platform":"javascript","release":"1.0","dist":"web",
	 "exception":[{"type":"TypeError","stacktrace":{"frames":[
	   {"filename":"/srv/app/dist/app.min.js","lineno":1,"colno":120,"function":"r","in_app":true},
	   {"abs_path":"https://x/missing.js","lineno":1,"colno":3,"function":"?"},
	   {"abs_path":"https://x/missing.js","lineno":2,"colno":3,"function":"?"}]}}],
	 "stacktrace":{"frames":[{"abs_path":"https://x/app.js","lineno":2,"colno":5}]},
	 "debug_meta":{"images":[{"type":"sourcemap","code_file":"/srv/app/dist/app.min.js","debug_id":"BBBBBBBB-0000-0000-0000-000000000000"}]}}`
	js := &fakeJS{}
	out, err := New(Config{}, js, nil).Process(context.Background(), "proj", decode(t, ev))
	if err != nil {
		t.Fatal(err)
	}
	out = roundTrip(t, out)
	if len(js.reqs) != 2 {
		t.Fatalf("want 2 stacks resolved, got %d", len(js.reqs))
	}
	r := js.reqs[0]
	if r.Release != "1.0" || r.Dist != "web" || r.DebugIDs["/srv/app/dist/app.min.js"] != "bbbbbbbb-0000-0000-0000-000000000000" {
		t.Errorf("request: %+v", r)
	}
	if r.Frames[0].AbsPath != "/srv/app/dist/app.min.js" || r.Frames[0].Lineno != 1 || r.Frames[0].Colno != 120 || r.Frames[0].Function != "r" || r.Frames[0].InApp == nil || !*r.Frames[0].InApp {
		t.Errorf("frame 0 in: %+v", r.Frames[0])
	}
	f0 := dig(t, out, "exception", 0, "stacktrace", "frames", 0).(map[string]any)
	if f0["abs_path"] != "webpack:///./src/cart.js" || f0["function"] != "Cart.total" || f0["context_line"] != "y" ||
		dig(t, f0, "data", "sourcemap") != "/srv/app/dist/app.min.js.map" || dig(t, f0, "data", "symbolicated") != true {
		t.Errorf("frame 0 out: %v", f0)
	}
	if n, _ := f0["lineno"].(json.Number).Int64(); n != 10 {
		t.Errorf("lineno %v", f0["lineno"])
	}
	f1 := dig(t, out, "exception", 0, "stacktrace", "frames", 1).(map[string]any)
	if dig(t, f1, "data", "symbolicator_status") != "missing_sourcemap" || f1["context_line"] != "minified" || f1["abs_path"] != "https://x/missing.js" {
		t.Errorf("frame 1 out: %v", f1)
	}
	raw0 := dig(t, out, "exception", 0, "raw_stacktrace", "frames", 0).(map[string]any)
	if raw0["function"] != "r" || raw0["context_line"] != "minified" {
		t.Errorf("raw frame 0: %v", raw0)
	}
	errs := out["errors"].([]any)
	if len(errs) != 1 {
		t.Fatalf("one missing artifact, one error: %v", errs)
	}
	if e := errs[0].(map[string]any); e["url"] != "https://x/missing.js" || len(e["frames"].([]any)) != 2 || e["name"] != "exception.0.stacktrace.frames.1" {
		t.Errorf("error: %v", e)
	}
	if _, ok := out["raw_stacktrace"]; ok {
		t.Error("the top-level stacktrace has no raw_stacktrace")
	}
	if dig(t, out, "stacktrace", "frames", 0, "function") != "Cart.total" {
		t.Error("top-level stacktrace not processed")
	}
}

func TestAlreadyProcessedFramesAreSkipped(t *testing.T) {
	ev := `{"platform":"javascript","exception":{"type":"E","stacktrace":{"frames":[
	  {"abs_path":"https://x/app.js","lineno":1,"colno":1,"data":{"symbolicator_status":"symbolicated"}}]}}}`
	js := &fakeJS{}
	out, err := New(Config{}, js, nil).Process(context.Background(), "proj", decode(t, ev))
	if err != nil {
		t.Fatal(err)
	}
	if len(js.reqs) != 0 {
		t.Errorf("processed frames must not be resolved again: %+v", js.reqs)
	}
	if dig(t, out, "exception", "stacktrace", "frames", 0, "abs_path") != "https://x/app.js" {
		t.Error("frame changed")
	}
}

func TestInvalidEvents(t *testing.T) {
	for name, ev := range map[string]string{
		"stacktrace not object": `{"stacktrace": 3}`,
		"frames not list":       `{"exception":{"values":[{"stacktrace":{"frames":{}}}]}}`,
		"frame not object":      `{"threads":{"values":[{"stacktrace":{"frames":[1]}}]}}`,
		"values not list":       `{"exception":{"values":"x"}}`,
		"exception scalar":      `{"exception":"boom"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(Config{}, &fakeJS{}, &fakeFinder{}).Process(context.Background(), "proj", decode(t, ev))
			if !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("want ErrInvalidEvent, got %v", err)
			}
		})
	}
	if _, err := New(Config{}, nil, nil).Process(context.Background(), "proj", nil); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("nil event: %v", err)
	}
}

func TestFrameLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"platform":"native","stacktrace":{"frames":[`)
	for i := 0; i < 1001; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"instruction_addr":"0x%x"}`, 0x1000+i)
	}
	b.WriteString(`]}}`)
	if _, err := New(Config{MaxFrames: 1000}, nil, &fakeFinder{}).Process(context.Background(), "proj", decode(t, b.String())); !errors.Is(err, ErrTooManyFrames) {
		t.Fatalf("want ErrTooManyFrames, got %v", err)
	}
	out, err := New(Config{MaxFrames: 1001}, nil, &fakeFinder{}).Process(context.Background(), "proj", decode(t, b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(dig(t, out, "stacktrace", "frames").([]any)); got != 1001 {
		t.Errorf("frames kept: %d", got)
	}
}

func TestAddressParsing(t *testing.T) {
	for in, want := range map[any]uint64{"0x10": 16, "0X1f": 31, "42": 42, json.Number("4096"): 4096} {
		got, ok := parseAddr(in)
		if !ok || got != want {
			t.Errorf("parseAddr(%v) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []any{"", "0x", "zz", json.Number("-1"), true, nil, "0x1ffffffffffffffff"} {
		if _, ok := parseAddr(in); ok {
			t.Errorf("parseAddr(%v) should fail", in)
		}
	}
	if got := normalizeDebugID("1560CBC52654FC81BC4B437E89E95FB5a"); got != "1560cbc5-2654-fc81-bc4b-437e89e95fb5-a" {
		t.Errorf("breakpad id: %s", got)
	}
	if got := normalizeCodeID("5AB38077-9000"); got != "5ab380779000" {
		t.Errorf("code id: %s", got)
	}
}
