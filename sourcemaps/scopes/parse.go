package scopes

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"unsafe"

	"github.com/tdewolff/parse/v2"
	"github.com/tdewolff/parse/v2/js"
)

// maxSource keeps every byte offset in an int32.
const maxSource = 1<<31 - 2

// Parse parses minified JS (script, ES module or CommonJS) and indexes its
// function scopes. It never panics; on a syntax error it returns an error
// wrapping ErrParse.
//
// The tdewolff parser validates the source and decides, with the full
// grammar, which slashes start regular expressions; its AST carries no
// positions, so scopes and names come from a second pass over the tokens of
// the same lexer, whose function count is checked against the AST's.
func Parse(src []byte) (*Index, error) {
	if len(src) > maxSource {
		return nil, fmt.Errorf("%w: source of %d bytes is too large", ErrParse, len(src))
	}
	// The parse input writes a NUL past the end of its buffer: give it a copy
	// with room for that, so the caller's bytes are never touched, and so
	// token slices can be located in it.
	buf := make([]byte, len(src), len(src)+1)
	copy(buf, src)

	body := 0
	if len(buf) >= 2 && buf[0] == '#' && buf[1] == '!' {
		body = shebangEnd(buf)
	}
	ast, err := js.Parse(parse.NewInputBytes(buf), js.Options{})
	if err != nil {
		var perr *parse.Error
		if errors.As(err, &perr) {
			// perr.Error() quotes the whole line, megabytes in a minified file.
			return nil, fmt.Errorf("%w: %s at line %d, column %d", ErrParse, perr.Message, perr.Line, perr.Column)
		}
		return nil, fmt.Errorf("%w: %v", ErrParse, err)
	}
	census := astCensus{base: unsafe.SliceData(buf), size: len(buf)}
	js.Walk(&census, ast)
	ast = nil
	sort.Slice(census.regexps, func(i, j int) bool { return census.regexps[i] < census.regexps[j] })
	sort.Slice(census.methodKeys, func(i, j int) bool { return census.methodKeys[i] < census.methodKeys[j] })

	toks, err := tokenize(buf, body, census.regexps)
	if err != nil {
		return nil, err
	}
	sc := newScanner(buf, toks)
	sc.methodKeys = census.methodKeys
	if err := sc.structure(); err != nil {
		return nil, err
	}
	if got := len(sc.funcs); got != census.functions {
		return nil, fmt.Errorf("%w: scanner found %d functions and classes, parser %d", ErrParse, got, census.functions)
	}
	return sc.index(), nil
}

func shebangEnd(b []byte) int {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\n', '\r':
			return i
		case 0xE2:
			if i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xA8 || b[i+2] == 0xA9) {
				return i
			}
		}
	}
	return len(b)
}

// astCensus counts the parser's functions and classes and locates its
// regular expression literals and the keys of its methods, whose bytes are
// slices of the parse buffer.
type astCensus struct {
	base       *byte
	size       int
	functions  int
	regexps    []int32
	methodKeys []int32 // identifier-name keys of class and object methods
}

// offset locates data in the parse buffer.
func (c *astCensus) offset(data []byte) (int32, bool) {
	if len(data) == 0 {
		return 0, false
	}
	off := uintptr(unsafe.Pointer(unsafe.SliceData(data))) - uintptr(unsafe.Pointer(c.base))
	if off >= uintptr(c.size) {
		return 0, false
	}
	return int32(off), true
}

func (c *astCensus) Enter(n js.INode) js.IVisitor {
	switch n := n.(type) {
	case *js.MethodDecl:
		c.functions++
		// Keys such as `if`, `for` or `function` are ambiguous to the token
		// scanner: `if(a){}` is a statement or, in a class body or object
		// literal, a method named "if".
		if k := n.Name.Literal; n.Name.Computed == nil && n.Name.Private == nil && js.IsIdentifierName(k.TokenType) {
			if off, ok := c.offset(k.Data); ok {
				c.methodKeys = append(c.methodKeys, off)
			}
		}
	case *js.FuncDecl, *js.ArrowFunc, *js.ClassDecl:
		c.functions++
	case *js.LiteralExpr:
		if n.TokenType == js.RegExpToken {
			if off, ok := c.offset(n.Data); ok {
				c.regexps = append(c.regexps, off)
			}
		}
	}
	return c
}

func (c *astCensus) Exit(js.INode) {}

// token is one significant token (no whitespace or comments).
type token struct {
	tt       js.TokenType
	nl       bool  // a line terminator (or a comment holding one) precedes it
	off, end int32 // byte range in the source
}

// tokenize lexes buf[from:] with the parser's lexer, reading a slash as a
// regular expression exactly where the parser did.
func tokenize(buf []byte, from int, regexps []int32) ([]token, error) {
	l := js.NewLexer(parse.NewInputBytes(buf[from:]))
	toks := make([]token, 0, len(buf)/4+16)
	off := int32(from)
	nl := false
	ri := 0
	for {
		tt, data := l.Next()
		switch tt {
		case js.ErrorToken:
			if err := l.Err(); err != nil && err != io.EOF {
				return nil, fmt.Errorf("%w: lexer: %v", ErrParse, lexMessage(err))
			}
			return toks, nil
		case js.WhitespaceToken, js.CommentToken:
		case js.LineTerminatorToken, js.CommentLineTerminatorToken:
			nl = true
		default:
			if tt == js.DivToken || tt == js.DivEqToken {
				for ri < len(regexps) && regexps[ri] < off {
					ri++
				}
				if ri < len(regexps) && regexps[ri] == off {
					tt, data = l.RegExp()
					if tt == js.ErrorToken {
						return nil, fmt.Errorf("%w: lexer: %v", ErrParse, lexMessage(l.Err()))
					}
					// RegExp re-reads from the slash, so data starts at off.
					toks = append(toks, token{tt: tt, nl: nl, off: off, end: off + int32(len(data))})
					off += int32(len(data))
					nl = false
					continue
				}
			}
			toks = append(toks, token{tt: tt, nl: nl, off: off, end: off + int32(len(data))})
			nl = false
		}
		off += int32(len(data))
	}
}

func lexMessage(err error) string {
	var perr *parse.Error
	if errors.As(err, &perr) {
		return fmt.Sprintf("%s at line %d, column %d", perr.Message, perr.Line, perr.Column)
	}
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}
