package sourcemaps

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stacklens/stacklens/sourcemaps/mapping"
	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/blobstore"
)

const (
	maxURLLength      = 8 << 10
	maxManifestSize   = 64 << 20
	maxHeaderValueLen = 8 << 10
)

// Record keys, exactly as DESIGN.md's "Object storage layout" says.

func projectPrefix(project string) string {
	return "p/" + blobstore.KeyPart(project) + "/js/"
}

func debugKey(project, debugID, kind string) string {
	return projectPrefix(project) + "debug/" + debugID + "/" + kind + ".json"
}

// debugSourceKey indexes an original source that came with a debug-ID
// artifact (same bundle), by its URL, so source context can find it.
func debugSourceKey(project, debugID, url string) string {
	return projectPrefix(project) + "debug/" + debugID + "/sources/" + urlHash(url) + ".json"
}

func releasePrefix(project, release string) string {
	return projectPrefix(project) + "release/" + blobstore.KeyPart(release) + "/"
}

func releaseKey(project, release, dist, url string) string {
	d := "_"
	if dist != "" {
		d = blobstore.KeyPart(dist)
	}
	return releasePrefix(project, release) + d + "/" + urlHash(url) + ".json"
}

func urlHash(url string) string {
	h := sha1.Sum([]byte(url))
	return hex.EncodeToString(h[:])
}

// kindOf names the record file of an artifact type under debug/<id>/.
func kindOf(t ArtifactType) string {
	switch t {
	case TypeSourceMap:
		return "map"
	case TypeSource:
		return "source"
	default:
		return "minified"
	}
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidInput, fmt.Sprintf(format, args...))
}

// inspected is what reading an artifact's content told us.
type inspected struct {
	typ     ArtifactType
	debugID string
}

// inspect detects an artifact's type (unless given) and its debug ID, and
// rejects content that cannot be what it claims.
func inspect(data []byte, given ArtifactType, name string) (inspected, error) {
	var in inspected
	if len(data) == 0 {
		return in, invalidf("%s: empty file", name)
	}
	switch given {
	case "", TypeMinified, TypeSourceMap, TypeSource, TypeRAMBundle:
	default:
		return in, invalidf("%s: unknown artifact type %q (want minified_source, source_map, source or indexed_ram_bundle)", name, given)
	}
	if given != TypeRAMBundle && (bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data)) {
		return in, invalidf("%s: not a UTF-8 text file (binary content); JS artifacts are text", name)
	}
	isMap := given == TypeSourceMap || (given == "" && looksLikeMap(data))
	if isMap {
		m, err := mapping.Parse(data)
		if err != nil {
			return in, invalidf("%s: not a valid source map: %v", name, err)
		}
		in.typ = TypeSourceMap
		in.debugID, _ = normalizeDebugID(m.DebugID())
		return in, nil
	}
	in.typ = given
	in.debugID = findDebugIDComment(data)
	if in.typ == "" {
		if in.debugID != "" || findSourceMappingURL(data) != "" {
			in.typ = TypeMinified
		} else {
			in.typ = TypeSource
		}
	}
	return in, nil
}

// looksLikeMap reports whether content is a JSON object naming the keys of
// a version 3 source map (or index map); such content must then parse.
func looksLikeMap(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	t = bytes.TrimPrefix(t, []byte(")]}'"))
	t = bytes.TrimLeft(t, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		return false
	}
	return bytes.Contains(data, []byte(`"mappings"`)) || bytes.Contains(data, []byte(`"sections"`))
}

// readLimited reads all of r, failing with a wrapped blobstore.ErrTooLarge
// when it is longer than max.
func readLimited(r io.Reader, max int64, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("sourcemaps: reading %s: %w", name, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("sourcemaps: %s is larger than %d bytes: %w", name, max, blobstore.ErrTooLarge)
	}
	return data, nil
}

