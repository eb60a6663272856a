package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// VerifyingReader passes through exactly the bytes of an object while
// checking them against a declared size and sha256. It withholds the bytes of
// the read that completes the object until they are verified: on a mismatch
// the consumer never receives the whole object, so an upload it feeds (a
// file write, an HTTP body of fixed length) is left incomplete and is never
// published. Backends use it so a mismatch stores nothing.
type VerifyingReader struct {
	r    io.Reader
	size int64  // < 0: unknown, check only the hash at EOF
	want []byte // nil: no hash declared
	h    hash.Hash
	n    int64
	err  error // sticky: the mismatch or the underlying read error
	eof  bool
}

// NewVerifyingReader wraps r. size < 0 means the size is unknown (only the
// hash is checked, at EOF). sha256hex "" means no hash is declared; otherwise
// it must be 64 hex digits.
func NewVerifyingReader(r io.Reader, size int64, sha256hex string) (*VerifyingReader, error) {
	v := &VerifyingReader{r: r, size: size, h: sha256.New()}
	if sha256hex != "" {
		want, err := ParseSHA256(sha256hex)
		if err != nil {
			return nil, err
		}
		v.want = want
	}
	return v, nil
}

// ParseSHA256 decodes a hex sha256 digest.
func ParseSHA256(sha256hex string) ([]byte, error) {
	b, err := hex.DecodeString(sha256hex)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("storage: %q is not a hex sha256 digest", sha256hex)
	}
	return b, nil
}

// Read implements io.Reader.
func (v *VerifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.eof {
		return 0, io.EOF
	}
	if v.size >= 0 && v.n == v.size {
		return 0, v.finish()
	}
	if v.size >= 0 && int64(len(p)) > v.size-v.n {
		p = p[:v.size-v.n]
	}
	k, err := v.r.Read(p)
	v.h.Write(p[:k])
	v.n += int64(k)
	switch {
	case err == io.EOF && v.size >= 0 && v.n < v.size:
		v.err = fmt.Errorf("%w: got %d bytes, declared %d", ErrChecksumMismatch, v.n, v.size)
		return 0, v.err
	case err == io.EOF || (v.size >= 0 && v.n == v.size):
		if ferr := v.finish(); ferr != io.EOF {
			return 0, ferr // withhold the last bytes: the object is wrong
		}
		if k > 0 {
			return k, nil
		}
		return 0, io.EOF
	case err != nil:
		v.err = err
		return k, err
	}
	return k, nil
}

// finish checks that nothing follows the declared size and that the hash
// matches. It returns io.EOF on success.
func (v *VerifyingReader) finish() error {
	if v.size >= 0 {
		var probe [1]byte
		for range 100 { // a reader may return (0, nil) a few times
			k, err := v.r.Read(probe[:])
			if k > 0 {
				v.err = fmt.Errorf("%w: more than the declared %d bytes", ErrChecksumMismatch, v.size)
				return v.err
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				v.err = err
				return err
			}
		}
	}
	if v.want != nil {
		if got := v.h.Sum(nil); string(got) != string(v.want) {
			v.err = fmt.Errorf("%w: sha256 is %x, declared %x", ErrChecksumMismatch, got, v.want)
			return v.err
		}
	}
	v.eof = true
	return io.EOF
}

// Err returns the verification failure (wrapping ErrChecksumMismatch) or the
// underlying read error that stopped the reader, nil otherwise.
func (v *VerifyingReader) Err() error { return v.err }

// Verified reports whether the whole object was read and matched.
func (v *VerifyingReader) Verified() bool { return v.eof && v.err == nil }

// SHA256 returns the hex sha256 of the bytes read so far.
func (v *VerifyingReader) SHA256() string { return hex.EncodeToString(v.h.Sum(nil)) }
