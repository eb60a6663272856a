package sourcemaps

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stacklens/stacklens/storage/blobstore"
)

// TestPutFileRejectsJunk: uploads that cannot be what they claim fail with
// ErrInvalidInput and a message saying what was wrong; nothing is indexed.
func TestPutFileRejectsJunk(t *testing.T) {
	tests := []struct {
		name    string
		f       FileUpload
		body    string
		wantMsg string
	}{
		{"empty", FileUpload{URL: "~/a.js", Release: "1"}, "", "empty file"},
		{"binary", FileUpload{URL: "~/a.js", Release: "1"}, "\x7fELF\x00\x00\x01", "not a UTF-8 text file"},
		{"map claimed, not JSON", FileUpload{URL: "~/a.js.map", Release: "1", Type: TypeSourceMap}, "var x = 1;", "not a valid source map"},
		{"looks like a map, truncated", FileUpload{URL: "~/a.js.map", Release: "1"}, `{"version":3,"sources":["a.js"],"mappings":"AAAA`, "not a valid source map"},
		{"bad vlq", FileUpload{URL: "~/a.js.map", Release: "1"}, `{"version":3,"sources":["a.js"],"names":[],"mappings":"!!!!"}`, "not a valid source map"},
		{"unknown type", FileUpload{URL: "~/a.js", Release: "1", Type: "exe"}, "x", "unknown artifact type"},
		{"no url, no debug id", FileUpload{}, "console.log(1)", "has no debug ID"},
		{"release without url", FileUpload{Release: "1"}, "a();\n//# debugId=13242a84-5a1e-4b2c-9f7d-3c1e2b7a9d10\n", "url is required"},
		{"bad debug id", FileUpload{URL: "~/a.js", DebugID: "xyz"}, "a()", "not a UUID"},
		{"dist without release", FileUpload{URL: "~/a.js", Dist: "d"}, "a();\n//# debugId=13242a84-5a1e-4b2c-9f7d-3c1e2b7a9d10\n", "without a release"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestService(t)
			_, err := s.PutFile(context.Background(), "web", tt.f, strings.NewReader(tt.body))
			if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want ErrInvalidInput mentioning %q", err, tt.wantMsg)
			}
			if files, err := s.ListReleaseFiles(context.Background(), "web", "1"); err != nil || len(files) != 0 {
				t.Errorf("after a rejected upload the release lists %v (%v)", files, err)
			}
		})
	}
	s := New(Config{MaxArtifactSize: 10}, newTestService(t).blobs, nil)
	if _, err := s.PutFile(context.Background(), "web", FileUpload{URL: "~/a.js", Release: "1"}, strings.NewReader(strings.Repeat("x", 11))); !errors.Is(err, blobstore.ErrTooLarge) {
		t.Errorf("oversized upload: err = %v, want ErrTooLarge", err)
	}
}

func TestPutFileDetectsTypes(t *testing.T) {
	s := newTestService(t)
	ctx := context.Background()
	tests := []struct {
		url, body string
		want      ArtifactType
		debugID   string
	}{
		{"~/a.min.js", "a();\n//# sourceMappingURL=a.min.js.map\n", TypeMinified, ""},
		{"~/b.min.js", "b();\n//# debugId=13242A84-5A1E-4B2C-9F7D-3C1E2B7A9D10\n", TypeMinified, "13242a84-5a1e-4b2c-9f7d-3c1e2b7a9d10"},
		{"~/a.min.js.map", `{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA","debugId":"13242a84-5a1e-4b2c-9f7d-3c1e2b7a9d11"}`, TypeSourceMap, "13242a84-5a1e-4b2c-9f7d-3c1e2b7a9d11"},
		{"~/src/a.js", "export function a() {}\n", TypeSource, ""},
		{"~/data.json", `{"mappingsOf": 1}`, TypeSource, ""},
	}
	for _, tt := range tests {
		rec, err := s.PutFile(ctx, "web", FileUpload{URL: tt.url, Release: "1"}, strings.NewReader(tt.body))
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		if rec.Type != tt.want || rec.DebugID != tt.debugID {
			t.Errorf("%s: type %s debug id %q, want %s %q", tt.url, rec.Type, rec.DebugID, tt.want, tt.debugID)
		}
	}
	files, err := s.ListReleaseFiles(ctx, "web", "1")
	if err != nil || len(files) != len(tests) {
		t.Fatalf("ListReleaseFiles = %d files, %v", len(files), err)
	}
	// The last upload for a URL wins.
	if _, err := s.PutFile(ctx, "web", FileUpload{URL: "~/src/a.js", Release: "1"}, strings.NewReader("export const a = 2;\n")); err != nil {
		t.Fatal(err)
	}
	files, _ = s.ListReleaseFiles(ctx, "web", "1")
	if len(files) != len(tests) {
		t.Errorf("re-upload of a URL added a file: %d files", len(files))
	}
}

