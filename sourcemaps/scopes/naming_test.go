package scopes

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf16"
)

// wantPart is an expected name part: an identifier found as the nth
// whole-word occurrence of text in the snippet, or a literal text part.
type wantPart struct {
	text  string
	ident bool
	nth   int
}

func id(text string) wantPart           { return wantPart{text, true, 1} }
func idN(text string, nth int) wantPart { return wantPart{text, true, nth} }
func lit(text string) wantPart          { return wantPart{text, false, 0} }

// posOf computes the Pos of a byte offset independently of the package:
// JS line terminators split lines, columns are UTF-16 units.
func posOf(src string, off int) Pos {
	line, start := 0, 0
	prefix := src[:off]
	for i := 0; i < len(prefix); i++ {
		switch {
		case prefix[i] == '\n':
			line, start = line+1, i+1
		case prefix[i] == '\r':
			if i+1 < len(src) && src[i+1] == '\n' {
				continue
			}
			line, start = line+1, i+1
		case strings.HasPrefix(prefix[i:], "\u2028") || strings.HasPrefix(prefix[i:], "\u2029"):
			line, start = line+1, i+3
		}
	}
	return Pos{line, len(utf16.Encode([]rune(prefix[start:])))}
}

// wordOffset finds the nth whole-word occurrence of word in src.
func wordOffset(t *testing.T, src, word string, nth int) int {
	t.Helper()
	re := regexp.MustCompile(`(?:^|[^\p{L}\p{N}_$#])(` + regexp.QuoteMeta(word) + `)(?:[^\p{L}\p{N}_$]|$)`)
	seen := 0
	for from := 0; from <= len(src); {
		m := re.FindStringSubmatchIndex(src[from:])
		if m == nil {
			break
		}
		seen++
		if seen == nth {
			return from + m[2]
		}
		from += m[2] + 1
	}
	t.Fatalf("occurrence %d of %q not found in %q", nth, word, src)
	return -1
}

func nameString(ps []NamePart) string {
	var b strings.Builder
	for _, p := range ps {
		if p.Ident {
			fmt.Fprintf(&b, "[%s@%d:%d]", p.Text, p.At.Line, p.At.Col)
		} else {
			fmt.Fprintf(&b, "%q", p.Text)
		}
	}
	return b.String()
}

