package symbolicate

import (
	"context"
	"errors"
	"path"
	"sort"
	"strings"

	"github.com/stacklens/stacklens/debugfiles"
)

// Native frame statuses (data.symbolicator_status), as Sentry names them.
const (
	statusSymbolicated  = "symbolicated"
	statusMissingSymbol = "missing_symbol"
	statusUnknownImage  = "unknown_image"
	statusMissing       = "missing"
	statusMalformed     = "malformed"
	statusInvalidAddr   = "invalid_addr"
)

// image is one debug_meta image an address can fall into.
type image struct {
	index     int
	raw       map[string]any
	kind      string
	debugID   string
	codeID    string
	codeFile  string
	arch      string
	addr      uint64
	size      uint64 // 0 = up to the next image
	vmaddr    uint64
	hasVMAddr bool

	// resolved once per request, before any frame is looked up
	needed bool
	module debugfiles.Module
	err    error
}

var nativeImageTypes = map[string]bool{"elf": true, "macho": true, "pe": true, "symbolic": true, "apple": true}

// collectImages reads debug_meta.images of native types, sorted by address,
// with missing sizes extended to the next image as Sentry does.
func collectImages(event map[string]any) []*image {
	dm, _ := asMap(event["debug_meta"])
	list, _ := asList(dm["images"])
	var out []*image
	for i, v := range list {
		m, ok := asMap(v)
		if !ok || !nativeImageTypes[strings.ToLower(asString(m["type"]))] {
			continue
		}
		addr, ok := parseAddr(m["image_addr"])
		if !ok {
			continue
		}
		im := &image{
			index:    i,
			raw:      m,
			kind:     strings.ToLower(asString(m["type"])),
			debugID:  normalizeDebugID(firstString(m, "debug_id", "id")),
			codeID:   normalizeCodeID(asString(m["code_id"])),
			codeFile: firstString(m, "code_file", "name"),
			arch:     strings.ToLower(asString(m["arch"])),
			addr:     addr,
		}
		if sz, ok := parseAddr(m["image_size"]); ok {
			im.size = sz
		}
		if vm, ok := parseAddr(m["image_vmaddr"]); ok && vm != 0 {
			im.vmaddr, im.hasVMAddr = vm, true
		}
		out = append(out, im)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].addr < out[j].addr })
	for i, im := range out {
		if im.size == 0 && i+1 < len(out) {
			im.size = out[i+1].addr - im.addr
		}
	}
	return out
}

func firstString(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s := asString(m[k]); s != "" {
			return s
		}
	}
	return ""
}

// normalizeDebugID lowercases a debug ID; the canonical hyphenation is the
// uploader's job, but a Breakpad-style 33-hex id is turned into a UUID-age.
func normalizeDebugID(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) >= 32 && !strings.Contains(s, "-") && isHex(s) {
		id := s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
		if age := strings.TrimLeft(s[32:], "0"); age != "" {
			id += "-" + age
		}
		return id
	}
	return s
}

// normalizeCodeID keeps only hex digits, lowercased (Relay's rule).
func normalizeCodeID(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= '0' && r <= '9') || (r >= 'a' && r <= 'f') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isHex(s string) bool {
	for _, r := range s {
		if !((r >= '0' && r <= '9') || (r >= 'a' && r <= 'f')) {
			return false
		}
	}
	return true
}

// findImage returns the image containing addr.
func findImage(images []*image, addr uint64) *image {
	i := sort.Search(len(images), func(i int) bool { return images[i].addr > addr }) - 1
	if i < 0 {
		return nil
	}
	im := images[i]
	if im.size != 0 && addr-im.addr >= im.size {
		return nil
	}
	if im.size == 0 && i != len(images)-1 {
		return nil
	}
	return im
}

// instructionSize is the step back from a return address to the call
// instruction: the architecture's minimum instruction size.
func instructionSize(arch string) uint64 {
	switch {
	case strings.HasPrefix(arch, "arm64"), strings.HasPrefix(arch, "aarch64"):
		return 4
	case strings.HasPrefix(arch, "arm"), strings.HasPrefix(arch, "thumb"):
		return 2
	case strings.HasPrefix(arch, "mips"), strings.HasPrefix(arch, "ppc"), strings.HasPrefix(arch, "riscv"):
		return 4
	}
	return 1
}

