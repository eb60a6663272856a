package sourcemaps

import (
	"context"
	"errors"
	"strconv"
	"unsafe"

	"github.com/stacklens/stacklens/sourcemaps/mapping"
	"github.com/stacklens/stacklens/storage"
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

// loadText returns the blob sha256 as a textFile through the "js-text"
// chain: memory, then the local disk cache, and only then a read of the
// blob, its sha256 check and a scan for lines and references.
func (s *Service) loadText(ctx context.Context, sha string) (*textFile, error) {
	return s.texts.Get(ctx, sha, func(ctx context.Context) (*textFile, int64, error) {
		data, err := s.blobs.ReadBlob(ctx, sha, s.cfg.MaxArtifactSize)
		if err != nil {
			return nil, 0, err
		}
		t := &textFile{
			sourceMappingURL: findSourceMappingURL(data),
			debugID:          findDebugIDComment(data),
		}
		// data is ReadBlob's own buffer, never written again: the text can
		// be a view of it rather than a second copy of a large bundle.
		t.lines = newLineIndex(unsafe.String(unsafe.SliceData(data), len(data)))
		slack := int64(cap(data) - len(data))
		return t, t.lines.sizeBytes() + slack + int64(len(t.sourceMappingURL)) + 64, nil
	})
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

// loadMapBlob returns the parsed map stored in blob sha through the
// derived-index chain: memory, then the disk cache, then the shared object
// store, and only then a read and parse of the blob. A map that does not
// parse is remembered in memory (the error, not an index).
func (s *Service) loadMapBlob(ctx context.Context, sha string) (*mapping.Map, error) {
	if err, ok := s.badMaps.Get(sha); ok {
		return nil, err
	}
	return s.maps.Get(ctx, sha, func(ctx context.Context) (*mapping.Map, int64, error) {
		data, err := s.blobs.ReadBlob(ctx, sha, s.cfg.MaxArtifactSize)
		if err != nil {
			return nil, 0, err // a storage failure is not cached
		}
		m, err := mapping.Parse(data)
		if err != nil {
			s.badMaps.Add(sha, err, int64(len(err.Error()))+64)
			return nil, 0, err
		}
		return m, m.SizeBytes(), nil
	})
}

// errNoContent: a source's content that does not inflate (a damaged
// derived index); not cached, the frame goes without context.
var errNoContent = errors.New("source content unreadable")

// storedRecord is a FileRecord as the object store keeps it: for a file
// that is not a map, with the references its content makes (computed at
// upload, a function of the blob), so that a replica can look for the map
// while the minified file itself is still downloading (see prefetchMap;
// the file's own references decide). The API never shows Refs; records
// written before they existed have none.
type storedRecord struct {
	FileRecord
	Refs *textRefs `json:"refs,omitempty"`
	// cached: lookupStored answered from the record cache, as it does for
	// a module whose artifacts are most likely in memory too.
	cached bool
}

// textRefs are what loadText finds in a text file's content.
type textRefs struct {
	SourceMappingURL string `json:"source_mapping_url,omitempty"`
	DebugID          string `json:"debug_id,omitempty"`
}

func refsOf(data []byte) *textRefs {
	return &textRefs{SourceMappingURL: findSourceMappingURL(data), DebugID: findDebugIDComment(data)}
}

// lookupStored reads the record at key through the record caches: records
// found are kept for RecordTTL, keys not found for NegativeTTL. A storage
// failure is returned and not cached. The record is nil when there is
// none.
func (s *Service) lookupStored(ctx context.Context, key string) (*storedRecord, error) {
	if s.records != nil {
		if rec, ok := s.records.Get(key); ok {
			rec.cached = true
			return &rec, nil
		}
	}
	if s.missing != nil && s.missing.Has(key) {
		return nil, nil
	}
	// Epochs first: an upload landing during the read must not be
	// shadowed by the stale answer.
	var negEpoch, recEpoch uint64
	if s.missing != nil {
		negEpoch = s.missing.Epoch()
	}
	if s.records != nil {
		recEpoch = s.records.Epoch()
	}
	var rec storedRecord
	if err := s.blobs.GetRecord(ctx, key, &rec); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			if s.missing != nil {
				s.missing.AddSince(key, negEpoch)
			}
			return nil, nil
		}
		return nil, err
	}
	if s.records != nil {
		s.records.AddSince(key, rec, recEpoch)
	}
	return &rec, nil
}

// recordsCached reports whether the record cache holds any of keys: the
// module they name was looked up moments ago.
func (s *Service) recordsCached(keys []string) bool {
	if s.records == nil {
		return false
	}
	for _, k := range keys {
		if s.records.Contains(k) {
			return true
		}
	}
	return false
}

// invalidateProject forgets every cached record look-up of project: an
// upload just changed what they would find.
func (s *Service) invalidateProject(project string) {
	prefix := projectPrefix(project)
	if s.missing != nil {
		s.missing.InvalidatePrefix(prefix)
	}
	if s.records != nil {
		s.records.InvalidatePrefix(prefix)
	}
}

// sourceLines returns source i of a map's sourcesContent as lines, split
// once per process.
func (s *Service) sourceLines(ctx context.Context, mapKey string, m *mapping.Map, i, lineno int) (*lineIndex, bool) {
	// The lines a context shows: a map from the derived-index chain
	// inflates only the chunk(s) of the source that hold them.
	r, ok := m.ContentRange(i, lineno-1-contextLines, lineno-1+contextLines)
	if !ok {
		return nil, false
	}
	key := "src:" + mapKey + ":" + strconv.Itoa(i) + ":" + strconv.Itoa(r.First) + ":" + strconv.Itoa(r.Last)
	v, err := s.parsed.GetOrLoad(ctx, key, func(context.Context) (any, int64, error) {
		p, ok := m.ContentText(r)
		if !ok {
			return nil, 0, errNoContent
		}
		x := newLineIndex(p.Text)
		x.first = p.FirstLine
		if p.Copy {
			return x, x.sizeBytes(), nil
		}
		// The text is the map's (for a map from the derived-index chain,
		// a view of its mapped file, see mapping.IndexCodec): the index
		// holds the map so that the text stays valid, and only the line
		// starts are new.
		x.owner = m
		return x, int64(cap(x.starts))*4 + 64, nil
	})
	if err != nil {
		return nil, false
	}
	return v.(*lineIndex), true
}
