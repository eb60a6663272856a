package sentryapi

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/server/auth"
	"github.com/stacklens/stacklens/sourcemaps"
	"github.com/stacklens/stacklens/storage"
)

// splitChunks cuts data the way sentry-cli does: fixed-size chunks, the
// last one shorter.
func splitChunks(data []byte, size int) [][]byte {
	var out [][]byte
	for len(data) > size {
		out = append(out, data[:size])
		data = data[size:]
	}
	return append(out, data)
}

func chunkNames(chunks [][]byte) []string {
	names := make([]string, len(chunks))
	for i, c := range chunks {
		names[i] = sha1Hex(c)
	}
	return names
}

func makeZip(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func bundleAssemble(t *testing.T, url, token string, body map[string]any) (int, map[string]any) {
	t.Helper()
	return doJSON(t, http.MethodPost, url+"/api/0/organizations/o/artifactbundle/assemble/", token, body)
}

func missingOf(t *testing.T, reply map[string]any) []string {
	t.Helper()
	list, ok := reply["missingChunks"].([]any)
	if !ok {
		t.Fatalf("reply has no missingChunks list: %v", reply)
	}
	out := []string{}
	for _, v := range list {
		out = append(out, v.(string))
	}
	return out
}

const testChunkSize = 4096

// TestBundleAssembleResume walks the protocol: nothing stored → every chunk
// missing (once each, in order); after some chunks → only the rest; then
// the bundle is assembled and handed over byte for byte.
func TestBundleAssembleResume(t *testing.T) {
	ts := newTestServer(t, Config{ChunkSize: testChunkSize})
	bundle := makeZip(t, map[string]string{"manifest.json": `{"files":{}}`, "files/_/_/big.js": string(randomBytes(t, 3*testChunkSize))})
	chunks := splitChunks(bundle, testChunkSize)
	if len(chunks) < 4 {
		t.Fatalf("want at least 4 chunks, have %d", len(chunks))
	}
	names := chunkNames(chunks)
	// A repeated chunk is reported once.
	req := map[string]any{"checksum": sha1Hex(bundle), "chunks": names, "projects": []string{"p"}, "version": "1.0", "dist": "web"}

	status, got := bundleAssemble(t, ts.URL, "good", req)
	if status != 200 || got["state"] != "not_found" {
		t.Fatalf("first assemble: %d %v", status, got)
	}
	if m := missingOf(t, got); !slices.Equal(m, names) {
		t.Fatalf("missingChunks = %v, want all %v", m, names)
	}

	postChunks(t, ts.URL, "good", gzPart(t, chunks[0]), gzPart(t, chunks[2]))
	_, got = bundleAssemble(t, ts.URL, "good", req)
	want := []string{names[1]}
	want = append(want, names[3:]...)
	if m := missingOf(t, got); got["state"] != "not_found" || !slices.Equal(m, want) {
		t.Fatalf("after a partial upload: %v, want missing %v", got, want)
	}

	var rest []chunkPart
	for i, c := range chunks {
		if i != 0 && i != 2 {
			rest = append(rest, gzPart(t, c))
		}
	}
	postChunks(t, ts.URL, "good", rest...)
	_, got = bundleAssemble(t, ts.URL, "good", req)
	if got["state"] != "ok" {
		t.Fatalf("complete assemble: %v", got)
	}
	calls := ts.Bundles.Calls()
	if len(calls) != 1 {
		t.Fatalf("PutBundle called %d times, want 1", len(calls))
	}
	c := calls[0]
	if c.Project != "p" || c.Release != "1.0" || c.Dist != "web" || !bytes.Equal(c.Zip, bundle) {
		t.Errorf("PutBundle(%q, %q, %q, %d bytes), want (p, 1.0, web, the %d-byte bundle)", c.Project, c.Release, c.Dist, len(c.Zip), len(bundle))
	}

	// Asking again is answered from the record: no second PutBundle.
	_, got = bundleAssemble(t, ts.URL, "good", req)
	if got["state"] != "ok" || len(ts.Bundles.Calls()) != 1 {
		t.Errorf("repeated assemble: %v, %d PutBundle calls", got, len(ts.Bundles.Calls()))
	}
}

func TestBundleAssembleErrors(t *testing.T) {
	ts := newTestServer(t, Config{ChunkSize: testChunkSize, MaxFileSize: 64 * testChunkSize})
	bundle := makeZip(t, map[string]string{"manifest.json": `{"files":{}}`})
	notZip := []byte("this is not a zip archive")
	postChunks(t, ts.URL, "good", gzPart(t, bundle), gzPart(t, notZip))

	tests := []struct {
		name       string
		body       map[string]any
		wantStatus int
		wantState  string
		wantDetail string
	}{
		{"checksum mismatch", map[string]any{"checksum": sha1Hex(notZip), "chunks": []string{sha1Hex(bundle)}, "projects": []string{"p"}}, 200, "error", "checksum mismatch"},
		{"not a bundle", map[string]any{"checksum": sha1Hex(notZip), "chunks": []string{sha1Hex(notZip)}, "projects": []string{"p"}}, 200, "error", "not a zip"},
		{"bad checksum", map[string]any{"checksum": "abc", "chunks": []string{sha1Hex(bundle)}, "projects": []string{"p"}}, 400, "", "not a SHA-1"},
		{"no chunks", map[string]any{"checksum": sha1Hex(bundle), "chunks": []string{}, "projects": []string{"p"}}, 400, "", "no chunks"},
		{"no projects", map[string]any{"checksum": sha1Hex(bundle), "chunks": []string{sha1Hex(bundle)}}, 400, "", "project"},
		{"bad project", map[string]any{"checksum": sha1Hex(bundle), "chunks": []string{sha1Hex(bundle)}, "projects": []string{"../x"}}, 400, "", "invalid project"},
		{"too many chunks", map[string]any{"checksum": sha1Hex(bundle), "chunks": slices.Repeat([]string{sha1Hex(bundle)}, 1000), "projects": []string{"p"}}, 400, "", "maximum file size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, got := bundleAssemble(t, ts.URL, "good", tc.body)
			if status != tc.wantStatus || (tc.wantState != "" && got["state"] != tc.wantState) {
				t.Fatalf("got %d %v, want %d state %q", status, got, tc.wantStatus, tc.wantState)
			}
			if d, _ := got["detail"].(string); !strings.Contains(d, tc.wantDetail) {
				t.Errorf("detail %q does not mention %q", d, tc.wantDetail)
			}
		})
	}
	if n := len(ts.Bundles.Calls()); n != 0 {
		t.Errorf("%d bundles stored, want none", n)
	}
}

