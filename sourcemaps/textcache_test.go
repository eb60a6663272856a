package sourcemaps

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"unsafe"
)

func encodeText(t *testing.T, text string) []byte {
	t.Helper()
	data := []byte(text)
	tf := &textFile{lines: newLineIndex(text), sourceMappingURL: findSourceMappingURL(data), debugID: findDebugIDComment(data)}
	var buf bytes.Buffer
	if err := (textCodec{}).Encode(&buf, tf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestTextCodecRoundTrip: a decoded js-text file answers as the text it was
// made from, and the context it hands out does not point into the data.
func TestTextCodecRoundTrip(t *testing.T) {
	long := strings.Repeat("x", 400)
	tests := []struct{ name, text string }{
		{"empty", ""},
		{"one line", "a();"},
		{"trailing newline", "a();\nb();\n"},
		{"crlf and refs", "a();\r\n//# sourceMappingURL=app.js.map\r\n//# debugId=13242a84-5a1e-4b2c-9f7d-3c1e2b7a9d10\r\n"},
		{"long non-ASCII line", "x\n" + long + "é" + long + "\ny"},
		{"odd line count", "1\n2\n3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := newLineIndex(tt.text)
			data := encodeText(t, tt.text)
			got, size, err := (textCodec{}).Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if size <= 0 {
				t.Errorf("size %d", size)
			}
			if got.sourceMappingURL != findSourceMappingURL([]byte(tt.text)) || got.debugID != findDebugIDComment([]byte(tt.text)) {
				t.Errorf("refs %q %q", got.sourceMappingURL, got.debugID)
			}
			x := got.lines
			if x.numLines() != want.numLines() || x.ascii != want.ascii || x.text != want.text {
				t.Fatalf("lines %d ascii %v, want %d %v", x.numLines(), x.ascii, want.numLines(), want.ascii)
			}
			for n := 1; n <= want.numLines()+1; n++ {
				gc, wc := x.context(n, 200), want.context(n, 200)
				if (gc == nil) != (wc == nil) || (gc != nil && (gc.Line != wc.Line || strings.Join(gc.Pre, "|") != strings.Join(wc.Pre, "|") || strings.Join(gc.Post, "|") != strings.Join(wc.Post, "|"))) {
					t.Fatalf("context(%d) = %+v, want %+v", n, gc, wc)
				}
				if gc != nil && gc.Line != "" {
					start := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
					if p := uintptr(unsafe.Pointer(unsafe.StringData(gc.Line))); p >= start && p < start+uintptr(len(data)) {
						t.Fatalf("context(%d) points into the decoded data", n)
					}
				}
			}
		})
	}
}

// TestTextCodecRejectsCorrupt: data that is not what Encode wrote (header,
// counts, line starts) is an error, never a panic or an index that could
// slice outside its text.
func TestTextCodecRejectsCorrupt(t *testing.T) {
	enc := encodeText(t, "a();\nb();\nc();\n//# sourceMappingURL=x.map\n")
	patch := func(off int, v uint64, width int) []byte {
		b := bytes.Clone(enc)
		if width == 8 {
			binary.LittleEndian.PutUint64(b[off:], v)
		} else {
			binary.LittleEndian.PutUint32(b[off:], uint32(v))
		}
		return b
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"short", enc[:20]},
		{"bad magic", append([]byte("JSTEXT02"), enc[8:]...)},
		{"unknown flag", patch(8, 2, 8)},
		{"no line starts", patch(16, 0, 8)},
		{"more starts than bytes", patch(16, 1<<40, 8)},
		{"url length off", patch(24, 1, 8)},
		{"text length off", patch(40, uint64(len(enc)), 8)},
		{"truncated", enc[:len(enc)-1]},
		{"trailing byte", append(bytes.Clone(enc), 'x')},
		{"first start not 0", patch(textHeader, 1, 4)},
		{"start not after a newline", patch(textHeader+4, 3, 4)},
		{"starts decreasing", patch(textHeader+8, 1, 4)},
		{"start past the text", patch(textHeader+12, 1<<30, 4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := (textCodec{}).Decode(tt.data); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestIsASCII(t *testing.T) {
	base := strings.Repeat("a", 100)
	for _, at := range []int{-1, 0, 7, 31, 32, 63, 95, 99} {
		s := []byte(base)
		if at >= 0 {
			s[at] = 0xc3
		}
		if got := isASCII(string(s)); got != (at < 0) {
			t.Errorf("non-ASCII byte at %d: isASCII = %v", at, got)
		}
	}
	if !isASCII("") {
		t.Error(`isASCII("") = false`)
	}
}
