package scopes

import (
	"fmt"
	"sort"

	"github.com/tdewolff/parse/v2/js"
)

// Roles of `{` and `:` tokens, decided from the tokens before them.
const (
	roleNone uint8 = iota
	braceBlock
	braceObject // object literal or object binding pattern
	braceClass  // class body
	braceFunc   // body of a function, method or arrow
	colonTernary
	colonProp
	colonCase
	colonLabel
)

type fnKind uint8

const (
	fnFunction fnKind = iota // function declaration or expression
	fnMethod                 // class or object-literal method, getter, setter
	fnArrow
	fnClass
)

// fn is one function or class found in the token stream.
type fn struct {
	kind    fnKind
	start   int32 // first token
	open    int32 // body `{` (class body for classes); -1 for an expression-bodied arrow
	arrow   int32 // `=>` of an arrow
	name    int32 // own name token of a function, -1 if none
	keyFrom int32 // method key tokens
	keyTo   int32
	getSet  js.TokenType // GetToken or SetToken for accessors
}

type scanner struct {
	src      []byte
	toks     []token
	match    []int32 // matching bracket of every bracket token
	role     []uint8 // role of `{` and `:` tokens
	encl     []int32 // innermost enclosing open bracket of every token, -1 at top level
	classTok map[int32]int32
	tmplBack map[int32]int32 // template middle -> the template part before it
	funcs    []fn

	// methodKeys are the byte offsets of the identifier-name keys of the
	// parser's methods, sorted: they tell a method named like a keyword,
	// `if(a){}` or `function(){}` in a class body or object literal, from
	// the statement or function expression.
	methodKeys []int32
}

func newScanner(src []byte, toks []token) *scanner {
	s := &scanner{
		src:      src,
		toks:     toks,
		match:    make([]int32, len(toks)),
		role:     make([]uint8, len(toks)),
		encl:     make([]int32, len(toks)),
		classTok: map[int32]int32{},
		tmplBack: map[int32]int32{},
	}
	return s
}

func (s *scanner) tt(i int32) js.TokenType {
	if i < 0 || int(i) >= len(s.toks) {
		return js.ErrorToken
	}
	return s.toks[i].tt
}

type frame struct {
	open     int32
	ternary  int32 // `?` waiting for their `:`
	cases    int32 // `case` waiting for their `:`
	classTok int32 // `class` whose body is the next `{` of this frame, or -1
}

// structure matches brackets, decides the role of braces and colons, and
// finds every function, method, arrow and class.
func (s *scanner) structure() error {
	stack := []frame{{open: -1, classTok: -1}}
	for idx := range s.toks {
		i := int32(idx)
		f := &stack[len(stack)-1]
		s.encl[i] = f.open
		switch s.toks[i].tt {
		case js.OpenParenToken, js.OpenBracketToken, js.TemplateStartToken:
			stack = append(stack, frame{open: i, classTok: -1})
		case js.OpenBraceToken:
			s.role[i] = s.braceRole(i, f)
			stack = append(stack, frame{open: i, classTok: -1})
		case js.CloseParenToken, js.CloseBracketToken, js.CloseBraceToken, js.TemplateMiddleToken, js.TemplateEndToken:
			if len(stack) == 1 || !closes(s.toks[f.open].tt, s.toks[i].tt) {
				return fmt.Errorf("%w: unbalanced %s at byte %d", ErrParse, s.toks[i].tt, s.toks[i].off)
			}
			s.match[f.open], s.match[i] = i, f.open
			stack = stack[:len(stack)-1]
			if s.toks[i].tt == js.TemplateMiddleToken {
				s.tmplBack[i] = f.open
				stack = append(stack, frame{open: i, classTok: -1})
			}
		case js.QuestionToken:
			f.ternary++
		case js.CaseToken:
			// Only in a block (a switch body): `{case(){}}`, `{case:1}`
			// and `x.case` use "case" as a property name.
			if f.open >= 0 && s.role[f.open] == braceBlock && s.tt(i-1) != js.DotToken && s.tt(i-1) != js.OptChainToken {
				f.cases++
			}
		case js.ColonToken:
			switch {
			case f.ternary > 0:
				f.ternary--
				s.role[i] = colonTernary
			case f.cases > 0:
				f.cases--
				s.role[i] = colonCase
			case f.open >= 0 && s.role[f.open] == braceObject:
				s.role[i] = colonProp
			case s.tt(i-1) == js.DefaultToken:
				s.role[i] = colonCase
			default:
				s.role[i] = colonLabel
			}
		case js.ClassToken:
			if s.isClassKeyword(i) {
				f.classTok = i
			}
		case js.ArrowToken:
			s.addArrow(i)
		}
	}
	if len(stack) != 1 {
		return fmt.Errorf("%w: unclosed %s at byte %d", ErrParse, s.toks[stack[len(stack)-1].open].tt, s.toks[stack[len(stack)-1].open].off)
	}
	return nil
}

