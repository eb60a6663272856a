package e2e

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/sha1"
	"debug/macho"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stacklens/stacklens/internal/testenv"
)

// The hardening tests throw bad input at every endpoint of the real binary
// and hold it to the project standard: a 4xx with a JSON message that names
// the problem, never a 5xx, a panic or a hang, and nothing stored before is
// lost. Identifiers carry a "hard" prefix so that this file never collides
// with the other end-to-end tests of the package.

// hardLimits keep the over-the-limit cases small and fast; the defaults
// (20 MiB events, 4 GiB uploads, 8 GiB zips) behave the same, only slower.
var hardLimits = []string{
	"--max-event-size", "2MiB",
	"--max-upload-size", "16MiB",
	"--max-decompressed-size", "64MiB",
	"--request-timeout", "30s",
}

const (
	hardJSURL      = "https://cdn.example.com/static/app.min.js"
	hardRelease    = "1.0"
	hardImageAddr  = 0x5555_0000_0000
	hardBombSize   = 4 << 30 // what the zip bombs inflate to
	hardProject    = "p"
	hardJSFunction = "hardenedTarget"
)

// hardFixtures are built once per test binary: an esbuild bundle with its
// map, a second unrelated map, a gcc -g binary, V8's and llvm-symbolizer's
// ground truth for them, and the zip bombs.
type hardFixtures struct {
	minJS, mapJS, otherMap []byte
	elf                    []byte
	buildID                string // GNU build-id, hex, from readelf
	jsStack                []hardV8Frame
	jsTruth                []hardV8Frame // the same frames, run unminified
	nativeOffset           uint64        // address of hard_target+4 in the object
	nativeFunction         string        // llvm-symbolizer's answer there
	nativeLine             int
	bomb, lyingBomb        []byte // one entry inflating to hardBombSize
	// Object files whose compressed debug sections are bombs: the ELF
	// declares 1 TiB in a .zdebug_str header, the real one holds 1 GiB of
	// deflated zeros, the Mach-O (the committed fixture) a __zdebug_str
	// declaring 64 GiB.
	zdebugELF, zdebugRealELF, zdebugMachO []byte
}

type hardV8Frame struct {
	Function string
	Line     int
	Col      int
}

var (
	hardOnce sync.Once
	hardFix  *hardFixtures
	hardErr  error
)

func hardFixture(t *testing.T) *hardFixtures {
	t.Helper()
	esbuild := testenv.NodeBin(t, "esbuild")
	symbolizer := testenv.Tool(t, "llvm-symbolizer")
	gcc := testenv.Tool(t, "gcc")
	readelf := testenv.Tool(t, "readelf")
	nm := testenv.Tool(t, "nm")
	objcopy := testenv.Tool(t, "objcopy")
	machoFixture := filepath.Join(testenv.RepoRoot(t), "testdata", "native", "ident", "macho_x86_64.dsym")
	hardOnce.Do(func() {
		hardFix, hardErr = buildHardFixtures(esbuild, symbolizer, gcc, readelf, nm)
		if hardErr == nil {
			hardErr = buildHardSectionBombs(hardFix, objcopy, machoFixture)
		}
	})
	if hardErr != nil {
		t.Fatalf("building hardening fixtures: %v", hardErr)
	}
	return hardFix
}

const hardAppJS = `function hardenedTarget(x) {
  if (x > 0) {
    throw new Error("boom " + x);
  }
  return x;
}
function hardenedCaller(n) {
  return hardenedTarget(n + 1) * 2;
}
try {
  hardenedCaller(Math.floor(Math.random() * 3));
} catch (e) {
  console.log(e.stack);
}
`

const hardOtherJS = `export function unrelated(a, b) {
  return [a, b].map((v) => v * 7).join("-");
}
console.log(unrelated(1, 2));
`

const hardAppC = `#include <stdio.h>

__attribute__((noinline)) int hard_target(int x) {
  int y = x * 3;
  return y + 1;
}

int main(int argc, char **argv) {
  printf("%d\n", hard_target(argc));
  return 0;
}
`

func hardRun(dir, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

var hardV8Line = regexp.MustCompile(`^\s*at (?:(\S+) \()?(.+?):(\d+):(\d+)\)?$`)

// hardAppFrames returns the frames of a V8 stack that lie in file, oldest
// first as Sentry orders them.
func hardAppFrames(stack, file string) []hardV8Frame {
	var out []hardV8Frame
	for _, line := range strings.Split(stack, "\n") {
		m := hardV8Line.FindStringSubmatch(line)
		if m == nil || !strings.HasSuffix(m[2], file) {
			continue
		}
		l, _ := strconv.Atoi(m[3])
		c, _ := strconv.Atoi(m[4])
		out = append([]hardV8Frame{{Function: m[1], Line: l, Col: c}}, out...)
	}
	return out
}

func buildHardFixtures(esbuild, symbolizer, gcc, readelf, nm string) (*hardFixtures, error) {
	dir, err := os.MkdirTemp("", "stacklens-hardening-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	fx := &hardFixtures{}
	for name, src := range map[string]string{"app.js": hardAppJS, "other.js": hardOtherJS, "app.c": hardAppC} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			return nil, err
		}
	}
	if _, err := hardRun(dir, esbuild, "app.js", "--minify", "--sourcemap", "--outfile=app.min.js"); err != nil {
		return nil, err
	}
	if _, err := hardRun(dir, esbuild, "other.js", "--bundle", "--minify", "--sourcemap", "--outfile=other.min.js"); err != nil {
		return nil, err
	}
	for dst, name := range map[*[]byte]string{&fx.minJS: "app.min.js", &fx.mapJS: "app.min.js.map", &fx.otherMap: "other.min.js.map"} {
		if *dst, err = os.ReadFile(filepath.Join(dir, name)); err != nil {
			return nil, err
		}
	}
	minStack, err := hardRun(dir, "node", "app.min.js")
	if err != nil {
		return nil, err
	}
	origStack, err := hardRun(dir, "node", "app.js")
	if err != nil {
		return nil, err
	}
	fx.jsStack = hardAppFrames(string(minStack), "app.min.js")
	fx.jsTruth = hardAppFrames(string(origStack), "app.js")
	if len(fx.jsStack) < 2 || len(fx.jsStack) != len(fx.jsTruth) {
		return nil, fmt.Errorf("want the same application frames from node, got %v (minified) and %v:\n%s\n%s", fx.jsStack, fx.jsTruth, minStack, origStack)
	}

	if _, err := hardRun(dir, gcc, "-g", "-O0", "-Wl,--build-id", "-o", "app", "app.c"); err != nil {
		return nil, err
	}
	if fx.elf, err = os.ReadFile(filepath.Join(dir, "app")); err != nil {
		return nil, err
	}
	notes, err := hardRun(dir, readelf, "-n", "app")
	if err != nil {
		return nil, err
	}
	m := regexp.MustCompile(`Build ID: ([0-9a-f]+)`).FindSubmatch(notes)
	if m == nil {
		return nil, fmt.Errorf("no build id in readelf -n:\n%s", notes)
	}
	fx.buildID = string(m[1])
	syms, err := hardRun(dir, nm, "app")
	if err != nil {
		return nil, err
	}
	m = regexp.MustCompile(`(?m)^([0-9a-f]+) T hard_target$`).FindSubmatch(syms)
	if m == nil {
		return nil, fmt.Errorf("no hard_target in nm:\n%s", syms)
	}
	start, _ := strconv.ParseUint(string(m[1]), 16, 64)
	fx.nativeOffset = start + 4
	truth, err := hardRun(dir, symbolizer, "--obj=app", fmt.Sprintf("0x%x", fx.nativeOffset))
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(truth)), "\n")
	if len(lines) < 2 {
		return nil, fmt.Errorf("llvm-symbolizer: %q", truth)
	}
	fx.nativeFunction = lines[0]
	loc := strings.Split(lines[1], ":")
	if len(loc) < 2 {
		return nil, fmt.Errorf("llvm-symbolizer location %q", lines[1])
	}
	if fx.nativeLine, err = strconv.Atoi(loc[1]); err != nil || fx.nativeLine == 0 {
		return nil, fmt.Errorf("llvm-symbolizer location %q", lines[1])
	}

	if fx.bomb, err = hardZipBomb("bomb.debug", false); err != nil {
		return nil, err
	}
	if fx.lyingBomb, err = hardZipBomb("lying.debug", true); err != nil {
		return nil, err
	}
	return fx, nil
}