// TestAssembleErrorIsNotSticky: a failed assembly is reported, and running
// the upload again retries it rather than repeating the old failure.
func TestAssembleErrorIsNotSticky(t *testing.T) {
	ts := newTestServer(t, Config{ChunkSize: testChunkSize})
	bundle := makeZip(t, map[string]string{"manifest.json": `{"files":{}}`})
	postChunks(t, ts.URL, "good", gzPart(t, bundle))
	req := map[string]any{"checksum": sha1Hex(bundle), "chunks": []string{sha1Hex(bundle)}, "projects": []string{"p"}}

	ts.Bundles.err = fmt.Errorf("%w: manifest.json is missing", sourcemaps.ErrInvalidInput)
	_, got := bundleAssemble(t, ts.URL, "good", req)
	if d, _ := got["detail"].(string); got["state"] != "error" || !strings.Contains(d, "manifest.json is missing") {
		t.Fatalf("failing store: %v", got)
	}
	ts.Bundles.err = errors.New("disk on fire")
	_, got = bundleAssemble(t, ts.URL, "good", req)
	if d, _ := got["detail"].(string); got["state"] != "error" || strings.Contains(d, "fire") || !strings.Contains(d, "internal error") {
		t.Fatalf("internal failure must be reported without its internals: %v", got)
	}
	ts.Bundles.err = nil
	_, got = bundleAssemble(t, ts.URL, "good", req)
	if got["state"] != "ok" || len(ts.Bundles.Calls()) != 1 {
		t.Fatalf("retry after the failure: %v, %d bundles", got, len(ts.Bundles.Calls()))
	}
}

// gatedBundles blocks PutBundle until release is closed, to observe an
// assembly in progress.
type gatedBundles struct {
	fakeBundles
	entered chan struct{}
	release chan struct{}
}

func (g *gatedBundles) PutBundle(ctx context.Context, project, release, dist string, r io.ReaderAt, size int64) (sourcemaps.BundleSummary, error) {
	g.entered <- struct{}{}
	<-g.release
	return g.fakeBundles.PutBundle(ctx, project, release, dist, r, size)
}