// PutFile stores one JS artifact: the blob first, then the records naming
// it (by debug ID when it has one, by release/dist/URL when a release is
// given). Content is checked before anything is written.
func (s *Service) PutFile(ctx context.Context, project string, f FileUpload, body io.Reader) (FileRecord, error) {
	if project == "" {
		return FileRecord{}, invalidf("project is required")
	}
	if len(f.URL) > maxURLLength {
		return FileRecord{}, invalidf("url is longer than %d bytes", maxURLLength)
	}
	name := f.URL
	if name == "" {
		name = "upload"
	}
	data, err := readLimited(body, s.cfg.MaxArtifactSize, name)
	if err != nil {
		return FileRecord{}, err
	}
	in, err := inspect(data, f.Type, name)
	if err != nil {
		return FileRecord{}, err
	}
	debugID := in.debugID
	if f.DebugID != "" {
		id, ok := normalizeDebugID(f.DebugID)
		if !ok {
			return FileRecord{}, invalidf("debug_id %q is not a UUID", f.DebugID)
		}
		debugID = id
	}
	if f.URL == "" && (debugID == "" || f.Release != "") {
		if f.Release != "" {
			return FileRecord{}, invalidf("url is required to upload a file to release %q (e.g. url=~/static/js/app.min.js)", f.Release)
		}
		return FileRecord{}, invalidf("%s has no debug ID (no //# debugId= comment or debugId field): give its url and a release, or inject debug IDs with `sentry-cli sourcemaps inject`", name)
	}
	if f.Release == "" && f.Dist != "" {
		return FileRecord{}, invalidf("dist %q given without a release", f.Dist)
	}
	if f.Release != "" {
		if err := ValidRelease(f.Release); err != nil {
			return FileRecord{}, err
		}
	}
	headers := map[string]string{}
	if f.SourceMap != "" {
		if len(f.SourceMap) > maxHeaderValueLen {
			return FileRecord{}, invalidf("sourcemap header is longer than %d bytes", maxHeaderValueLen)
		}
		headers["sourcemap"] = f.SourceMap
	}
	if debugID != "" {
		headers["debug-id"] = debugID
	}
	blob, err := s.blobs.PutBlob(ctx, bytes.NewReader(data), s.cfg.MaxArtifactSize)
	if err != nil {
		return FileRecord{}, fmt.Errorf("sourcemaps: storing %s: %w", name, err)
	}
	rec := FileRecord{
		URL: f.URL, Type: in.typ, SHA256: blob.SHA256, Size: blob.Size, DebugID: debugID,
		Release: f.Release, Dist: f.Dist, Headers: headers,
		Uploaded: time.Now().UTC().Format(time.RFC3339),
	}
	if len(rec.Headers) == 0 {
		rec.Headers = nil
	}
	var refs *textRefs
	if rec.Type != TypeSourceMap {
		refs = refsOf(data)
	}
	if err := s.putRecords(ctx, project, rec, refs, nil); err != nil {
		return FileRecord{}, err
	}
	return rec, nil
}

// putRecords writes the records of one stored artifact. extraDebugIDs are
// the debug IDs of minified files uploaded with a source (same bundle), so
// the source is found through them.
func (s *Service) putRecords(ctx context.Context, project string, rec FileRecord, refs *textRefs, extraDebugIDs []string) error {
	stored := storedRecord{FileRecord: rec, Refs: refs}
	// Whatever happens below, cached look-ups of the project may now be
	// stale (a record written before a later failure is visible too).
	defer s.invalidateProject(project)
	if rec.DebugID != "" {
		if err := s.blobs.PutRecord(ctx, debugKey(project, rec.DebugID, kindOf(rec.Type)), stored); err != nil {
			return fmt.Errorf("sourcemaps: recording %s: %w", rec.URL, err)
		}
	}
	if rec.Type == TypeSource && rec.URL != "" {
		ids := extraDebugIDs
		if rec.DebugID != "" {
			ids = append([]string{rec.DebugID}, ids...)
		}
		for _, id := range ids {
			if err := s.blobs.PutRecord(ctx, debugSourceKey(project, id, rec.URL), stored); err != nil {
				return fmt.Errorf("sourcemaps: recording %s: %w", rec.URL, err)
			}
		}
	}
	if rec.Release != "" {
		if err := s.blobs.PutRecord(ctx, releaseKey(project, rec.Release, rec.Dist, rec.URL), stored); err != nil {
			return fmt.Errorf("sourcemaps: recording %s: %w", rec.URL, err)
		}
	}
	return nil
}

// bundleManifest is sentry-cli's manifest.json.
type bundleManifest struct {
	Files   map[string]bundleFile `json:"files"`
	DebugID string                `json:"debug_id"`
	Release string                `json:"release"`
	Dist    string                `json:"dist"`
}