// buildHardSectionBombs adds legacy "ZLIB" compressed sections to the
// fixture binary with objcopy, and renames a DWARF section of a real
// Mach-O to its __zdebug_ name with a ZLIB header in its contents.
func buildHardSectionBombs(fx *hardFixtures, objcopy, machoFixture string) error {
	dir, err := os.MkdirTemp("", "stacklens-hardening-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "app"), fx.elf, 0o755); err != nil {
		return err
	}
	stream, err := hardDeflateZeros(1024)
	if err != nil {
		return err
	}
	const inflated = 1 << 30
	realSec := binary.BigEndian.AppendUint64([]byte("ZLIB"), inflated)
	realSec = append(realSec, 0x78, 0xda)
	realSec = append(realSec, stream...)
	realSec = binary.BigEndian.AppendUint32(realSec, uint32(inflated%65521)<<16|1) // Adler-32 of zeros
	for name, content := range map[string][]byte{"declared": binary.BigEndian.AppendUint64([]byte("ZLIB"), 1<<40), "real": realSec} {
		if err := os.WriteFile(filepath.Join(dir, name+".sec"), content, 0o644); err != nil {
			return err
		}
		if _, err := hardRun(dir, objcopy, "--add-section", ".zdebug_str="+name+".sec", "app", name+".elf"); err != nil {
			return err
		}
	}
	if fx.zdebugELF, err = os.ReadFile(filepath.Join(dir, "declared.elf")); err != nil {
		return err
	}
	if fx.zdebugRealELF, err = os.ReadFile(filepath.Join(dir, "real.elf")); err != nil {
		return err
	}
	mo, err := os.ReadFile(machoFixture)
	if err != nil {
		return err
	}
	f, err := macho.NewFile(bytes.NewReader(mo))
	if err != nil {
		return err
	}
	s := f.Section("__debug_str")
	if s == nil {
		return fmt.Errorf("%s has no __debug_str", machoFixture)
	}
	var name, zname [16]byte
	copy(name[:], "__debug_str")
	copy(zname[:], "__zdebug_str")
	i := bytes.Index(mo, name[:])
	if i < 0 {
		return fmt.Errorf("no __debug_str section header in %s", machoFixture)
	}
	copy(mo[i:], zname[:])
	copy(mo[s.Offset:], binary.BigEndian.AppendUint64([]byte("ZLIB"), 64<<30))
	fx.zdebugMachO = mo
	return nil
}

// hardDeflateZeros returns a raw deflate stream of n MiB of zeros without
// compressing n MiB: after the first block, each further MiB of zeros
// compresses (with a byte-aligning flush) to the same bytes, so the stream
// is head + chunk×(n-1) + tail.
func hardDeflateZeros(n int) ([]byte, error) {
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return nil, err
	}
	zero := make([]byte, 1<<20)
	var marks []int
	for range 3 {
		if _, err := fw.Write(zero); err != nil {
			return nil, err
		}
		if err := fw.Flush(); err != nil {
			return nil, err
		}
		marks = append(marks, buf.Len())
	}
	if err := fw.Close(); err != nil {
		return nil, err
	}
	all := buf.Bytes()
	head, chunk, chunk2, tail := all[:marks[0]], all[marks[0]:marks[1]], all[marks[1]:marks[2]], all[marks[2]:]
	if !bytes.Equal(chunk, chunk2) {
		return nil, fmt.Errorf("deflate of zeros is not periodic; cannot build the bomb cheaply")
	}
	out := append([]byte{}, head...)
	for i := 1; i < n; i++ {
		out = append(out, chunk...)
	}
	out = append(out, tail...)
	// The trick must be exact: check it on a small stream.
	if n <= 4 {
		got, err := io.ReadAll(flate.NewReader(bytes.NewReader(out)))
		if err != nil || len(got) != n<<20 || bytes.IndexFunc(got, func(r rune) bool { return r != 0 }) >= 0 {
			return nil, fmt.Errorf("periodic deflate stream is wrong: %d bytes, %v", len(got), err)
		}
	}
	return out, nil
}

