package symbolizer_test

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/debugfiles/symbolizer"
)

// checkOpen opens data and, when that works, looks up a spread of
// addresses: every outcome must be a module or an error wrapping
// ErrMalformed / ErrUnsupported, never a panic.
func checkOpen(t *testing.T, data []byte) {
	mod, err := symbolizer.Open(bytes.NewReader(data), int64(len(data)), debugfiles.FileMeta{})
	if err != nil {
		if !errors.Is(err, debugfiles.ErrMalformed) && !errors.Is(err, debugfiles.ErrUnsupported) {
			t.Fatalf("Open error %v wraps neither ErrMalformed nor ErrUnsupported", err)
		}
		if mod != nil {
			t.Fatal("Open returned a module and an error")
		}
		return
	}
	if mod == nil {
		t.Fatal("Open returned nil, nil")
	}
	base := mod.LoadAddress()
	for a := base; a < base+0x4000; a += 0x3f {
		if _, err := mod.Lookup(a); err != nil && !errors.Is(err, debugfiles.ErrNoSymbol) && !errors.Is(err, debugfiles.ErrMalformed) {
			t.Fatalf("Lookup(0x%x): unexpected error %v", a, err)
		}
	}
}

func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	// Small seeds keep the fuzzer fast: every byte of them is structure.
	for _, v := range []string{"tiny-dwarf4", "tiny-dwarf5", "tiny-stripped"} {
		data, err := os.ReadFile(fixture(t, v))
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	return seeds
}

// TestTruncatedAndCorrupted runs the fuzz target's property over a fixed,
// deterministic set of damaged binaries (every truncation point on a grid,
// and byte flips across the headers and debug sections).
func TestTruncatedAndCorrupted(t *testing.T) {
	for _, data := range fuzzSeeds(t) {
		for n := 0; n < len(data); n += 7 {
			checkOpen(t, data[:n])
		}
		for off := 0; off < len(data); off += 3 {
			for _, v := range []byte{0x00, 0xff, 0x7f, 0x80} {
				mut := bytes.Clone(data)
				mut[off] = v
				checkOpen(t, mut)
			}
		}
	}
}

func FuzzOpen(f *testing.F) {
	for _, data := range fuzzSeeds(f) {
		f.Add(data)
		f.Add(data[:len(data)/2])
		f.Add(data[:64])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkOpen(t, data)
	})
}
