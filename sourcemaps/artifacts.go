package sourcemaps

import (
	"context"
	"strconv"

	"github.com/stacklens/stacklens/sourcemaps/mapping"
)

// textFile is a loaded minified file or original source, ready for context
// lines, with the references found in it.
type textFile struct {
	lines            *lineIndex
	sourceMappingURL string
	debugID          string
}

// mapResult caches a parse failure too, so a broken map is read once.
type mapResult struct {
	m   *mapping.Map
	err error
}

// loadText returns the blob sha256 as a textFile, parsed once per process.
func (s *Service) loadText(ctx context.Context, sha string) (*textFile, error) {
	v, err := s.parsed.GetOrLoad(ctx, "text:"+sha, func(ctx context.Context) (any, int64, error) {
		data, err := s.blobs.ReadBlob(ctx, sha, s.cfg.MaxArtifactSize)
		if err != nil {
			return nil, 0, err
		}
		t := &textFile{
			lines:            newLineIndex(string(data)),
			sourceMappingURL: findSourceMappingURL(data),
			debugID:          findDebugIDComment(data),
		}
		return t, t.lines.sizeBytes() + int64(len(t.sourceMappingURL)) + 64, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*textFile), nil
}

// loadMap returns the parsed map stored in blob sha (or, when data is not
// nil, embedded in a data: URL, cached under key).
func (s *Service) loadMap(ctx context.Context, key string, read func(ctx context.Context) ([]byte, error)) (*mapping.Map, error) {
	v, err := s.parsed.GetOrLoad(ctx, "map:"+key, func(ctx context.Context) (any, int64, error) {
		data, err := read(ctx)
		if err != nil {
			return nil, 0, err // a storage failure is not cached
		}
		m, perr := mapping.Parse(data)
		if perr != nil {
			msg := perr.Error()
			return &mapResult{err: perr}, int64(len(msg)) + 64, nil
		}
		return &mapResult{m: m}, m.SizeBytes(), nil
	})
	if err != nil {
		return nil, err
	}
	r := v.(*mapResult)
	return r.m, r.err
}

func (s *Service) loadMapBlob(ctx context.Context, sha string) (*mapping.Map, error) {
	return s.loadMap(ctx, sha, func(ctx context.Context) ([]byte, error) {
		return s.blobs.ReadBlob(ctx, sha, s.cfg.MaxArtifactSize)
	})
}

// sourceLines returns source i of a map's sourcesContent as lines, split
// once per process.
func (s *Service) sourceLines(ctx context.Context, mapKey string, m *mapping.Map, i int) (*lineIndex, bool) {
	content, ok := m.SourceContent(i)
	if !ok {
		return nil, false
	}
	v, err := s.parsed.GetOrLoad(ctx, "src:"+mapKey+":"+strconv.Itoa(i), func(context.Context) (any, int64, error) {
		x := newLineIndex(content)
		// The text itself is shared with the map; only the index is new.
		return x, int64(cap(x.starts))*4 + 64, nil
	})
	if err != nil {
		return nil, false
	}
	return v.(*lineIndex), true
}