// hardZipBomb is a zip of one entry that inflates to hardBombSize bytes of
// zeros. A lying bomb declares a tiny uncompressed size (and the CRC of that
// tiny content), so only a limit on bytes actually inflated stops it.
func hardZipBomb(name string, lying bool) ([]byte, error) {
	if _, err := hardDeflateZeros(3); err != nil {
		return nil, err
	}
	stream, err := hardDeflateZeros(hardBombSize >> 20)
	if err != nil {
		return nil, err
	}
	hdr := &zip.FileHeader{Name: name, Method: zip.Deflate, CompressedSize64: uint64(len(stream)), UncompressedSize64: hardBombSize}
	if lying {
		hdr.UncompressedSize64 = 1024
		hdr.CRC32 = crc32.ChecksumIEEE(make([]byte, 1024))
	} else {
		zero := make([]byte, 1<<20)
		var crc uint32
		for range hardBombSize >> 20 {
			crc = crc32.Update(crc, crc32.IEEETable, zero)
		}
		hdr.CRC32 = crc
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(hdr)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(stream); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

const hardBoundary = "stacklens-hardening-boundary"

// hardGzipChunkBomb is a chunk-upload request whose one file_gzip part
// inflates to 64 MiB, far over any chunk size, named by the SHA-1 of what
// it inflates to so that only the size limit can refuse it.
func hardGzipChunkBomb(t *testing.T) []byte {
	t.Helper()
	const mib = 64
	stream, err := hardDeflateZeros(mib)
	if err != nil {
		t.Fatal(err)
	}
	zero := make([]byte, 1<<20)
	sum := sha1.New()
	crc := crc32.NewIEEE()
	for range mib {
		sum.Write(zero)
		crc.Write(zero)
	}
	var gz bytes.Buffer
	gz.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	gz.Write(stream)
	gz.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
	gz.Write(binary.LittleEndian.AppendUint32(nil, uint32(mib<<20)))
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := mw.SetBoundary(hardBoundary); err != nil {
		t.Fatal(err)
	}
	part, err := mw.CreateFormFile("file_gzip", hex.EncodeToString(sum.Sum(nil)))
	if err != nil {
		t.Fatal(err)
	}
	part.Write(gz.Bytes())
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return body.Bytes()
}

// hardZip builds a zip of the given entries, in order.
func hardZip(t *testing.T, entries ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e[0], Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, e[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hardBundle is a sentry-cli artifact bundle: manifest.json naming files.
func hardBundle(t *testing.T, release string, files map[string][2]string, extra ...[2]string) []byte {
	t.Helper()
	manifest := map[string]any{"org": "o", "release": release}
	entries := map[string]any{}
	var zipEntries [][2]string
	for path, f := range files {
		typ := "minified_source"
		if strings.HasSuffix(f[0], ".map") {
			typ = "source_map"
		}
		entries[path] = map[string]any{"url": f[0], "type": typ, "headers": map[string]string{}}
		zipEntries = append(zipEntries, [2]string{path, f[1]})
	}
	manifest["files"] = entries
	mb, err := json.Marshal(manifest)
	if err != nil {
		t.Fatal(err)
	}
	return hardZip(t, append(append([][2]string{{"manifest.json", string(mb)}}, zipEntries...), extra...)...)
}

// hardJSEvent is the event @sentry/browser would send for the minified
// throw, with frames as V8 reported them.
func hardJSEvent(fx *hardFixtures, release, url string) map[string]any {
	var frames []any
	for _, f := range fx.jsStack {
		frames = append(frames, map[string]any{"abs_path": url, "lineno": f.Line, "colno": f.Col, "function": f.Function, "in_app": true})
	}
	return map[string]any{
		"platform": "javascript", "release": release,
		"exception": map[string]any{"values": []any{map[string]any{"type": "Error", "value": "boom",
			"stacktrace": map[string]any{"frames": frames}}}},
	}
}

func hardNativeEvent(fx *hardFixtures, debugID string) map[string]any {
	return map[string]any{
		"platform": "native",
		"exception": map[string]any{"values": []any{map[string]any{"type": "SIGSEGV",
			"stacktrace": map[string]any{"frames": []any{
				map[string]any{"instruction_addr": fmt.Sprintf("0x%x", hardImageAddr+fx.nativeOffset)},
			}}}}},
		"debug_meta": map[string]any{"images": []any{map[string]any{
			"type": "elf", "code_file": "/opt/app", "debug_id": debugID, "code_id": fx.buildID,
			"image_addr": fmt.Sprintf("0x%x", hardImageAddr), "image_size": 1 << 20, "image_vmaddr": "0x0",
		}}},
	}
}

// hardClient never follows redirects, so that the status a case sees is
// the server's own reply.
var hardClient = &http.Client{
	Timeout:       60 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// hardDo sends one request. body may be nil; length -1 means chunked.
func hardDo(t *testing.T, method, url string, header http.Header, body io.Reader, length int64) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.ContentLength = length
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := hardClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading reply: %v", method, url, err)
	}
	return resp.StatusCode, out
}

// hardCheckError asserts the error reply shape: one of want, JSON
// {"error":{"code","message"}} (Sentry's {"detail": message} alone under
// /api/0/, the shape sentry-cli prints), a message naming the problem
// (every word of msg, case-insensitively), and a server still alive
// without panics.
func hardCheckError(t *testing.T, srv *testenv.Server, path string, status int, body []byte, want []int, msg string) {
	t.Helper()
	if status >= 500 {
		t.Errorf("status %d (5xx) for bad input: %s", status, body)
	}
	if !hardContains(want, status) {
		t.Errorf("status %d, want one of %v: %s", status, want, body)
	}
	if status >= 400 && strings.HasPrefix(path, "/api/0/") {
		var eb map[string]any
		var detail string
		if err := json.Unmarshal(body, &eb); err != nil || len(eb) != 1 {
			t.Errorf("Sentry API error body is not {\"detail\": …}: %s", body)
		} else if detail, _ = eb["detail"].(string); detail == "" {
			t.Errorf("Sentry API error body has no detail: %s", body)
		}
		hardCheckMentions(t, detail, msg)
	} else if status >= 400 {
		var eb struct {
			Error *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(body, &eb); err != nil || eb.Error == nil || eb.Error.Code == "" || eb.Error.Message == "" {
			t.Errorf("error body is not {\"error\":{\"code\",\"message\"}}: %s", body)
		} else {
			hardCheckMentions(t, eb.Error.Message, msg)
		}
	}
	hardCheckAlive(t, srv)
}

func hardCheckMentions(t *testing.T, message, msg string) {
	t.Helper()
	for _, word := range strings.Fields(msg) {
		if !strings.Contains(strings.ToLower(message), strings.ToLower(word)) {
			t.Errorf("message %q does not mention %q", message, word)
		}
	}
}

func hardCheckAlive(t *testing.T, srv *testenv.Server) {
	t.Helper()
	if !srv.Running() {
		t.Fatalf("the server died:\n%s", srv.Logs())
	}
	if strings.Contains(strings.ToLower(srv.Logs()), "panic") {
		t.Fatalf("the server log mentions a panic:\n%s", srv.Logs())
	}
	status, body := hardDo(t, "GET", srv.URL+"/healthz", nil, nil, 0)
	if status != http.StatusOK {
		t.Fatalf("/healthz: %d %s", status, body)
	}
}

func hardContains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func hardJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hardPatternReader yields n bytes: prefix, then filler, without holding
// them in memory.
type hardPatternReader struct {
	prefix []byte
	filler byte
	left   int64
}

func (r *hardPatternReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	if len(r.prefix) > 0 {
		n = copy(p, r.prefix)
		r.prefix = r.prefix[n:]
	}
	for i := n; i < len(p); i++ {
		p[i] = r.filler
	}
	r.left -= int64(len(p))
	return len(p), nil
}

// hardBaseline is what hardUploadGood stored and got back: the events and
// the replies a later run must reproduce exactly.
type hardBaseline struct {
	jsEvent, nativeEvent []byte
	jsReply, nativeReply map[string]any
}

// hardUploadGood uploads the good artifacts, symbolicates one JS and one
// native event, and checks them against V8 and llvm-symbolizer.
func hardUploadGood(t *testing.T, srv *testenv.Server, fx *hardFixtures) *hardBaseline {
	t.Helper()
	base := srv.URL + "/api/v1/projects/" + hardProject
	for _, f := range []struct {
		url  string
		body []byte
	}{{"~/static/app.min.js", fx.minJS}, {"~/static/app.min.js.map", fx.mapJS}} {
		status, body := hardDo(t, "PUT", base+"/files?release="+hardRelease+"&url="+f.url, nil, bytes.NewReader(f.body), int64(len(f.body)))
		if status != http.StatusCreated {
			t.Fatalf("upload %s: %d %s", f.url, status, body)
		}
	}
	status, body := hardDo(t, "POST", base+"/debug-files", nil, bytes.NewReader(fx.elf), int64(len(fx.elf)))
	if status != http.StatusCreated {
		t.Fatalf("upload debug file: %d %s", status, body)
	}
	var metas []struct {
		DebugID string `json:"debug_id"`
		CodeID  string `json:"code_id"`
	}
	if err := json.Unmarshal(body, &metas); err != nil || len(metas) != 1 {
		t.Fatalf("debug file upload reply %s: %v", body, err)
	}
	if metas[0].CodeID != fx.buildID {
		t.Fatalf("code_id %s, readelf says build-id %s", metas[0].CodeID, fx.buildID)
	}
	b := &hardBaseline{
		jsEvent:     hardJSON(t, hardJSEvent(fx, hardRelease, hardJSURL)),
		nativeEvent: hardJSON(t, hardNativeEvent(fx, metas[0].DebugID)),
	}
	b.jsReply = hardSymbolicate(t, srv, b.jsEvent)
	b.nativeReply = hardSymbolicate(t, srv, b.nativeEvent)

	frames := list(obj(obj(list(obj(b.jsReply["exception"])["values"])[0])["stacktrace"])["frames"])
	if len(frames) != len(fx.jsTruth) {
		t.Fatalf("JS reply has %d frames, want %d", len(frames), len(fx.jsTruth))
	}
	for i, want := range fx.jsTruth {
		f := obj(frames[i])
		if obj(f["data"])["symbolicated"] != true || num(f["lineno"]) != want.Line || num(f["colno"]) != want.Col || !strings.HasSuffix(str(f["abs_path"]), "app.js") {
			t.Errorf("JS frame %d = %v, V8 on the original says line %d col %d", i, f, want.Line, want.Col)
		}
	}
	if got := str(obj(frames[len(frames)-1])["function"]); got != hardJSFunction {
		t.Errorf("crashing JS frame function %q, want %q", got, hardJSFunction)
	}
	nf := list(obj(obj(list(obj(b.nativeReply["exception"])["values"])[0])["stacktrace"])["frames"])
	if len(nf) != 1 {
		t.Fatalf("native reply frames: %v", nf)
	}
	if f := obj(nf[0]); str(f["function"]) != fx.nativeFunction || num(f["lineno"]) != fx.nativeLine {
		t.Errorf("native frame %v, llvm-symbolizer says %s line %d", f, fx.nativeFunction, fx.nativeLine)
	}
	return b
}

func hardSymbolicate(t *testing.T, srv *testenv.Server, event []byte) map[string]any {
	t.Helper()
	status, body := hardDo(t, "POST", srv.URL+"/api/v1/projects/"+hardProject+"/symbolicate", nil, bytes.NewReader(event), int64(len(event)))
	if status != http.StatusOK {
		t.Fatalf("symbolicate: %d %s", status, body)
	}
	return decodeHard(t, body)
}

func decodeHard(t *testing.T, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decoding %q: %v", b, err)
	}
	return m
}

// hardCheckUnchanged symbolicates the baseline events again: every earlier
// upload must still resolve to the very same reply.
func hardCheckUnchanged(t *testing.T, srv *testenv.Server, b *hardBaseline) {
	t.Helper()
	if got := hardSymbolicate(t, srv, b.jsEvent); !reflect.DeepEqual(got, b.jsReply) {
		t.Errorf("the JS event no longer symbolicates the same:\nbefore %s\nafter  %s", hardJSON(t, b.jsReply), hardJSON(t, got))
	}
	if got := hardSymbolicate(t, srv, b.nativeEvent); !reflect.DeepEqual(got, b.nativeReply) {
		t.Errorf("the native event no longer symbolicates the same:\nbefore %s\nafter  %s", hardJSON(t, b.nativeReply), hardJSON(t, got))
	}
}

// hardCase is one bad request and what the reply must be.
type hardCase struct {
	name   string
	method string
	path   string // appended to the server URL, sent as written
	header http.Header
	body   func() (io.Reader, int64) // nil: no body
	want   []int
	msg    string // words the error message must contain
	// after, when set, runs once the reply is checked (e.g. symbolicate
	// against what the request stored).
	after func(t *testing.T, status int, body []byte)
}

func hardBytes(b []byte) func() (io.Reader, int64) {
	return func() (io.Reader, int64) { return bytes.NewReader(b), int64(len(b)) }
}

func hardString(s string) func() (io.Reader, int64) { return hardBytes([]byte(s)) }

func hardRunCases(t *testing.T, srv *testenv.Server, cases []hardCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader
			var length int64
			if c.body != nil {
				body, length = c.body()
			}
			status, reply := hardDo(t, c.method, srv.URL+c.path, c.header, body, length)
			hardCheckError(t, srv, c.path, status, reply, c.want, c.msg)
			if c.after != nil {
				c.after(t, status, reply)
			}
		})
	}
}

