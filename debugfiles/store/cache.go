package debugstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/stacklens/stacklens/cache"
	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/debugfiles/breakpad"
	"github.com/stacklens/stacklens/debugfiles/symbolizer"
	"github.com/stacklens/stacklens/storage"
)

// Caching of parsed debug files:
//
//	Find → memory (byte-bounded LRU, singleflight)
//	     → disk: a symcache (symbolizer's flat index), memory-mapped
//	     → object store: derived/symcache/<version>/<sha256>
//	     → build: download the blob to a temporary file, parse, index;
//	       then encode to disk and upload in the background
//
// ELF, Mach-O and PE objects go down the whole chain, Go binaries without
// DWARF too (their symcache holds the Go 1.20+ .gopclntab, read in place).
// Breakpad files and Go binaries older than 1.20 built without DWARF
// (debug/gosym tables) have no symcache: they are parsed into memory only,
// again after a restart. A "no debug file for this
// debug_id/code_id" answer is remembered for Config.NegativeTTL.

// metricsName is the cache label of this package's series.
const metricsName = "debugfiles"

// negativeEntries bounds the negative cache: one entry per distinct
// missing debug file seen within a TTL.
const negativeEntries = 100000

// Wait blocks until the background uploads of derived files started so
// far have finished (for tests and shutdown).
func (s *Store) Wait() { s.symcaches.Wait() }

// DerivedStats reports the symcache chain's counters (disk and object-store
// hits, builds, corrupt files, uploads).
func (s *Store) DerivedStats() cache.DerivedStats { return s.symcaches.Stats() }

// nativeModule is what the memory layer holds and what Find returns. When
// it wraps a decoded symcache, its reachability keeps the file mapped: it
// is the value the mapping's lifetime is tied to, so it must be what
// callers hold, never the module inside.
type nativeModule struct{ debugfiles.Module }

// symcacheCodec encodes modules opened by the symbolizer; the others
// (pre-1.20 Go .gopclntab modules, test fakes) fail with ErrNotEncodable
// and are then kept in memory only.
type symcacheCodec struct{}

func (symcacheCodec) Format() string { return symbolizer.SymcacheFormat }
func (symcacheCodec) Version() int   { return symbolizer.SymcacheVersion }

func (symcacheCodec) Encode(w io.Writer, v *nativeModule) error {
	return symbolizer.EncodeSymcache(w, v.Module)
}

// Decode reports the heap the module holds besides data; the Derived
// charges data too (see cache.Codec): the mapping is resident while the
// module is held.
func (symcacheCodec) Decode(data []byte) (*nativeModule, int64, error) {
	sc, err := symbolizer.DecodeSymcache(data)
	if err != nil {
		return nil, 0, err
	}
	return &nativeModule{Module: sc}, sc.RetainedBytes(), nil
}

// derivedKey names a file's symcache: the blob's sha256, except for Mach-O
// files, where one (fat) blob may hold several architectures: there it is
// the sha256 of the blob's sha256 and the slice's debug_id.
func derivedKey(m debugfiles.FileMeta) string {
	if m.Kind != debugfiles.KindMachO {
		return m.SHA256
	}
	sum := sha256.Sum256([]byte(m.SHA256 + "/" + m.DebugID))
	return hex.EncodeToString(sum[:])
}

func (s *Store) load(ctx context.Context, m debugfiles.FileMeta) (debugfiles.Module, error) {
	var v *nativeModule
	var err error
	switch m.Kind {
	case debugfiles.KindPDB:
		return nil, fmt.Errorf("%w: PDB files cannot be read yet (upload the PE with DWARF or a Breakpad .sym)", debugfiles.ErrUnsupported)
	case debugfiles.KindBreakpad:
		v, err = s.mem.GetOrLoad(ctx, "breakpad/"+m.SHA256, func(ctx context.Context) (*nativeModule, int64, error) {
			return s.parseBreakpad(ctx, m)
		})
	default:
		v, err = s.symcaches.Get(ctx, derivedKey(m), func(ctx context.Context) (*nativeModule, int64, error) {
			return s.build(ctx, m)
		})
	}
	if err != nil {
		return nil, err
	}
	if symbolizer.IsSymcache(v.Module) {
		// The wrapper, never the module inside: see nativeModule.
		return v, nil
	}
	// Nothing mapped: callers may see the parser's own type.
	return v.Module, nil
}

func blobError(m debugfiles.FileMeta, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: blob %s of %s is gone: %v", debugfiles.ErrMissing, m.SHA256, m.DebugID, err)
	}
	return fmt.Errorf("debugstore: %w", err)
}

func (s *Store) parseBreakpad(ctx context.Context, m debugfiles.FileMeta) (*nativeModule, int64, error) {
	rc, err := s.blobs.OpenBlob(ctx, m.SHA256)
	if err != nil {
		return nil, 0, blobError(m, err)
	}
	defer rc.Close()
	mod, err := breakpad.Parse(io.LimitReader(rc, s.cfg.MaxUploadSize))
	if err != nil {
		return nil, 0, err
	}
	return &nativeModule{Module: mod}, mod.RetainedBytes(), nil
}

// build downloads the blob to a temporary file (a debug file can be GBs:
// it is read in place, never held in memory whole) and parses it.
func (s *Store) build(ctx context.Context, m debugfiles.FileMeta) (*nativeModule, int64, error) {
	f, size, err := s.download(ctx, m)
	if err != nil {
		return nil, 0, err
	}
	defer removeTemp(f)
	var ra io.ReaderAt = f
	if m.Kind == debugfiles.KindMachO {
		if ra, size, err = machoSlice(f, size, m); err != nil {
			return nil, 0, err
		}
	}
	// Files stored before uploads were checked are checked here too.
	if err := s.checkInflated(ra, size); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", debugfiles.ErrMalformed, err)
	}
	mod, err := s.OpenNative(ra, size, m)
	if err != nil {
		if !errors.Is(err, debugfiles.ErrMalformed) && !errors.Is(err, debugfiles.ErrUnsupported) {
			err = fmt.Errorf("%w: %v", debugfiles.ErrMalformed, err)
		}
		return nil, 0, err
	}
	retained := size
	if n, ok := symbolizer.HeapBytes(mod); ok {
		retained = n
	} else if r, ok := mod.(interface{ RetainedBytes() int64 }); ok {
		retained = r.RetainedBytes()
	}
	return &nativeModule{Module: mod}, retained, nil
}

func (s *Store) download(ctx context.Context, m debugfiles.FileMeta) (*os.File, int64, error) {
	rc, err := s.blobs.OpenBlob(ctx, m.SHA256)
	if err != nil {
		return nil, 0, blobError(m, err)
	}
	defer rc.Close()
	f, err := os.CreateTemp(s.cfg.TempDir, "stacklens-dif-load-*")
	if err != nil {
		return nil, 0, fmt.Errorf("debugstore: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(rc, s.cfg.MaxUploadSize+1))
	if err == nil && n > s.cfg.MaxUploadSize {
		err = fmt.Errorf("blob %s is over %d bytes", m.SHA256, s.cfg.MaxUploadSize)
	}
	if err != nil {
		removeTemp(f)
		return nil, 0, blobError(m, err)
	}
	return f, n, nil
}
