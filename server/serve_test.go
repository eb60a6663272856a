package server

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stacklens/stacklens/cache"
)

func TestCacheMetrics(t *testing.T) {
	ts := newTestServer(t, nil)
	stats := cache.Stats{Hits: 5, Misses: 2, Loads: 2, Bytes: 4096, Entries: 3}
	if err := ts.srv.RegisterCacheStats("sourcemaps", func() cache.Stats { return stats }); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.RegisterCacheStats("sourcemaps", func() cache.Stats { return stats }); err == nil {
		t.Error("registering one cache name twice should fail")
	}
	stats.Hits = 6 // read at scrape time, not at registration
	r := ts.do(t, "GET", "/metrics", "", nil)
	for _, want := range []string{
		`stacklens_cache_hits_total{cache="sourcemaps"} 6`,
		`stacklens_cache_bytes{cache="sourcemaps"} 4096`,
		`stacklens_cache_entries{cache="sourcemaps"} 3`,
	} {
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// serveOn runs s.Serve on a loopback listener; the returned channel gets
// Serve's result.
func serveOn(t *testing.T, s *Server, ctx context.Context) (string, chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	return "http://" + ln.Addr().String(), done
}

func TestServeShutdownWaitsForInFlight(t *testing.T) {
	tests := []struct {
		name        string
		timeout     time.Duration
		releaseLate bool
		wantErr     string
	}{
		{name: "request finishes", timeout: 10 * time.Second},
		{name: "request outlives the timeout", timeout: 50 * time.Millisecond, releaseLate: true, wantErr: "did not finish"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entered, release := make(chan struct{}), make(chan struct{})
			slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(entered)
				<-release
				w.WriteHeader(http.StatusTeapot)
			})
			ts := newTestServer(t, func(c *Config, d *Deps) {
				c.ShutdownTimeout = tc.timeout
				d.SentryAPI = slow
			})
			ctx, cancel := context.WithCancel(context.Background())
			url, done := serveOn(t, ts.srv, ctx)
			got := make(chan int, 1)
			go func() {
				resp, err := http.Get(url + "/api/0/slow")
				if err != nil {
					got <- 0
					return
				}
				resp.Body.Close()
				got <- resp.StatusCode
			}()
			<-entered
			cancel()
			if !tc.releaseLate {
				// Shutdown has begun once new connections are refused.
				for {
					c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
					if err != nil {
						break
					}
					c.Close()
					time.Sleep(5 * time.Millisecond)
				}
				close(release)
				if status := <-got; status != http.StatusTeapot {
					t.Fatalf("in-flight request got %d", status)
				}
			}
			err := <-done
			if tc.releaseLate {
				close(release)
			}
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Serve: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Serve = %v, want an error saying %q", err, tc.wantErr)
			}
		})
	}
}
