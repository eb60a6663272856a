package storage_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/storagetest"
)

func TestValidateKey(t *testing.T) {
	valid := []string{"a", "a/b", "blobs/sha256/ab/abcd", "..a", "a/.b", "a/.tmp", "sp ace", "日本/🙂", "%2E%2E", "a/~", strings.Repeat("k", storage.MaxKeyComponentLen)}
	for _, k := range valid {
		if err := storage.ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", k, err)
		}
	}
	for _, k := range storagetest.InvalidKeys {
		if err := storage.ValidateKey(k); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("ValidateKey(%.40q) = %v, want ErrInvalidKey", k, err)
		}
	}
}

func TestValidatePrefix(t *testing.T) {
	tests := []struct {
		prefix string
		ok     bool
	}{
		{"", true},
		{"p/", true},
		{"p/proj", true},
		{"p/..partial", true},
		{"p/..", true}, // may still prefix "p/..x"; never walked as a directory
		{"../", false},
		{"p/../", false},
		{"/p", false},
		{"p//", false},
		{"p\x00", false},
		{`p\`, false},
	}
	for _, tc := range tests {
		err := storage.ValidatePrefix(tc.prefix)
		if tc.ok != (err == nil) {
			t.Errorf("ValidatePrefix(%q) = %v, want ok=%v", tc.prefix, err, tc.ok)
		}
		if err != nil && !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("ValidatePrefix(%q) = %v, not ErrInvalidKey", tc.prefix, err)
		}
	}
}

// FuzzValidateKey: a valid key is a clean relative path that stays under
// any root it is joined to.
func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a/../b", "a/./b", `a\b`, "/etc/passwd", ".tmp/x", "a//b", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if storage.ValidateKey(key) != nil {
			return
		}
		if filepath.ToSlash(filepath.Clean(filepath.FromSlash(key))) != key {
			t.Fatalf("valid key %q is not a clean path", key)
		}
		root := "/srv/root"
		p := filepath.Join(root, filepath.FromSlash(key))
		if !strings.HasPrefix(p, root+string(filepath.Separator)) {
			t.Fatalf("valid key %q escapes the root: %s", key, p)
		}
		if strings.HasPrefix(key, storage.ReservedTopLevel+"/") || key == storage.ReservedTopLevel {
			t.Fatalf("valid key %q is under the reserved %s", key, storage.ReservedTopLevel)
		}
	})
}