func (im *image) load(ctx context.Context, finder debugfiles.Finder, project string) {
	if finder == nil {
		im.err = debugfiles.ErrMissing
		return
	}
	im.module, im.err = finder.Find(ctx, project, debugfiles.ObjectRef{DebugID: im.debugID, CodeID: im.codeID})
}

// nativeFrameResult is what one input frame becomes.
type nativeFrameResult struct {
	status string
	image  *image
	frames []map[string]any // replaces the input frame (1 + inline levels)
}

// shouldAdjust says whether frame i of n (Sentry order: crashing frame last)
// holds a return address to step back from.
func shouldAdjust(mode string, i, n int, crashingIsReturnAddr bool) bool {
	crashing := i == n-1
	switch mode {
	case "none":
		return false
	case "all":
		return true
	case "all_but_first":
		return !crashing
	default: // "auto"
		return !crashing || crashingIsReturnAddr
	}
}

// ipRegisters are the instruction-pointer register names per architecture.
var ipRegisters = []string{"rip", "eip", "pc", "ip"}

// crashingFrameIsReturnAddress implements Sentry's "auto" exception: the
// crashing frame is adjusted too when the instruction pointer register
// differs from its address (the frame then holds a return address).
func crashingFrameIsReturnAddress(trace map[string]any, lastAddr uint64) bool {
	regs, ok := asMap(trace["registers"])
	if !ok {
		return false
	}
	for _, name := range ipRegisters {
		if v, ok := regs[name]; ok {
			ip, ok := parseAddr(v)
			return ok && ip != lastAddr
		}
	}
	return false
}

func resolveNativeFrame(images []*image, frame map[string]any, adjust bool) nativeFrameResult {
	addr, ok := parseAddr(frame["instruction_addr"])
	if !ok {
		return nativeFrameResult{status: statusInvalidAddr}
	}
	im := findImage(images, addr)
	if im == nil {
		return nativeFrameResult{status: statusUnknownImage}
	}
	res := nativeFrameResult{image: im}
	switch {
	case im.err == nil:
	case errors.Is(im.err, debugfiles.ErrMissing):
		res.status = statusMissing
		return res
	default:
		res.status = statusMalformed
		return res
	}
	base := im.module.LoadAddress()
	if im.hasVMAddr {
		base = im.vmaddr
	}
	rel := addr - im.addr + base
	if adjust {
		arch := im.arch
		if arch == "" {
			arch = strings.ToLower(im.module.Meta().Arch)
		}
		step := instructionSize(arch)
		rel = rel &^ (step - 1)
		if rel >= step {
			rel -= step
		}
	}
	locs, err := im.module.Lookup(rel)
	if err != nil || len(locs) == 0 {
		res.status = statusMissingSymbol
		return res
	}
	res.status = statusSymbolicated
	for _, loc := range locs {
		out := cloneJSON(frame).(map[string]any)
		delete(out, "data")
		if d, ok := asMap(frame["data"]); ok {
			out["data"] = cloneJSON(d)
		}
		if loc.Function != "" {
			out["function"] = loc.Function
		}
		if loc.Symbol != "" {
			out["symbol"] = loc.Symbol
		} else {
			delete(out, "symbol")
		}
		if loc.SymbolAddr != 0 || loc.Function != "" {
			out["symbol_addr"] = formatAddr(loc.SymbolAddr - base + im.addr)
		}
		if loc.File != "" {
			out["abs_path"] = loc.File
			out["filename"] = path.Base(strings.ReplaceAll(loc.File, "\\", "/"))
		}
		if loc.Line > 0 {
			out["lineno"] = loc.Line
		}
		if im.codeFile != "" {
			out["package"] = im.codeFile
		}
		d := frameData(out)
		d["symbolicated"] = true
		d["symbolicator_status"] = statusSymbolicated
		if loc.Inlined {
			d["inlined"] = true
		}
		res.frames = append(res.frames, out)
	}
	return res
}
