package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/internal/testenv"
)

// TestMixedJSAndNativeEvent posts one event holding a JS exception captured
// by @sentry/node and a native crash (in a thread, frames marked with
// platform "native"): both kinds resolve in the same request.
func TestMixedJSAndNativeEvent(t *testing.T) {
	srv := testenv.StartServer(t)
	fx := jsFixture(t)
	stacklens(t, "upload", "sourcemaps", fx.dist, "--url", srv.URL, "--project", "mixed",
		"--release", "fixture@1.0", "--url-prefix", "~"+fx.dist, "--quiet")

	dir := t.TempDir()
	bin := filepath.Join(dir, "crash")
	runCmd(t, "", nil, "g++", "-O2", "-g", "-o", bin, repoPath(t, "testdata", "native", "crash", "crash.cpp"))
	stacklens(t, "upload", "debug-files", "--url", srv.URL, "--project", "mixed", "--quiet", bin)
	crash := decodeJSON(t, runCmd(t, dir, nil, bin))

	event := decodeJSON(t, mustJSON(t, fx.events[0]))
	nativeTrace := obj(obj(list(obj(crash["exception"])["values"])[0])["stacktrace"])
	for _, f := range list(nativeTrace["frames"]) {
		obj(f)["platform"] = "native"
	}
	event["threads"] = map[string]any{"values": []any{map[string]any{"id": 7, "name": "native-worker", "crashed": true, "stacktrace": nativeTrace}}}
	dm := obj(event["debug_meta"])
	if dm == nil {
		dm = map[string]any{}
		event["debug_meta"] = dm
	}
	dm["images"] = append(list(dm["images"]), list(obj(crash["debug_meta"])["images"])...)

	res := symbolicate(t, srv.URL, "mixed", event)

	jsResolved := 0
	for _, v := range list(obj(res["exception"])["values"]) {
		for _, f := range list(obj(obj(v)["stacktrace"])["frames"]) {
			fm := obj(f)
			if strings.Contains(str(fm["abs_path"]), "app/src/") && obj(fm["data"])["symbolicator_status"] == "symbolicated" {
				jsResolved++
			}
		}
	}
	if jsResolved == 0 {
		t.Error("no JS frame resolved in the mixed event")
	}
	thread := obj(list(obj(res["threads"])["values"])[0])
	nativeResolved := 0
	var functions []string
	for _, f := range list(obj(thread["stacktrace"])["frames"]) {
		fm := obj(f)
		if str(fm["package"]) == bin && obj(fm["data"])["symbolicator_status"] == "symbolicated" {
			nativeResolved++
			functions = append(functions, str(fm["function"]))
		}
	}
	if nativeResolved < 5 || !strings.Contains(strings.Join(functions, "|"), "shop::BulkPricer::price") {
		t.Errorf("native thread: %d frames resolved: %v", nativeResolved, functions)
	}
	if thread["raw_stacktrace"] == nil {
		t.Error("the native thread keeps no raw_stacktrace")
	}
	t.Logf("mixed event: %d JS frames and %d native frames resolved", jsResolved, nativeResolved)
}
