package cache

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
)

// Every derived file, on disk and in the object store, is framed by a
// fixed 128-byte header that makes it self-describing and self-verifying:
//
//	off len  field
//	  0   4  magic "STKL"
//	  4   2  container version (1), little-endian like every integer here
//	  6   2  header size (128)
//	  8   4  format version
//	 12   4  payload CRC-32C (Castagnoli)
//	 16   8  payload length in bytes
//	 24  32  sha256 of the source blob the payload was derived from (raw)
//	 56   1  format name length n (1..32)
//	 57  32  format name (n bytes of [a-z0-9_-], zero padded)
//	 89  35  reserved, zero
//	124   4  CRC-32C of bytes 0..123 (so a flipped header bit is caught
//	         without reading the payload)
//	128   …  payload (64-byte aligned in a page-aligned mapping)
//
// A reader checks all of it against what it asked for: a file of another
// format, version or source is never decoded, whatever its path says.
const (
	FrameHeaderSize = 128

	frameMagic            = "STKL"
	frameContainerVersion = 1
	maxFormatName         = 32
)

// ErrCorrupt is returned (wrapped) when a derived file fails verification.
// The file has been deleted by then; the caller rebuilds it.
var ErrCorrupt = errors.New("cache: corrupt derived file")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// FrameHeader is the decoded header of a derived file.
type FrameHeader struct {
	Format     string
	Version    int
	SHA256     string // lowercase hex
	PayloadLen int64
	Checksum   uint32 // CRC-32C of the payload
}

func validFormat(format string) error {
	if len(format) == 0 || len(format) > maxFormatName {
		return fmt.Errorf("cache: format name %q must be 1..%d bytes", format, maxFormatName)
	}
	for _, c := range []byte(format) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("cache: format name %q: only a-z, 0-9, '_' and '-' are allowed", format)
		}
	}
	return nil
}

func validVersion(version int) error {
	if version < 0 || version > 1<<31-1 {
		return fmt.Errorf("cache: format version %d out of range", version)
	}
	return nil
}

func decodeSHA256(sha string) ([32]byte, error) {
	var raw [32]byte
	if len(sha) != 64 {
		return raw, fmt.Errorf("cache: %q is not a hex sha256", sha)
	}
	for _, c := range []byte(sha) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return raw, fmt.Errorf("cache: %q is not a lowercase hex sha256", sha)
		}
	}
	_, err := hex.Decode(raw[:], []byte(sha))
	return raw, err
}

func validKey(format string, version int, sha string) error {
	if err := validFormat(format); err != nil {
		return err
	}
	if err := validVersion(version); err != nil {
		return err
	}
	_, err := decodeSHA256(sha)
	return err
}

// encodeFrameHeader returns the encoded header; the arguments are valid.
func encodeFrameHeader(h FrameHeader) [FrameHeaderSize]byte {
	var b [FrameHeaderSize]byte
	le := binary.LittleEndian
	copy(b[0:4], frameMagic)
	le.PutUint16(b[4:], frameContainerVersion)
	le.PutUint16(b[6:], FrameHeaderSize)
	le.PutUint32(b[8:], uint32(h.Version))
	le.PutUint32(b[12:], h.Checksum)
	le.PutUint64(b[16:], uint64(h.PayloadLen))
	raw, _ := decodeSHA256(h.SHA256)
	copy(b[24:56], raw[:])
	b[56] = byte(len(h.Format))
	copy(b[57:57+maxFormatName], h.Format)
	le.PutUint32(b[124:], crc32.Checksum(b[:124], castagnoli))
	return b
}

