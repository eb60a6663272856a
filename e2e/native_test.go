package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/internal/testenv"
)

// llvmFrame is one entry of llvm-symbolizer's JSON "Symbol" list (innermost
// first).
type llvmFrame struct {
	FunctionName string
	FileName     string
	Line         int
	StartAddress string
}

// llvmSymbolize asks llvm-symbolizer about addrs (object addresses) in obj.
func llvmSymbolize(t testing.TB, obj string, addrs []uint64) [][]llvmFrame {
	t.Helper()
	var in bytes.Buffer
	for _, a := range addrs {
		fmt.Fprintf(&in, "0x%x\n", a)
	}
	cmd := testenv.Tool(t, "llvm-symbolizer")
	out := runCmdWith(t, in.Bytes(), cmd, "--inlining", "--output-style=JSON", "--obj="+obj)
	var res [][]llvmFrame
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var r struct{ Symbol []llvmFrame }
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("llvm-symbolizer output: %v\n%s", err, out)
		}
		res = append(res, r.Symbol)
	}
	if len(res) != len(addrs) {
		t.Fatalf("llvm-symbolizer answered %d of %d addresses", len(res), len(addrs))
	}
	return res
}

// crashBuild is one way of building testdata/native/crash/crash.cpp.
type crashBuild struct {
	name string
	// cflags for g++; post runs on the built binary and returns the files
	// to upload and the file to run.
	cflags []string
	post   func(t *testing.T, bin string) (upload []string, run string)
	// symtabOnly: no line info uploaded; only function names are expected.
	symtabOnly bool
}

func plain(t *testing.T, bin string) ([]string, string) { return []string{bin}, bin }

var crashBuilds = []crashBuild{
	{name: "dwarf5", cflags: []string{"-gdwarf-5"}, post: plain},
	{name: "dwarf4", cflags: []string{"-gdwarf-4"}, post: plain},
	{name: "zlib", cflags: []string{"-gdwarf-5", "-gz=zlib"}, post: plain},
	{name: "split", cflags: []string{"-gdwarf-5"}, post: func(t *testing.T, bin string) ([]string, string) {
		// The usual distribution: a stripped binary runs, its
		// --only-keep-debug companion is uploaded next to it.
		dbg, stripped := bin+".debug", bin+".stripped"
		runCmd(t, "", nil, "objcopy", "--only-keep-debug", bin, dbg)
		runCmd(t, "", nil, "strip", "--strip-all", "-o", stripped, bin)
		runCmd(t, "", nil, "objcopy", "--add-gnu-debuglink="+dbg, stripped)
		return []string{stripped, dbg}, stripped
	}},
	{name: "symtab", cflags: []string{"-gdwarf-5"}, symtabOnly: true, post: func(t *testing.T, bin string) ([]string, string) {
		nodebug := bin + ".nodebug"
		runCmd(t, "", nil, "strip", "--strip-debug", "-o", nodebug, bin)
		return []string{nodebug}, nodebug
	}},
}

// TestNativeCrashReports builds the crash program several ways, runs it,
// uploads its debug files with `stacklens upload debug-files`, posts the
// event it printed, and compares every frame of the program's own image
// with llvm-symbolizer --inlining on the unstripped binary.
func TestNativeCrashReports(t *testing.T) {
	srv := testenv.StartServer(t)
	src := repoPath(t, "testdata", "native", "crash", "crash.cpp")
	for _, b := range crashBuilds {
		t.Run(b.name, func(t *testing.T) {
			dir := t.TempDir()
			bin := filepath.Join(dir, "crash-"+b.name)
			args := append([]string{"-O2", "-o", bin, src}, b.cflags...)
			runCmd(t, "", nil, "g++", args...)
			uploads, exe := b.post(t, bin)
			project := "native-" + b.name
			stacklens(t, append([]string{"upload", "debug-files", "--url", srv.URL, "--project", project, "--quiet"}, uploads...)...)

			event := decodeJSON(t, runCmd(t, dir, nil, exe))
			res := symbolicate(t, srv.URL, project, event)
			checkNativeEvent(t, event, res, exe, bin, b.symtabOnly)
		})
	}
}

