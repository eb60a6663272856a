package storage

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Key limits shared by every backend. S3 caps keys at 1024 bytes; most
// filesystems cap one path component at 255 bytes (NAME_MAX). A key that is
// valid for one backend is valid for all, so data can move between them.
const (
	MaxKeyLen          = 1024
	MaxKeyComponentLen = 255
)

// ReservedTopLevel is the first key component no object may use: the
// filesystem backend stages uploads there, and rejecting it everywhere keeps
// the key space identical across backends.
const ReservedTopLevel = ".tmp"

// ValidateKey reports (wrapping ErrInvalidKey) whether key is a safe object
// key: a relative slash-separated path of valid UTF-8 whose components are
// non-empty, not "." or "..", at most MaxKeyComponentLen bytes, and free of
// NUL and other control characters and backslashes (which a filesystem
// backend could interpret as separators), at most MaxKeyLen bytes in all,
// and not under ReservedTopLevel.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key is %d bytes, over the %d-byte limit", ErrInvalidKey, len(key), MaxKeyLen)
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("%w: %q is absolute", ErrInvalidKey, key)
	}
	if err := checkChars(key); err != nil {
		return err
	}
	for i, c := range strings.Split(key, "/") {
		if err := checkComponent(key, c); err != nil {
			return err
		}
		if i == 0 && c == ReservedTopLevel {
			return fmt.Errorf("%w: %q is under the reserved %q", ErrInvalidKey, key, ReservedTopLevel)
		}
	}
	return nil
}

// ValidatePrefix checks a List prefix: "" lists everything; otherwise every
// complete component (those followed by "/") must be a valid key component
// and the trailing partial component must only use valid characters. Only
// complete components ever name a directory in the filesystem backend, so a
// valid prefix cannot walk out of its root.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if len(prefix) > MaxKeyLen {
		return fmt.Errorf("%w: prefix is %d bytes, over the %d-byte limit", ErrInvalidKey, len(prefix), MaxKeyLen)
	}
	if strings.HasPrefix(prefix, "/") {
		return fmt.Errorf("%w: prefix %q is absolute", ErrInvalidKey, prefix)
	}
	if err := checkChars(prefix); err != nil {
		return err
	}
	parts := strings.Split(prefix, "/")
	for _, c := range parts[:len(parts)-1] {
		if err := checkComponent(prefix, c); err != nil {
			return err
		}
	}
	if len(parts[len(parts)-1]) > MaxKeyComponentLen {
		return fmt.Errorf("%w: prefix %q has an over-long component", ErrInvalidKey, prefix)
	}
	return nil
}

func checkChars(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidKey, s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %q contains control character %U", ErrInvalidKey, s, r)
		}
		if r == '\\' {
			return fmt.Errorf("%w: %q contains a backslash", ErrInvalidKey, s)
		}
	}
	return nil
}

func checkComponent(key, c string) error {
	switch {
	case c == "":
		return fmt.Errorf("%w: %q has an empty path component", ErrInvalidKey, key)
	case c == "." || c == "..":
		return fmt.Errorf("%w: %q has a %q component", ErrInvalidKey, key, c)
	case len(c) > MaxKeyComponentLen:
		return fmt.Errorf("%w: %q has a component of %d bytes, over the %d-byte limit", ErrInvalidKey, key, len(c), MaxKeyComponentLen)
	}
	return nil
}