func closes(open, closing js.TokenType) bool {
	switch closing {
	case js.CloseParenToken:
		return open == js.OpenParenToken
	case js.CloseBracketToken:
		return open == js.OpenBracketToken
	case js.CloseBraceToken:
		return open == js.OpenBraceToken
	default: // template middle or end
		return open == js.TemplateStartToken || open == js.TemplateMiddleToken
	}
}

func (s *scanner) isClassKeyword(i int32) bool {
	switch s.tt(i - 1) {
	case js.DotToken, js.OptChainToken:
		return false
	}
	switch s.tt(i + 1) {
	case js.OpenParenToken, js.ColonToken, js.CommaToken, js.CloseBraceToken, js.EqToken, js.SemicolonToken:
		return false // a property or method named "class"
	}
	return true
}

// braceRole decides what the `{` at i opens, recording the function or class
// it belongs to.
func (s *scanner) braceRole(i int32, f *frame) uint8 {
	if f.classTok >= 0 {
		s.funcs = append(s.funcs, fn{kind: fnClass, start: f.classTok, open: i, arrow: -1, name: -1})
		s.classTok[i] = f.classTok
		f.classTok = -1
		return braceClass
	}
	p := s.tt(i - 1)
	switch p {
	case js.ErrorToken, js.SemicolonToken, js.CloseBraceToken, js.OpenBraceToken, js.CloseBracketToken:
		return braceBlock
	case js.ArrowToken:
		return braceFunc
	case js.CloseParenToken:
		if s.addFunction(s.match[i-1], i) {
			return braceFunc
		}
		return braceBlock
	case js.ColonToken:
		if r := s.role[i-1]; r == colonTernary || r == colonProp {
			return braceObject
		}
		return braceBlock
	case js.TemplateStartToken, js.TemplateMiddleToken,
		js.ReturnToken, js.TypeofToken, js.InstanceofToken, js.InToken, js.OfToken, js.NewToken,
		js.DeleteToken, js.VoidToken, js.ThrowToken, js.CaseToken, js.YieldToken, js.AwaitToken,
		js.VarToken, js.LetToken, js.ConstToken, js.ExtendsToken:
		return braceObject
	case js.DefaultToken:
		if s.tt(i-2) == js.ExportToken {
			return braceObject
		}
		return braceBlock
	}
	if js.IsPunctuator(p) || js.IsOperator(p) {
		return braceObject
	}
	return braceBlock
}

// isMethodKey tells whether the token at i is the key of a method according
// to the parser.
func (s *scanner) isMethodKey(i int32) bool {
	off := s.toks[i].off
	k := sort.Search(len(s.methodKeys), func(k int) bool { return s.methodKeys[k] >= off })
	return k < len(s.methodKeys) && s.methodKeys[k] == off
}

