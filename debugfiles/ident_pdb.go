package debugfiles

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// PDB (MSF 7.0) stream numbers that hold the identity.
const (
	pdbStreamInfo = 1
	pdbStreamDBI  = 3
	pdbNilStream  = 0xffffffff
)

// msf is the block layout of an MSF 7.0 container: just enough to read the
// first bytes of a stream.
type msf struct {
	r         io.ReaderAt
	size      int64
	blockSize int64
	dir       []byte // the stream directory
	sizes     []uint32
	blocksAt  []int // offset in dir of each stream's block list
}

func openMSF(r io.ReaderAt, size int64) (*msf, error) {
	sb, err := readAtMost(r, 0, 56, size)
	if err != nil {
		return nil, fmt.Errorf("MSF superblock: %w", err)
	}
	le := binary.LittleEndian
	m := &msf{r: r, size: size, blockSize: int64(le.Uint32(sb[32:]))}
	switch m.blockSize {
	case 512, 1024, 2048, 4096, 8192, 16384, 32768:
	default:
		return nil, fmt.Errorf("MSF block size %d", m.blockSize)
	}
	dirBytes := int64(le.Uint32(sb[44:]))
	if dirBytes < 4 || dirBytes > size {
		return nil, fmt.Errorf("MSF directory size %d", dirBytes)
	}
	nDirBlocks := (dirBytes + m.blockSize - 1) / m.blockSize
	blockMap, err := readAtMost(r, int64(le.Uint32(sb[52:]))*m.blockSize, nDirBlocks*4, size)
	if err != nil {
		return nil, fmt.Errorf("MSF block map: %w", err)
	}
	m.dir = make([]byte, 0, dirBytes)
	for i := int64(0); i < nDirBlocks; i++ {
		n := min(m.blockSize, dirBytes-int64(len(m.dir)))
		b, err := readAtMost(r, int64(le.Uint32(blockMap[4*i:]))*m.blockSize, n, size)
		if err != nil {
			return nil, fmt.Errorf("MSF directory: %w", err)
		}
		m.dir = append(m.dir, b...)
	}
	nStreams := int64(le.Uint32(m.dir))
	if nStreams > (int64(len(m.dir))-4)/4 {
		return nil, fmt.Errorf("MSF directory claims %d streams", nStreams)
	}
	m.sizes = make([]uint32, nStreams)
	m.blocksAt = make([]int, nStreams)
	at := 4 + 4*int(nStreams)
	for i := range m.sizes {
		s := le.Uint32(m.dir[4+4*i:])
		m.sizes[i] = s
		m.blocksAt[i] = at
		if s != pdbNilStream {
			at += 4 * int((int64(s)+m.blockSize-1)/m.blockSize)
		}
		if at > len(m.dir) {
			return nil, errors.New("MSF directory truncated")
		}
	}
	return m, nil
}

// stream reads the first n bytes of stream i (fewer if the stream is
// shorter); nil for a missing stream.
func (m *msf) stream(i int, n int64) ([]byte, error) {
	if i >= len(m.sizes) || m.sizes[i] == pdbNilStream {
		return nil, nil
	}
	n = min(n, int64(m.sizes[i]))
	out := make([]byte, 0, n)
	for k := 0; int64(len(out)) < n; k++ {
		block := int64(binary.LittleEndian.Uint32(m.dir[m.blocksAt[i]+4*k:]))
		b, err := readAtMost(m.r, block*m.blockSize, min(m.blockSize, n-int64(len(out))), m.size)
		if err != nil {
			return nil, fmt.Errorf("PDB stream %d: %w", i, err)
		}
		out = append(out, b...)
	}
	return out, nil
}

func identifyPDB(r io.ReaderAt, size int64) ([]FileMeta, error) {
	m, err := openMSF(r, size)
	if err != nil {
		return nil, err
	}
	info, err := m.stream(pdbStreamInfo, 28)
	if err != nil {
		return nil, err
	}
	if len(info) < 28 {
		return nil, errors.New("PDB info stream missing or short")
	}
	var guid [16]byte
	copy(guid[:], info[12:28])
	age := binary.LittleEndian.Uint32(info[8:])
	meta := FileMeta{Kind: KindPDB, Arch: "unknown", Features: []string{FeatureSymtab, FeatureDebug}}

	dbi, err := m.stream(pdbStreamDBI, 64)
	if err != nil {
		return nil, err
	}
	if len(dbi) >= 64 && int32(binary.LittleEndian.Uint32(dbi)) == -1 {
		// The DBI age is the one the PE's RSDS record matches: tools that
		// rewrite a PDB bump the info stream's age but not this one.
		age = binary.LittleEndian.Uint32(dbi[8:])
		meta.Arch = peArch(binary.LittleEndian.Uint16(dbi[58:]))
	}
	// Symbolic assumes 32-bit x86 PDBs carry FPO/frame data.
	if meta.Arch == "x86" {
		meta.Features = append(meta.Features, FeatureUnwind)
	}
	meta.DebugID = formatDebugID(swapGUIDFields(guid), age)
	return []FileMeta{meta}, nil
}