// checkNativeEvent compares the symbolicated frames of exe's image with
// llvm-symbolizer run on truthObj.
func checkNativeEvent(t *testing.T, event, res map[string]any, exe, truthObj string, symtabOnly bool) {
	t.Helper()
	var image map[string]any
	for _, im := range list(obj(event["debug_meta"])["images"]) {
		if str(obj(im)["code_file"]) == exe {
			image = obj(im)
		}
	}
	if image == nil {
		t.Fatalf("the event lists no image for %s", exe)
	}
	base, _ := strconv.ParseUint(strings.TrimPrefix(str(image["image_addr"]), "0x"), 16, 64)
	size := uint64(num(image["image_size"]))

	inFrames := list(obj(obj(list(obj(event["exception"])["values"])[0])["stacktrace"])["frames"])
	outExc := obj(list(obj(res["exception"])["values"])[0])
	outFrames := list(obj(outExc["stacktrace"])["frames"])
	if raw := list(obj(outExc["raw_stacktrace"])["frames"]); len(raw) != len(inFrames) {
		t.Errorf("raw_stacktrace keeps %d frames, the event had %d", len(raw), len(inFrames))
	}
	// Group the output frames by the input frame they came from: inline
	// expansion keeps instruction_addr, in the event's order.
	type group struct {
		addr   uint64
		frames []map[string]any
	}
	var groups []group
	for _, f := range outFrames {
		fm := obj(f)
		a, _ := strconv.ParseUint(strings.TrimPrefix(str(fm["instruction_addr"]), "0x"), 16, 64)
		if n := len(groups); n > 0 && groups[n-1].addr == a && obj(fm["data"])["inlined"] == true {
			groups[n-1].frames = append(groups[n-1].frames, fm)
			continue
		}
		groups = append(groups, group{addr: a, frames: []map[string]any{fm}})
	}
	if len(groups) != len(inFrames) {
		t.Fatalf("%d input frames became %d groups", len(inFrames), len(groups))
	}
	var addrs []uint64
	var mine []group
	for _, g := range groups {
		if g.addr >= base && g.addr < base+size {
			mine = append(mine, g)
			// Every frame holds a return address (instruction_addr_adjustment
			// "all"): the call is the instruction before it.
			addrs = append(addrs, g.addr-base-1)
		} else {
			st := obj(g.frames[0]["data"])["symbolicator_status"]
			if st != "missing" && st != "unknown_image" {
				t.Errorf("frame 0x%x outside the uploaded image has status %v", g.addr, st)
			}
		}
	}
	if len(mine) < 5 {
		t.Fatalf("only %d frames in the program's own image", len(mine))
	}
	truth := llvmSymbolize(t, truthObj, addrs)
	for i, g := range mine {
		want := truth[i]
		where := fmt.Sprintf("frame 0x%x (object 0x%x)", g.addr, addrs[i])
		if symtabOnly {
			// Without line info the outermost function's symbol is all there
			// is: llvm-symbolizer's last (outermost) level names it.
			f := g.frames[0]
			if len(g.frames) != 1 || str(f["function"]) != want[len(want)-1].FunctionName || f["lineno"] != nil {
				t.Errorf("%s: got %d frames, function %v line %v; llvm's outermost function is %q", where, len(g.frames), f["function"], f["lineno"], want[len(want)-1].FunctionName)
			}
			continue
		}
		if len(g.frames) != len(want) {
			t.Errorf("%s: %d inline levels, llvm-symbolizer has %d: %+v", where, len(g.frames), len(want), want)
			continue
		}
		for k, f := range g.frames {
			w := want[len(want)-1-k] // llvm lists the innermost first
			data := obj(f["data"])
			if data["symbolicator_status"] != "symbolicated" || (k > 0) != (data["inlined"] == true) {
				t.Errorf("%s level %d: data %v", where, k, data)
			}
			wantBase := ""
			if w.FileName != "" {
				wantBase = filepath.Base(w.FileName)
			}
			if str(f["function"]) != w.FunctionName || str(f["abs_path"]) != w.FileName || num(f["lineno"]) != w.Line ||
				str(f["filename"]) != wantBase {
				t.Errorf("%s level %d: got %v at %v:%v, llvm-symbolizer says %q at %s:%d", where, k, f["function"], f["abs_path"], f["lineno"], w.FunctionName, w.FileName, w.Line)
			}
			if str(f["package"]) != exe {
				t.Errorf("%s level %d: package %v, want %s", where, k, f["package"], exe)
			}
			if k == 0 && w.StartAddress != "" {
				start, _ := strconv.ParseUint(strings.TrimPrefix(w.StartAddress, "0x"), 16, 64)
				if got := str(f["symbol_addr"]); got != fmt.Sprintf("0x%x", base+start) {
					t.Errorf("%s: symbol_addr %s, llvm's function starts at 0x%x", where, got, base+start)
				}
			}
		}
	}
	// Images the test did not upload (libc, the vdso) are reported once each.
	missing := map[string]int{}
	for _, e := range list(res["errors"]) {
		if em := obj(e); em["type"] == "native_missing_dsym" {
			missing[str(em["image_path"])]++
		}
	}
	for p, n := range missing {
		if n != 1 || p == exe {
			t.Errorf("native_missing_dsym for %s reported %d times", p, n)
		}
	}
	if len(missing) == 0 {
		t.Error("libc frames were not reported as missing debug files")
	}
	for _, im := range list(obj(res["debug_meta"])["images"]) {
		if str(obj(im)["code_file"]) == exe && obj(im)["debug_status"] != "found" {
			t.Errorf("image %s debug_status %v", exe, obj(im)["debug_status"])
		}
	}
}
