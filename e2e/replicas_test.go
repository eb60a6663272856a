package e2e

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stacklens/stacklens/internal/testenv"
)

// TestReplicasShareMinIO runs two `stacklens serve` processes over one MinIO
// bucket, each with its own data and cache directory: what is uploaded to
// one is served by the other, the second replica takes the derived indexes
// the first one built from the bucket instead of parsing again, and a miss
// remembered by one replica ends within the negative-cache TTL after the
// artifact is uploaded to the other.
func TestReplicasShareMinIO(t *testing.T) {
	m := testenv.StartMinIO(t)
	bucket := m.NewBucketName(t)
	env := []string{"STACKLENS_S3_ACCESS_KEY=" + m.AccessKey, "STACKLENS_S3_SECRET_KEY=" + m.SecretKey}
	args := []string{"--storage", "s3", "--s3.endpoint", m.Endpoint, "--s3.bucket", bucket,
		"--sourcemaps.negative-ttl", "1s", "--sourcemaps.record-ttl", "1s",
		"--debugfiles.negative-ttl", "1s", "--debugfiles.record-ttl", "1s"}
	a := testenv.StartServerWithEnv(t, env, args...)
	b := testenv.StartServerWithEnv(t, env, args...)

	// Native: the crash program's event, asked of B before anything is
	// uploaded (B remembers the miss), then uploaded to A.
	dir := t.TempDir()
	bin := filepath.Join(dir, "crash")
	runCmd(t, "", nil, "g++", "-O2", "-g", "-o", bin, repoPath(t, "testdata", "native", "crash", "crash.cpp"))
	crash := runCmd(t, dir, nil, bin)
	if got := nativeResolved(t, symbolicate(t, b.URL, "shop", decodeJSON(t, crash)), bin); got != 0 {
		t.Fatalf("B resolved %d frames before any upload", got)
	}
	stacklens(t, "upload", "debug-files", "--url", a.URL, "--project", "shop", "--quiet", bin)
	onA := nativeResolved(t, symbolicate(t, a.URL, "shop", decodeJSON(t, crash)), bin)
	if onA < 5 {
		t.Fatalf("A resolved only %d frames of its own upload", onA)
	}
	waitFor(t, 5*time.Second, "B to see the debug file uploaded to A", func() bool {
		return nativeResolved(t, symbolicate(t, b.URL, "shop", decodeJSON(t, crash)), bin) == onA
	})

	// JS: uploaded to A, symbolicated on B.
	fx := jsFixture(t)
	stacklens(t, "upload", "sourcemaps", fx.dist, "--url", a.URL, "--project", "shop",
		"--release", "fixture@1.0", "--url-prefix", "~"+fx.dist, "--quiet")
	symbolicate(t, a.URL, "shop", fx.events[0]) // A builds and writes back the indexes
	time.Sleep(300 * time.Millisecond)          // the write-back runs in the background
	var jsOnB int
	waitFor(t, 5*time.Second, "B to resolve JS frames uploaded to A", func() bool {
		jsOnB = 0
		res := symbolicate(t, b.URL, "shop", fx.events[0])
		for _, v := range list(obj(res["exception"])["values"]) {
			for _, f := range list(obj(obj(v)["stacktrace"])["frames"]) {
				if strings.Contains(str(obj(f)["abs_path"]), "app/src/") && obj(obj(f)["data"])["symbolicator_status"] == "symbolicated" {
					jsOnB++
				}
			}
		}
		return jsOnB > 0
	})
	// B found A's derived indexes in the bucket: store hits, not builds,
	// for the source map index.
	metrics := get(t, b.URL+"/metrics")
	for _, series := range []string{
		`stacklens_cache_hits_total{cache="sourcemaps",layer="store"}`,
		`stacklens_cache_hits_total{cache="debugfiles",layer="store"}`,
	} {
		if n := metricValue(metrics, series); n < 1 {
			t.Errorf("B took no derived index from the bucket (%s):\n%s", series, grepLines(metrics, "stacklens_cache_"))
		}
	}
	t.Logf("B resolved %d native and %d JS frames uploaded to A", onA, jsOnB)
}

func nativeResolved(t *testing.T, res map[string]any, bin string) int {
	n := 0
	for _, v := range list(obj(res["exception"])["values"]) {
		for _, f := range list(obj(obj(v)["stacktrace"])["frames"]) {
			fm := obj(f)
			if str(fm["package"]) == bin && obj(fm["data"])["symbolicator_status"] == "symbolicated" {
				n++
			}
		}
	}
	return n
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// metricValue returns the value of one Prometheus series, 0 if absent.
func metricValue(text, series string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