const (
	hardSym  = "/api/v1/projects/" + hardProject + "/symbolicate"
	hardDbg  = "/api/v1/projects/" + hardProject + "/debug-files"
	hardFile = "/api/v1/projects/" + hardProject + "/files"
	hardBndl = "/api/v1/projects/" + hardProject + "/artifact-bundles"
)

func hardEventCases(t *testing.T, fx *hardFixtures) []hardCase {
	frameEvent := func(frames string) string {
		return `{"platform":"javascript","release":"1.0","exception":{"values":[{"type":"E","stacktrace":{"frames":[` + frames + `]}}]}}`
	}
	nativeEvent := func(frames, images string) string {
		return `{"platform":"native","exception":{"values":[{"stacktrace":{"frames":[` + frames + `]}}]},"debug_meta":{"images":[` + images + `]}}`
	}
	var many strings.Builder
	many.WriteString(`{"platform":"native","threads":{"values":[{"stacktrace":{"frames":[`)
	for i := range 10001 {
		if i > 0 {
			many.WriteByte(',')
		}
		fmt.Fprintf(&many, `{"instruction_addr":"0x%x"}`, 0x1000+i)
	}
	many.WriteString(`]}}]}}`)
	okOr400 := []int{200, 400}
	// Frames with fields of the wrong type are the client's problem, but
	// one bad frame must not fail the whole event: 200 with the frame left
	// unresolved is as good as a 400.
	unresolved := func(t *testing.T, status int, body []byte) {
		if status != 200 {
			return
		}
		ev := decodeHard(t, body)
		for _, v := range list(obj(ev["exception"])["values"]) {
			for _, f := range list(obj(obj(v)["stacktrace"])["frames"]) {
				if obj(obj(f)["data"])["symbolicated"] == true {
					t.Errorf("a frame with wrong-typed fields came back symbolicated: %v", f)
				}
			}
		}
	}
	img := `{"type":"elf","debug_id":"00000000-0000-0000-0000-000000000001","image_addr":"0x1000","image_size":4096}`
	return []hardCase{
		{name: "malformed JSON", method: "POST", path: hardSym, body: hardString(`{"exception": {`), want: []int{400}, msg: "JSON"},
		{name: "not JSON at all", method: "POST", path: hardSym, body: hardString("\x00\x01garbage"), want: []int{400}, msg: "JSON"},
		{name: "empty body", method: "POST", path: hardSym, body: hardString(""), want: []int{400}, msg: "empty"},
		{name: "event is an array", method: "POST", path: hardSym, body: hardString(`[{"platform":"native"}]`), want: []int{400}, msg: "object array"},
		{name: "event is a number", method: "POST", path: hardSym, body: hardString(`42`), want: []int{400}, msg: "object number"},
		{name: "event is null", method: "POST", path: hardSym, body: hardString(`null`), want: []int{400}, msg: "object"},
		{name: "trailing data", method: "POST", path: hardSym, body: hardString(`{} {}`), want: []int{400}, msg: "after"},
		{name: "nesting too deep", method: "POST", path: hardSym, body: hardString(`{"a":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`), want: []int{400}, msg: "JSON"},
		{name: "exception is a string", method: "POST", path: hardSym, body: hardString(`{"exception":"boom"}`), want: []int{400}, msg: "exception"},
		{name: "values is an object", method: "POST", path: hardSym, body: hardString(`{"exception":{"values":{"a":1}}}`), want: []int{400}, msg: "values"},
		{name: "stacktrace is a number", method: "POST", path: hardSym, body: hardString(`{"stacktrace":3}`), want: []int{400}, msg: "stacktrace"},
		{name: "frames is an object", method: "POST", path: hardSym, body: hardString(`{"threads":{"values":[{"stacktrace":{"frames":{"0":{}}}}]}}`), want: []int{400}, msg: "frames"},
		{name: "frame is null", method: "POST", path: hardSym, body: hardString(frameEvent(`null`)), want: []int{400}, msg: "frames.0"},
		{name: "frame is a string", method: "POST", path: hardSym, body: hardString(frameEvent(`"at foo (app.js:1:1)"`)), want: []int{400}, msg: "frames.0"},
		{name: "lineno and colno are strings", method: "POST", path: hardSym, body: hardString(frameEvent(`{"abs_path":"` + hardJSURL + `","lineno":"1","colno":"30"}`)), want: okOr400, after: unresolved},
		{name: "lineno is an object", method: "POST", path: hardSym, body: hardString(frameEvent(`{"abs_path":"` + hardJSURL + `","lineno":{"n":1},"colno":[1]}`)), want: okOr400, after: unresolved},
		{name: "lineno huge, negative, fractional", method: "POST", path: hardSym, body: hardString(frameEvent(
			`{"abs_path":"` + hardJSURL + `","lineno":1e308,"colno":1},{"abs_path":"` + hardJSURL + `","lineno":-5,"colno":-1},{"abs_path":"` + hardJSURL + `","lineno":1.5,"colno":99999999999999999999}`)), want: okOr400, after: unresolved},
		{name: "abs_path is an object", method: "POST", path: hardSym, body: hardString(frameEvent(`{"abs_path":{"url":"x"},"filename":7,"lineno":1,"colno":1}`)), want: okOr400, after: unresolved},
		{name: "nested nulls", method: "POST", path: hardSym, body: hardString(`{"platform":null,"release":null,"exception":{"values":[null,{"stacktrace":null},{"stacktrace":{"frames":null}},{"stacktrace":{"frames":[{"abs_path":null,"lineno":null,"colno":null,"data":null,"instruction_addr":null}]}}]},"threads":null,"debug_meta":{"images":[null]}}`), want: okOr400, after: unresolved},
		{name: "release is a number", method: "POST", path: hardSym, body: hardString(`{"platform":{"x":1},"release":1.0,"dist":[],"exception":{"values":[{"stacktrace":{"frames":[{"abs_path":"` + hardJSURL + `","lineno":1,"colno":1}]}}]}}`), want: okOr400, after: unresolved},
		{name: "instruction_addr is an object", method: "POST", path: hardSym, body: hardString(nativeEvent(`{"instruction_addr":{"hex":"0x1010"}},{"instruction_addr":[4112]},{"instruction_addr":true}`, img)), want: okOr400, after: unresolved},
		{name: "instruction_addr not hex", method: "POST", path: hardSym, body: hardString(nativeEvent(`{"instruction_addr":"0xZZ"},{"instruction_addr":"-1"},{"instruction_addr":"0x1ffffffffffffffff"},{"instruction_addr":-4096}`, img)), want: okOr400, after: unresolved},
		{name: "image fields of wrong types", method: "POST", path: hardSym, body: hardString(nativeEvent(`{"instruction_addr":"0x1010"}`,
			`{"type":7,"debug_id":{"a":1},"image_addr":{"x":1},"image_size":"big"},{"type":"elf","debug_id":"../../../etc/passwd","code_id":"../x","image_addr":"0x1000","image_size":-1},"str",42,null`)), want: okOr400, after: unresolved},
		{name: "image overflowing the address space", method: "POST", path: hardSym, body: hardString(nativeEvent(`{"instruction_addr":"0xfffffffffffffff0"}`,
			`{"type":"elf","debug_id":"00000000-0000-0000-0000-000000000002","image_addr":"0xfffffffffffff000","image_size":18446744073709551615,"image_vmaddr":"0xffffffffffffffff"}`)), want: okOr400, after: unresolved},
		{name: "debug_meta of wrong types", method: "POST", path: hardSym, body: hardString(`{"debug_meta":{"images":{"a":1}},"stacktrace":{"frames":[{"instruction_addr":"0x10"}]}}`), want: okOr400, after: unresolved},
		{name: "adjustment of wrong type", method: "POST", path: hardSym, body: hardString(`{"platform":"native","stacktrace":{"instruction_addr_adjustment":{"x":1},"registers":[1],"frames":[{"instruction_addr":"0x10"},{"instruction_addr":"0x0"}]}}`), want: okOr400, after: unresolved},
		{name: "10001 frames", method: "POST", path: hardSym, body: hardString(many.String()), want: []int{413}, msg: "10001 frames"},
		{name: "body over the limit, announced", method: "POST", path: hardSym, body: func() (io.Reader, int64) {
			return &hardPatternReader{prefix: []byte(`{"pad":"`), filler: 'x', left: 3 << 20}, 3 << 20
		}, want: []int{413}},
		{name: "body over the limit, chunked", method: "POST", path: hardSym, body: func() (io.Reader, int64) {
			return &hardPatternReader{prefix: []byte(`{"pad":"`), filler: 'x', left: 3 << 20}, -1
		}, want: []int{413}},
		{name: "wrong debug id (unknown)", method: "POST", path: hardSym, body: hardString(string(hardJSON(t, hardNativeEvent(fx, "deadbeef-0000-0000-0000-000000000000")))), want: []int{200},
			after: func(t *testing.T, status int, body []byte) {
				f := obj(list(obj(obj(list(obj(decodeHard(t, body)["exception"])["values"])[0])["stacktrace"])["frames"])[0])
				// code_id still names the uploaded file: found by code id,
				// or missing; never an error.
				if st := str(obj(f["data"])["symbolicator_status"]); st != "symbolicated" && st != "missing" {
					t.Errorf("status %q", st)
				}
			}},
		{name: "wrong debug id (malformed)", method: "POST", path: hardSym, body: func() (io.Reader, int64) {
			ev := hardNativeEvent(fx, "not-a-debug-id/../../x")
			obj(list(obj(ev["debug_meta"])["images"])[0])["code_id"] = "zz/../.."
			return hardBytes(hardJSON(t, ev))()
		}, want: okOr400, after: unresolved},
		{name: "JS debug id of another file", method: "POST", path: hardSym, body: func() (io.Reader, int64) {
			ev := hardJSEvent(fx, "no-such-release", hardJSURL)
			ev["debug_meta"] = map[string]any{"images": []any{map[string]any{"type": "sourcemap", "code_file": hardJSURL, "debug_id": "../../../../etc"}}}
			return hardBytes(hardJSON(t, ev))()
		}, want: okOr400, after: unresolved},
	}
}