// addFunction records the function or method whose parameters open at paren
// and whose body opens at body, unless the parenthesis belongs to a
// statement (if, for, while, switch, catch, with). Those keywords, like
// `function`, can also be method keys (`class A{if(a){}for(){}}`, ajv's
// CodeGen has such methods); the parser's method keys decide.
func (s *scanner) addFunction(paren, body int32) bool {
	q := paren - 1
	f := fn{kind: fnFunction, open: body, arrow: -1, name: -1}
	switch tt := s.tt(q); {
	case q < 0:
		return false
	case s.isMethodKey(q):
		f.kind = fnMethod
		f.keyFrom, f.keyTo = q, q
		f.start, f.getSet = s.methodStart(q)
	case tt == js.IfToken, tt == js.ForToken, tt == js.WhileToken, tt == js.SwitchToken, tt == js.CatchToken, tt == js.WithToken:
		return false
	case tt == js.AwaitToken && s.tt(q-1) == js.ForToken:
		return false
	case tt == js.FunctionToken:
		f.start = q
	case tt == js.MulToken && s.tt(q-1) == js.FunctionToken:
		f.start = q - 1
	case tt == js.CloseBracketToken || tt == js.PrivateIdentifierToken || tt == js.StringToken || js.IsNumeric(tt) || js.IsIdentifierName(tt):
		keyFrom := q
		if tt == js.CloseBracketToken {
			keyFrom = s.match[q]
		}
		b := keyFrom - 1
		if tt != js.CloseBracketToken && s.tt(b) == js.FunctionToken {
			f.start, f.name = b, q
		} else if tt != js.CloseBracketToken && s.tt(b) == js.MulToken && s.tt(b-1) == js.FunctionToken {
			f.start, f.name = b-1, q
		} else {
			f.kind = fnMethod
			f.keyFrom, f.keyTo = keyFrom, q
			f.start, f.getSet = s.methodStart(keyFrom)
		}
	default:
		return false
	}
	if f.kind == fnFunction && s.tt(f.start-1) == js.AsyncToken && !s.toks[f.start].nl {
		f.start--
	}
	s.funcs = append(s.funcs, f)
	return true
}

// methodStart returns the first token of the method whose key starts at
// keyFrom, and GetToken or SetToken for an accessor. The extent starts at
// `get`, `set`, `async` or `*` but after `static`, as V8's
// Function.prototype.toString does.
func (s *scanner) methodStart(keyFrom int32) (int32, js.TokenType) {
	var getSet js.TokenType
	m := keyFrom - 1
	for ; m >= 0 && s.encl[m] == s.encl[keyFrom]; m-- {
		switch s.toks[m].tt {
		case js.AsyncToken, js.MulToken:
		case js.GetToken, js.SetToken:
			getSet = s.toks[m].tt
		default:
			return m + 1, getSet
		}
	}
	return m + 1, getSet
}

func (s *scanner) addArrow(i int32) {
	p := i - 1
	start := p
	if s.tt(p) == js.CloseParenToken {
		start = s.match[p]
	}
	if s.tt(start-1) == js.AsyncToken && start >= 0 && !s.toks[start].nl {
		start--
	}
	f := fn{kind: fnArrow, start: start, open: -1, arrow: i, name: -1}
	if s.tt(i+1) == js.OpenBraceToken {
		f.open = i + 1
	}
	s.funcs = append(s.funcs, f)
}

// endTok returns the last token of a function.
func (s *scanner) endTok(f *fn) int32 {
	if f.open >= 0 {
		return s.match[f.open]
	}
	return s.arrowExprEnd(f.arrow)
}

// arrowExprEnd finds the last token of an arrow's expression body: the
// assignment expression ends before a `,`, `;`, closing bracket, a `:` with
// no `?` of its own, or an automatic semicolon.
func (s *scanner) arrowExprEnd(arrow int32) int32 {
	last := arrow
	ternary := 0
	n := int32(len(s.toks))
	for k := arrow + 1; k < n; k++ {
		t := s.toks[k]
		if k > arrow+1 && t.nl && endsExpression(s.toks[k-1].tt) && startsStatement(t.tt) {
			break
		}
		switch t.tt {
		case js.OpenParenToken, js.OpenBracketToken, js.OpenBraceToken:
			k = s.match[k]
			last = k
			continue
		case js.TemplateStartToken:
			for s.tt(k) != js.TemplateEndToken {
				k = s.match[k]
			}
			last = k
			continue
		case js.CloseParenToken, js.CloseBracketToken, js.CloseBraceToken, js.TemplateMiddleToken, js.TemplateEndToken,
			js.CommaToken, js.SemicolonToken:
			return last
		case js.QuestionToken:
			ternary++
		case js.ColonToken:
			if ternary == 0 {
				return last
			}
			ternary--
		}
		last = k
	}
	return last
}

