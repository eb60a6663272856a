package scopes

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzParse: Parse never panics or hangs, fails only with ErrParse, and a
// successful index answers Innermost with scopes that contain the query.
func FuzzParse(f *testing.F) {
	seeds := []string{
		`function foo(){}`, `class A{static #p(){} get x(){} [k](){}}`, `a=b=>c?d:e=>f`,
		"var s=`${()=>1}${`${x}`}`", `x=/[/]{/g.test(y)?{a(){}}:function(){}`, `a:{b:for(;;)break b}`,
		"#!/usr/bin/env node\nf()", "var q=\"\u2028\"\r\nx=()=>{}", `export default class{}`, `for await(x of y){}`,
		`class G{if(e){if(e)f()}for(){for(;;);}static catch(){}get with(){}function(){}}`, `o={switch(x){switch(x){case 1:}},case(){},while:1}`,
	}
	if app, err := os.ReadFile(filepath.Join("testdata", "app.js")); err == nil {
		seeds = append(seeds, string(app))
		for _, n := range []int{1, 100, 700, 1500, len(app) / 2, len(app) - 3} {
			if n < len(app) {
				seeds = append(seeds, string(app[:n]))
			}
		}
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		done := make(chan struct{})
		go func() {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				// Crashing the worker makes the fuzzer keep the input.
				panic(fmt.Sprintf("Parse did not return within 10s on %d bytes", len(src)))
			}
		}()
		defer close(done)
		ix, err := Parse(src)
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("error not wrapping ErrParse: %v", err)
			}
			return
		}
		for i := 0; i < ix.Len(); i++ {
			s := ix.Scope(i)
			if !s.Start.less(s.End) {
				t.Fatalf("empty scope %d: %v", i, s)
			}
			got, ok := ix.Innermost(s.Start)
			if !ok || got.Start.less(s.Start) || s.End.less(got.End) && s.End != got.End {
				// The innermost scope at a scope's start is that scope or one inside it.
				if !ok || got.Start.less(s.Start) {
					t.Fatalf("Innermost(%v) = %v %v, want scope %d or an inner one", s.Start, ok, got, i)
				}
			}
		}
	})
}