// ParseFrameHeader decodes and checks the header at the start of a derived
// file (its own checksum included, the payload's not).
func ParseFrameHeader(data []byte) (FrameHeader, error) {
	var h FrameHeader
	if len(data) < FrameHeaderSize {
		return h, fmt.Errorf("%w: %d bytes is shorter than the %d-byte header", ErrCorrupt, len(data), FrameHeaderSize)
	}
	b := data[:FrameHeaderSize]
	le := binary.LittleEndian
	if string(b[0:4]) != frameMagic {
		return h, fmt.Errorf("%w: bad magic %q", ErrCorrupt, b[0:4])
	}
	if got, want := le.Uint32(b[124:]), crc32.Checksum(b[:124], castagnoli); got != want {
		return h, fmt.Errorf("%w: header checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	if v := le.Uint16(b[4:]); v != frameContainerVersion {
		return h, fmt.Errorf("%w: container version %d, want %d", ErrCorrupt, v, frameContainerVersion)
	}
	if n := le.Uint16(b[6:]); n != FrameHeaderSize {
		return h, fmt.Errorf("%w: header size %d, want %d", ErrCorrupt, n, FrameHeaderSize)
	}
	n := int(b[56])
	if n == 0 || n > maxFormatName {
		return h, fmt.Errorf("%w: format name length %d", ErrCorrupt, n)
	}
	h.Format = string(b[57 : 57+n])
	h.Version = int(le.Uint32(b[8:]))
	h.Checksum = le.Uint32(b[12:])
	payloadLen := le.Uint64(b[16:])
	if payloadLen > 1<<62 {
		return h, fmt.Errorf("%w: payload length %d", ErrCorrupt, payloadLen)
	}
	h.PayloadLen = int64(payloadLen)
	h.SHA256 = hex.EncodeToString(b[24:56])
	return h, nil
}

// checkFrame verifies everything but the payload checksum, which is the
// only part whose cost grows with the file, and returns the header and
// payload.
func checkFrame(data []byte, format string, version int, sha string) (FrameHeader, []byte, error) {
	h, err := ParseFrameHeader(data)
	if err != nil {
		return h, nil, err
	}
	if err := h.matches(format, version, sha); err != nil {
		return h, nil, err
	}
	if got := int64(len(data) - FrameHeaderSize); got != h.PayloadLen {
		return h, nil, fmt.Errorf("%w: payload is %d bytes, header says %d", ErrCorrupt, got, h.PayloadLen)
	}
	return h, data[FrameHeaderSize:], nil
}

func (h FrameHeader) matches(format string, version int, sha string) error {
	switch {
	case h.Format != format:
		return fmt.Errorf("%w: format %q, want %q", ErrCorrupt, h.Format, format)
	case h.Version != version:
		return fmt.Errorf("%w: %s version %d, want %d", ErrCorrupt, format, h.Version, version)
	case h.SHA256 != sha:
		return fmt.Errorf("%w: derived from %s, want %s", ErrCorrupt, h.SHA256, sha)
	}
	return nil
}

// VerifyFrame checks a whole derived file (header and payload checksum)
// against the format, version and source sha256 expected, and returns its
// payload (a sub-slice of data).
func VerifyFrame(data []byte, format string, version int, sha string) ([]byte, error) {
	h, payload, err := checkFrame(data, format, version, sha)
	if err != nil {
		return nil, err
	}
	if got := crc32.Checksum(payload, castagnoli); got != h.Checksum {
		return nil, fmt.Errorf("%w: payload checksum %08x, want %08x", ErrCorrupt, got, h.Checksum)
	}
	return payload, nil
}

// EncodeFrame frames payload; for tests and small payloads (Disk.Put streams).
func EncodeFrame(format string, version int, sha string, payload []byte) ([]byte, error) {
	if err := validKey(format, version, sha); err != nil {
		return nil, err
	}
	h := encodeFrameHeader(FrameHeader{Format: format, Version: version, SHA256: sha,
		PayloadLen: int64(len(payload)), Checksum: crc32.Checksum(payload, castagnoli)})
	var buf bytes.Buffer
	buf.Grow(FrameHeaderSize + len(payload))
	buf.Write(h[:])
	buf.Write(payload)
	return buf.Bytes(), nil
}