// TestBackgroundAssemblyAcrossReplicas: an assembly slower than
// AssembleWait answers "created"; polls, on this replica or on another one
// sharing the bucket, say "created" until it is done and "ok" after.
func TestBackgroundAssemblyAcrossReplicas(t *testing.T) {
	bucket := storage.NewInMemory()
	gated := &gatedBundles{entered: make(chan struct{}, 1), release: make(chan struct{})}
	cfg := Config{ChunkSize: testChunkSize, AssembleWait: time.Nanosecond}
	replicaA := openServer(t, New(Deps{Bucket: bucket, Bundles: gated, DebugFiles: &fakeDebugFiles{}, Config: cfg}))
	replicaB := openServer(t, New(Deps{Bucket: bucket, Bundles: &fakeBundles{}, DebugFiles: &fakeDebugFiles{}, Config: cfg}))

	bundle := makeZip(t, map[string]string{"manifest.json": `{"files":{}}`})
	postChunks(t, replicaA, "", gzPart(t, bundle))
	req := map[string]any{"checksum": sha1Hex(bundle), "chunks": []string{sha1Hex(bundle)}, "projects": []string{"p"}}

	if _, got := bundleAssemble(t, replicaA, "", req); got["state"] != "created" {
		t.Fatalf("slow assembly: %v, want created", got)
	}
	<-gated.entered // the assembly has recorded its start and is storing
	for name, url := range map[string]string{"same replica": replicaA, "other replica": replicaB} {
		if _, got := bundleAssemble(t, url, "", req); got["state"] != "created" {
			t.Errorf("poll on the %s during assembly: %v, want created", name, got)
		}
	}
	close(gated.release)
	for name, url := range map[string]string{"same replica": replicaA, "other replica": replicaB} {
		if got := pollUntilDone(t, url, req); got["state"] != "ok" {
			t.Errorf("poll on the %s after assembly: %v, want ok", name, got)
		}
	}
	if n := len(gated.Calls()); n != 1 {
		t.Errorf("bundle stored %d times, want once", n)
	}
}

// TestOldStatesAreRedone: a "created" record older than the assembly
// timeout (its replica died) does not block the upload forever, and an
// old "ok" does not stop a later upload of the same file from being stored.
func TestOldStatesAreRedone(t *testing.T) {
	for _, state := range []string{stateCreated, stateOK} {
		t.Run(state, func(t *testing.T) {
			ts := newTestServer(t, Config{ChunkSize: testChunkSize, AssembleTimeout: time.Minute})
			bundle := makeZip(t, map[string]string{"manifest.json": `{"files":{}}`})
			postChunks(t, ts.URL, "good", gzPart(t, bundle))
			req := map[string]any{"checksum": sha1Hex(bundle), "chunks": []string{sha1Hex(bundle)}, "projects": []string{"p"}, "version": "2"}
			h := &handler{deps: Deps{Bucket: ts.Bucket}}
			key := stateKey(sha1Hex(bundle), "bundle-"+bundleTarget([]string{"p"}, "2", ""))
			if err := h.putRecord(t.Context(), key, assemblyState{State: state, Updated: time.Now().Add(-time.Hour)}); err != nil {
				t.Fatal(err)
			}
			if _, got := bundleAssemble(t, ts.URL, "good", req); got["state"] != "ok" || len(ts.Bundles.Calls()) != 1 {
				t.Fatalf("after an old %q: %v, %d bundles stored", state, got, len(ts.Bundles.Calls()))
			}
		})
	}
}

// pollUntilDone polls an assemble call the way sentry-cli --wait does.
func pollUntilDone(t *testing.T, url string, req map[string]any) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, got := bundleAssemble(t, url, "", req)
		if got["state"] != "created" || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// openServer serves h with an open-mode principal (no tokens configured).