type bundleFile struct {
	Type    string            `json:"type"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

// header returns a manifest header by case-insensitive name.
func (f bundleFile) header(name string) string {
	for k, v := range f.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// PutBundle stores a sentry-cli artifact bundle (a zip with manifest.json):
// every file as a blob, indexed by its debug ID and, when the bundle (or the
// caller) names a release, by release/dist/URL. Decompression is bounded by
// MaxBundleSize in total and MaxArtifactSize per file, counting the bytes
// actually inflated, not the sizes the zip declares.
func (s *Service) PutBundle(ctx context.Context, project, release, dist string, zr io.ReaderAt, size int64) (BundleSummary, error) {
	if project == "" {
		return BundleSummary{}, invalidf("project is required")
	}
	r, err := zip.NewReader(zr, size)
	if err != nil {
		return BundleSummary{}, invalidf("artifact bundle is not a zip file: %v", err)
	}
	if int64(len(r.File)) > s.cfg.MaxBundleFiles+1 {
		return BundleSummary{}, invalidf("artifact bundle has %d entries, more than the limit of %d", len(r.File), s.cfg.MaxBundleFiles)
	}
	byName := make(map[string]*zip.File, len(r.File))
	for _, zf := range r.File {
		if _, dup := byName[zf.Name]; dup {
			return BundleSummary{}, invalidf("artifact bundle has two entries named %q", zf.Name)
		}
		byName[zf.Name] = zf
	}
	budget := s.cfg.MaxBundleSize
	readEntry := func(zf *zip.File, max int64) ([]byte, error) {
		rc, err := zf.Open()
		if err != nil {
			return nil, invalidf("artifact bundle entry %q: %v", zf.Name, err)
		}
		defer rc.Close()
		limit := min(max, budget)
		data, err := io.ReadAll(io.LimitReader(rc, limit+1))
		if err != nil {
			return nil, invalidf("artifact bundle entry %q is corrupt: %v", zf.Name, err)
		}
		if int64(len(data)) > limit {
			if limit == budget {
				return nil, fmt.Errorf("sourcemaps: artifact bundle decompresses to more than %d bytes: %w", s.cfg.MaxBundleSize, blobstore.ErrTooLarge)
			}
			return nil, fmt.Errorf("sourcemaps: artifact bundle entry %q is larger than %d bytes: %w", zf.Name, max, blobstore.ErrTooLarge)
		}
		budget -= int64(len(data))
		return data, nil
	}
	mf, ok := byName["manifest.json"]
	if !ok {
		return BundleSummary{}, invalidf("artifact bundle has no manifest.json (expected the sentry-cli bundle format)")
	}
	raw, err := readEntry(mf, maxManifestSize)
	if err != nil {
		return BundleSummary{}, err
	}
	var man bundleManifest
	if err := json.Unmarshal(raw, &man); err != nil {
		return BundleSummary{}, invalidf("artifact bundle manifest.json is not valid JSON: %v", err)
	}
	if len(man.Files) == 0 {
		return BundleSummary{}, invalidf("artifact bundle manifest.json lists no files")
	}
	if int64(len(man.Files)) > s.cfg.MaxBundleFiles {
		return BundleSummary{}, invalidf("artifact bundle manifest lists %d files, more than the limit of %d", len(man.Files), s.cfg.MaxBundleFiles)
	}
	if man.Release != "" {
		release = man.Release
	}
	if man.Dist != "" {
		dist = man.Dist
	}
	if release == "" && dist != "" {
		dist = ""
	}
	if release != "" {
		if err := ValidRelease(release); err != nil {
			return BundleSummary{}, err
		}
	}
	if len(release) > maxURLLength || len(dist) > maxURLLength {
		return BundleSummary{}, invalidf("artifact bundle release or dist is longer than %d bytes", maxURLLength)
	}

	paths := make([]string, 0, len(man.Files))
	for p := range man.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)

	// Store every blob first; records only once all content is safe.
	recs := make([]FileRecord, 0, len(paths))
	recRefs := make([]*textRefs, 0, len(paths))
	now := time.Now().UTC().Format(time.RFC3339)
	var minifiedIDs []string
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return BundleSummary{}, err
		}
		bf := man.Files[p]
		if len(bf.URL) > maxURLLength || len(p) > maxURLLength {
			return BundleSummary{}, invalidf("artifact bundle file %q: url or path longer than %d bytes", truncate(p, 80), maxURLLength)
		}
		if len(bf.Headers) > 64 {
			return BundleSummary{}, invalidf("artifact bundle file %q has %d headers", p, len(bf.Headers))
		}
		zf, ok := byName[p]
		if !ok {
			return BundleSummary{}, invalidf("artifact bundle manifest names %q, which the zip does not contain", p)
		}
		typ := ArtifactType(bf.Type)
		switch typ {
		case TypeMinified, TypeSourceMap, TypeSource, TypeRAMBundle:
		case "":
		default:
			return BundleSummary{}, invalidf("artifact bundle file %q has unknown type %q", p, bf.Type)
		}
		data, err := readEntry(zf, s.cfg.MaxArtifactSize)
		if err != nil {
			return BundleSummary{}, err
		}
		debugID := ""
		if h := bf.header("debug-id"); h != "" {
			id, ok := normalizeDebugID(h)
			if !ok {
				return BundleSummary{}, invalidf("artifact bundle file %q: debug-id %q is not a UUID", p, h)
			}
			debugID = id
		}
		if typ == "" || (debugID == "" && typ != TypeSource) {
			in, err := inspectLenient(data, typ, p)
			if err != nil {
				return BundleSummary{}, err
			}
			typ = in.typ
			if debugID == "" {
				debugID = in.debugID
			}
		}
		url := bf.URL
		if url == "" {
			url = "~/" + strings.TrimPrefix(path.Clean("/"+p), "/")
		}
		headers := map[string]string{}
		if sm := bf.header("sourcemap"); sm != "" {
			headers["sourcemap"] = sm
		} else if sm := bf.header("x-sourcemap"); sm != "" {
			headers["sourcemap"] = sm
		}
		if debugID != "" {
			headers["debug-id"] = debugID
		}
		blob, err := s.blobs.PutBlob(ctx, bytes.NewReader(data), s.cfg.MaxArtifactSize)
		if err != nil {
			return BundleSummary{}, fmt.Errorf("sourcemaps: storing bundle file %s: %w", p, err)
		}
		rec := FileRecord{URL: url, Type: typ, SHA256: blob.SHA256, Size: blob.Size, DebugID: debugID,
			Release: release, Dist: dist, Headers: headers, Uploaded: now}
		if len(rec.Headers) == 0 {
			rec.Headers = nil
		}
		if typ == TypeMinified && debugID != "" {
			minifiedIDs = append(minifiedIDs, debugID)
		}
		var refs *textRefs
		if typ != TypeSourceMap {
			refs = refsOf(data)
		}
		recs = append(recs, rec)
		recRefs = append(recRefs, refs)
	}
	for i, rec := range recs {
		if err := s.putRecords(ctx, project, rec, recRefs[i], minifiedIDs); err != nil {
			return BundleSummary{}, err
		}
	}
	return BundleSummary{Release: release, Dist: dist, Files: recs}, nil
}

// inspectLenient is inspect for bundle members: a broken map inside a
// bundle is stored anyway (Sentry does) and reported when a frame needs it.
func inspectLenient(data []byte, given ArtifactType, name string) (inspected, error) {
	in, err := inspect(data, given, name)
	if err == nil {
		return in, nil
	}
	if given != "" {
		return inspected{typ: given}, nil
	}
	if looksLikeMap(data) {
		return inspected{typ: TypeSourceMap}, nil
	}
	return inspected{}, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ListReleaseFiles lists every artifact recorded for a release (all dists),
// sorted by dist then URL.
func (s *Service) ListReleaseFiles(ctx context.Context, project, release string) ([]FileRecord, error) {
	if project == "" || release == "" {
		return nil, invalidf("project and release are required")
	}
	var out []FileRecord
	err := s.blobs.ListRecords(ctx, releasePrefix(project, release), func(key string) error {
		var rec FileRecord
		if err := s.blobs.GetRecord(ctx, key, &rec); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return nil // deleted while listing
			}
			return err
		}
		out = append(out, rec)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sourcemaps: listing release %q: %w", release, err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Dist != out[j].Dist {
			return out[i].Dist < out[j].Dist
		}
		return out[i].URL < out[j].URL
	})
	return out, nil
}
