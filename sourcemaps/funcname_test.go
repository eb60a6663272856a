package sourcemaps

import "testing"

// Expectations from Sentry's fold_function_name documentation.
func TestFoldFunctionName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"foo", "foo"},
		{"foo.foo", "foo.foo"},
		{"foo.foo.foo", "{foo#2}.foo"},
		{"bar.foo.foo", "bar.foo.foo"},
		{"bar.foo.foo.foo", "bar.{foo#2}.foo"},
		{"bar.foo.foo.onError", "bar.{foo#2}.onError"},
		{"bar.bar.bar.foo.foo.onError", "{bar#3}.{foo#2}.onError"},
		{"bar.foo.foo.bar.bar.onError", "bar.{foo#2}.{bar#2}.onError"},
		{"a.foo.foo.foo.bar", "a.{foo#3}.bar"},
	}
	for _, tt := range tests {
		if got := foldFunctionName(tt.in); got != tt.want {
			t.Errorf("foldFunctionName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPickFunctionName(t *testing.T) {
	tests := []struct{ frameFn, scope, callsite, want string }{
		{"a", "Cart.total", "total", "Cart.total"},
		{"a", "<anonymous>", "onClick", "onClick"},
		{"a", "__webpack_require__", "", "a"},
		{"", "<anonymous>", "", "<anonymous>"},
		{"r", "<anonymous>", "", "r"},
	}
	for _, tt := range tests {
		if got := pickFunctionName(tt.frameFn, tt.scope, tt.callsite); got != tt.want {
			t.Errorf("pickFunctionName(%q, %q, %q) = %q, want %q", tt.frameFn, tt.scope, tt.callsite, got, tt.want)
		}
	}
}
