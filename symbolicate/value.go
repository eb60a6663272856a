package symbolicate

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Events are decoded with json.Decoder.UseNumber into map[string]any so that
// every field stacklens does not own passes through untouched. These helpers
// read the few typed fields we need.

func asMap(v any) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	return m, ok
}

func asList(v any) ([]any, bool) {
	l, ok := v.([]any)
	return l, ok
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}

// asInt reads a JSON integer (Sentry rejects strings for lineno/colno).
func asInt(v any) (int, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		if err != nil || i < math.MinInt32 || i > math.MaxInt32 {
			return 0, false
		}
		return int(i), true
	case float64:
		if n != math.Trunc(n) || n < math.MinInt32 || n > math.MaxInt32 {
			return 0, false
		}
		return int(n), true
	case int:
		return n, true
	}
	return 0, false
}

// parseAddr reads an address the way Relay accepts it: a "0x…" hex string,
// a decimal string, or a JSON integer.
func parseAddr(v any) (uint64, bool) {
	switch a := v.(type) {
	case string:
		s := strings.TrimSpace(a)
		if s == "" {
			return 0, false
		}
		if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
			u, err := strconv.ParseUint(s[2:], 16, 64)
			return u, err == nil
		}
		u, err := strconv.ParseUint(s, 10, 64)
		return u, err == nil
	case json.Number:
		u, err := strconv.ParseUint(string(a), 10, 64)
		return u, err == nil
	case float64:
		if a < 0 || a != math.Trunc(a) || a > math.MaxUint64 {
			return 0, false
		}
		return uint64(a), true
	}
	return 0, false
}

func formatAddr(a uint64) string { return fmt.Sprintf("0x%x", a) }

// cloneJSON deep-copies a decoded JSON value.
func cloneJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = cloneJSON(x)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, x := range t {
			l[i] = cloneJSON(x)
		}
		return l
	}
	return v
}

// frameData returns the frame's "data" object, creating it if needed.
func frameData(frame map[string]any) map[string]any {
	if d, ok := asMap(frame["data"]); ok {
		return d
	}
	d := map[string]any{}
	frame["data"] = d
	return d
}
