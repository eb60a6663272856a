// Package debugstore keeps a project's native debug files in object storage
// and finds them again for symbolication.
//
// Layout (under the blobstore's content-addressed blobs):
//
//	p/<project>/debug/<debug_id>/<sha256>.json   debugfiles.FileMeta of one stored file
//	p/<project>/code/<code_id>.json              {"debug_id": …}
//
// DESIGN.md's p/<project>/debug/<debug_id>/<kind>.json cannot hold both a
// stripped binary and its --only-keep-debug companion (same id, same kind),
// so records are named by content hash instead; uploading the same bytes
// again finds its record and is a no-op. A stripped binary's .gnu_debuglink
// companion needs no extra index: it carries the same build-id, so lookup by
// debug_id finds both, and Find prefers the one with DWARF.
package debugstore

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/stacklens/stacklens/cache"
	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/debugfiles/symbolizer"
	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/blobstore"
)

// Config bounds uploads and the parsed-module cache.
type Config struct {
	MaxUploadSize   int64 // bytes of one upload body (raw object or zip)
	MaxZipEntries   int64 // entries in one zip
	MaxDecompressed int64 // bytes extracted from one zip, counted as read; also the most the compressed debug sections of one object may declare
	CacheBytes      int64 // parsed modules kept in memory
	TempDir         string
	// NegativeTTL is how long "no debug file for this debug_id/code_id"
	// is remembered (an upload to the project on this replica forgets it at
	// once; other replicas see the upload after at most this long). A
	// negative value disables the negative cache.
	NegativeTTL time.Duration
	// RecordTTL is how long the records found for a debug_id/code_id are
	// reused without reading them again (an upload or delete in the project
	// on this replica forgets them at once). Negative: always read.
	RecordTTL time.Duration
}

// DefaultConfig accepts 4 GiB uploads (DESIGN: at least 2 GiB), zips of up
// to 10,000 entries expanding to 8 GiB, and caches 1 GiB of modules.
func DefaultConfig() Config {
	return Config{MaxUploadSize: 4 << 30, MaxZipEntries: 10000, MaxDecompressed: 8 << 30, CacheBytes: 1 << 30, NegativeTTL: 30 * time.Second, RecordTTL: 10 * time.Second}
}

// RegisterFlags adds -debugfiles.* flags that set c (defaults from c).
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.Int64Var(&c.MaxUploadSize, "debugfiles.max-upload-size", c.MaxUploadSize, "largest debug-file upload body in bytes")
	f.Int64Var(&c.MaxZipEntries, "debugfiles.max-zip-entries", c.MaxZipEntries, "most entries in one uploaded zip")
	f.Int64Var(&c.MaxDecompressed, "debugfiles.max-decompressed", c.MaxDecompressed, "most bytes extracted from one uploaded zip, and most bytes the compressed debug sections of one object file may inflate to")
	f.Int64Var(&c.CacheBytes, "debugfiles.cache-bytes", c.CacheBytes, "memory for parsed debug files")
	f.StringVar(&c.TempDir, "debugfiles.tmp-dir", c.TempDir, "directory for spooling uploads and downloaded debug files (default: the system's)")
	f.DurationVar(&c.RecordTTL, "debugfiles.record-ttl", c.RecordTTL, "how long the debug files found for a debug_id/code_id are reused before the records are read again (an upload or delete on this replica forgets them at once; negative: always read)")
	f.DurationVar(&c.NegativeTTL, "debugfiles.negative-ttl", c.NegativeTTL, "how long a look-up that found no debug file is remembered (an upload on this replica forgets it at once; negative: never remembered)")
}

// OpenFunc opens an ELF, Mach-O (thin) or PE object for lookups.
type OpenFunc func(r io.ReaderAt, size int64, meta debugfiles.FileMeta) (debugfiles.Module, error)

// Store uploads, lists and finds debug files. Safe for concurrent use.
type Store struct {
	cfg    Config
	blobs  *blobstore.Store
	logger *slog.Logger
	// mem holds every parsed module (one byte budget); symcaches is the
	// derived-index chain over it for ELF, Mach-O and PE objects, while
	// Breakpad files are only ever parsed into mem.
	mem       *cache.Memory[*nativeModule]
	symcaches *cache.Derived[*nativeModule]
	missing   *cache.Negative // nil when NegativeTTL < 0
	// records remembers, for RecordTTL, the records Find found for a
	// debug_id/code_id: without it every Find lists and reads records in
	// the object store, which over S3 costs more than the lookups
	// themselves. nil when RecordTTL < 0.
	records *cache.Expiring[[]debugfiles.FileMeta]
	// OpenNative is symbolizer.Open; tests may replace it before first use.
	OpenNative OpenFunc
	now        func() time.Time
}

