package debugfiles_test

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/stacklens/stacklens/debugfiles"
)

// FuzzIdentify: any input identifies or fails with ErrInvalidInput; no
// panic, hang or unbounded allocation. Seeds are the real fixtures and
// truncations of them.
func FuzzIdentify(f *testing.F) {
	for _, path := range identFixtures(f) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
		f.Add(data[:min(len(data), 512)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		metas, err := debugfiles.Identify(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, debugfiles.ErrInvalidInput) {
				t.Fatalf("error %v does not wrap ErrInvalidInput", err)
			}
			return
		}
		for _, m := range metas {
			if m.Kind == "" || m.DebugID == "" {
				t.Fatalf("incomplete meta %+v", m)
			}
		}
	})
}
