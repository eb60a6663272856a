package tracetext

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	const ev = `{"exception":{"values":[{"type":"TypeError","value":"x is undefined","stacktrace":{"frames":[
	  {"function":"main","abs_path":"webpack:///./src/main.js","lineno":3,"colno":1,"data":{"symbolicator_status":"symbolicated"}},
	  {"function":"Cart.total","abs_path":"webpack:///./src/cart.js","lineno":42,"colno":13,
	   "pre_context":["  let a = 1;"],"context_line":"  return items.reduce(sum);","post_context":["}"],
	   "data":{"symbolicator_status":"symbolicated"}},
	  {"function":"r","abs_path":"https://x/vendor.min.js","lineno":1,"colno":9,"in_app":false,
	   "data":{"symbolicator_status":"missing_sourcemap"}}]}}]},
	 "threads":{"values":[{"id":7,"name":"worker","crashed":true,"stacktrace":{"frames":[
	  {"function":"ns::helper()","abs_path":"/src/helper.h","lineno":20,"instruction_addr":"0x1201","data":{"inlined":true}}]}}]},
	 "errors":[{"type":"js_no_source","url":"https://x/vendor.min.js","symbolicator_type":"missing_sourcemap"}]}`
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(ev))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := Format(&b, m, Options{Context: true}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	order := []string{
		"TypeError: x is undefined",
		"at r (https://x/vendor.min.js:1:9) [not in app] [missing_sourcemap: no source map found for this file]",
		"at Cart.total (webpack:///./src/cart.js:42:13)",
		"41 |   let a = 1;",
		"> 42 |   return items.reduce(sum);",
		"43 | }",
		"at main (webpack:///./src/main.js:3:1)",
		"Thread 7 (worker) [crashed]",
		"at ns::helper() (/src/helper.h:20) 0x1201 [inlined]",
		"Problems",
		"js_no_source: url=https://x/vendor.min.js symbolicator_type=missing_sourcemap",
	}
	pos := 0
	for _, want := range order {
		i := strings.Index(out[pos:], want)
		if i < 0 {
			t.Fatalf("missing or out of order: %q\n---\n%s", want, out)
		}
		pos += i + len(want)
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("no colour codes without Options.Color")
	}
}

func TestFormatEmptyEvent(t *testing.T) {
	var b strings.Builder
	if err := Format(&b, map[string]any{}, Options{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "no stack trace") {
		t.Errorf("got %q", b.String())
	}
}