// TestBrokenArtifactsGiveFrameStatuses: what was uploaded is wrong in a
// way only resolution can see; every frame gets a clear status, the stack
// still resolves, problems are reported once.
func TestBrokenArtifactsGiveFrameStatuses(t *testing.T) {
	fx := getFixture(t)
	ctx := context.Background()
	min := filepath.Join(fx.out, "esbuild", "app.min.js")
	minData := readFile(t, min)
	frames := frameList(fx.minified["esbuild"]["overLimit"])
	otherMap := readFile(t, filepath.Join(fx.out, "rollup", "app.min.js.map"))

	type upload struct {
		url  string
		typ  ArtifactType
		body []byte
	}
	tests := []struct {
		name       string
		uploads    []upload
		debugIDs   map[string]string
		release    string
		wantStatus Status
		wantType   string
	}{
		{"nothing uploaded", nil, nil, "1", StatusMissingSource, "js_no_source"},
		{"no release, no debug id", nil, nil, "", StatusMissingSource, "js_no_source"},
		{"wrong debug id", nil, map[string]string{min: "00000000-0000-4000-8000-000000000000"}, "", StatusMissingSource, "js_no_source"},
		{"map missing", []upload{{"~" + min, "", minData}}, nil, "1", StatusMissingSourcemap, "js_no_source"},
		{"malformed map in a bundle", []upload{{"~" + min, "", minData}, {"~" + min + ".map", TypeSourceMap, []byte(`{"version":3,"mappings":"@@@"}`)}}, nil, "1", StatusMalformed, "js_invalid_source"},
		{"map of another build", []upload{{"~" + min, "", minData}, {"~" + min + ".map", "", otherMap}}, nil, "1", "", ""},
		{"minified without reference", []upload{{"~" + min, TypeMinified, bytes.ReplaceAll(minData, []byte("sourceMappingURL"), []byte("nothing"))}}, nil, "1", StatusMissingSourcemap, "js_no_source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestService(t)
			for _, u := range tt.uploads {
				if u.typ == TypeSourceMap && !bytes.Contains(u.body, []byte("sources")) {
					// A broken map can only arrive inside a bundle (PutFile
					// rejects it).
					b := makeBundle(t, map[string]any{"release": tt.release, "files": map[string]any{
						"m": map[string]any{"type": "source_map", "url": u.url}}}, map[string][]byte{"m": u.body})
					if _, err := s.PutBundle(ctx, "web", "", "", bytes.NewReader(b), int64(len(b))); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if _, err := s.PutFile(ctx, "web", FileUpload{URL: u.url, Release: tt.release, Type: u.typ}, bytes.NewReader(u.body)); err != nil {
					t.Fatal(err)
				}
			}
			res := s.ResolveStack(ctx, StackRequest{Project: "web", Release: tt.release, DebugIDs: tt.debugIDs, Frames: frames})
			if len(res.Frames) != len(frames) {
				t.Fatalf("%d results for %d frames", len(res.Frames), len(frames))
			}
			var ours []int
			for i, f := range frames {
				if f.AbsPath == min {
					ours = append(ours, i)
				}
			}
			if tt.wantStatus == "" {
				// A map of another build (no debug IDs to tell): each
				// position lands somewhere or nowhere, frame by frame.
				for _, i := range ours {
					if st := res.Frames[i].Status; st != StatusSymbolicated && st != StatusNoMapping {
						t.Errorf("frame %d status %s", i, st)
					}
				}
				return
			}
			for _, i := range ours {
				if res.Frames[i].Status != tt.wantStatus {
					t.Errorf("frame %d status %s, want %s", i, res.Frames[i].Status, tt.wantStatus)
				}
			}
			n := 0
			for _, p := range res.Problems {
				if p.Type == tt.wantType {
					n++
					if p.Message == "" || len(p.Frames) != len(ours) {
						t.Errorf("problem %+v: want a message and frames %v", p, ours)
					}
				}
			}
			if n != 1 {
				t.Errorf("%d %s problems, want exactly one: %+v", n, tt.wantType, res.Problems)
			}
		})
	}
}

func TestInvalidFrames(t *testing.T) {
	s := newTestService(t)
	res := s.ResolveStack(context.Background(), StackRequest{Project: "web", Release: "1", Frames: []Frame{
		{AbsPath: "https://ex.com/app.js", Lineno: 0, Colno: 10},
		{AbsPath: "[native code]", Function: "forEach"},
		{AbsPath: "node:internal/process/task_queues", Lineno: 95, Colno: 5},
		{AbsPath: "async https://ex.com/app.js", Lineno: 1, Colno: 1},
	}})
	want := []Status{StatusInvalidLocation, StatusSkipped, StatusSkipped, StatusMissingSource}
	for i, w := range want {
		if res.Frames[i].Status != w {
			t.Errorf("frame %d: status %s, want %s", i, res.Frames[i].Status, w)
		}
	}
	if res.Frames[1].InApp == nil || *res.Frames[1].InApp || res.Frames[2].InApp == nil || *res.Frames[2].InApp {
		t.Error("[native code] / node internals not marked in_app=false")
	}
	if res.Frames[3].AbsPath != "https://ex.com/app.js" {
		t.Errorf("async prefix kept: %q", res.Frames[3].AbsPath)
	}
}

