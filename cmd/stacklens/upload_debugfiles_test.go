package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/debugfiles"
	debugstore "github.com/stacklens/stacklens/debugfiles/store"
	"github.com/stacklens/stacklens/internal/testenv"
	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/blobstore"
)

func identFixture(t *testing.T, name string) string {
	return filepath.Join(testenv.RepoRoot(t), "testdata", "native", "ident", name)
}

// TestUploadDebugFilesCommand uploads a directory to a stand-in for the
// server's debug-files endpoint backed by the real debugstore: object files
// are stored under their own names, other files are skipped, and every
// returned debug_id is printed.
func TestUploadDebugFilesCommand(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"macho_fat.dylib", "pe_x86_64.dll", "linux_x86_64.sym"} {
		data, err := os.ReadFile(identFixture(t, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "sub", n), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("docs"), 0o644); err != nil {
		t.Fatal(err)
	}
	store := debugstore.New(debugstore.Config{}, blobstore.New(storage.NewInMemory(), t.TempDir()), nil)
	var gotAuth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = append(gotAuth, r.Header.Get("Authorization"))
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/projects/shop/debug-files" {
			http.Error(w, "bad route "+r.URL.Path, http.StatusNotFound)
			return
		}
		metas, err := store.Upload(r.Context(), "shop", r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "bad", "message": err.Error()}})
			return
		}
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(metas)
	}))
	defer srv.Close()

	var stdout, stderr bytes.Buffer
	err := runUploadDebugFiles(context.Background(), []string{dir, "--url", srv.URL, "--project", "shop", "--token", "tok", "--quiet"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("upload: %v\n%s", err, stderr.String())
	}
	if len(gotAuth) != 3 || gotAuth[0] != "Bearer tok" {
		t.Errorf("requests/auth: %v", gotAuth)
	}
	stored, err := store.List(context.Background(), "shop", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 4 { // fat Mach-O: two archs
		t.Fatalf("stored %d records: %+v", len(stored), stored)
	}
	for _, m := range stored {
		if !strings.Contains(stdout.String(), m.DebugID) {
			t.Errorf("output lacks %s:\n%s", m.DebugID, stdout.String())
		}
		if m.ObjectName == "" || m.ObjectName == "upload" {
			t.Errorf("object name lost: %+v", m)
		}
	}
	if !strings.Contains(stderr.String(), "skipped 1") {
		t.Errorf("stderr does not report the skipped README: %s", stderr.String())
	}

	// A server error is reported with its message.
	err = runUploadDebugFiles(context.Background(), []string{identFixture(t, "pe_x86.dll"), "--url", srv.URL, "--project", "other", "--quiet"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "bad route") {
		t.Errorf("wrong route: err %v", err)
	}
}

func TestInspectCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	files := []string{identFixture(t, "macho_fat.dylib"), identFixture(t, "pe_x86_64.pdb")}
	if err := runInspect(context.Background(), append([]string{"--json"}, files...), &stdout, &stderr); err != nil {
		t.Fatalf("inspect: %v\n%s", err, stderr.String())
	}
	var rows []struct {
		File string `json:"file"`
		debugfiles.FileMeta
	}
	if err := json.Unmarshal(stdout.Bytes(), &rows); err != nil {
		t.Fatal(err)
	}
	var want []debugfiles.FileMeta
	for _, f := range files {
		ms, err := identifyPath(f)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, ms...)
	}
	if len(rows) != 3 || len(want) != 3 {
		t.Fatalf("rows %+v", rows)
	}
	for i, r := range rows {
		if r.DebugID != want[i].DebugID || r.Arch != want[i].Arch || r.ObjectName != filepath.Base(r.File) {
			t.Errorf("row %d %+v, want %+v", i, r, want[i])
		}
	}
	stdout.Reset()
	err := runInspect(context.Background(), []string{identFixture(t, "lib.c"), identFixture(t, "pe_x86.dll")}, &stdout, &stderr)
	if err == nil || !strings.Contains(stdout.String(), "a992e71e-b86a-e2f0-4c4c-44205044422e-1") || !strings.Contains(stdout.String(), "invalid input") {
		t.Errorf("table with one bad file: err %v\n%s", err, stdout.String())
	}
}
