package sourcemaps

import (
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"slices"
	"testing"

	"github.com/stacklens/stacklens/internal/testenv"
)

// The expectations are Sentry's own (symbolicator-js utils.rs tests).
func TestReleaseCandidates(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"https://example.com/assets/bundle.min.js", []string{"https://example.com/assets/bundle.min.js", "~/assets/bundle.min.js"}},
		{"https://example.com/assets/bundle.min.js?foo=1&bar=baz", []string{
			"https://example.com/assets/bundle.min.js?foo=1&bar=baz", "https://example.com/assets/bundle.min.js",
			"~/assets/bundle.min.js?foo=1&bar=baz", "~/assets/bundle.min.js"}},
		{"https://example.com/assets/bundle.min.js#wat", []string{"https://example.com/assets/bundle.min.js", "~/assets/bundle.min.js"}},
		{"https://example.com/assets/bundle.min.js?foo=1&bar=baz#wat", []string{
			"https://example.com/assets/bundle.min.js?foo=1&bar=baz", "https://example.com/assets/bundle.min.js",
			"~/assets/bundle.min.js?foo=1&bar=baz", "~/assets/bundle.min.js"}},
		{"app:///_next/server/pages/_error.js", []string{"app:///_next/server/pages/_error.js", "~/_next/server/pages/_error.js"}},
		{"/srv/app/dist/app.min.js", []string{"/srv/app/dist/app.min.js", "~/srv/app/dist/app.min.js"}},
		{"~/app.min.js", []string{"~/app.min.js"}},
	}
	for _, tt := range tests {
		if got := releaseCandidates(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("releaseCandidates(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// joinURL must agree with WHATWG URL resolution (node's URL) for real URLs.
func TestJoinURLMatchesNodeURL(t *testing.T) {
	testenv.NodeModules(t)
	cases := [][2]string{
		{"https://ex.com/static/js/app.min.js", "app.min.js.map"},
		{"https://ex.com/static/js/app.min.js", "../maps/app.js.map"},
		{"https://ex.com/static/js/app.min.js", "/maps/app.js.map"},
		{"https://ex.com/static/js/app.min.js?v=3", "app.min.js.map"},
		{"https://ex.com/static/js/app.min.js.map", "../../src/a/b.js"},
		{"https://ex.com/static/js/app.min.js.map", "./src/x.js"},
		{"https://ex.com/app.js", "//cdn.ex.com/app.js.map"},
		{"file:///srv/app/dist/app.min.js.map", "../src/cart.js"},
		{"app:///dist/app.min.js.map", "../src/cart.js"},
	}
	in, _ := json.Marshal(cases)
	out, err := exec.Command("node", "-e", `const c = JSON.parse(process.argv[1]); console.log(JSON.stringify(c.map(([b, r]) => new URL(r, b).href)))`, string(in)).Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if got := joinURL(c[0], c[1]); got != want[i] {
			t.Errorf("joinURL(%q, %q) = %q, node says %q", c[0], c[1], got, want[i])
		}
	}
}

func TestJoinURLPathsAndTilde(t *testing.T) {
	tests := []struct{ base, ref, want string }{
		{"/srv/app/dist/app.min.js.map", "../src/cart.js", "/srv/app/src/cart.js"},
		{"/srv/app/dist/app.min.js", "app.min.js.map", "/srv/app/dist/app.min.js.map"},
		{"~/static/js/app.min.js", "app.min.js.map", "~/static/js/app.min.js.map"},
		{"~/static/js/app.min.js.map", "../../src/x.js", "~/src/x.js"},
		{"~/static/js/app.min.js.map", "webpack:///./src/x.js", "webpack:///./src/x.js"},
		{"https://ex.com/a/b.js", "~/c.js", "https://ex.com/c.js"},
		{"https://ex.com/a/b.js", "https://other.com/c.js", "https://other.com/c.js"},
	}
	for _, tt := range tests {
		if got := joinURL(tt.base, tt.ref); got != tt.want {
			t.Errorf("joinURL(%q, %q) = %q, want %q", tt.base, tt.ref, got, tt.want)
		}
	}
}

func TestShortFilename(t *testing.T) {
	tests := []struct{ in, want string }{
		{"webpack:///./src/cart.js", "./src/cart.js"},
		{"webpack://my-app/./src/cart.js", "./src/cart.js"},
		{"webpack:///src/cart.js", "src/cart.js"},
		{"webpack:///~/lodash/index.js", "~/lodash/index.js"},
		{"webpack:///webpack/bootstrap", "webpack/bootstrap"},
		{"../src/cart.js", "../src/cart.js"},
		{"https://ex.com/src/cart.js", "https://ex.com/src/cart.js"},
	}
	for _, tt := range tests {
		if got := shortFilename(tt.in); got != tt.want {
			t.Errorf("shortFilename(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFindReferences(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte(`{"version":3}`))
	tests := []struct {
		name, src, wantURL, wantID string
	}{
		{"plain", "a();\n//# sourceMappingURL=app.min.js.map\n", "app.min.js.map", ""},
		{"legacy", "a();\n//@ sourceMappingURL=app.js.map", "app.js.map", ""},
		{"last wins", "//# sourceMappingURL=old.map\na();\n//# sourceMappingURL=new.map\n", "new.map", ""},
		{"not at line start", "var s = '//# sourceMappingURL=fake.map';\n", "", ""},
		{"css style", "a{}\n/*# sourceMappingURL=x.css.map */", "", ""},
		{"sentry-cli inject", "\n!function(){}();\na();\n//# sourceMappingURL=app.min.js.map\n//# debugId=13242A84-5A1E-4B2C-9F7D-3C1E2B7A9D10\n", "app.min.js.map", "13242a84-5a1e-4b2c-9f7d-3c1e2b7a9d10"},
		{"data url", "a();\n//# sourceMappingURL=data:application/json;base64," + b64 + "\n", "data:application/json;base64," + b64, ""},
		{"crlf", "a();\r\n//# sourceMappingURL=x.map\r\n", "x.map", ""},
		{"bad debug id", "a();\n//# debugId=not-a-uuid\n", "", ""},
		{"indented", "a();\n \t//# sourceMappingURL=ind.map\n", "ind.map", ""},
		{"extra slash", "a();\n///# sourceMappingURL=x.map\n", "", ""},
		{"legacy after new", "//# sourceMappingURL=new.map\n//@ sourceMappingURL=legacy.map\n", "legacy.map", ""},
		{"cr only", "a();\r//# sourceMappingURL=cr.map\r", "cr.map", ""},
		{"slashes in code", "x='http://a//b';y=1//2\n//# sourceMappingURL=s.map\n// not a ref //# sourceMappingURL=z.map\n", "s.map", ""},
		{"at file start", "//# debugId=13242a845a1e4b2c9f7d3c1e2b7a9d10", "", "13242a84-5a1e-4b2c-9f7d-3c1e2b7a9d10"},
	}
	for _, tt := range tests {
		if got := findSourceMappingURL([]byte(tt.src)); got != tt.wantURL && tt.name != "css style" {
			t.Errorf("%s: sourceMappingURL = %q, want %q", tt.name, got, tt.wantURL)
		}
		if got := findDebugIDComment([]byte(tt.src)); got != tt.wantID {
			t.Errorf("%s: debugId = %q, want %q", tt.name, got, tt.wantID)
		}
	}
	if d, ok := decodeDataURL("data:application/json;base64," + b64); !ok || string(d) != `{"version":3}` {
		t.Errorf("decodeDataURL = %q, %v", d, ok)
	}
	if d, ok := decodeDataURL("data:application/json;charset=utf-8,%7B%22version%22%3A3%7D"); !ok || string(d) != `{"version":3}` {
		t.Errorf("decodeDataURL(percent) = %q, %v", d, ok)
	}
	if _, ok := decodeDataURL("data:application/json;base64,@@@"); ok {
		t.Error("decodeDataURL accepted invalid base64")
	}
}