func hardUploadCases(t *testing.T, srv *testenv.Server, fx *hardFixtures, outside string) []hardCase {
	// sectionBomb symbolicates against a section bomb the server kept: the
	// parser would then allocate what the section declares.
	sectionBomb := func(typ string) func(t *testing.T, status int, body []byte) {
		return func(t *testing.T, status int, body []byte) {
			if status != http.StatusCreated {
				return
			}
			var metas []struct {
				DebugID string `json:"debug_id"`
			}
			if err := json.Unmarshal(body, &metas); err != nil {
				t.Fatal(err)
			}
			for _, m := range metas {
				ev := hardNativeEvent(fx, m.DebugID)
				obj(list(obj(ev["debug_meta"])["images"])[0])["type"] = typ
				b := hardJSON(t, ev)
				st, reply := hardDo(t, "POST", srv.URL+"/api/v1/projects/zbomb/symbolicate", nil, bytes.NewReader(b), int64(len(b)))
				if st != http.StatusOK {
					t.Errorf("symbolicate against the kept bomb: %d %s", st, reply)
				}
				hardCheckAlive(t, srv)
			}
		}
	}
	var cases []hardCase
	// A truncated object must be refused, not stored: stored, it would
	// shadow the complete file of the same debug id.
	for i := 1; i < 8; i++ {
		n := len(fx.elf) * i / 8
		cases = append(cases, hardCase{name: fmt.Sprintf("ELF truncated to %d of 8", i), method: "POST", path: hardDbg,
			body: hardBytes(fx.elf[:n]), want: []int{400}})
	}
	cases = append(cases,
		hardCase{name: "ELF header only", method: "POST", path: hardDbg, body: hardBytes(fx.elf[:64]), want: []int{400}},
		hardCase{name: "ELF magic only", method: "POST", path: hardDbg, body: hardString("\x7fELF"), want: []int{400}},
		hardCase{name: "not an object file", method: "POST", path: hardDbg, body: hardString("hello, I am a text file\n"), want: []int{400}},
		hardCase{name: "empty debug file", method: "POST", path: hardDbg, body: hardString(""), want: []int{400}},
		hardCase{name: "debug-files zip bomb", method: "POST", path: hardDbg, body: hardBytes(fx.bomb), want: []int{400, 413}, msg: "zip"},
		hardCase{name: "debug-files lying zip bomb", method: "POST", path: hardDbg, body: hardBytes(fx.lyingBomb), want: []int{400, 413}},
		hardCase{name: "debug-files truncated zip", method: "POST", path: hardDbg, body: hardBytes(fx.bomb[:len(fx.bomb)/2]), want: []int{400}},
		hardCase{name: "debug-files zip of nothing usable", method: "POST", path: hardDbg, body: hardBytes(hardZip(t, [2]string{"readme.txt", "hi"})), want: []int{400}},
		hardCase{name: "debug-files zip with traversal names", method: "POST", path: hardDbg, body: hardBytes(hardZip(t,
			[2]string{"../../../../../../.." + outside + "/pwned", string(fx.elf[:200])},
			[2]string{outside + "/pwned-abs", "x"},
			[2]string{`..\..\..\pwned-win`, "x"})), want: []int{400}},
		hardCase{name: "upload over the limit", method: "POST", path: hardDbg, body: func() (io.Reader, int64) {
			return &hardPatternReader{prefix: fx.elf[:4096], filler: 0, left: 20 << 20}, -1
		}, want: []int{413}},
		hardCase{name: "upload over the limit, announced", method: "POST", path: hardDbg, body: func() (io.Reader, int64) {
			return &hardPatternReader{prefix: fx.elf[:4096], filler: 0, left: 20 << 20}, 20 << 20
		}, want: []int{413}},

		hardCase{name: "debug-files zip of 10001 entries", method: "POST", path: hardDbg, body: func() (io.Reader, int64) {
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			for i := range 10001 {
				if _, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("e%d", i), Method: zip.Store}); err != nil {
					t.Fatal(err)
				}
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			return hardBytes(buf.Bytes())()
		}, want: []int{400, 413}, msg: "entries"},
		hardCase{name: "sentry chunk gzip bomb", method: "POST", path: "/api/0/organizations/o/chunk-upload/",
			header: http.Header{"Content-Type": {"multipart/form-data; boundary=" + hardBoundary}},
			body:   func() (io.Reader, int64) { return hardBytes(hardGzipChunkBomb(t))() }, want: []int{400, 413}, msg: "chunk"},
		hardCase{name: "ELF declaring a 1 TiB compressed section", method: "POST", path: "/api/v1/projects/zbomb/debug-files",
			body: hardBytes(fx.zdebugELF), want: []int{400}, msg: "compressed", after: sectionBomb("elf")},
		hardCase{name: "ELF with 1 GiB of compressed zeros", method: "POST", path: "/api/v1/projects/zbomb/debug-files",
			body: hardBytes(fx.zdebugRealELF), want: []int{400}, msg: "compressed", after: sectionBomb("elf")},
		hardCase{name: "Mach-O declaring a 64 GiB compressed section", method: "POST", path: "/api/v1/projects/zbomb/debug-files",
			body: hardBytes(fx.zdebugMachO), want: []int{400}, msg: "compressed", after: sectionBomb("macho")},
		hardCase{name: "bundle zip bomb", method: "POST", path: hardBndl + "?release=bomb", body: hardBytes(fx.bomb), want: []int{400, 413}},
		hardCase{name: "bundle lying zip bomb", method: "POST", path: hardBndl + "?release=bomb", body: hardBytes(fx.lyingBomb), want: []int{400, 413}},
		hardCase{name: "bundle whose manifest is a bomb", method: "POST", path: hardBndl + "?release=bomb", body: func() (io.Reader, int64) {
			b := bytes.Replace(fx.bomb, []byte("bomb.debug"), []byte("manifest.j"), -1) // same length keeps offsets
			return bytes.NewReader(b), int64(len(b))
		}, want: []int{400, 413}},
		hardCase{name: "bundle with traversal names", method: "POST", path: hardBndl + "?release=trav", body: hardBytes(hardBundle(t, "trav", map[string][2]string{
			"../../../../../../.." + outside + "/pwned.js": {"~/static/trav.min.js", string(fx.minJS)},
			outside + "/abs.js.map":                        {"~/static/trav.min.js.map", string(fx.mapJS)},
		})), want: []int{201, 400}},
		hardCase{name: "bundle manifest is an array", method: "POST", path: hardBndl, body: hardBytes(hardZip(t, [2]string{"manifest.json", "[1,2]"})), want: []int{400}, msg: "manifest"},
		hardCase{name: "bundle manifest invalid JSON", method: "POST", path: hardBndl, body: hardBytes(hardZip(t, [2]string{"manifest.json", "{"})), want: []int{400}, msg: "manifest"},
		hardCase{name: "bundle without manifest", method: "POST", path: hardBndl, body: hardBytes(hardZip(t, [2]string{"a.js", "x"})), want: []int{400}, msg: "manifest"},
		hardCase{name: "bundle manifest names a missing file", method: "POST", path: hardBndl + "?release=x", body: hardBytes(hardZip(t, [2]string{"manifest.json", `{"files":{"nope.js":{"url":"~/a.js","type":"minified_source"}}}`})), want: []int{400}},
		hardCase{name: "bundle not a zip", method: "POST", path: hardBndl, body: hardString("PK\x03\x04 not really"), want: []int{400}},
		hardCase{name: "bundle empty", method: "POST", path: hardBndl, body: hardString(""), want: []int{400}},
		hardCase{name: "bundle over the limit", method: "POST", path: hardBndl, body: func() (io.Reader, int64) {
			return &hardPatternReader{prefix: []byte("PK\x03\x04"), filler: 'z', left: 20 << 20}, -1
		}, want: []int{413}},
		hardCase{name: "file over the limit", method: "PUT", path: hardFile + "?release=big&url=~/big.js", body: func() (io.Reader, int64) {
			return &hardPatternReader{prefix: []byte("var a="), filler: '1', left: 20 << 20}, -1
		}, want: []int{413}},
		hardCase{name: "file without url", method: "PUT", path: hardFile + "?release=x", body: hardString("var a;"), want: []int{400}, msg: "url"},
		hardCase{name: "file of unknown type", method: "PUT", path: hardFile + "?release=x&url=~/a.js&type=exe", body: hardString("var a;"), want: []int{400}, msg: "type"},
		hardCase{name: "dist without release", method: "PUT", path: hardFile + "?dist=d&url=~/a.js", body: hardString("var a;"), want: []int{400}, msg: "release"},
	)
	return cases
}

