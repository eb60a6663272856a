//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package cache

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps the whole of f read-only. The mapping outlives f's
// descriptor, and, since files are only ever replaced by rename and removed
// by unlink, its contents never change under a reader.
func mapFile(f *os.File, size int64) ([]byte, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, fmt.Errorf("cache: cannot map %d bytes", size)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("cache: mmap %s: %w", f.Name(), err)
	}
	return data, nil
}

func unmapFile(data []byte) error { return syscall.Munmap(data) }

// lockDir takes an exclusive advisory lock on f: the in-memory index of a
// Disk is only right if one Disk owns the directory.
func lockDir(f *os.File) error {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("cache: %s is in use by another disk cache: %w", f.Name(), err)
	}
	return nil
}
