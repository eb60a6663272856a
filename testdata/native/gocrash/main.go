// Command gocrash reports a "crash" the way a native SDK would: at the
// failure point it takes its own stack (runtime.Callers), finds its image
// (the first mapping of /proc/self/exe in /proc/self/maps, and the GNU
// build-id of the binary), and prints
//
//	{"event": <Sentry event>, "truth": [[{function, file, line}, ...], ...]}
//
// where truth[i] is what runtime.CallersFrames says about the i-th program
// counter, innermost first. The e2e tests build it with and without DWARF,
// upload it to stacklens and compare the symbolicated event with the truth.
// The call chain has methods, closures, generics and functions the compiler
// inlines.
package main

import (
	"bufio"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

type item struct {
	name  string
	price int
}

type cart struct{ items []item }

// limit and total are small enough for the compiler to inline them into
// their callers, so the report call sits in two levels of inlined code.
func limit(t int) int {
	if t > 100 {
		report("total over limit")
	}
	return t
}

func (c *cart) total() int {
	t := 0
	for i := range c.items {
		t += c.items[i].price
	}
	return limit(t)
}

func apply[T any](xs []T, f func(T)) {
	for _, x := range xs {
		f(x)
	}
}

//go:noinline
func checkout(c *cart) int {
	sum := 0
	apply(c.items, func(it item) {
		sum += it.price
		if sum > 50 {
			sum += c.total()
		}
	})
	return sum
}

type frame struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

//go:noinline
func report(what string) {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(1, pcs)
	pcs = pcs[:n]
	var truth [][]frame
	for _, pc := range pcs {
		var levels []frame
		frames := runtime.CallersFrames([]uintptr{pc})
		for {
			f, more := frames.Next()
			levels = append(levels, frame{f.Function, f.File, f.Line})
			if !more {
				break
			}
		}
		truth = append(truth, levels)
	}
	exe, _ := os.Executable()
	start, end := imageRange(exe)
	var frames []map[string]string
	for i := len(pcs) - 1; i >= 0; i-- { // Sentry order: oldest first
		frames = append(frames, map[string]string{"instruction_addr": fmt.Sprintf("0x%x", pcs[i])})
	}
	for i, j := 0, len(truth)-1; i < j; i, j = i+1, j-1 {
		truth[i], truth[j] = truth[j], truth[i]
	}
	buildID := gnuBuildID(exe)
	event := map[string]any{
		"platform": "native",
		"exception": map[string]any{"values": []any{map[string]any{
			"type": "Crash", "value": what,
			// runtime.Callers returns return addresses only.
			"stacktrace": map[string]any{"instruction_addr_adjustment": "all", "frames": frames},
		}}},
		"debug_meta": map[string]any{"images": []any{map[string]any{
			"type": "elf", "code_file": exe, "code_id": buildID, "debug_id": debugID(buildID),
			"image_addr": fmt.Sprintf("0x%x", start), "image_size": end - start,
		}}},
	}
	out, err := json.Marshal(map[string]any{"event": event, "truth": truth})
	if err != nil {
		panic(err)
	}
	os.Stdout.Write(append(out, '\n'))
	os.Exit(0)
}

// imageRange spans every mapping of exe, as sentry-native reports images.
func imageRange(exe string) (uint64, uint64) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	var lo, hi uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe {
			continue
		}
		a, b, _ := strings.Cut(fields[0], "-")
		s, _ := strconv.ParseUint(a, 16, 64)
		e, _ := strconv.ParseUint(b, 16, 64)
		if lo == 0 || s < lo {
			lo = s
		}
		if e > hi {
			hi = e
		}
	}
	return lo, hi
}

func gnuBuildID(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	s := f.Section(".note.gnu.build-id")
	if s == nil {
		panic("no GNU build-id: build with -ldflags=-B=gobuildid")
	}
	d, err := s.Data()
	if err != nil || len(d) < 16 {
		panic("bad build-id note")
	}
	namesz := int(f.ByteOrder.Uint32(d[0:4]))
	descsz := int(f.ByteOrder.Uint32(d[4:8]))
	off := 12 + (namesz+3)&^3
	return hex.EncodeToString(d[off : off+descsz])
}

func debugID(b string) string {
	return b[6:8] + b[4:6] + b[2:4] + b[0:2] + "-" + b[10:12] + b[8:10] + "-" + b[14:16] + b[12:14] + "-" + b[16:20] + "-" + b[20:32]
}

func main() {
	c := &cart{}
	for i := 0; i < 12; i++ {
		c.items = append(c.items, item{name: "item" + strconv.Itoa(i), price: 10 + i})
	}
	fmt.Fprintln(os.Stderr, checkout(c))
}