// hardMapCases upload a broken map next to the good minified file under a
// release of its own, then symbolicate the good stack against it: the
// upload may be refused (400) or kept, and the event then gets its frames
// marked unresolved, never a 5xx.
func hardMapCases(t *testing.T, srv *testenv.Server, fx *hardFixtures) []hardCase {
	var good map[string]any
	if err := json.Unmarshal(fx.mapJS, &good); err != nil {
		t.Fatal(err)
	}
	withField := func(k string, v any) string {
		m := map[string]any{}
		for k, v := range good {
			m[k] = v
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return string(hardJSON(t, m))
	}
	sources := list(good["sources"])
	maps := []struct{ name, body string }{
		{"bad VLQ", withField("mappings", "AAAA,$$$$;!!!!,gggggggggggggggggg")},
		{"VLQ overflow", withField("mappings", "A"+strings.Repeat("g", 40)+"A,AAAA")},
		{"source index out of range", withField("mappings", "AAAA,CkBAAA,CzzzzzzBAAA")},
		{"negative source index", withField("mappings", "AAAA,CDAAA,CDAAA,CDAAA")},
		{"name index out of range", withField("mappings", "AAAAgpB,CAAAgpBh")},
		{"1-field segments", withField("mappings", "A,C,E,G;A,C")},
		{"2- and 3-field segments", withField("mappings", "AA,CAA,EAAA")},
		{"sections with url", `{"version":3,"sections":[{"offset":{"line":0,"column":0},"url":"https://evil.example.com/x.map"}]}`},
		{"nested index maps", `{"version":3,"sections":[{"offset":{"line":0,"column":0},"map":{"version":3,"sections":[{"offset":{"line":0,"column":0},"map":` + string(fx.mapJS) + `}]}}]}`},
		{"sections out of order", `{"version":3,"sections":[{"offset":{"line":5,"column":0},"map":` + string(fx.mapJS) + `},{"offset":{"line":0,"column":0},"map":` + string(fx.mapJS) + `}]}`},
		{"section offset negative", `{"version":3,"sections":[{"offset":{"line":-1,"column":-99},"map":` + string(fx.mapJS) + `}]}`},
		{"invalid JSON", `{"version":3,"mappings":"AAAA`},
		{"JSON array", `[1,2,3]`},
		{"JSON string", `"a map"`},
		{"wrong field types", `{"version":"3","sources":"a.js","names":{"a":1},"mappings":7,"sourcesContent":[1,null,{}]}`},
		{"null sources", withField("sources", []any{nil, nil})},
		{"sourcesContent longer than sources", withField("sourcesContent", append(append([]any{}, sources...), "extra", "more"))},
		{"version 2", withField("version", 2)},
		{"map for another file", string(fx.otherMap)},
	}
	var cases []hardCase
	for i, m := range maps {
		release := fmt.Sprintf("badmap-%d", i)
		minURL := "~/static/app.min.js"
		cases = append(cases, hardCase{
			name: "map " + m.name, method: "PUT",
			path: hardFile + "?release=" + release + "&url=" + minURL + ".map&type=source_map",
			body: hardString(m.body), want: []int{201, 400},
			after: func(t *testing.T, status int, reply []byte) {
				put, putBody := hardDo(t, "PUT", srv.URL+hardFile+"?release="+release+"&url="+minURL, nil, bytes.NewReader(fx.minJS), int64(len(fx.minJS)))
				if put != http.StatusCreated {
					t.Fatalf("upload minified: %d %s", put, putBody)
				}
				ev := hardJSON(t, hardJSEvent(fx, release, hardJSURL))
				st, body := hardDo(t, "POST", srv.URL+hardSym, nil, bytes.NewReader(ev), int64(len(ev)))
				if st != http.StatusOK {
					t.Fatalf("symbolicate against %s: %d %s", m.name, st, body)
				}
				hardCheckAlive(t, srv)
			},
		})
	}
	return cases
}

func hardTraversalCases(t *testing.T, srv *testenv.Server, fx *hardFixtures) []hardCase {
	js := hardString("var a=1;")
	noPanicList := func(t *testing.T, status int, body []byte) {
		if status == 200 && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) {
			t.Errorf("a listing must be a JSON list: %s", body)
		}
	}
	// roundTrip lists the release a stored file names: it must be there
	// under exactly that name, and a release of the same name with its
	// dots escaped must not alias it.
	roundTrip := func(release string) func(t *testing.T, status int, body []byte) {
		return func(t *testing.T, status int, body []byte) {
			if status != http.StatusCreated {
				return
			}
			st, reply := hardDo(t, "GET", srv.URL+"/api/v1/projects/p/releases/"+hardEscapeAll(release)+"/files", nil, nil, 0)
			var recs []struct {
				Release string `json:"release"`
				URL     string `json:"url"`
			}
			if err := json.Unmarshal(reply, &recs); st != 200 || err != nil || len(recs) != 1 || recs[0].Release != release {
				t.Errorf("release %q lists as %d %s", release, st, reply)
			}
			// The release literally named like the key component of this
			// one ("%2E%2E" for "..") is another release.
			alias := strings.NewReplacer(".", "%2E", "/", "%2F", "\x00", "%00").Replace(release)
			st, reply = hardDo(t, "GET", srv.URL+"/api/v1/projects/p/releases/"+hardEscapeAll(alias)+"/files", nil, nil, 0)
			if st == 200 && !bytes.Equal(bytes.TrimSpace(reply), []byte("[]")) {
				t.Errorf("release %q aliases its escaped form: %s", release, reply)
			}
		}
	}
	return []hardCase{
		{name: "project %2e%2e", method: "PUT", path: "/api/v1/projects/%2e%2e/files?url=~/a.js", body: js, want: []int{400}, msg: "project"},
		{name: "project %2E%2E%2F..", method: "POST", path: "/api/v1/projects/%2E%2E%2F%2E%2E/debug-files", body: hardBytes(fx.elf), want: []int{400, 404}},
		{name: "project with slash", method: "POST", path: "/api/v1/projects/a%2Fb/symbolicate", body: hardString("{}"), want: []int{400, 404}},
		{name: "project dot", method: "GET", path: "/api/v1/projects/%2e/debug-files", want: []int{400}, msg: "project"},
		{name: "project too long", method: "GET", path: "/api/v1/projects/" + strings.Repeat("a", 65) + "/debug-files", want: []int{400}, msg: "project"},
		{name: "project with NUL", method: "GET", path: "/api/v1/projects/a%00b/debug-files", want: []int{400}, msg: "project"},
		{name: "project literal ..", method: "GET", path: "/api/v1/projects/../debug-files", want: []int{301, 307, 308, 400, 404}},
		// Release and dist names are escaped into one key component
		// (blobstore.KeyPart), so "..", "/" and NUL are plain names: kept
		// under exactly that name, never a path. The stray-file check of
		// the sandbox catches any escape.
		{name: "release ..", method: "PUT", path: hardFile + "?release=..&url=~/a.js", body: js, want: []int{201, 400}, after: roundTrip("..")},
		{name: "release ../../x", method: "PUT", path: hardFile + "?release=../../../x&url=~/a.js", body: js, want: []int{201, 400}, after: roundTrip("../../../x")},
		{name: "release with slash", method: "PUT", path: hardFile + "?release=a/b&url=~/a.js", body: js, want: []int{201, 400}},
		{name: "release %2F listed", method: "GET", path: "/api/v1/projects/p/releases/..%2F..%2F..%2Fetc/files", want: []int{200, 400, 404}, after: noPanicList},
		{name: "release with NUL", method: "PUT", path: hardFile + "?release=a%00b&url=~/a.js", body: js, want: []int{201, 400}, after: roundTrip("a\x00b")},
		{name: "dist ..", method: "PUT", path: hardFile + "?release=dist-trav&dist=..&url=~/a.js", body: js, want: []int{201, 400}},
		{name: "url ~/../../etc/passwd", method: "PUT", path: hardFile + "?release=trav&url=~/../../etc/passwd", body: js, want: []int{201, 400}},
		{name: "url file:///etc/passwd", method: "PUT", path: hardFile + "?release=trav&url=file:///etc/passwd", body: js, want: []int{201, 400}},
		{name: "debug_id traversal in upload", method: "PUT", path: hardFile + "?url=~/a.js&debug_id=../../../../x", body: js, want: []int{400}, msg: "debug"},
		{name: "debug_id traversal in listing", method: "GET", path: hardDbg + "?debug_id=../../../../etc", want: []int{200, 400}, after: noPanicList},
		{name: "debug_id traversal in delete", method: "DELETE", path: hardDbg + "?debug_id=..%2F..%2F..", want: []int{400, 404}},
		{name: "delete without debug_id", method: "DELETE", path: hardDbg, want: []int{400}, msg: "debug_id"},
		{name: "sourcemap header traversal", method: "PUT", path: hardFile + "?release=trav&url=~/h.js&sourcemap=../../../../etc/passwd", body: js, want: []int{201, 400}},
		{name: "sentry org traversal", method: "GET", path: "/api/0/organizations/..%2F..%2F/chunk-upload/", want: []int{200, 400, 404}},
		{name: "sentry project traversal", method: "POST", path: "/api/0/projects/o/%2e%2e/files/difs/assemble/", body: hardString(`{}`), want: []int{400, 404}},
		{name: "unknown endpoint", method: "GET", path: "/api/v1/nope", want: []int{404}},
		{name: "GET symbolicate", method: "GET", path: hardSym, want: []int{405}, msg: "method"},
		{name: "DELETE files", method: "DELETE", path: hardFile, want: []int{405}, msg: "method"},
		{name: "PATCH debug-files", method: "PATCH", path: hardDbg, body: hardString("x"), want: []int{405}, msg: "method"},
		{name: "POST healthz", method: "POST", path: "/healthz", body: hardString("x"), want: []int{405}},
		{name: "PUT artifact-bundles", method: "PUT", path: hardBndl, body: hardString("x"), want: []int{405}},
		{name: "GET on the Sentry assemble endpoint", method: "GET", path: "/api/0/projects/o/p/files/difs/assemble/", want: []int{404, 405}},
		{name: "Sentry chunk upload not multipart", method: "POST", path: "/api/0/organizations/o/chunk-upload/", body: hardString("not multipart"), want: []int{400, 415}},
		{name: "Sentry assemble malformed JSON", method: "POST", path: "/api/0/organizations/o/artifactbundle/assemble/", body: hardString(`{"checksum":`), want: []int{400}},
		{name: "Sentry difs assemble array", method: "POST", path: "/api/0/projects/o/p/files/difs/assemble/", body: hardString(`[1]`), want: []int{400}},
	}
}