var _ debugfiles.Finder = (*Store)(nil)

// New returns a Store. Zero fields of cfg take DefaultConfig's values.
// Without layers parsed modules are kept in memory only. With a disk,
// symcaches (format "symcache") are kept there; with a shared bucket they
// are written back to it. Metrics report cache="debugfiles" (layers
// memory, disk, store, build and negative) and "debugfiles-records".
func New(cfg Config, blobs *blobstore.Store, logger *slog.Logger, opts ...cache.LayerOption) *Store {
	d := DefaultConfig()
	if cfg.MaxUploadSize <= 0 {
		cfg.MaxUploadSize = d.MaxUploadSize
	}
	if cfg.MaxZipEntries <= 0 {
		cfg.MaxZipEntries = d.MaxZipEntries
	}
	if cfg.MaxDecompressed <= 0 {
		cfg.MaxDecompressed = d.MaxDecompressed
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = d.CacheBytes
	}
	if cfg.NegativeTTL == 0 {
		cfg.NegativeTTL = d.NegativeTTL
	}
	if cfg.RecordTTL == 0 {
		cfg.RecordTTL = d.RecordTTL
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := cache.NewLayers(opts...)
	s := &Store{
		cfg: cfg, blobs: blobs, logger: logger,
		OpenNative: symbolizer.Open,
		now:        time.Now,
	}
	s.mem = cache.NewMemory[*nativeModule](cfg.CacheBytes, l.MemoryOptions(metricsName)...)
	s.symcaches = cache.NewDerived[*nativeModule](symcacheCodec{}, s.mem, l.Disk, l.Shared, logger, l.DerivedOptions(metricsName)...)
	if cfg.RecordTTL > 0 {
		s.records = cache.NewExpiring[[]debugfiles.FileMeta](cfg.RecordTTL, negativeEntries)
		s.records.Observer = l.Observer(metricsName+"-records", "memory")
	}
	if cfg.NegativeTTL > 0 {
		s.missing = cache.NewNegative(cfg.NegativeTTL, negativeEntries)
		s.missing.Observer = l.Observer(metricsName, "negative")
	}
	return s
}

// CacheStats reports the parsed-module cache's counters.
func (s *Store) CacheStats() cache.Stats { return s.mem.Stats() }

// Skipped is a zip entry that was not stored, and why.
type Skipped struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Report is the outcome of one upload.
type Report struct {
	Files   []debugfiles.FileMeta `json:"files"`
	Skipped []Skipped             `json:"skipped,omitempty"`
}

// Upload stores a raw object file or a zip of them and returns what was
// stored. See UploadNamed.
func (s *Store) Upload(ctx context.Context, project string, body io.Reader) ([]debugfiles.FileMeta, error) {
	rep, err := s.UploadNamed(ctx, project, "", body)
	return rep.Files, err
}

// UploadNamed is Upload with the uploaded file's name (object_name of a raw
// object; zip entries use their own names). Errors: blobstore.ErrTooLarge
// (wrapped) over a size limit, debugfiles.ErrInvalidInput when the body is
// no object file or a zip holding none (or a zip bomb), storage errors
// otherwise. Each stored object's blob is durable before its records.
func (s *Store) UploadNamed(ctx context.Context, project, name string, body io.Reader) (Report, error) {
	spool, size, err := s.spool(io.LimitReader(body, s.cfg.MaxUploadSize+1))
	if err != nil {
		return Report{}, err
	}
	defer removeTemp(spool)
	if size > s.cfg.MaxUploadSize {
		return Report{}, fmt.Errorf("debugstore: %w: upload over %d bytes", blobstore.ErrTooLarge, s.cfg.MaxUploadSize)
	}
	head := make([]byte, 4)
	n, _ := spool.ReadAt(head, 0)
	if n == 4 && (bytes.Equal(head, []byte("PK\x03\x04")) || bytes.Equal(head, []byte("PK\x05\x06"))) {
		return s.uploadZip(ctx, project, spool, size)
	}
	metas, err := debugfiles.Identify(spool, size)
	if err != nil {
		return Report{}, err
	}
	if err := s.checkInflated(spool, size); err != nil {
		return Report{}, fmt.Errorf("%w: %v", debugfiles.ErrInvalidInput, err)
	}
	files, err := s.storeObject(ctx, project, path.Base(strings.ReplaceAll(name, "\\", "/")), spool, metas)
	return Report{Files: files}, err
}

func (s *Store) spool(r io.Reader) (*os.File, int64, error) {
	f, err := os.CreateTemp(s.cfg.TempDir, "stacklens-dif-*")
	if err != nil {
		return nil, 0, fmt.Errorf("debugstore: spool: %w", err)
	}
	n, err := io.Copy(f, r)
	if err != nil {
		removeTemp(f)
		return nil, 0, fmt.Errorf("debugstore: spool: %w", err)
	}
	return f, n, nil
}

func removeTemp(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

func (s *Store) uploadZip(ctx context.Context, project string, f *os.File, size int64) (Report, error) {
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return Report{}, fmt.Errorf("%w: bad zip: %v", debugfiles.ErrInvalidInput, err)
	}
	if int64(len(zr.File)) > s.cfg.MaxZipEntries {
		return Report{}, fmt.Errorf("%w: zip has %d entries, limit %d", debugfiles.ErrInvalidInput, len(zr.File), s.cfg.MaxZipEntries)
	}
	var rep Report
	budget := s.cfg.MaxDecompressed
	for _, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if zf.FileInfo().IsDir() || strings.HasSuffix(zf.Name, "/") {
			continue
		}
		entry, n, err := s.extract(zf, budget)
		if err != nil {
			return rep, err
		}
		budget -= n
		metas, err := debugfiles.Identify(entry, n)
		if err == nil {
			err = s.checkInflated(entry, n)
		}
		if err != nil {
			removeTemp(entry)
			rep.Skipped = append(rep.Skipped, Skipped{Name: zf.Name, Reason: err.Error()})
			continue
		}
		files, err := s.storeObject(ctx, project, path.Base(zf.Name), entry, metas)
		removeTemp(entry)
		if err != nil {
			return rep, err
		}
		rep.Files = append(rep.Files, files...)
	}
	if len(rep.Files) == 0 {
		return rep, fmt.Errorf("%w: the zip holds no debug files (%d entries skipped)", debugfiles.ErrInvalidInput, len(rep.Skipped))
	}
	return rep, nil
}