func endsExpression(tt js.TokenType) bool {
	switch tt {
	case js.CloseParenToken, js.CloseBracketToken, js.CloseBraceToken, js.StringToken, js.TemplateToken,
		js.TemplateEndToken, js.RegExpToken, js.IncrToken, js.DecrToken, js.PrivateIdentifierToken:
		return true
	}
	return js.IsNumeric(tt) || js.IsIdentifierName(tt)
}

func startsStatement(tt js.TokenType) bool {
	switch tt {
	case js.InToken, js.InstanceofToken, js.OfToken:
		return false
	case js.StringToken, js.RegExpToken, js.PrivateIdentifierToken:
		return true
	}
	return js.IsNumeric(tt) || js.IsIdentifierName(tt)
}

// piece is one part of a scope name: an identifier token (tok >= 0) or text.
type piece struct {
	tok  int32
	text string
}

var dot = piece{tok: -1, text: "."}

func identPiece(i int32) piece { return piece{tok: i} }
func textPiece(t string) piece { return piece{tok: -1, text: t} }

func join(a, b []piece) []piece {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	out := make([]piece, 0, len(a)+1+len(b))
	out = append(out, a...)
	out = append(out, dot)
	return append(out, b...)
}

func (s *scanner) text(i int32) string { return string(s.src[s.toks[i].off:s.toks[i].end]) }

// isCallParen tells whether the `(` at j opens call arguments rather than a
// parenthesized expression.
func (s *scanner) isCallParen(j int32) bool {
	switch tt := s.tt(j - 1); tt {
	case js.CloseParenToken, js.CloseBracketToken, js.TemplateEndToken, js.TemplateToken, js.ThisToken, js.SuperToken, js.ImportToken:
		return true
	default:
		return js.IsIdentifier(tt)
	}
}

// exprContext names an anonymous expression (function, arrow, class, object
// literal) from what it is assigned to: a variable, a member chain, an
// object property. Call arguments, array elements, returns and the like
// leave it anonymous; ternaries and logical operators are looked through.
func (s *scanner) exprContext(start int32) []piece {
	j := start - 1
	for j >= 0 && s.toks[j].tt == js.OpenParenToken && !s.isCallParen(j) {
		// `(function(){})()`, `(()=>{}).call(x)`: the function is called
		// or used, not named, whatever the result is assigned to.
		switch s.tt(s.match[j] + 1) {
		case js.OpenParenToken, js.DotToken, js.OptChainToken, js.TemplateToken, js.TemplateStartToken, js.OpenBracketToken:
			return nil
		}
		j--
	}
	for steps := 0; j >= 0 && steps < 256; steps++ {
		switch tt := s.toks[j].tt; tt {
		case js.EqToken, js.OrEqToken, js.AndEqToken, js.NullishEqToken:
			return s.assignTarget(j)
		case js.ColonToken:
			switch s.role[j] {
			case colonProp:
				return s.propContext(j)
			case colonTernary:
				j--
				continue
			}
			return nil
		case js.CloseParenToken, js.CloseBracketToken:
			j = s.match[j] - 1
		case js.TemplateEndToken:
			j = s.match[j]
			for s.toks[j].tt == js.TemplateMiddleToken {
				j = s.tmplBack[j]
			}
			j--
		case js.CloseBraceToken:
			if s.role[s.match[j]] != braceObject {
				return nil
			}
			j = s.match[j] - 1
		case js.CommaToken, js.SemicolonToken, js.OpenParenToken, js.OpenBracketToken, js.OpenBraceToken,
			js.ArrowToken, js.EllipsisToken, js.TemplateStartToken, js.TemplateMiddleToken:
			return nil
		case js.ThisToken, js.NullToken, js.TrueToken, js.FalseToken, js.SuperToken, js.TypeofToken, js.VoidToken,
			js.InToken, js.InstanceofToken, js.NewToken, js.DeleteToken, js.AwaitToken, js.YieldToken:
			j--
		default:
			if js.IsReservedWord(tt) {
				return nil
			}
			j--
		}
	}
	return nil
}

