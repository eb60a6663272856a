package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/sourcemaps"
	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/blobstore"
)

// jsFilesServer serves PUT /api/v1/projects/{p}/files over a real
// sourcemaps.Service, as the HTTP server does.
func jsFilesServer(t *testing.T, svc *sourcemaps.Service) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /api/v1/projects/{p}/files", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		rec, err := svc.PutFile(r.Context(), r.PathValue("p"), sourcemaps.FileUpload{
			URL: q.Get("url"), Release: q.Get("release"), Dist: q.Get("dist"),
			Type: sourcemaps.ArtifactType(q.Get("type")), SourceMap: q.Get("sourcemap"),
		}, r.Body)
		if err != nil {
			code := http.StatusInternalServerError
			if errors.Is(err, sourcemaps.ErrInvalidInput) {
				code = http.StatusBadRequest
			}
			w.WriteHeader(code)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "bad_request", "message": err.Error()}})
			return
		}
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(rec)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUploadSourcemaps(t *testing.T) {
	svc := sourcemaps.New(sourcemaps.Config{}, blobstore.New(storage.NewInMemory(), t.TempDir()), nil)
	srv := jsFilesServer(t, svc)
	dir := t.TempDir()
	// A hand-written one-segment map: line 1 col 0 of app.min.js is
	// src/app.js line 3 col 2.
	writeFiles(t, dir, map[string]string{
		"js/app.min.js":     "throw new Error(1)\n//# sourceMappingURL=app.min.js.map\n",
		"js/app.min.js.map": `{"version":3,"sources":["../src/app.js"],"sourcesContent":["a\nb\n  throw new Error(1)\n"],"names":[],"mappings":"AAEE"}`,
		"js/vendor.js":      "v()\n",
		"js/vendor.js.map":  `{"version":3,"sources":["vendor.src.js"],"names":[],"mappings":"AAAA"}`,
		"js/readme.txt":     "not uploaded",
	})
	var stdout, stderr bytes.Buffer
	err := runUploadSourcemaps(context.Background(), []string{dir, "--url", srv.URL, "--project", "web",
		"--release", "1.0", "--url-prefix", "~/static", "--quiet"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	files, err := svc.ListReleaseFiles(context.Background(), "web", "1.0")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]sourcemaps.ArtifactType{}
	for _, f := range files {
		got[f.URL] = f.Type
	}
	want := map[string]sourcemaps.ArtifactType{
		"~/static/js/app.min.js": sourcemaps.TypeMinified, "~/static/js/app.min.js.map": sourcemaps.TypeSourceMap,
		"~/static/js/vendor.js": sourcemaps.TypeMinified, "~/static/js/vendor.js.map": sourcemaps.TypeSourceMap,
	}
	if len(got) != len(want) {
		t.Fatalf("uploaded %v, want %v", got, want)
	}
	for u, ty := range want {
		if got[u] != ty {
			t.Errorf("%s: type %q, want %q", u, got[u], ty)
		}
	}
	if !strings.Contains(stdout.String(), "~/static/js/app.min.js.map") {
		t.Errorf("summary lacks the map:\n%s", stdout.String())
	}
	// vendor.js has no comment: its pairing travels as the SourceMap header.
	res := svc.ResolveStack(context.Background(), sourcemaps.StackRequest{Project: "web", Release: "1.0", Frames: []sourcemaps.Frame{
		{AbsPath: "https://ex.com/static/js/app.min.js", Lineno: 1, Colno: 1},
		{AbsPath: "https://ex.com/static/js/vendor.js", Lineno: 1, Colno: 1},
	}})
	if r := res.Frames[0]; r.Status != sourcemaps.StatusSymbolicated || r.AbsPath != "https://ex.com/static/src/app.js" || r.Lineno != 3 || r.Colno != 3 {
		t.Errorf("app frame: %+v %+v", r, res.Problems)
	}
	if r := res.Frames[1]; r.Status != sourcemaps.StatusSymbolicated || r.AbsPath != "https://ex.com/static/js/vendor.src.js" {
		t.Errorf("vendor frame: %+v %+v", r, res.Problems)
	}
}

func TestUploadSourcemapsErrors(t *testing.T) {
	svc := sourcemaps.New(sourcemaps.Config{}, blobstore.New(storage.NewInMemory(), t.TempDir()), nil)
	srv := jsFilesServer(t, svc)
	noIDs := t.TempDir()
	writeFiles(t, noIDs, map[string]string{"a.js": "a()\n//# sourceMappingURL=a.js.map\n", "a.js.map": `{"version":3,"sources":[],"names":[],"mappings":""}`})
	badMap := t.TempDir()
	writeFiles(t, badMap, map[string]string{"a.js.map": `{"version":3,"mappings":"@@"`})
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"no dir", []string{"--project", "web"}, "no directory"},
		{"no project", []string{noIDs}, "--project is required"},
		{"dist without release", []string{noIDs, "--project", "web", "--dist", "d"}, "--dist needs --release"},
		{"no release, no debug ids", []string{noIDs, "--project", "web", "--url", srv.URL}, "carry no debug ID"},
		{"empty dir", []string{t.TempDir(), "--project", "web", "--url", srv.URL}, "no .js"},
		{"broken map", []string{badMap, "--project", "web", "--release", "1", "--url", srv.URL}, "not a valid source map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runUploadSourcemaps(context.Background(), append(tt.args, "--quiet"), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.msg)
			}
		})
	}
}