// extract copies one entry to a temp file, counting the bytes actually
// inflated (headers can lie about sizes) against budget.
func (s *Store) extract(zf *zip.File, budget int64) (*os.File, int64, error) {
	rc, err := zf.Open()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: zip entry %q: %v", debugfiles.ErrInvalidInput, zf.Name, err)
	}
	defer rc.Close()
	out, n, err := s.spool(io.LimitReader(rc, budget+1))
	if err != nil {
		// Inflate and checksum failures are the upload's fault.
		return nil, 0, fmt.Errorf("%w: zip entry %q: %v", debugfiles.ErrInvalidInput, zf.Name, err)
	}
	if n > budget {
		removeTemp(out)
		return nil, 0, fmt.Errorf("%w: zip expands to more than %d bytes", debugfiles.ErrInvalidInput, s.cfg.MaxDecompressed)
	}
	return out, n, nil
}

func projectPrefix(project string) string { return "p/" + blobstore.KeyPart(project) + "/" }

func debugKey(project, debugID, sha string) string {
	return projectPrefix(project) + "debug/" + debugID + "/" + sha + ".json"
}

func codeKey(project, codeID string) string {
	return projectPrefix(project) + "code/" + codeID + ".json"
}

type codeRecord struct {
	DebugID string `json:"debug_id"`
}