// assignTarget names the left side of the assignment operator at eq.
func (s *scanner) assignTarget(eq int32) []piece {
	if e := s.encl[eq]; e >= 0 && s.role[e] == braceClass {
		// A class field: `x = () => {}` inside a class body.
		return join(s.className(e), s.keyPieces(eq-1, eq-1))
	}
	var rev []piece
	k := eq - 1
	for k >= 0 {
		tt := s.toks[k].tt
		switch {
		case js.IsIdentifierName(tt) || tt == js.PrivateIdentifierToken:
			if p := s.tt(k - 1); p == js.DotToken || p == js.OptChainToken {
				rev = append(rev, identPiece(k), dot)
				k -= 2
				continue
			}
			switch {
			case tt == js.ThisToken || tt == js.SuperToken:
				rev = append(rev, textPiece(s.text(k)))
			case js.IsReservedWord(tt) || tt == js.PrivateIdentifierToken:
				return nil
			default:
				rev = append(rev, identPiece(k))
			}
			for a, b := 0, len(rev)-1; a < b; a, b = a+1, b-1 {
				rev[a], rev[b] = rev[b], rev[a]
			}
			return rev
		case tt == js.CloseBracketToken:
			o := s.match[k]
			c := s.computed(o, k)
			for x := len(c) - 1; x >= 0; x-- {
				rev = append(rev, c[x])
			}
			k = o - 1
			if !s.endsMemberObject(k) {
				return nil // an array pattern, not a member
			}
		default:
			return nil
		}
	}
	return nil
}

func (s *scanner) endsMemberObject(k int32) bool {
	switch tt := s.tt(k); tt {
	case js.CloseBracketToken, js.CloseParenToken, js.ThisToken, js.SuperToken:
		return true
	default:
		return js.IsIdentifierName(tt) && !js.IsReservedWord(tt)
	}
}

// computed renders `[expr]` of a member chain the way Sentry does:
// `[42]`, `["m"]`, `[` ident `]` or `[<computed>]`.
func (s *scanner) computed(open, closing int32) []piece {
	if closing-open == 2 {
		in := open + 1
		tt := s.toks[in].tt
		switch {
		case tt == js.StringToken || js.IsNumeric(tt):
			return []piece{textPiece("[" + s.text(in) + "]")}
		case js.IsIdentifier(tt):
			return []piece{textPiece("["), identPiece(in), textPiece("]")}
		}
	}
	return []piece{textPiece("[<computed>]")}
}

// propContext names `key:` of an object literal, prefixed by the name of the
// object itself. Only identifier and computed keys add a part, as in Sentry
// (numeric keys such as webpack's module ids do not).
func (s *scanner) propContext(colon int32) []piece {
	key := colon - 1
	var kp []piece
	switch tt := s.tt(key); {
	case tt == js.CloseBracketToken:
		kp = []piece{textPiece("<computed>")}
	case js.IsIdentifierName(tt):
		kp = []piece{identPiece(key)}
	}
	obj := s.encl[colon]
	if obj < 0 {
		return kp
	}
	return join(s.exprContext(obj), kp)
}

// keyPieces renders a method or field key.
func (s *scanner) keyPieces(from, to int32) []piece {
	tt := s.tt(to)
	switch {
	case tt == js.CloseBracketToken || from != to:
		return []piece{textPiece("<computed>")}
	case js.IsIdentifierName(tt) || tt == js.PrivateIdentifierToken:
		return []piece{identPiece(to)}
	case tt == js.StringToken || js.IsNumeric(tt):
		return []piece{textPiece("<" + s.text(to) + ">")}
	}
	return nil
}

// className names the class whose body opens at body: its own name, after
// the name of what a class expression is assigned to.
func (s *scanner) className(body int32) []piece {
	c, ok := s.classTok[body]
	if !ok {
		return nil
	}
	// A named class expression assigned to something takes the name it is
	// assigned to: esbuild writes `var Shape = class _Shape {...}`, where
	// the inner name is its own invention.
	if ctx := s.exprContext(c); len(ctx) > 0 {
		return ctx
	}
	if tt := s.tt(c + 1); js.IsIdentifier(tt) || tt == js.YieldToken || tt == js.AwaitToken {
		return []piece{identPiece(c + 1)}
	}
	return nil
}

