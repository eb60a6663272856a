package sourcemaps

import (
	"regexp"
	"strings"
)

// cleanModule drops path prefixes that say nothing about the module: leading
// slashes, common asset folders, versions and hashes (Sentry's rule).
var cleanModule = regexp.MustCompile(`(?i)^(?:/|(?:(?:java)?scripts?|js|build|static|node_modules|bower_components|[_.~].*?|v?(?:\d+\.)*\d+|[a-f0-9]{7,8}|[a-f0-9]{32}|[a-f0-9]{40})/)+|(?:[-.][a-f0-9]{7,}$)`)

// generateModule derives Sentry's made-up module name ("main",
// "components/cart") from a resolved source URL; "" for plain paths, where
// the SDK's module stands.
func generateModule(absPath, source string) string {
	p := absPath
	if strings.HasPrefix(source, "webpack:") {
		p = shortFilename(source)
	} else if !strings.HasPrefix(p, "http:") && !strings.HasPrefix(p, "https:") &&
		!strings.HasPrefix(p, "webpack:") && !strings.HasPrefix(p, "app:") {
		return ""
	}
	p = stripHostname(p)
	if i := strings.IndexAny(p, "#?"); i >= 0 {
		p = p[:i]
	}
	if i := strings.LastIndexAny(p, "./"); i >= 0 && p[i] == '.' {
		p = p[:i]
	}
	p = strings.TrimSuffix(p, ".min")
	segs := strings.Split(p, "/")
	for k, seg := range segs {
		if len(seg) == 32 || (len(seg) == 40 && isHex(seg)) {
			return strings.Join(segs[k+1:], "/")
		}
	}
	return cleanModule.ReplaceAllString(p, "")
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}
