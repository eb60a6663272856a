package storage_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stacklens/stacklens/storage"
)

func hexSum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestVerifyingReader(t *testing.T) {
	data := []byte("0123456789abcdefghij")
	tests := []struct {
		name     string
		r        io.Reader
		size     int64
		sha      string
		wantErr  bool
		maxBytes int // at most this many bytes may be delivered
	}{
		{"exact with sha", bytes.NewReader(data), 20, hexSum(data), false, 20},
		{"exact without sha", bytes.NewReader(data), 20, "", false, 20},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(data)), 20, hexSum(data), false, 20},
		{"unknown size, right sha", bytes.NewReader(data), -1, hexSum(data), false, 20},
		{"wrong sha withholds the last read", iotest.OneByteReader(bytes.NewReader(data)), 20, hexSum(data[:19]), true, 19},
		{"short", bytes.NewReader(data[:10]), 20, "", true, 10},
		{"long", iotest.OneByteReader(bytes.NewReader(data)), 19, "", true, 18},
		{"empty declared empty", bytes.NewReader(nil), 0, hexSum(nil), false, 0},
		{"non-empty declared empty", bytes.NewReader(data), 0, "", true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vr, err := storage.NewVerifyingReader(tc.r, tc.size, tc.sha)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(vr)
			if len(got) > tc.maxBytes {
				t.Errorf("delivered %d bytes, at most %d allowed", len(got), tc.maxBytes)
			}
			if tc.wantErr {
				if !errors.Is(err, storage.ErrChecksumMismatch) || !errors.Is(vr.Err(), storage.ErrChecksumMismatch) || vr.Verified() {
					t.Fatalf("err = %v, Err() = %v, Verified = %v; want a mismatch", err, vr.Err(), vr.Verified())
				}
				return
			}
			if err != nil || !vr.Verified() || !bytes.Equal(got, data[:len(got)]) {
				t.Fatalf("err = %v, Verified = %v, got %q", err, vr.Verified(), got)
			}
		})
	}
	if _, err := storage.NewVerifyingReader(bytes.NewReader(nil), 0, "abc"); err == nil {
		t.Error("a malformed sha256 was accepted")
	}
	failing := errors.New("disk on fire")
	vr, _ := storage.NewVerifyingReader(iotest.ErrReader(failing), 5, "")
	if _, err := io.ReadAll(vr); !errors.Is(err, failing) || !errors.Is(vr.Err(), failing) {
		t.Errorf("underlying error not passed through: %v", err)
	}
}
