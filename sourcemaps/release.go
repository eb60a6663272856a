package sourcemaps

import (
	"fmt"
	"strings"
)

// maxReleaseLen is Sentry's limit on release names.
const maxReleaseLen = 200

// ValidRelease returns why v cannot name a release, or nil. The rules are
// Sentry's (1 to 200 bytes; not ".", ".." or "latest"; no slash or
// backslash) and no control character (Sentry names newlines and tabs).
func ValidRelease(v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%w: empty release name", ErrInvalidInput)
	case len(v) > maxReleaseLen:
		return fmt.Errorf("%w: release name of %d bytes, more than %d", ErrInvalidInput, len(v), maxReleaseLen)
	case v == "." || v == ".." || v == "latest":
		return fmt.Errorf("%w: %q cannot name a release", ErrInvalidInput, v)
	case strings.ContainsAny(v, "/\\"):
		return fmt.Errorf("%w: release name %q has a slash or backslash", ErrInvalidInput, v)
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("%w: release name %q has a control character", ErrInvalidInput, v)
	}
	return nil
}
