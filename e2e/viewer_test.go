package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stacklens/stacklens/internal/testenv"
)

// TestViewerOnRealServer drives the web viewer of a real server in headless
// Chromium: an event captured by @sentry/node is pasted, the readable trace
// shows the original sources newest call first, unresolved frames say why,
// and the uploaded release files are listed.
func TestViewerOnRealServer(t *testing.T) {
	srv := testenv.StartServer(t)
	fx := jsFixture(t)
	stacklens(t, "upload", "sourcemaps", fx.dist, "--url", srv.URL, "--project", "shop",
		"--release", "fixture@1.0", "--url-prefix", "~"+fx.dist, "--quiet")

	exe := testenv.Tool(t, "chromium")
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(actx)
	defer cancelCtx()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	// An event whose stack also runs through the (never uploaded) capture
	// script, so one frame cannot resolve.
	var event string
	for _, ev := range fx.events {
		if b := string(mustJSON(t, ev)); strings.Contains(b, "sentry_capture.cjs") {
			event = b
			break
		}
	}
	if event == "" {
		t.Fatal("no captured event runs through sentry_capture.cjs")
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("event")),
		chromedp.SetValue(chromedp.ID("project"), "shop"),
		chromedp.SetValue(chromedp.ID("event"), event),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("result")),
	); err != nil {
		t.Fatal(err)
	}
	text := func(sel chromedp.CSS) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return s
	}
	summary, traces, problems := text("#summary"), text("#traces"), text("#problems")
	if !strings.Contains(summary, "frames resolved") || strings.HasPrefix(summary, "0 of") {
		t.Errorf("summary %q", summary)
	}
	// The first frame shown is the newest call: the throw site in the
	// original sources, with its context line highlighted.
	first, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("li.frame")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first, "app/src/") {
		t.Errorf("the newest frame is not in the original sources:\n%s", first)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("li.current").length`)); err != nil || n == 0 {
		t.Errorf("no highlighted context line (%v)", err)
	}
	if !strings.Contains(traces, "Why: nothing was uploaded for this file") || !strings.Contains(problems, "js_no_source") {
		t.Errorf("the capture script's own frame (never uploaded) must say why:\n%s\n%s", traces, problems)
	}

	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("release"), "fixture@1.0"),
		chromedp.Click(chromedp.ID("list-release")),
		chromedp.WaitVisible(chromedp.CSS("#uploads-out table")),
	); err != nil {
		t.Fatal(err)
	}
	if listed := text("#uploads-out"); !strings.Contains(listed, "app.min.js.map") || !strings.Contains(listed, "source_map") {
		t.Errorf("release files: %s", listed)
	}
}
