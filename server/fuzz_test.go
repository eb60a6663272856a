package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type echoSym struct{}

func (echoSym) Process(_ context.Context, _ string, event map[string]any) (map[string]any, error) {
	return event, nil
}

// FuzzSymbolicateBody: whatever the body, the reply is 200 or a 4xx JSON
// error, never a 5xx.
func FuzzSymbolicateBody(f *testing.F) {
	for _, seed := range []string{`{}`, `{"a":[1,2,{"b":null}]}`, `[`, `{"a":1}{`, `"x"`, "\xff\xfe", `{"n":1e999}`, ``} {
		f.Add(seed)
	}
	cfg := DefaultConfig()
	cfg.DataDir = f.TempDir()
	cfg.MaxEventSize = 64 << 10
	s, err := New(cfg, Deps{Store: &fakeStore{}, Symbolicator: echoSym{}}, nil)
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/projects/p/symbolicate", strings.NewReader(body)))
		if rec.Code >= 500 || (rec.Code != http.StatusOK && !strings.HasPrefix(rec.Body.String(), `{"error":{"code":`)) {
			t.Fatalf("body %q: status %d %s", body, rec.Code, rec.Body)
		}
	})
}
