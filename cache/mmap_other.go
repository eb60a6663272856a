//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package cache

import (
	"fmt"
	"io"
	"os"
)

// Without mmap the file is read into the heap: correct, only not lazy.
func mapFile(f *os.File, size int64) ([]byte, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, fmt.Errorf("cache: cannot map %d bytes", size)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("cache: read %s: %w", f.Name(), err)
	}
	return data, nil
}

func unmapFile([]byte) error { return nil }

func lockDir(*os.File) error { return nil }
