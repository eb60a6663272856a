package sourcemaps

import (
	"context"
	"strings"

	"github.com/stacklens/stacklens/sourcemaps/mapping"
	"github.com/stacklens/stacklens/sourcemaps/scopes"
)

// loadScopes returns the function scopes of the module's minified file
// through the derived-index chain ("js-scopes"); nil when there is no
// minified file or our parser cannot read it (that failure is stored too:
// a file is tried once).
func (s *Service) loadScopes(ctx context.Context, mod *module) *scopeTable {
	if mod.text == nil || mod.minified == nil {
		return nil
	}
	t, err := s.scopeIdx.Get(ctx, mod.minified.SHA256, func(context.Context) (*scopeTable, int64, error) {
		idx, err := scopes.Parse([]byte(mod.text.lines.text))
		if err != nil {
			s.logger.Info("sourcemaps: minified file not parsable for function names", "url", mod.minified.URL, "err", err)
			t := &scopeTable{failed: true}
			t.finish()
			return t, t.size, nil
		}
		t := newScopeTable(idx)
		return t, t.size, nil
	})
	if err != nil || t.failed {
		return nil
	}
	return t
}

// functionNameAt names the original function enclosing a minified
// position: Metro function maps when the map has them, else the innermost
// scope of the minified file, each identifier of its name mapped back
// through the segment that starts at it. found is false for top-level code
// (or when there is no minified file to parse).
func (s *Service) functionNameAt(ctx context.Context, mod *module, line, col int, tok mapping.Token) (string, bool) {
	m := mod.smap
	if tok.Source >= 0 {
		if name, ok := m.FunctionNameAt(tok.Source, tok.SrcLine, tok.SrcCol); ok && name != "" {
			return name, true
		}
	}
	idx := s.loadScopes(ctx, mod)
	if idx == nil {
		return "", false
	}
	sc, ok := idx.Innermost(scopes.Pos{Line: line, Col: col})
	if !ok {
		return "", false
	}
	if len(sc.Name) == 0 {
		return "<anonymous>", true
	}
	var b strings.Builder
	for _, p := range sc.Name {
		text := p.Text
		if p.Ident {
			if t, ok := m.TokenAt(p.At.Line, p.At.Col); ok && t.Name >= 0 {
				text = m.Name(t.Name)
			}
		}
		b.WriteString(text)
	}
	name := b.String()
	// dart2js names async bodies $async$foo; the mapping at the position
	// carries the real name.
	if strings.HasPrefix(name, "$async$") && tok.Name >= 0 {
		return m.Name(tok.Name), true
	}
	return name, true
}
