package sourcemaps

import (
	"slices"
	"strings"
	"testing"
)

// The long-line expectations are Sentry's (symbolicator source_context.rs);
// for ASCII, UTF-16 units and bytes agree.
func TestTrimContextLine(t *testing.T) {
	long := "The public is more familiar with bad design than good design. It is, in effect, conditioned to prefer bad design, because that is what it lives with. The new becomes threatening, the old reassuring."
	tests := []struct {
		line string
		col  int
		want string
	}{
		{"foo", 0, "foo"},
		{long, 0, "The public is more familiar with bad design than good design. It is, in effect, conditioned to prefer bad design, because that is what it li {snip}"},
		{long, 10, "The public is more familiar with bad design than good design. It is, in effect, conditioned to prefer bad design, because that is what it li {snip}"},
		{long, 66, "{snip} blic is more familiar with bad design than good design. It is, in effect, conditioned to prefer bad design, because that is what it lives wi {snip}"},
		{long, 190, "{snip} gn. It is, in effect, conditioned to prefer bad design, because that is what it lives with. The new becomes threatening, the old reassuring."},
		{long, 9999, "{snip} gn. It is, in effect, conditioned to prefer bad design, because that is what it lives with. The new becomes threatening, the old reassuring."},
	}
	for _, tt := range tests {
		if got := trimContextLine(tt.line, tt.col); got != tt.want {
			t.Errorf("trimContextLine(col %d) =\n%q\nwant\n%q", tt.col, got, tt.want)
		}
	}
	// Emoji are 2 UTF-16 units: 80 of them are 160 units, so the line is
	// trimmed, and never inside a surrogate pair.
	emoji := strings.Repeat("😀", 80)
	got := trimContextLine(emoji, 70)
	if !strings.HasPrefix(got, "{snip} ") || !strings.HasSuffix(got, " {snip}") {
		t.Errorf("emoji line not snipped on both sides: %q", got)
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(got, "{snip} "), " {snip}")
	if inner != strings.Repeat("😀", 70) {
		t.Errorf("emoji line kept %d units, want 140: %q", utf16Len(inner), inner)
	}
	// 150 units exactly is not trimmed (75 emoji).
	if s := strings.Repeat("😀", 75); trimContextLine(s, 0) != s {
		t.Error("a 150-unit line was trimmed")
	}
}

func TestLineContext(t *testing.T) {
	var b strings.Builder
	for i := 1; i <= 12; i++ {
		b.WriteString("line")
		b.WriteString(strings.Repeat("x", i))
		b.WriteString("\r\n")
	}
	x := newLineIndex(b.String())
	if x.numLines() != 12 {
		t.Fatalf("numLines = %d, want 12 (a trailing newline is not a line)", x.numLines())
	}
	c := x.context(1, 1)
	if c.Line != "linex" || len(c.Pre) != 0 || len(c.Post) != 5 {
		t.Errorf("context(1) = %+v", c)
	}
	c = x.context(12, 1)
	if c.Line != "line"+strings.Repeat("x", 12) || len(c.Pre) != 5 || len(c.Post) != 0 {
		t.Errorf("context(12) = %+v", c)
	}
	c = x.context(7, 1)
	if !slices.Equal(c.Pre, []string{"linexx", "linexxx", "linexxxx", "linexxxxx", "linexxxxxx"}) {
		t.Errorf("context(7).Pre = %q", c.Pre)
	}
	if x.context(13, 1) != nil || x.context(0, 1) != nil {
		t.Error("context beyond the file is not nil")
	}
	if newLineIndex("").context(1, 1) != nil {
		t.Error("context of an empty file is not nil")
	}
}
