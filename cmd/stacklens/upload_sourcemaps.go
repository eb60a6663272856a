package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/stacklens/stacklens/sourcemaps"
)

// jsArtifact is one file found by `stacklens upload sourcemaps`.
type jsArtifact struct {
	path      string
	url       string
	typ       sourcemaps.ArtifactType
	sourceMap string // SourceMap header to record (a map found by name, not by comment)
	debugID   bool
	size      int64
}

// runUploadSourcemaps walks directories of built JavaScript, pairs every
// .js/.mjs/.cjs file with its map (its //# sourceMappingURL, else NAME.map
// beside it) and uploads each file to PUT /api/v1/projects/{p}/files under
// URL prefix + its path relative to the directory. Without --release every
// file must carry a debug ID (sentry-cli sourcemaps inject); that is checked
// before anything is sent.
func runUploadSourcemaps(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("upload sourcemaps", stderr)
	client := addClientFlags(flags, "upload")
	release := flags.String("release", "", "release the files belong to (optional when the files carry debug IDs)")
	dist := flags.String("dist", "", "distribution within the release (needs --release)")
	prefix := flags.String("url-prefix", "~", "URL prefix of the directory's files as the browser or runtime loads them (\"~\" matches any host)")
	quiet := flags.Bool("quiet", false, "no progress bar")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: stacklens upload sourcemaps DIR... --project P [--release R [--dist D]] [--url-prefix ~/static/js] [--url URL] [--token T]")
		flags.PrintDefaults()
	}
	dirs, err := parseInterleaved(flags, args)
	if err != nil {
		return err
	}
	if len(dirs) == 0 {
		return &usageError{msg: "upload sourcemaps: no directory given"}
	}
	if *dist != "" && *release == "" {
		return &usageError{msg: "upload sourcemaps: --dist needs --release"}
	}
	endpoint, err := client.endpoint("upload sourcemaps", "files")
	if err != nil {
		return err
	}
	var files []jsArtifact
	for _, dir := range dirs {
		found, err := findJSArtifacts(dir, *prefix)
		if err != nil {
			return fmt.Errorf("upload sourcemaps: %w", err)
		}
		files = append(files, found...)
	}
	if len(files) == 0 {
		return fmt.Errorf("upload sourcemaps: no .js, .mjs, .cjs or .map files in %s", strings.Join(dirs, ", "))
	}
	if *release == "" {
		var missing []string
		for _, f := range files {
			if !f.debugID && f.typ != sourcemaps.TypeSource {
				missing = append(missing, f.path)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("upload sourcemaps: no --release given and %d file(s) carry no debug ID (first: %s): run `sentry-cli sourcemaps inject DIR` first, or pass --release", len(missing), missing[0])
		}
	}
	var total int64
	for _, f := range files {
		total += f.size
	}
	bar := uploadProgress(stderr, *quiet, total)
	var stored []sourcemaps.FileRecord
	skipped := 0
	for _, f := range files {
		if f.typ == sourcemaps.TypeSource && *release == "" {
			// An original source without a release has nothing to be
			// indexed by.
			skipped++
			bar.Add64(f.size)
			continue
		}
		rec, err := uploadJSArtifact(ctx, endpoint, client.token, *release, *dist, f, bar)
		if err != nil {
			bar.Exit()
			return fmt.Errorf("upload sourcemaps: %s: %w", f.path, err)
		}
		stored = append(stored, rec)
	}
	bar.Finish()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tURL\tDEBUG_ID\tSIZE")
	for _, r := range stored {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", r.Type, r.URL, dash(r.DebugID), r.Size)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	where := "by debug ID"
	if *release != "" {
		where = fmt.Sprintf("to release %s", *release)
		if *dist != "" {
			where += " dist " + *dist
		}
	}
	fmt.Fprintf(stderr, "uploaded %d files %s", len(stored), where)
	if skipped > 0 {
		fmt.Fprintf(stderr, " (skipped %d plain sources without debug ID: they need --release)", skipped)
	}
	fmt.Fprintln(stderr)
	return nil
}

// findJSArtifacts lists the JS files and maps under dir with their URLs.
func findJSArtifacts(dir, prefix string) ([]jsArtifact, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	prefix = strings.TrimSuffix(prefix, "/")
	byPath := map[string]*jsArtifact{}
	var order []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "node_modules" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		ext := strings.ToLower(filepath.Ext(p))
		if ext != ".js" && ext != ".mjs" && ext != ".cjs" && ext != ".map" {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		a := &jsArtifact{path: p, url: prefix + "/" + filepath.ToSlash(rel), size: fi.Size()}
		if ext == ".map" {
			a.typ = sourcemaps.TypeSourceMap
		}
		byPath[p] = a
		order = append(order, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(order)
	for _, p := range order {
		a := byPath[p]
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if a.typ == sourcemaps.TypeSourceMap {
			var m struct {
				DebugID  string `json:"debugId"`
				DebugID2 string `json:"debug_id"`
			}
			if err := json.Unmarshal(data, &m); err != nil {
				return nil, fmt.Errorf("%s is not a valid source map: %v", p, err)
			}
			a.debugID = m.DebugID != "" || m.DebugID2 != ""
			continue
		}
		a.debugID = bytes.Contains(data, []byte("//# debugId="))
		ref := lastSourceMappingURL(data)
		switch {
		case ref != "":
			a.typ = sourcemaps.TypeMinified
		case byPath[p+".map"] != nil:
			// No comment, but a map beside it: record the pairing as the
			// file's SourceMap header.
			a.typ = sourcemaps.TypeMinified
			a.sourceMap = filepath.Base(p) + ".map"
		case a.debugID:
			a.typ = sourcemaps.TypeMinified
		default:
			a.typ = sourcemaps.TypeSource
		}
	}
	out := make([]jsArtifact, 0, len(order))
	for _, p := range order {
		out = append(out, *byPath[p])
	}
	return out, nil
}

// lastSourceMappingURL returns the file's last //# sourceMappingURL= value.
func lastSourceMappingURL(data []byte) string {
	for _, marker := range []string{"//# sourceMappingURL=", "//@ sourceMappingURL="} {
		if i := bytes.LastIndex(data, []byte(marker)); i >= 0 {
			rest := data[i+len(marker):]
			if j := bytes.IndexAny(rest, "\r\n"); j >= 0 {
				rest = rest[:j]
			}
			return strings.TrimSpace(string(rest))
		}
	}
	return ""
}

func uploadJSArtifact(ctx context.Context, endpoint, token, release, dist string, f jsArtifact, bar io.Writer) (sourcemaps.FileRecord, error) {
	var rec sourcemaps.FileRecord
	fh, err := os.Open(f.path)
	if err != nil {
		return rec, err
	}
	defer fh.Close()
	q := url.Values{}
	q.Set("url", f.url)
	q.Set("type", string(f.typ))
	if release != "" {
		q.Set("release", release)
		if dist != "" {
			q.Set("dist", dist)
		}
	}
	if f.sourceMap != "" {
		q.Set("sourcemap", f.sourceMap)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, endpoint+"?"+q.Encode(), io.TeeReader(fh, bar))
	if err != nil {
		return rec, err
	}
	req.ContentLength = f.size
	req.Header.Set("Content-Type", "application/octet-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return rec, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return rec, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return rec, fmt.Errorf("server refused %s (%s): %s", path.Base(f.url), resp.Status, e.Error.Message)
		}
		return rec, fmt.Errorf("server answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, &rec); err != nil {
		return rec, fmt.Errorf("unreadable server reply: %v", err)
	}
	return rec, nil
}