func TestNamingRules(t *testing.T) {
	// Each probe is an identifier placed in the body of the function under
	// test; Innermost at the probe must give the expected name.
	tests := []struct {
		name  string
		src   string
		probe string
		want  []wantPart // nil: anonymous
	}{
		{"function declaration", `function foo(){P}`, "P", []wantPart{id("foo")}},
		{"async generator declaration", `async function*gen(){P}`, "P", []wantPart{id("gen")}},
		{"var function expression", `var a=function(){P}`, "P", []wantPart{id("a")}},
		{"const arrow block", `const a=()=>{P}`, "P", []wantPart{id("a")}},
		{"let arrow expression", `let a=b=>b+P`, "P", []wantPart{id("a")}},
		{"async arrow", `const a=async x=>{await P}`, "P", []wantPart{id("a")}},
		{"plain assignment", `a=function(){P}`, "P", []wantPart{id("a")}},
		{"member chain assignment", `x.y.z=function(){P}`, "P", []wantPart{id("x"), lit("."), id("y"), lit("."), id("z")}},
		{"exports", `exports.foo=function(){P}`, "P", []wantPart{id("exports"), lit("."), id("foo")}},
		{"module.exports", `module.exports=()=>{P}`, "P", []wantPart{id("module"), lit("."), id("exports")}},
		{"this member", `function F(){this.run=function(){P}}`, "P", []wantPart{lit("this"), lit("."), id("run")}},
		{"computed member ident", `K.prototype[m]=()=>{P}`, "P", []wantPart{id("K"), lit("."), id("prototype"), lit("["), id("m"), lit("]")}},
		{"computed member string", `K.prototype["m"]=()=>{P}`, "P", []wantPart{id("K"), lit("."), id("prototype"), lit(`["m"]`)}},
		{"computed member expression", `K[1+1]=()=>{P}`, "P", []wantPart{id("K"), lit("[<computed>]")}},
		{"named function expression keeps own name", `var a=function b(){P}`, "P", []wantPart{id("b")}},
		{"class method", `class A{m(){P}}`, "P", []wantPart{id("A"), lit("."), id("m")}},
		{"class static method", `class A{static s(){P}}`, "P", []wantPart{id("A"), lit("."), id("s")}},
		{"class getter", `class A{get x(){return P}}`, "P", []wantPart{lit("get "), id("A"), lit("."), id("x")}},
		{"class setter", `class A{set x(v){P=v}}`, "P", []wantPart{lit("set "), id("A"), lit("."), id("x")}},
		{"class private method", `class A{#p(){P}}`, "P", []wantPart{id("A"), lit("."), id("#p")}},
		{"class async generator method", `class A{static async*g(){P}}`, "P", []wantPart{id("A"), lit("."), id("g")}},
		{"class computed method", `class A{[Symbol.iterator](){P}}`, "P", []wantPart{id("A"), lit("."), lit("<computed>")}},
		{"class string method", `class A{"s m"(){P}}`, "P", []wantPart{id("A"), lit("."), lit(`<"s m">`)}},
		{"class constructor is the class scope", `class A{constructor(){P}}`, "P", []wantPart{lit("new "), id("A")}},
		{"class field initializer", `class A{x=P}`, "P", []wantPart{lit("new "), id("A")}},
		{"class field arrow", `class A{x=()=>{P}}`, "P", []wantPart{id("A"), lit("."), id("x")}},
		{"class expression assigned", `var C=class{m(){P}}`, "P", []wantPart{id("C"), lit("."), id("m")}},
		{"named class expression assigned", `a=class B{m(){P}}`, "P", []wantPart{id("a"), lit("."), id("m")}},
		{"named class expression unassigned", `f(class B{m(){P}})`, "P", []wantPart{id("B"), lit("."), id("m")}},
		{"class extends call", `class A extends mix(B){m(){P}}`, "P", []wantPart{id("A"), lit("."), id("m")}},
		{"object method with binding", `const obj={m(){P}}`, "P", []wantPart{id("obj"), lit("."), id("m")}},
		{"object function property", `const obj={foo:function(){P}}`, "P", []wantPart{id("obj"), lit("."), id("foo")}},
		{"object arrow property", `var o={baz:()=>P}`, "P", []wantPart{id("o"), lit("."), id("baz")}},
		{"object getter", `a={get foo(){return P}}`, "P", []wantPart{lit("get "), id("a"), lit("."), id("foo")}},
		{"nested object", `x={a:{b(){P}}}`, "P", []wantPart{id("x"), lit("."), id("a"), lit("."), id("b")}},
		{"object without binding", `f({bar(){P}})`, "P", []wantPart{id("bar")}},
		{"object numeric key adds nothing", `var e={123:(t,n)=>{P}}`, "P", []wantPart{id("e")}},
		{"object named function property", `o={k:function f(){P}}`, "P", []wantPart{id("o"), lit("."), id("f")}},
		{"ternary looked through", `var t=c?function(){P}:null`, "P", []wantPart{id("t")}},
		{"logical looked through", `var t=c||(()=>{P})`, "P", []wantPart{id("t")}},
		{"call argument anonymous", `foo(function(){P})`, "P", nil},
		{"arrow call argument anonymous", `a=foo(x=>{P})`, "P", nil},
		{"iife anonymous", `(function(){P})()`, "P", nil},
		{"assigned iife anonymous", `var r=(function(){P})(1)`, "P", nil},
		{"called arrow anonymous", `var r=(()=>{P}).call(this)`, "P", nil},
		{"unparenthesized iife anonymous", `var r=function(){P}(1)`, "P", nil},
		{"bang iife anonymous", `!function(){P}()`, "P", nil},
		{"export default anonymous", `export default function(){P}`, "P", nil},
		{"export default class", `export default class{m(){P}}`, "P", []wantPart{id("m")}},
		{"return anonymous", `function f(){return function(){P}}`, "P", nil},
		{"array element anonymous", `var a=[function(){P}]`, "P", nil},
		{"nested arrow anonymous", `var a=()=>()=>P`, "P", nil},
		{"inner declaration", `var a=()=>{function inner(){P}}`, "P", []wantPart{id("inner")}},
		{"regex before function", `var r=/}{(/g;function f(){P}`, "P", []wantPart{id("f")}},
		{"division is not regex", `var r=a/b/c;function f(){P}`, "P", []wantPart{id("f")}},
		{"template with functions", "var s=`${()=>1}x${{a:1}.a}`;function f(){P}", "P", []wantPart{id("f")}},
		{"arrow inside template", "var s=`a${(()=>P)()}b`", "P", nil},
		{"non-ascii identifiers", "const ñandú=()=>{P}", "P", []wantPart{id("ñandú")}},
		{"astral string before name", "var s=\"😀\";x.ünï=function(){P}", "P", []wantPart{id("x"), lit("."), id("ünï")}},
		{"crlf and line separators", "var s=1;\r\nvar q=\"\u2028\"\rvar a=function(){\nP}", "P", []wantPart{id("a")}},
		{"label and case colons", `a:for(;;){switch(x){case 1:var f=function(){P}}}`, "P", []wantPart{id("f")}},
		{"shebang", "#!/usr/bin/env node\nfunction main(){P}", "P", []wantPart{id("main")}},
		{"keyword property names", `a.class=function(){P};b={class:1,function:2}`, "P", []wantPart{id("a"), lit("."), id("class")}},
		{"object key equal to binding", `var m={m(){P}}`, "P", []wantPart{idN("m", 1), lit("."), idN("m", 2)}},
		{"optional chaining and nullish", `var g=a?.b??function(){P}`, "P", []wantPart{id("g")}},
		// Keywords as method keys (ajv's CodeGen has if, for, try and
		// else methods): not statements, not function expressions.
		{"class method named if", `class A{if(a){P}}`, "P", []wantPart{id("A"), lit("."), id("if")}},
		{"statement inside method named if", `class A{if(a){if(a){P}}}`, "P", []wantPart{id("A"), lit("."), id("if")}},
		{"method after keyword methods", `class G{if(e,n){if(e)n();return this}else(){return this}for(e,n){for(;e;)n();return this}endIf(){P}}`, "P", []wantPart{id("G"), lit("."), id("endIf")}},
		{"class method named for", `class G{if(e,n){if(e)n();return this}for(e,n){for(;e;)n(P);return this}}`, "P", []wantPart{id("G"), lit("."), id("for")}},
		{"object method named while", `var o={while(){P}}`, "P", []wantPart{id("o"), lit("."), id("while")}},
		{"object method named switch", `var o={switch(x){switch(x){case 1:P}}}`, "P", []wantPart{id("o"), lit("."), id("switch")}},
		{"static method named catch", `class A{static catch(e){P}}`, "P", []wantPart{id("A"), lit("."), id("catch")}},
		{"getter named with", `class A{get with(){return P}}`, "P", []wantPart{lit("get "), id("A"), lit("."), id("with")}},
		{"async generator method named for", `class A{async*for(){P}}`, "P", []wantPart{id("A"), lit("."), id("for")}},
		{"for await inside method named for", `class A{async for(x){for await(const y of x)P(y)}}`, "P", []wantPart{id("A"), lit("."), id("for")}},
		{"object method named function", `var o={function(){P}}`, "P", []wantPart{id("o"), lit("."), id("function")}},
		{"class method named function", `class A{function(){P}}`, "P", []wantPart{id("A"), lit("."), id("function")}},
		{"object method named case", `var o={case(){},a:{b(){P}}}`, "P", []wantPart{id("o"), lit("."), id("a"), lit("."), id("b")}},
		{"object property named case", `var o={case:function(){P}}`, "P", []wantPart{id("o"), lit("."), id("case")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ix, err := Parse([]byte(tc.src))
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.src, err)
			}
			off := wordOffset(t, tc.src, tc.probe, 1)
			sc, ok := ix.Innermost(posOf(tc.src, off))
			if !ok {
				t.Fatalf("no scope at probe in %q", tc.src)
			}
			var want []NamePart
			for _, w := range tc.want {
				p := NamePart{Text: w.text, Ident: w.ident}
				if w.ident {
					p.At = posOf(tc.src, wordOffset(t, tc.src, w.text, w.nth))
				}
				want = append(want, p)
			}
			if got, exp := nameString(sc.Name), nameString(want); got != exp {
				t.Errorf("src %q\n got %s\nwant %s", tc.src, got, exp)
			}
			if !(!posOf(tc.src, off).less(sc.Start) && posOf(tc.src, off).less(sc.End)) {
				t.Errorf("probe %v outside returned scope [%v, %v)", posOf(tc.src, off), sc.Start, sc.End)
			}
		})
	}
}