// name returns the name pieces of a function, and false for a class
// constructor, whose frames belong to the class scope ("new A").
func (s *scanner) name(f *fn) ([]piece, bool) {
	switch f.kind {
	case fnClass:
		n := s.className(f.open)
		if len(n) == 0 {
			return nil, true
		}
		return append([]piece{textPiece("new ")}, n...), true
	case fnMethod:
		key := s.keyPieces(f.keyFrom, f.keyTo)
		encl := s.encl[f.keyFrom]
		var ctx []piece
		if encl >= 0 && s.role[encl] == braceClass {
			if f.getSet == 0 && f.keyFrom == f.keyTo && s.tt(f.keyFrom-1) != js.StaticToken && s.text(f.keyTo) == "constructor" {
				return nil, false
			}
			ctx = s.className(encl)
		} else if encl >= 0 {
			ctx = s.exprContext(encl)
		}
		n := join(ctx, key)
		switch f.getSet {
		case js.GetToken:
			n = append([]piece{textPiece("get ")}, n...)
		case js.SetToken:
			n = append([]piece{textPiece("set ")}, n...)
		}
		return n, true
	case fnFunction:
		var ctx []piece
		switch s.tt(s.endTok(f) + 1) {
		case js.OpenParenToken, js.DotToken, js.OptChainToken, js.TemplateToken, js.TemplateStartToken:
			// `x=function(){}()` (terser drops the IIFE's parentheses).
		default:
			ctx = s.exprContext(f.start)
		}
		if f.name < 0 {
			return ctx, true
		}
		if len(ctx) > 1 {
			// Sentry keeps the owner and puts the own name last:
			// `o = {k: function f(){}}` is `o.f`.
			return append(ctx[:len(ctx)-1:len(ctx)-1], identPiece(f.name)), true
		}
		return []piece{identPiece(f.name)}, true
	default:
		return s.exprContext(f.start), true
	}
}

// index converts the functions into an Index.
func (s *scanner) index() *Index {
	type raw struct {
		start, end int32
		pieces     []piece
	}
	raws := make([]raw, 0, len(s.funcs))
	for i := range s.funcs {
		f := &s.funcs[i]
		pieces, ok := s.name(f)
		if !ok {
			continue
		}
		start, end := s.toks[f.start].off, s.toks[s.endTok(f)].end
		if end <= start {
			continue
		}
		raws = append(raws, raw{start, end, pieces})
	}
	sort.SliceStable(raws, func(i, j int) bool {
		if raws[i].start != raws[j].start {
			return raws[i].start < raws[j].start
		}
		return raws[i].end > raws[j].end
	})
	// Keep scopes properly nested even if an expression end was misjudged.
	var stack []int32
	for i := range raws {
		for len(stack) > 0 && raws[stack[len(stack)-1]].end <= raws[i].start {
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && raws[i].end > raws[stack[len(stack)-1]].end {
			raws[i].end = raws[stack[len(stack)-1]].end
		}
		stack = append(stack, int32(i))
	}

	offs := make([]int32, 0, 3*len(raws))
	for _, r := range raws {
		offs = append(offs, r.start, r.end)
		for _, p := range r.pieces {
			if p.tok >= 0 {
				offs = append(offs, s.toks[p.tok].off)
			}
		}
	}
	conv := newPositions(s.src, offs)

	ix := &Index{scopes: make([]scopeRec, 0, len(raws))}
	interned := map[string]string{}
	intern := func(t string) string {
		if v, ok := interned[t]; ok {
			return v
		}
		interned[t] = t
		ix.textSize += int64(len(t))
		return t
	}
	for _, r := range raws {
		rec := scopeRec{start: conv.at(r.start), end: conv.at(r.end), partsFrom: int32(len(ix.parts))}
		for _, p := range r.pieces {
			if p.tok >= 0 {
				ix.parts = append(ix.parts, partRec{text: intern(s.text(p.tok)), ident: true, at: conv.at(s.toks[p.tok].off)})
			} else {
				ix.parts = append(ix.parts, partRec{text: intern(p.text)})
			}
		}
		rec.partsTo = int32(len(ix.parts))
		ix.scopes = append(ix.scopes, rec)
	}
	ix.segments = buildSegments(ix.scopes)
	return ix
}
