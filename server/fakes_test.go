package server

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/internal/testenv"
	"github.com/stacklens/stacklens/server/auth"
	"github.com/stacklens/stacklens/sourcemaps"
	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/blobstore"
	"github.com/stacklens/stacklens/symbolicate"
)

type fakeStore struct{ err error }

func (f *fakeStore) Ping(context.Context) error { return f.err }

// fakeJS keeps uploads in memory. Magic URLs make it fail the way the real
// store does, so the error mapping is exercised end to end.
type fakeJS struct {
	mu      sync.Mutex
	uploads []sourcemaps.FileUpload
	bodies  [][]byte
	bundles []string // "release/dist:file1,file2"
}

func magicError(s string) error {
	switch s {
	case "invalid":
		return fmt.Errorf("bad map: %w", sourcemaps.ErrInvalidInput)
	case "badkey":
		return fmt.Errorf("key: %w", storage.ErrInvalidKey)
	case "toolarge":
		return fmt.Errorf("blob: %w", blobstore.ErrTooLarge)
	case "missing":
		return fmt.Errorf("x: %w", storage.ErrNotFound)
	case "internal":
		return errors.New("open /secret/path: disk on fire")
	}
	return nil
}

func (f *fakeJS) PutFile(ctx context.Context, project string, u sourcemaps.FileUpload, body io.Reader) (sourcemaps.FileRecord, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		return sourcemaps.FileRecord{}, err
	}
	if err := magicError(u.URL); err != nil {
		return sourcemaps.FileRecord{}, err
	}
	f.mu.Lock()
	f.uploads = append(f.uploads, u)
	f.bodies = append(f.bodies, data)
	f.mu.Unlock()
	return sourcemaps.FileRecord{URL: u.URL, Type: u.Type, Release: u.Release, Dist: u.Dist, Size: int64(len(data)),
		Headers: map[string]string{"Sourcemap": u.SourceMap}}, nil
}

func (f *fakeJS) PutBundle(ctx context.Context, project, release, dist string, r io.ReaderAt, size int64) (sourcemaps.BundleSummary, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return sourcemaps.BundleSummary{}, fmt.Errorf("%w: not a zip: %v", sourcemaps.ErrInvalidInput, err)
	}
	sum := sourcemaps.BundleSummary{Release: release, Dist: dist}
	var names []string
	for _, zf := range zr.File {
		names = append(names, zf.Name)
		sum.Files = append(sum.Files, sourcemaps.FileRecord{URL: "~/" + zf.Name, Size: int64(zf.UncompressedSize64)})
	}
	f.mu.Lock()
	f.bundles = append(f.bundles, release+"/"+dist+":"+strings.Join(names, ","))
	f.mu.Unlock()
	return sum, nil
}

func (f *fakeJS) ListReleaseFiles(ctx context.Context, project, release string) ([]sourcemaps.FileRecord, error) {
	if err := magicError(release); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sourcemaps.FileRecord
	for _, u := range f.uploads {
		if u.Release == release {
			out = append(out, sourcemaps.FileRecord{URL: u.URL, Release: u.Release})
		}
	}
	return out, nil
}

type fakeDebug struct {
	mu    sync.Mutex
	files map[string][]debugfiles.FileMeta // by project
}

func (f *fakeDebug) Upload(ctx context.Context, project string, body io.Reader) ([]debugfiles.FileMeta, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(data, []byte("\x7fELF")) {
		return nil, fmt.Errorf("%w: not an object file", debugfiles.ErrInvalidInput)
	}
	m := debugfiles.FileMeta{DebugID: strings.TrimSpace(string(data[4:])), Kind: debugfiles.KindELF, Arch: "x86_64", Features: []string{"symtab"}}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.files == nil {
		f.files = map[string][]debugfiles.FileMeta{}
	}
	f.files[project] = append(f.files[project], m)
	return []debugfiles.FileMeta{m}, nil
}

func (f *fakeDebug) List(ctx context.Context, project, debugID string) ([]debugfiles.FileMeta, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []debugfiles.FileMeta
	for _, m := range f.files[project] {
		if debugID == "" || m.DebugID == debugID {
			out = append(out, m)
		}
	}
	return out, nil
}

func (f *fakeDebug) Delete(ctx context.Context, project, debugID string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var kept []debugfiles.FileMeta
	for _, m := range f.files[project] {
		if m.DebugID != debugID {
			kept = append(kept, m)
		}
	}
	n := len(f.files[project]) - len(kept)
	if n > 0 {
		f.files[project] = kept
	}
	return n, nil
}

// fakeSym behaves according to the event's "test" field.
type fakeSym struct{}

func (fakeSym) Process(ctx context.Context, project string, event map[string]any) (map[string]any, error) {
	switch event["test"] {
	case "too-many-frames":
		return nil, fmt.Errorf("2000 frames: %w", symbolicate.ErrTooManyFrames)
	case "invalid":
		return nil, fmt.Errorf("exception.values is a string: %w", symbolicate.ErrInvalidEvent)
	case "panic":
		panic("fake symbolicator exploded")
	case "internal":
		return nil, errors.New("reading /secret/path: disk on fire")
	case "slow":
		<-ctx.Done()
		return nil, ctx.Err()
	}
	event["symbolicated_for"] = project
	return event, nil
}

// testServer runs a Server over fakes behind httptest. Options edit the
// config before New.
type testServer struct {
	*httptest.Server
	srv   *Server
	js    *fakeJS
	debug *fakeDebug
	store *fakeStore
	logs  *testenv.SyncBuffer
}

func newTestServer(t *testing.T, edit func(*Config, *Deps)) *testServer {
	t.Helper()
	ts := &testServer{js: &fakeJS{}, debug: &fakeDebug{}, store: &fakeStore{}, logs: &testenv.SyncBuffer{}}
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	deps := Deps{Store: ts.store, JS: ts.js, DebugFiles: ts.debug, Symbolicator: fakeSym{}}
	if edit != nil {
		edit(&cfg, &deps)
	}
	logger := slog.New(slog.NewJSONHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := New(cfg, deps, logger)
	if err != nil {
		t.Fatal(err)
	}
	ts.srv = srv
	ts.Server = httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func withTokens(grants ...auth.Grant) func(*Config, *Deps) {
	return func(c *Config, d *Deps) {
		a, err := auth.New(grants)
		if err != nil {
			panic(err)
		}
		d.Auth = a
	}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (ts *testServer) do(t *testing.T, method, path, token string, body io.Reader, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: data}
}
