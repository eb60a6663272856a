package symbolizer_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/debugfiles/symbolizer"
	"github.com/stacklens/stacklens/internal/nativefixtures"
)

// encodeSymcache opens bin and encodes it.
func encodeSymcache(t testing.TB, bin string) (debugfiles.Module, []byte) {
	t.Helper()
	mod := openFile(t, bin)
	var buf bytes.Buffer
	if err := symbolizer.EncodeSymcache(&buf, mod); err != nil {
		t.Fatalf("EncodeSymcache(%s): %v", bin, err)
	}
	return mod, buf.Bytes()
}

// aligned copies b to 64-byte aligned memory, as a cache frame's payload
// is in its mapping; offset bytes in, to make it misaligned on purpose.
func aligned(b []byte, offset int) []byte {
	buf := make([]byte, len(b)+64+offset)
	start := (64 - int(uintptr(unsafe.Pointer(&buf[0]))%64)) % 64
	out := buf[start+offset : start+offset+len(b)]
	copy(out, b)
	return out
}

// sameAnswers checks that got answers every address exactly as want.
func sameAnswers(t *testing.T, want, got debugfiles.Module, addrs []uint64, mustResolve bool) {
	t.Helper()
	wm, _ := json.Marshal(want.Meta())
	gm, _ := json.Marshal(got.Meta())
	if !bytes.Equal(wm, gm) {
		t.Errorf("Meta: got %s, want %s", gm, wm)
	}
	if got.LoadAddress() != want.LoadAddress() {
		t.Errorf("LoadAddress: got %#x, want %#x", got.LoadAddress(), want.LoadAddress())
	}
	bad, found := 0, 0
	for _, a := range addrs {
		wl, werr := want.Lookup(a)
		gl, gerr := got.Lookup(a)
		if werr == nil {
			found++
		}
		if !reflect.DeepEqual(wl, gl) || fmt.Sprint(werr) != fmt.Sprint(gerr) {
			if bad++; bad <= 5 {
				t.Errorf("Lookup(%#x):\n got  %+v, %v\n want %+v, %v", a, gl, gerr, wl, werr)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d addresses answered differently", bad, len(addrs))
	}
	if mustResolve && found == 0 {
		t.Errorf("none of %d addresses resolved: the comparison proves nothing", len(addrs))
	}
}

// checkCompactLayout checks, from the header, that a payload with DWARF
// uses the compact layout (which every real binary fits): u32 address
// offsets for rows and segments and packed u32 rows. It returns the
// number of line rows.
func checkCompactLayout(t *testing.T, payload []byte) int {
	t.Helper()
	flags := binary.LittleEndian.Uint32(payload[12:])
	secLen := func(sec int) int { return int(binary.LittleEndian.Uint64(payload[32+16*sec:])) }
	if flags&1 == 0 {
		if flags != 0 {
			t.Errorf("flags %#x without DWARF", flags)
		}
		return 0
	}
	if flags&0b1110 != 0b1110 {
		t.Errorf("flags %#x: want u32 row and segment addresses and packed rows", flags)
	}
	const rowAddrs, rowTops, rows, segAddrs, segNodes = 5, 6, 7, 8, 10
	n := secLen(rows) / 4
	if secLen(rowAddrs) != 4*n || secLen(rows) != 4*n || secLen(rowTops) != 8*((n+63)/64) {
		t.Errorf("row sections %d, %d, %d bytes for %d rows", secLen(rowAddrs), secLen(rows), secLen(rowTops), n)
	}
	if secLen(segAddrs) != secLen(segNodes) {
		t.Errorf("segment addresses take %d bytes, want 4 per segment (%d)", secLen(segAddrs), secLen(segNodes))
	}
	return n
}

// TestSymcacheEquivalence: a module decoded from its symcache (in place, and
// from a misaligned payload, which takes the copying path) answers exactly
// as the module Open built, on every line row, every function symbol's
// start and middle and thousands of random .text addresses, for C, C++ and
// Go binaries with DWARF 4/5, compressed DWARF, symbol tables only, and
// split debug files.
func TestSymcacheEquivalence(t *testing.T) {
	var bins []string
	for _, name := range []string{"c-dwarf4", "c-dwarf5", "cpp-dwarf4", "cpp-dwarf5", "cpp-gz", "cpp-rdynamic",
		"cpp-strip-debug", "cpp-strip-all", "cpp-debug-only", "go-dwarf", "tiny-dwarf5", "tiny-stripped"} {
		bins = append(bins, fixture(t, name))
	}
	for _, c := range crashers(t) {
		bins = append(bins, c.Binary)
		if c.Stripped != "" {
			bins = append(bins, c.Stripped, c.DebugOnly)
		}
	}
	for _, bin := range bins {
		t.Run(filepath.Base(bin), func(t *testing.T) {
			mod, payload := encodeSymcache(t, bin)
			rows := checkCompactLayout(t, payload)
			if st, _ := symbolizer.ModuleStats(mod); st.LineRows != rows {
				t.Errorf("payload holds %d rows, the module %d", rows, st.LineRows)
			}
			addrs := probeAddresses(t, bin, 3000, 7)
			for _, offset := range []int{0, 1} {
				sc, err := symbolizer.DecodeSymcache(aligned(payload, offset))
				if err != nil {
					t.Fatalf("DecodeSymcache (offset %d): %v", offset, err)
				}
				// Fully stripped binaries know nothing: they must still agree.
				sameAnswers(t, mod, sc, addrs, !strings.HasSuffix(bin, "stripped"))
			}
		})
	}
}

// symcacheCrashers builds the crash programs once per test binary.
var symcacheCrashers struct {
	once sync.Once
	list []nativefixtures.Crasher
}

func crashers(t *testing.T) []nativefixtures.Crasher {
	symcacheCrashers.once.Do(func() { symcacheCrashers.list = nativefixtures.BuildCrashers(t) })
	if len(symcacheCrashers.list) == 0 {
		t.Fatal("crash fixtures failed to build earlier")
	}
	return symcacheCrashers.list
}

// TestSymcacheLargeBinary: the same on cmd/compile (> 30 MB), whose decoded
// symcache must cost a small fraction of its payload in heap.
func TestSymcacheLargeBinary(t *testing.T) {
	bin := fixture(t, "go-big")
	mod, payload := encodeSymcache(t, bin)
	if rows := checkCompactLayout(t, payload); rows < 100000 {
		t.Errorf("only %d line rows", rows)
	}
	all := probeAddresses(t, bin, 20000, 11)
	// Every line row would take minutes under -race; a spread of them does.
	rng := rand.New(rand.NewSource(3))
	addrs := make([]uint64, 0, 40000)
	for _, a := range all {
		if rng.Intn(len(all)/30000+1) == 0 {
			addrs = append(addrs, a)
		}
	}
	data := aligned(payload, 0)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	sc, err := symbolizer.DecodeSymcache(data)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("payload %d MB, decoded heap %d KB (RetainedBytes %d KB), %d probes", len(payload)>>20, heap>>10, sc.RetainedBytes()>>10, len(addrs))
	if heap > int64(len(payload))/8 || sc.RetainedBytes() > int64(len(payload))/8 {
		t.Errorf("decoding in place took %d bytes of heap (reports %d) for a %d-byte payload", heap, sc.RetainedBytes(), len(payload))
	}
	sameAnswers(t, mod, sc, addrs, true)
	runtime.KeepAlive(data)
}

// checkDecode decodes data: an error must wrap ErrMalformed; a module must
// answer lookups without panicking.
func checkDecode(t *testing.T, data []byte) {
	sc, err := symbolizer.DecodeSymcache(data)
	if err != nil {
		if !errors.Is(err, debugfiles.ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		return
	}
	// A forged pclntab, like a corrupt one in a binary Open accepts, may
	// also answer ErrMalformed; DWARF-only modules answer or do not.
	goPcln := binary.LittleEndian.Uint32(data[12:])&0x10 != 0
	base := sc.LoadAddress()
	for a := base; a < base+0x3000; a += 0x1f {
		if _, err := sc.Lookup(a); err != nil && !errors.Is(err, debugfiles.ErrNoSymbol) && !(goPcln && errors.Is(err, debugfiles.ErrMalformed)) {
			t.Fatalf("Lookup(%#x): %v", a, err)
		}
	}
}

// TestSymcacheCorrupt: truncations, bit flips and forged section tables are
// errors (or harmless), never panics or out-of-range reads.
func TestSymcacheCorrupt(t *testing.T) {
	_, payload := encodeSymcache(t, fixture(t, "tiny-dwarf5"))
	if _, err := symbolizer.DecodeSymcache(payload); err != nil {
		t.Fatalf("intact payload: %v", err)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(payload)) }
	cases := map[string][]byte{
		"empty":       {},
		"header only": payload[:24],
		"bad magic":   mutate(func(b []byte) []byte { b[0] ^= 1; return b }),
		"version":     mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], 2); return b }),
		"flags":       mutate(func(b []byte) []byte { b[12] |= 0x20; return b }),
		"go flag":     mutate(func(b []byte) []byte { b[12] |= 0x10; return b }),
	}
	// The width flags say how to read the three largest sections: any
	// other choice, or other line bits, must be rejected or harmless.
	for _, flip := range []uint32{1 << 1, 1 << 2, 1 << 3, 1<<3 | 0x1f00, 1 << 8, 1 << 12, 0x1f00} {
		cases[fmt.Sprintf("flags ^ %#x", flip)] = mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[12:], binary.LittleEndian.Uint32(b[12:])^flip)
			return b
		})
	}
	for n := 0; n < len(payload); n += max(1, len(payload)/97) {
		cases[fmt.Sprintf("truncated at %d", n)] = payload[:n]
	}
	for sec := 0; sec < 15; sec++ {
		for _, field := range []int{0, 8} {
			for _, v := range []uint64{1, 7, uint64(len(payload)), 1 << 63, ^uint64(0) &^ 7} {
				off := 24 + 16*sec + field
				cases[fmt.Sprintf("section %d field %d = %#x", sec, field, v)] = mutate(func(b []byte) []byte {
					binary.LittleEndian.PutUint64(b[off:], v)
					return b
				})
			}
		}
	}
	rng := rand.New(rand.NewSource(5))
	for i := 0; i < 300; i++ {
		pos, bit := rng.Intn(len(payload)), rng.Intn(8)
		cases[fmt.Sprintf("flip %d.%d", pos, bit)] = mutate(func(b []byte) []byte { b[pos] ^= 1 << bit; return b })
	}
	rejected := 0
	for name, data := range cases {
		t.Run(name, func(t *testing.T) { checkDecode(t, aligned(data, 0)) })
		if _, err := symbolizer.DecodeSymcache(aligned(data, 0)); err != nil {
			rejected++
		}
	}
	if rejected < len(cases)/3 {
		t.Errorf("only %d of %d corruptions rejected", rejected, len(cases))
	}
}

func FuzzDecodeSymcache(f *testing.F) {
	for _, name := range []string{"tiny-dwarf5", "tiny-stripped", "gocrash-stripped"} {
		_, payload := encodeSymcache(f, fixture(f, name))
		f.Add(payload)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, aligned(data, 0))
		checkDecode(t, aligned(data, 3))
	})
}
