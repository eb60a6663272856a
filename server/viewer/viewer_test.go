package viewer

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stacklens/stacklens/internal/testenv"
)

// enriched is what the fake API answers: a JS trace with one resolved and
// one unresolved frame, an inlined native frame, and a hostile function name
// that must render as text.
const enriched = `{"exception":{"values":[{"type":"TypeError","value":"x is undefined","stacktrace":{"frames":[
  {"function":"Module._compile","abs_path":"node:internal/modules/cjs/loader","lineno":1521,"colno":14,"in_app":false,"data":{"symbolicator_status":"skipped"}},
  {"function":"main","abs_path":"webpack:///./src/main.js","lineno":3,"colno":1,"in_app":true,"data":{"symbolicator_status":"symbolicated"}},
  {"function":"<img src=x onerror=\"window.__xss=1\">","abs_path":"https://x/vendor.min.js","lineno":1,"colno":9,"in_app":false,
   "data":{"symbolicator_status":"missing_sourcemap"}},
  {"function":"Cart.total","abs_path":"webpack:///./src/cart.js","lineno":42,"colno":13,
   "pre_context":["  let a = 1;"],"context_line":"  return items.reduce(sum);","post_context":["}"],
   "data":{"symbolicator_status":"symbolicated"}}]},
  "raw_stacktrace":{"frames":[{"function":"a","abs_path":"https://x/app.min.js","lineno":1,"colno":5},{"function":"b","abs_path":"https://x/vendor.min.js","lineno":1,"colno":9},{"function":"c","abs_path":"https://x/app.min.js","lineno":1,"colno":77}]}}]},
 "errors":[{"type":"js_no_source","url":"https://x/vendor.min.js","message":"upload the source map for ~/vendor.min.js"}]}`

func browser(t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	exe := testenv.Tool(t, "chromium")
	opts := append([]chromedp.ExecAllocatorOption{},
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	return ctx, func() { cancelTimeout(); cancelCtx(); cancelAlloc() }
}

func TestViewerRendersTraceInChromium(t *testing.T) {
	var gotAuth, gotBody string
	mux := http.NewServeMux()
	mux.Handle("/", Handler())
	mux.HandleFunc("POST /api/v1/projects/{p}/symbolicate", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("p") != "shop" {
			http.Error(w, `{"error":{"code":"not_found","message":"no such project"}}`, http.StatusNotFound)
			return
		}
		b, _ := io.ReadAll(r.Body)
		gotAuth, gotBody = r.Header.Get("Authorization"), string(b)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, enriched)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := browser(t)
	defer cancel()
	step := func(name string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, a); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	step("nav", chromedp.Navigate(srv.URL+"/"))
	step("wait", chromedp.WaitVisible(chromedp.ID("event")))
	step("fill", chromedp.Steps(
		chromedp.SetValue(chromedp.ID("project"), "shop"),
		chromedp.SetValue(chromedp.ID("token"), "tok123"),
		chromedp.SetValue(chromedp.ID("event"), `{"exception":{"values":[{"type":"TypeError","stacktrace":{"frames":[]}}]}}`)))
	step("click", chromedp.Click(chromedp.ID("submit")))
	step("result", chromedp.WaitVisible(chromedp.ID("result")))
	text := func(sel chromedp.CSS) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	summary, traces, problems, ctxLine := text("#summary"), text("#traces"), text("#problems"), text("li.current")
	frameCount, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("li.frame").length`))
	if err != nil {
		t.Fatal(err)
	}
	xss, err := chromedp.Run(ctx, chromedp.Evaluate[string](`String(window.__xss) + "/" + document.querySelectorAll("#traces img").length`))
	if err != nil {
		t.Fatal(err)
	}
	if gotAuth != "Bearer tok123" || !strings.Contains(gotBody, `"TypeError"`) {
		t.Errorf("request: auth %q body %q", gotAuth, gotBody)
	}
	if summary != "2 of 3 frames resolved. 1 runtime frame has nothing to map." {
		t.Errorf("summary %q", summary)
	}
	if frameCount != 4 {
		t.Errorf("frames rendered: %d", frameCount)
	}
	// newest first: Cart.total, then the unresolved vendor frame, then main
	iCart, iBad, iMain := strings.Index(traces, "Cart.total"), strings.Index(traces, "<img src=x"), strings.Index(traces, "main")
	if !(iCart >= 0 && iCart < iBad && iBad < iMain) {
		t.Errorf("frame order wrong (%d %d %d):\n%s", iCart, iBad, iMain, traces)
	}
	if !strings.Contains(traces, "Why: no source map was found for this file") || strings.Count(traces, "Why:") != 1 {
		t.Errorf("unresolved frame must say why:\n%s", traces)
	}
	if !strings.Contains(traces, "webpack:///./src/cart.js:42:13") || ctxLine != "  return items.reduce(sum);" {
		t.Errorf("location/context: %q / %q", traces, ctxLine)
	}
	if !strings.Contains(problems, "js_no_source") || !strings.Contains(problems, "upload the source map for ~/vendor.min.js") {
		t.Errorf("problems: %q", problems)
	}
	if xss != "undefined/0" {
		t.Errorf("event data was interpreted as HTML: %s", xss)
	}
}

func TestViewerShowsAPIErrors(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/", Handler())
	mux.HandleFunc("POST /api/v1/projects/{p}/symbolicate", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "unauthorized", "message": "invalid bearer token"}})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := browser(t)
	defer cancel()
	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("event")),
		chromedp.SetValue(chromedp.ID("event"), `{not json`),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.CSS("#status.error")),
	)
	if err != nil {
		t.Fatal(err)
	}
	badJSON, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("event"), `{}`),
		chromedp.Click(chromedp.ID("submit")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("status").textContent.startsWith("401")`)); err != nil {
		t.Fatal(err)
	}
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(badJSON, "The event is not valid JSON") {
		t.Errorf("bad JSON message %q", badJSON)
	}
	if status != "401: invalid bearer token" {
		t.Errorf("status %q", status)
	}
}

func TestViewerHeaders(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, path := range []string{"/", "/assets/app.js", "/assets/style.css"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("%s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
		}
	}
	resp, err := http.Get(srv.URL + "/assets/../viewer.go")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Error("source files must not be served")
	}
}