// storeObject writes the blob, then one record per architecture and the
// code_id pointers. An existing record for the same bytes is kept as is.
func (s *Store) storeObject(ctx context.Context, project, name string, f *os.File, metas []debugfiles.FileMeta) ([]debugfiles.FileMeta, error) {
	blob, err := s.blobs.PutBlobFile(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("debugstore: %w", err)
	}
	now := s.now().UTC().Format(time.RFC3339Nano)
	out := make([]debugfiles.FileMeta, 0, len(metas))
	for _, m := range metas {
		m.SHA256, m.Size = blob.SHA256, blob.Size
		if m.ObjectName == "" && name != "." && name != "/" {
			m.ObjectName = name
		}
		key := debugKey(project, m.DebugID, blob.SHA256)
		var old debugfiles.FileMeta
		switch err := s.blobs.GetRecord(ctx, key, &old); {
		case err == nil:
			out = append(out, old)
			continue
		case !errors.Is(err, storage.ErrNotFound):
			return nil, fmt.Errorf("debugstore: %w", err)
		}
		m.UploadedAt = now
		if err := s.blobs.PutRecord(ctx, key, m); err != nil {
			return nil, fmt.Errorf("debugstore: %w", err)
		}
		if m.CodeID != "" {
			if err := s.blobs.PutRecord(ctx, codeKey(project, m.CodeID), codeRecord{DebugID: m.DebugID}); err != nil {
				return nil, fmt.Errorf("debugstore: %w", err)
			}
		}
		s.logger.InfoContext(ctx, "debug file stored", "project", project, "debug_id", m.DebugID,
			"kind", m.Kind, "arch", m.Arch, "sha256", m.SHA256, "size", m.Size)
		out = append(out, m)
	}
	s.invalidate(project)
	return out, nil
}

// invalidate forgets the project's cached record look-ups, found or not:
// its records changed.
func (s *Store) invalidate(project string) {
	if s.missing != nil {
		s.missing.InvalidatePrefix(projectPrefix(project))
	}
	if s.records != nil {
		s.records.InvalidatePrefix(projectPrefix(project))
	}
}

// List returns the project's debug files, all of them when debugID is "",
// ordered by debug_id then upload time.
func (s *Store) List(ctx context.Context, project, debugID string) ([]debugfiles.FileMeta, error) {
	prefix := projectPrefix(project) + "debug/"
	if debugID != "" {
		id, err := debugfiles.NormalizeDebugID(debugID)
		if err != nil {
			return nil, err
		}
		prefix += id + "/"
	}
	var keys []string
	if err := s.blobs.ListRecords(ctx, prefix, func(key string) error {
		if strings.HasSuffix(key, ".json") {
			keys = append(keys, key)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("debugstore: %w", err)
	}
	out := make([]debugfiles.FileMeta, 0, len(keys))
	for _, k := range keys {
		var m debugfiles.FileMeta
		if err := s.blobs.GetRecord(ctx, k, &m); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				continue // deleted meanwhile
			}
			return nil, fmt.Errorf("debugstore: %w", err)
		}
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].DebugID != out[j].DebugID {
			return out[i].DebugID < out[j].DebugID
		}
		return out[i].UploadedAt < out[j].UploadedAt
	})
	return out, nil
}

// Delete removes the records of every file with debugID (blobs stay: other
// records may share them) and returns how many were removed.
func (s *Store) Delete(ctx context.Context, project, debugID string) (int, error) {
	if debugID == "" {
		return 0, fmt.Errorf("%w: empty debug id", debugfiles.ErrInvalidInput)
	}
	metas, err := s.List(ctx, project, debugID)
	if err != nil {
		return 0, err
	}
	for _, m := range metas {
		if m.CodeID != "" {
			var cr codeRecord
			if err := s.blobs.GetRecord(ctx, codeKey(project, m.CodeID), &cr); err == nil && cr.DebugID == m.DebugID {
				if err := s.blobs.DeleteRecord(ctx, codeKey(project, m.CodeID)); err != nil {
					return 0, fmt.Errorf("debugstore: %w", err)
				}
			}
		}
		if err := s.blobs.DeleteRecord(ctx, debugKey(project, m.DebugID, m.SHA256)); err != nil {
			return 0, fmt.Errorf("debugstore: %w", err)
		}
	}
	s.invalidate(project)
	return len(metas), nil
}