// hardEscapeAll percent-encodes every byte, so that no client or mux step
// cleans or reinterprets a path segment.
func hardEscapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

// hardCheckNothingOutside fails if anything appeared in dir other than the names
// it held before: every traversal attempt must stay inside the store.
func hardCheckNothingOutside(t *testing.T, sandbox string, allowed ...string) {
	t.Helper()
	entries, err := os.ReadDir(sandbox)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !hardContainsString(allowed, e.Name()) {
			t.Errorf("a request wrote outside the data directory: %s", filepath.Join(sandbox, e.Name()))
		}
	}
}

// hardCheckNoPwned fails if a file named after a traversal entry exists
// anywhere under dir: stored objects are named by hashes and escaped keys,
// never by a name taken from a zip.
func hardCheckNoPwned(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(d.Name(), "pwned") {
			t.Errorf("a zip entry name became a file: %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func hardContainsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// TestHardeningFilesystem is the full bad-input sweep against the default,
// filesystem-backed server.
func TestHardeningFilesystem(t *testing.T) {
	fx := hardFixture(t)
	// The data directory sits in a sandbox directory of its own, so that a
	// request writing through "../" shows up as a stray entry beside it.
	sandbox := t.TempDir()
	data := filepath.Join(sandbox, "data")
	srv := testenv.StartServer(t, append([]string{"--data", data}, hardLimits...)...)
	base := hardUploadGood(t, srv, fx)

	t.Run("events", func(t *testing.T) { hardRunCases(t, srv, hardEventCases(t, fx)) })
	t.Run("uploads", func(t *testing.T) { hardRunCases(t, srv, hardUploadCases(t, srv, fx, sandbox)) })
	t.Run("sourcemaps", func(t *testing.T) { hardRunCases(t, srv, hardMapCases(t, srv, fx)) })
	t.Run("traversal", func(t *testing.T) { hardRunCases(t, srv, hardTraversalCases(t, srv, fx)) })
	t.Run("corrupted ELF", func(t *testing.T) { hardCorruptedELF(t, srv, fx) })

	hardCheckNothingOutside(t, sandbox, "data")
	hardCheckNoPwned(t, sandbox)
	hardCheckUnchanged(t, srv, base)
	hardCheckAlive(t, srv)
}

// hardCorruptedELF uploads copies of the binary with random bytes flipped
// to a project of their own (a flip may leave a valid file, which then
// rightly replaces the good one) and symbolicates against each accepted
// copy: parsing a corrupt file at lookup time must give a frame status,
// not a 5xx.
func hardCorruptedELF(t *testing.T, srv *testenv.Server, fx *hardFixtures) {
	rng := rand.New(rand.NewPCG(1, 2))
	accepted := 0
	for i := range 24 {
		bad := append([]byte{}, fx.elf...)
		flips := 1 + rng.IntN(64)
		for range flips {
			// Half the flips hit the headers, where they do the most harm.
			pos := rng.IntN(len(bad))
			if rng.IntN(2) == 0 {
				pos = rng.IntN(min(len(bad), 4096))
			}
			bad[pos] ^= byte(1 + rng.IntN(255))
		}
		status, body := hardDo(t, "POST", srv.URL+"/api/v1/projects/flip/debug-files", nil, bytes.NewReader(bad), int64(len(bad)))
		hardCheckError(t, srv, "/api/v1/projects/flip/debug-files", status, body, []int{201, 400}, "")
		if status != http.StatusCreated {
			continue
		}
		accepted++
		var metas []struct {
			DebugID string `json:"debug_id"`
		}
		if err := json.Unmarshal(body, &metas); err != nil {
			t.Fatalf("flip %d: reply %s: %v", i, body, err)
		}
		for _, m := range metas {
			ev := hardJSON(t, hardNativeEvent(fx, m.DebugID))
			st, reply := hardDo(t, "POST", srv.URL+"/api/v1/projects/flip/symbolicate", nil, bytes.NewReader(ev), int64(len(ev)))
			if st != http.StatusOK {
				t.Errorf("flip %d: symbolicate against the corrupted file: %d %s", i, st, reply)
			}
			hardCheckAlive(t, srv)
		}
	}
	t.Logf("%d of 24 corrupted copies were accepted as object files", accepted)
}

// TestHardeningAuth runs a server with tokens and checks every way of
// presenting a wrong one.
func TestHardeningAuth(t *testing.T) {
	fx := hardFixture(t)
	tokens := `[{"token":"up-p","scope":"upload","project":"p"},{"token":"sym-p","scope":"symbolicate","project":"p"},{"token":"sym-other","scope":"symbolicate","project":"other"},{"token":"admin","scope":"admin","project":"*"}]`
	// Short time limits (the later flag wins) keep the slow-body cases short.
	args := append(append([]string{}, hardLimits...), "--request-timeout", "2s", "--upload-timeout", "3s")
	srv := testenv.StartServerWithEnv(t, []string{"STACKLENS_TOKENS=" + tokens}, args...)
	auth := func(v string) http.Header { return http.Header{"Authorization": {v}} }
	event := hardString(`{"platform":"native","stacktrace":{"frames":[]}}`)
	cases := []hardCase{
		{name: "no token", method: "POST", path: hardSym, body: event, want: []int{401}},
		{name: "unknown token", method: "POST", path: hardSym, header: auth("Bearer nope"), body: event, want: []int{401}},
		{name: "empty bearer", method: "POST", path: hardSym, header: auth("Bearer "), body: event, want: []int{401}},
		{name: "bearer without space", method: "POST", path: hardSym, header: auth("Bearersym-p"), body: event, want: []int{401}},
		{name: "basic auth", method: "POST", path: hardSym, header: auth("Basic c3ltLXA6"), body: event, want: []int{401}},
		{name: "token with trailing junk", method: "POST", path: hardSym, header: auth("Bearer sym-p extra"), body: event, want: []int{401}},
		{name: "token prefix", method: "POST", path: hardSym, header: auth("Bearer sym-"), body: event, want: []int{401}},
		{name: "very long token", method: "POST", path: hardSym, header: auth("Bearer " + strings.Repeat("a", 16<<10)), body: event, want: []int{401}},
		{name: "two authorization headers", method: "POST", path: hardSym, header: http.Header{"Authorization": {"Bearer nope", "Bearer sym-p"}}, body: event, want: []int{400, 401}},
		{name: "upload token symbolicates", method: "POST", path: hardSym, header: auth("Bearer up-p"), body: event, want: []int{403}, msg: "symbolicate"},
		{name: "symbolicate token uploads", method: "POST", path: hardDbg, header: auth("Bearer sym-p"), body: hardBytes(fx.elf), want: []int{403}, msg: "upload"},
		{name: "token of another project", method: "POST", path: hardSym, header: auth("Bearer sym-other"), body: event, want: []int{403}, msg: "project"},
		{name: "upload token deletes", method: "DELETE", path: hardDbg + "?debug_id=x", header: auth("Bearer up-p"), want: []int{403}, msg: "admin"},
		{name: "bad project before auth", method: "GET", path: "/api/v1/projects/%2e%2e/debug-files", want: []int{400, 401}},
		{name: "sentry API without token", method: "GET", path: "/api/0/organizations/o/chunk-upload/", want: []int{401}},
		{name: "sentry API wrong token", method: "GET", path: "/api/0/organizations/o/chunk-upload/", header: auth("Bearer nope"), want: []int{401}},
		{name: "valid token works", method: "POST", path: hardSym, header: auth("Bearer sym-p"), body: event, want: []int{200}},
		{name: "admin token works", method: "POST", path: hardSym, header: auth("Bearer admin"), body: event, want: []int{200}},
	}
	hardRunCases(t, srv, cases)

	t.Run("slow body", func(t *testing.T) { hardSlowloris(t, srv, hardSym, "Bearer sym-p", 2*time.Second) })
	t.Run("slow upload body", func(t *testing.T) { hardSlowloris(t, srv, hardDbg, "Bearer up-p", 3*time.Second) })
	hardCheckAlive(t, srv)
}

// hardSlowloris sends the headers and a few bytes of a body it announced
// in full, then nothing: the server must give up within its time limit
// (plus slack for a loaded machine), with a 4xx or by closing.
func hardSlowloris(t *testing.T, srv *testenv.Server, path, token string, limit time.Duration) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: 100000\r\n\r\n{\"a\":", path, token)
	if err := conn.SetReadDeadline(time.Now().Add(limit + 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	elapsed := time.Since(start)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the server still holds a request whose body never came after %s (limit %s)", elapsed, limit)
		}
		t.Logf("the server closed the connection after %s: %v", elapsed, err)
		hardCheckAlive(t, srv)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("reply after %s: %d %s", elapsed, resp.StatusCode, body)
	hardCheckError(t, srv, "/api/v1/", resp.StatusCode, body, []int{400, 408}, "timeout")
	if elapsed < limit/2 {
		t.Errorf("replied after %s, before the body could have timed out", elapsed)
	}
}

// TestHardeningS3 runs a subset of the sweep against the S3 backend on a
// real MinIO server.
func TestHardeningS3(t *testing.T) {
	fx := hardFixture(t)
	m := testenv.StartMinIO(t)
	args := append([]string{"--storage", "s3", "--s3.endpoint", m.Endpoint, "--s3.bucket", m.NewBucketName(t),
		"--s3.access-key", m.AccessKey, "--s3.secret-key", m.SecretKey}, hardLimits...)
	srv := testenv.StartServer(t, args...)
	base := hardUploadGood(t, srv, fx)

	var cases []hardCase
	for _, c := range hardUploadCases(t, srv, fx, t.TempDir()) {
		if strings.Contains(c.name, "truncated") || strings.Contains(c.name, "bomb") || strings.Contains(c.name, "traversal") || strings.Contains(c.name, "over the limit") {
			cases = append(cases, c)
		}
	}
	for _, c := range hardTraversalCases(t, srv, fx) {
		if strings.HasPrefix(c.name, "release") || strings.HasPrefix(c.name, "url") || strings.HasPrefix(c.name, "debug_id") {
			cases = append(cases, c)
		}
	}
	for _, c := range hardEventCases(t, fx) {
		if c.name == "malformed JSON" || c.name == "wrong debug id (malformed)" {
			cases = append(cases, c)
		}
	}
	hardRunCases(t, srv, cases)
	hardCheckUnchanged(t, srv, base)
	hardCheckAlive(t, srv)
}
