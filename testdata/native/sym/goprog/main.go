// Command goprog is a symbolizer fixture. "goprog frames" prints, as JSON,
// the program counters of its own stack plus what runtime.CallersFrames says
// about each (function, file, line, with inlined calls expanded): the truth
// the Go symbolizer paths are checked against. "goprog crash" prints a
// Sentry-style event of its own stack and exits 2.
package main

import (
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
)

type frameTruth struct {
	PC       uint64 `json:"pc"`       // return address from runtime.Callers
	Function string `json:"function"` // per CallersFrames, outermost last
	File     string `json:"file"`
	Line     int    `json:"line"`
	Entry    uint64 `json:"entry"`
}

type report struct {
	Stacks [][]frameTruth `json:"stacks"`
}

//go:noinline
func capture() []frameTruth {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(1, pcs)
	pcs = pcs[:n]
	var out []frameTruth
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		out = append(out, frameTruth{PC: uint64(f.PC), Function: f.Function, File: f.File, Line: f.Line, Entry: uint64(f.Entry)})
		if !more {
			break
		}
	}
	return out
}

func inlinedLeaf(x int) []frameTruth {
	if x > 0 {
		return capture()
	}
	return nil
}

func inlinedMiddle(x int) []frameTruth { return inlinedLeaf(x + 1) }

//go:noinline
func notInlined(x int) []frameTruth { return inlinedMiddle(x * 2) }

type shape interface{ walk() []frameTruth }

type square struct{ n int }

//go:noinline
func (s *square) walk() []frameTruth { return notInlined(s.n) }

type sorter struct {
	xs    []int
	stack []frameTruth
}

func (s *sorter) Len() int      { return len(s.xs) }
func (s *sorter) Swap(i, j int) { s.xs[i], s.xs[j] = s.xs[j], s.xs[i] }
func (s *sorter) Less(i, j int) bool {
	if s.stack == nil {
		s.stack = capture()
	}
	return s.xs[i] < s.xs[j]
}

func collect() report {
	var r report
	var sh shape = &square{n: len(os.Args)}
	r.Stacks = append(r.Stacks, sh.walk())
	func() {
		r.Stacks = append(r.Stacks, inlinedMiddle(len(os.Args)))
	}()
	s := &sorter{xs: []int{3, 1, 2}}
	sort.Sort(s)
	r.Stacks = append(r.Stacks, s.stack)
	done := make(chan []frameTruth)
	go func() { done <- notInlined(1) }()
	r.Stacks = append(r.Stacks, <-done)
	return r
}

func main() {
	mode := "frames"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "frames":
		if err := json.NewEncoder(os.Stdout).Encode(collect()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "crash":
		crash()
	default:
		fmt.Fprintln(os.Stderr, "usage: goprog [frames|crash]")
		os.Exit(1)
	}
}

// crash prints a Sentry event (platform native, frames oldest first) whose
// frames are this goroutine's return addresses from runtime.Callers (hence
// instruction_addr_adjustment "all": every address is a return address),
// plus the executable's image (Go binaries are static and, by default, not
// PIE).
func crash() {
	pcs := (&square{n: 3}).crashWalk()
	exe, _ := os.Executable()
	var frames []map[string]any
	for i := len(pcs) - 1; i >= 0; i-- {
		frames = append(frames, map[string]any{"instruction_addr": fmt.Sprintf("0x%x", pcs[i])})
	}
	ev := map[string]any{
		"platform": "native",
		"exception": map[string]any{"values": []any{map[string]any{
			"type": "panic", "value": "goprog crash",
			"stacktrace": map[string]any{"frames": frames, "instruction_addr_adjustment": "all"},
		}}},
		"debug_meta": map[string]any{"images": []any{goImage(exe)}},
	}
	json.NewEncoder(os.Stdout).Encode(ev)
	os.Exit(2)
}

//go:noinline
func (s *square) crashWalk() []uintptr { return crashMiddle(s.n) }

func crashMiddle(x int) []uintptr { return crashLeaf(x + 1) }

func crashLeaf(x int) []uintptr {
	if x > 0 {
		pcs := make([]uintptr, 64)
		return pcs[:runtime.Callers(1, pcs)]
	}
	return nil
}

func goImage(exe string) map[string]any {
	img := map[string]any{"type": "elf", "code_file": exe}
	if id := gnuBuildID(exe); len(id) >= 16 {
		img["code_id"] = hex.EncodeToString(id)
		g := append([]byte{id[3], id[2], id[1], id[0], id[5], id[4], id[7], id[6]}, id[8:16]...)
		h := hex.EncodeToString(g)
		img["debug_id"] = h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	}
	// /proc/self/maps gives the mapped range of the executable.
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return img
	}
	var lo, hi uint64
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 6 || fields[5] != exe {
			continue
		}
		var a, b uint64
		fmt.Sscanf(fields[0], "%x-%x", &a, &b)
		if lo == 0 || a < lo {
			lo = a
		}
		if b > hi {
			hi = b
		}
	}
	img["image_addr"] = fmt.Sprintf("0x%x", lo)
	img["image_size"] = hi - lo
	return img
}

// gnuBuildID reads the NT_GNU_BUILD_ID note (present with -ldflags=-B gobuildid).
func gnuBuildID(exe string) []byte {
	f, err := elf.Open(exe)
	if err != nil {
		return nil
	}
	defer f.Close()
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE {
			continue
		}
		data, err := s.Data()
		if err != nil {
			continue
		}
		for len(data) >= 12 {
			nameSz := binary.LittleEndian.Uint32(data[0:4])
			descSz := binary.LittleEndian.Uint32(data[4:8])
			typ := binary.LittleEndian.Uint32(data[8:12])
			nameEnd := 12 + (int(nameSz)+3)&^3
			descEnd := nameEnd + (int(descSz)+3)&^3
			if descEnd > len(data) {
				break
			}
			if typ == 3 && nameSz == 4 && string(data[12:15]) == "GNU" {
				return data[nameEnd : nameEnd+int(descSz)]
			}
			data = data[descEnd:]
		}
	}
	return nil
}