// Find returns the parsed debug file for ref: by debug_id, else by code_id
// (compared as lowercase hex without dashes). Among the candidates it
// prefers one with DWARF/line info, then one with a symbol table, then the
// newest upload; a candidate that fails to parse gives way to the next.
// Errors wrap debugfiles.ErrMissing (nothing usable uploaded),
// ErrMalformed (every candidate is broken) or ErrUnsupported (only a kind
// stacklens cannot read, such as a PDB).
func (s *Store) Find(ctx context.Context, project string, ref debugfiles.ObjectRef) (debugfiles.Module, error) {
	negKey := projectPrefix(project) + ref.DebugID + "\x00" + ref.CodeID
	var epoch uint64
	if s.missing != nil {
		if s.missing.Has(negKey) {
			return nil, fmt.Errorf("%w: debug_id %q code_id %q (remembered)", debugfiles.ErrMissing, ref.DebugID, ref.CodeID)
		}
		epoch = s.missing.Epoch()
	}
	cands, err := s.candidates(ctx, project, ref, negKey)
	if err != nil {
		return nil, err
	}
	if len(cands) == 0 {
		if s.missing != nil {
			s.missing.AddSince(negKey, epoch)
		}
		return nil, fmt.Errorf("%w: debug_id %q code_id %q", debugfiles.ErrMissing, ref.DebugID, ref.CodeID)
	}
	rank(cands)
	return s.findLoop(ctx, project, cands)
}

// candidates returns the records of the files that may serve ref: by
// debug_id, else by code_id. key names ref in the record cache.
func (s *Store) candidates(ctx context.Context, project string, ref debugfiles.ObjectRef, key string) ([]debugfiles.FileMeta, error) {
	var epoch uint64
	if s.records != nil {
		if cands, ok := s.records.Get(key); ok {
			// A copy: Find reorders the candidates it is given.
			return append([]debugfiles.FileMeta(nil), cands...), nil
		}
		epoch = s.records.Epoch()
	}
	var cands []debugfiles.FileMeta
	if ref.DebugID != "" {
		if id, err := debugfiles.NormalizeDebugID(ref.DebugID); err == nil {
			if cands, err = s.List(ctx, project, id); err != nil {
				return nil, err
			}
		}
	}
	if len(cands) == 0 && ref.CodeID != "" {
		var cr codeRecord
		err := s.blobs.GetRecord(ctx, codeKey(project, debugfiles.NormalizeCodeID(ref.CodeID)), &cr)
		switch {
		case err == nil:
			if cands, err = s.List(ctx, project, cr.DebugID); err != nil {
				return nil, err
			}
		case !errors.Is(err, storage.ErrNotFound):
			return nil, fmt.Errorf("debugstore: %w", err)
		}
	}
	if s.records != nil && len(cands) > 0 {
		s.records.AddSince(key, append([]debugfiles.FileMeta(nil), cands...), epoch)
	}
	return cands, nil
}

// findLoop returns the first of the ranked candidates that opens.
func (s *Store) findLoop(ctx context.Context, project string, cands []debugfiles.FileMeta) (debugfiles.Module, error) {
	var firstErr error
	for _, m := range cands {
		mod, err := s.load(ctx, m)
		if err == nil {
			return mod, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.logger.WarnContext(ctx, "debug file unusable", "project", project, "debug_id", m.DebugID, "sha256", m.SHA256, "err", err)
		if firstErr == nil || (errors.Is(firstErr, debugfiles.ErrUnsupported) && !errors.Is(err, debugfiles.ErrUnsupported)) {
			firstErr = err
		}
	}
	return nil, firstErr
}

// rank orders candidates best first: readable kinds, line info, symbol
// table, newest.
func rank(c []debugfiles.FileMeta) {
	score := func(m debugfiles.FileMeta) int {
		s := 0
		if m.Kind != debugfiles.KindPDB {
			s += 4
		}
		for _, f := range m.Features {
			switch f {
			case debugfiles.FeatureDebug:
				s += 2
			case debugfiles.FeatureSymtab:
				s++
			}
		}
		return s
	}
	sort.SliceStable(c, func(i, j int) bool {
		si, sj := score(c[i]), score(c[j])
		if si != sj {
			return si > sj
		}
		return c[i].UploadedAt > c[j].UploadedAt
	})
}

// checkInflated refuses an object whose compressed debug sections declare
// more than the decompression budget: parsing its DWARF would allocate
// that much, however small the upload (a zip bomb inside the object).
func (s *Store) checkInflated(r io.ReaderAt, size int64) error {
	if n := debugfiles.InflatedSectionBytes(r, size); n > uint64(s.cfg.MaxDecompressed) {
		return fmt.Errorf("its compressed sections inflate to %d bytes, over the limit of %d", n, s.cfg.MaxDecompressed)
	}
	return nil
}
