package sourcemaps

import (
	"strconv"
	"strings"
)

// uselessNames say nothing about the function: Sentry replaces them by the
// caller's view of the callee ("caller naming") when it can.
func uselessName(s string) bool {
	switch s {
	case "<anonymous>", "__webpack_require__", "__webpack_modules__":
		return true
	}
	return false
}

// pickFunctionName chooses between the name found from the minified scope
// (scopeName), the mapping name at the caller frame's call site (callsite,
// "" if none) and the SDK's minified name (frameFn, "" if absent), in
// Sentry's order: a useful scope name, else the call-site name, else the
// scope name when the SDK sent none, else the minified name.
func pickFunctionName(frameFn, scopeName, callsite string) string {
	if !uselessName(scopeName) {
		return scopeName
	}
	if callsite != "" {
		return callsite
	}
	if frameFn == "" {
		return scopeName
	}
	return frameFn
}

// foldFunctionName folds runs of one repeated dotted segment, except the
// last segment: "a.foo.foo.foo.bar" → "a.{foo#3}.bar" (Sentry's display).
func foldFunctionName(name string) string {
	parts := strings.Split(name, ".")
	if len(parts) < 3 {
		return name
	}
	tail := parts[len(parts)-1]
	parts = parts[:len(parts)-1]
	var b strings.Builder
	for i := 0; i < len(parts); {
		j := i + 1
		for j < len(parts) && parts[j] == parts[i] {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		if n := j - i; n > 1 {
			b.WriteString("{" + parts[i] + "#" + strconv.Itoa(n) + "}")
		} else {
			b.WriteString(parts[i])
		}
		i = j
	}
	b.WriteByte('.')
	b.WriteString(tail)
	return b.String()
}
