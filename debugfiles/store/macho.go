package debugstore

import (
	"debug/macho"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/stacklens/stacklens/debugfiles"
)

// machoSlice returns the architecture slice of a fat Mach-O whose debug_id
// is m's (symbolizer.Open reads thin files only); a thin file as it is.
func machoSlice(r io.ReaderAt, size int64, m debugfiles.FileMeta) (io.ReaderAt, int64, error) {
	var magic [4]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", debugfiles.ErrMalformed, err)
	}
	if binary.BigEndian.Uint32(magic[:]) != macho.MagicFat {
		return r, size, nil
	}
	ff, err := macho.NewFatFile(io.NewSectionReader(r, 0, size))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: fat Mach-O: %v", debugfiles.ErrMalformed, err)
	}
	for _, a := range ff.Arches {
		slice := io.NewSectionReader(r, int64(a.Offset), int64(a.Size))
		metas, err := debugfiles.Identify(slice, int64(a.Size))
		if err == nil && len(metas) == 1 && metas[0].DebugID == m.DebugID {
			return slice, int64(a.Size), nil
		}
	}
	return nil, 0, fmt.Errorf("%w: fat Mach-O has no slice with debug_id %s", debugfiles.ErrMalformed, m.DebugID)
}