// TestPutBundleLimits: zip bombs, absurd manifests and broken zips are
// refused by the bytes actually inflated, whatever the zip declares.
func TestPutBundleLimits(t *testing.T) {
	ctx := context.Background()
	bomb := func() []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create("manifest.json")
		w.Write([]byte(`{"files":{"big.js":{"type":"minified_source","url":"~/big.js"}},"release":"1"}`))
		w, _ = zw.CreateHeader(&zip.FileHeader{Name: "big.js", Method: zip.Deflate})
		w.Write(bytes.Repeat([]byte("a"), 5<<20))
		zw.Close()
		return buf.Bytes()
	}
	s := New(Config{MaxBundleSize: 1 << 20, MaxArtifactSize: 8 << 20}, newTestService(t).blobs, nil)
	b := bomb()
	if _, err := s.PutBundle(ctx, "web", "", "", bytes.NewReader(b), int64(len(b))); !errors.Is(err, blobstore.ErrTooLarge) {
		t.Errorf("zip bomb: err = %v, want ErrTooLarge", err)
	}
	s2 := New(Config{MaxBundleFiles: 2}, newTestService(t).blobs, nil)
	many := makeBundle(t, map[string]any{"files": map[string]any{
		"a": map[string]any{"url": "~/a"}, "b": map[string]any{"url": "~/b"}, "c": map[string]any{"url": "~/c"}}},
		map[string][]byte{"a": []byte("a"), "b": []byte("b"), "c": []byte("c")})
	tests := []struct {
		name string
		s    *Service
		zip  []byte
		msg  string
	}{
		{"not a zip", s, []byte("PK junk"), "not a zip"},
		{"manifest not json", s, zipOf(t, map[string]string{"manifest.json": "{"}), "not valid JSON"},
		{"manifest names missing file", s, zipOf(t, map[string]string{"manifest.json": `{"files":{"x.js":{"url":"~/x.js"}}}`}), "does not contain"},
		{"empty manifest", s, zipOf(t, map[string]string{"manifest.json": `{"files":{}}`}), "lists no files"},
		{"too many files", s2, many, "more than the limit"},
		{"bad debug id", s, zipOf(t, map[string]string{"manifest.json": `{"files":{"x.js":{"url":"~/x.js","headers":{"debug-id":"nope"}}}}`, "x.js": "x"}), "not a UUID"},
		{"missing manifest.json", s, zipOf(t, map[string]string{"x.js": "x"}), "no manifest.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.s.PutBundle(ctx, "web", "1", "", bytes.NewReader(tt.zip), int64(len(tt.zip)))
			if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want ErrInvalidInput mentioning %q", err, tt.msg)
			}
		})
	}
}

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(data))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReleaseNames: uploads to a release Sentry would refuse (".", "..",
// "latest", slashes, control characters, over 200 bytes) fail with
// ErrInvalidInput and store nothing; ordinary names, Sentry's
// package@version+build included, are accepted, by PutFile and PutBundle.
func TestReleaseNames(t *testing.T) {
	ctx := context.Background()
	const js = "a();\n//# debugId=13242a84-5a1e-4b2c-9f7d-3c1e2b7a9d10\n"
	bundle := func(release string) []byte {
		return makeBundle(t, map[string]any{"release": release, "files": map[string]any{
			"files/_/_/a.js": map[string]any{"url": "~/a.js", "type": "minified_source"},
		}}, map[string][]byte{"files/_/_/a.js": []byte(js)})
	}
	for _, release := range []string{".", "..", "latest", "a/b", `a\b`, "a\nb", "a\tb", "a\x00b", "a\x7fb", strings.Repeat("r", 201)} {
		s := newTestService(t)
		if _, err := s.PutFile(ctx, "web", FileUpload{URL: "~/a.js", Release: release}, strings.NewReader(js)); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("PutFile to release %q: %v, want ErrInvalidInput", release, err)
		}
		b := bundle(release)
		if _, err := s.PutBundle(ctx, "web", "", "", bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("PutBundle of release %q: %v, want ErrInvalidInput", release, err)
		}
		if files, err := s.ListReleaseFiles(ctx, "web", release); err == nil && len(files) > 0 {
			t.Errorf("release %q: %d files stored", release, len(files))
		}
	}
	for _, release := range []string{"1", "my-app@1.2.3+build.4", strings.Repeat("r", 200), "v1.0 (beta)"} {
		s := newTestService(t)
		if _, err := s.PutFile(ctx, "web", FileUpload{URL: "~/a.js", Release: release}, strings.NewReader(js)); err != nil {
			t.Errorf("PutFile to release %q: %v", release, err)
		}
		b := bundle(release)
		if _, err := s.PutBundle(ctx, "web", "", "", bytes.NewReader(b), int64(len(b))); err != nil {
			t.Errorf("PutBundle of release %q: %v", release, err)
		}
	}
}