func openServer(t *testing.T, h http.Handler) string {
	t.Helper()
	authn, err := auth.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := authn.Authenticate(r)
		if err != nil {
			t.Error(err)
			return
		}
		h.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestScopes(t *testing.T) {
	ts := newTestServer(t, Config{ChunkSize: testChunkSize})
	bundle := makeZip(t, map[string]string{"manifest.json": `{"files":{}}`})
	postChunks(t, ts.URL, "good", gzPart(t, bundle))
	bundleReq := func(projects ...string) map[string]any {
		return map[string]any{"checksum": sha1Hex(bundle), "chunks": []string{sha1Hex(bundle)}, "projects": projects}
	}
	difReq := map[string]any{sha1Hex(bundle): map[string]any{"name": "x", "chunks": []string{sha1Hex(bundle)}}}
	tests := []struct {
		name, token, method, path string
		body                      any
		want                      int
	}{
		{"bundle, symbolicate-only token", "reader", "POST", "/api/0/organizations/o/artifactbundle/assemble/", bundleReq("p"), 403},
		{"bundle, other project", "ponly", "POST", "/api/0/organizations/o/artifactbundle/assemble/", bundleReq("q"), 403},
		{"bundle, one of two projects", "ponly", "POST", "/api/0/organizations/o/artifactbundle/assemble/", bundleReq("p", "q"), 403},
		{"bundle, own project", "ponly", "POST", "/api/0/organizations/o/artifactbundle/assemble/", bundleReq("p"), 200},
		{"difs, symbolicate-only token", "reader", "POST", "/api/0/projects/o/p/files/difs/assemble/", difReq, 403},
		{"difs, other project", "ponly", "POST", "/api/0/projects/o/q/files/difs/assemble/", difReq, 403},
		{"difs, own project", "ponly", "POST", "/api/0/projects/o/p/files/difs/assemble/", difReq, 200},
		{"new release, symbolicate-only token", "reader", "POST", "/api/0/organizations/o/releases/", map[string]any{"version": "1", "projects": []string{"p"}}, 403},
		{"new release, other project", "ponly", "POST", "/api/0/organizations/o/releases/", map[string]any{"version": "1", "projects": []string{"q"}}, 403},
		{"finalize release, symbolicate-only token", "reader", "PUT", "/api/0/organizations/o/releases/1/", map[string]any{"projects": []string{"p"}}, 403},
		{"bad token", "nope", "POST", "/api/0/organizations/o/artifactbundle/assemble/", bundleReq("p"), 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, got := doJSON(t, tc.method, ts.URL+tc.path, tc.token, tc.body)
			if status != tc.want {
				t.Fatalf("status %d, want %d: %v", status, tc.want, got)
			}
			if d, _ := got["detail"].(string); tc.want >= 400 && d == "" {
				t.Errorf("error reply without detail: %v", got)
			}
		})
	}
	if n := len(ts.Bundles.Calls()); n != 1 {
		t.Errorf("%d bundles stored, want 1 (only the allowed call)", n)
	}
}

// TestHandlerWithoutPrincipal: reached without the auth middleware, the
// handler denies project actions rather than allowing them.
func TestHandlerWithoutPrincipal(t *testing.T) {
	srv := httptest.NewServer(New(Deps{Bucket: storage.NewInMemory(), Bundles: &fakeBundles{}, DebugFiles: &fakeDebugFiles{}}))
	defer srv.Close()
	status, _ := doJSON(t, "POST", srv.URL+"/api/0/projects/o/p/files/difs/assemble/", "", map[string]any{})
	if status != http.StatusForbidden {
		t.Errorf("status %d, want 403", status)
	}
}

