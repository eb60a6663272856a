package sourcemaps

import (
	"context"
	"strings"

	"github.com/stacklens/stacklens/sourcemaps/mapping"
	"github.com/stacklens/stacklens/sourcemaps/scopes"
)

// scopeResult caches a parse failure too: a file our parser cannot read is
// tried once, then named by the fallbacks.
type scopeResult struct {
	idx *scopes.Index
	err error
}

func (s *Service) loadScopes(ctx context.Context, mod *module) *scopes.Index {
	if mod.text == nil || mod.minified == nil {
		return nil
	}
	sha := mod.minified.SHA256
	v, err := s.parsed.GetOrLoad(ctx, "scopes:"+sha, func(context.Context) (any, int64, error) {
		idx, err := scopes.Parse([]byte(mod.text.lines.text))
		if err != nil {
			s.logger.Info("sourcemaps: minified file not parsable for function names", "url", mod.minified.URL, "err", err)
			return &scopeResult{err: err}, 64, nil
		}
		return &scopeResult{idx: idx}, idx.SizeBytes(), nil
	})
	if err != nil {
		return nil
	}
	return v.(*scopeResult).idx
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