func TestTopLevelAndExtents(t *testing.T) {
	src := `var x=1;function foo(a){return a}var y=(b)=>b*2,z=async c=>{c};class K{m(){}}`
	ix, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	type extent struct{ from, to string } // the scope spans from the start of `from` to the end of `to`
	want := []extent{
		{"function foo", "return a}"},
		{"(b)=>", "b*2"},
		{"async c=>", "{c}"},
		{"class K", "m(){}}"},
		{"m(){}", "m(){}"},
	}
	if ix.Len() != len(want) {
		t.Fatalf("Len() = %d, want %d", ix.Len(), len(want))
	}
	for i, w := range want {
		s := ix.Scope(i)
		from := strings.Index(src, w.from)
		to := strings.Index(src, w.to) + len(w.to)
		if s.Start != posOf(src, from) || s.End != posOf(src, to) {
			t.Errorf("scope %d = [%v, %v), want [%v, %v) (%q .. %q)", i, s.Start, s.End, posOf(src, from), posOf(src, to), w.from, w.to)
		}
	}
	for _, probe := range []string{"var x", "var y", ",z="} {
		if s, ok := ix.Innermost(posOf(src, strings.Index(src, probe))); ok {
			t.Errorf("Innermost(%q) = %v, want top level", probe, nameString(s.Name))
		}
	}
	// End is exclusive.
	if s, ok := ix.Innermost(posOf(src, strings.Index(src, "var y")-1)); !ok || s.Name[0].Text != "foo" {
		t.Errorf("last byte of foo not in foo: %v %v", ok, s)
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, src := range []string{
		`function(`,
		`var a = {`,
		`class { m( }`,
		"var s=`unterminated",
		`a = /unterminated`,
		`}{`,
		"\x00\x01",
	} {
		if _, err := Parse([]byte(src)); !errors.Is(err, ErrParse) {
			t.Errorf("Parse(%q) error = %v, want ErrParse", src, err)
		}
	}
}

func TestParseDoesNotTouchInput(t *testing.T) {
	big := make([]byte, 0, 64)
	big = append(big, "var a=function(){}"...)
	full := big[:cap(big)]
	full[len(big)] = 'Z'
	if _, err := Parse(big); err != nil {
		t.Fatal(err)
	}
	if full[len(big)] != 'Z' {
		t.Fatal("Parse wrote past the end of its input")
	}
}