func TestDIFAssemble(t *testing.T) {
	ts := newTestServer(t, Config{ChunkSize: testChunkSize})
	ts.DIFs.setIdentify(func(data []byte) (debugfiles.FileMeta, error) {
		return debugfiles.FileMeta{DebugID: "1560cbc5-2654-fc81-bc4b-437e89e95fb5-0", CodeID: "c5cb6015", Kind: debugfiles.KindELF, Arch: "x86_64", Features: []string{"symtab", "debug"}}, nil
	})
	elf := append([]byte("\x7fELF"), randomBytes(t, 2*testChunkSize)...)
	elfChunks := splitChunks(elf, testChunkSize)
	text := []byte("plain text, not an object file")
	absent := randomBytes(t, 100)
	for _, c := range elfChunks {
		postChunks(t, ts.URL, "good", gzPart(t, c))
	}
	postChunks(t, ts.URL, "good", gzPart(t, text))

	req := map[string]any{
		sha1Hex(elf):    map[string]any{"name": "demo", "debug_id": "1560cbc5-2654-fc81-bc4b-437e89e95fb5", "chunks": chunkNames(elfChunks)},
		sha1Hex(text):   map[string]any{"name": "notes.txt", "chunks": []string{sha1Hex(text)}},
		sha1Hex(absent): map[string]any{"name": "absent", "chunks": []string{sha1Hex(absent)}},
		"nonsense":      map[string]any{"name": "bad", "chunks": []string{sha1Hex(text)}},
	}
	status, got := doJSON(t, "POST", ts.URL+"/api/0/projects/o/p/files/difs/assemble/", "good", req)
	if status != 200 || len(got) != len(req) {
		t.Fatalf("status %d, reply %v: want one entry per file", status, got)
	}
	entry := func(k string) map[string]any { m, _ := got[k].(map[string]any); return m }

	ok := entry(sha1Hex(elf))
	dif, _ := ok["dif"].(map[string]any)
	if ok["state"] != "ok" || dif == nil {
		t.Fatalf("ELF entry: %v", ok)
	}
	wantDIF := map[string]any{"uuid": "1560cbc5-2654-fc81-bc4b-437e89e95fb5", "debugId": "1560cbc5-2654-fc81-bc4b-437e89e95fb5-0",
		"objectName": "demo", "cpuName": "x86_64", "symbolType": "elf", "sha1": sha1Hex(elf), "size": float64(len(elf))}
	for k, v := range wantDIF {
		if dif[k] != v {
			t.Errorf("dif.%s = %v, want %v", k, dif[k], v)
		}
	}
	if feats := fmt.Sprint(dif["data"]); feats != "map[features:[symtab debug]]" {
		t.Errorf("dif.data = %s", feats)
	}
	if calls := ts.DIFs.Calls(); len(calls) != 1 || calls[0].Project != "p" || !bytes.Equal(calls[0].Data, elf) {
		t.Errorf("debug files store got %d files, want the ELF file for project p", len(calls))
	}

	if e := entry(sha1Hex(text)); e["state"] != "error" || !strings.Contains(fmt.Sprint(e["detail"]), "not a usable debug information file") {
		t.Errorf("text file entry: %v", e)
	}
	if e := entry(sha1Hex(absent)); e["state"] != "not_found" || !slices.Equal(missingOf(t, e), []string{sha1Hex(absent)}) {
		t.Errorf("missing file entry: %v", e)
	}
	if e := entry("nonsense"); e["state"] != "error" {
		t.Errorf("entry with a bad checksum: %v", e)
	}

	// The same file for another project is stored again; for the same
	// project it is answered from the record, dif included.
	_, again := doJSON(t, "POST", ts.URL+"/api/0/projects/o/p/files/difs/assemble/", "good", map[string]any{sha1Hex(elf): req[sha1Hex(elf)]})
	if e, _ := again[sha1Hex(elf)].(map[string]any); e["state"] != "ok" || e["dif"] == nil {
		t.Errorf("repeated call: %v", again)
	}
	doJSON(t, "POST", ts.URL+"/api/0/projects/o/other/files/difs/assemble/", "good", map[string]any{sha1Hex(elf): req[sha1Hex(elf)]})
	calls := ts.DIFs.Calls()
	if len(calls) != 2 || calls[1].Project != "other" {
		t.Errorf("store calls after a second project: %d", len(calls))
	}
}

func TestUnknownRoutes(t *testing.T) {
	ts := newTestServer(t, Config{})
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/api/0/organizations/o/unknown/", 404},
		{"GET", "/api/0/projects/o/p/files/dsyms/", 404},
		{"DELETE", "/api/0/organizations/o/chunk-upload/", 405},
		{"GET", "/api/0/organizations/o/artifactbundle/assemble/", 405},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, nil)
		status, got := do(t, req, "good")
		if status != tc.want || got["detail"] == nil {
			t.Errorf("%s %s: %d %v, want %d with a detail", tc.method, tc.path, status, got, tc.want)
		}
	}
}

// TestMissingUploaders: a server built without a store answers with a
// detail the client prints, not a crash.
func TestMissingUploaders(t *testing.T) {
	url := openServer(t, New(Deps{Bucket: storage.NewInMemory()}))
	for _, path := range []string{"/api/0/organizations/o/artifactbundle/assemble/", "/api/0/projects/o/p/files/difs/assemble/"} {
		status, got := doJSON(t, "POST", url+path, "", map[string]any{})
		if status != http.StatusNotImplemented || got["detail"] == nil {
			t.Errorf("%s: %d %v, want 501 with a detail", path, status, got)
		}
	}
}
