package main

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/stacklens/stacklens/debugfiles"
)

// runUploadDebugFiles walks the given files and directories, identifies
// each file locally, skips those that are no object or debug file, and
// uploads the rest one by one to POST /api/v1/projects/{p}/debug-files.
// Each is sent as a one-entry (stored, uncompressed) zip so the server
// learns its file name; the zip is streamed, never built in memory.
func runUploadDebugFiles(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("upload debug-files", stderr)
	client := addClientFlags(flags, "upload")
	quiet := flags.Bool("quiet", false, "no progress bar")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: stacklens upload debug-files PATH... --project P [--url URL] [--token T]")
		flags.PrintDefaults()
	}
	paths, err := parseInterleaved(flags, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return &usageError{msg: "upload debug-files: no paths given"}
	}
	endpoint, err := client.endpoint("upload debug-files", "debug-files")
	if err != nil {
		return err
	}

	type candidate struct {
		path string
		size int64
	}
	var files []candidate
	skipped := 0
	for _, root := range paths {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			if _, err := identifyPath(p); err != nil {
				skipped++
				if root == p { // named explicitly: say why
					fmt.Fprintf(stderr, "skipping %s: %v\n", p, err)
				}
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			files = append(files, candidate{p, info.Size()})
			return nil
		})
		if err != nil {
			return fmt.Errorf("upload debug-files: %w", err)
		}
	}
	if len(files) == 0 {
		return fmt.Errorf("upload debug-files: no debug files found (%d other files skipped)", skipped)
	}
	var total int64
	for _, f := range files {
		total += f.size
	}
	bar := uploadProgress(stderr, *quiet, total)
	var stored []debugfiles.FileMeta
	for _, f := range files {
		metas, err := uploadOne(ctx, endpoint, client.token, f.path, bar)
		if err != nil {
			bar.Exit()
			return fmt.Errorf("upload debug-files: %s: %w", f.path, err)
		}
		stored = append(stored, metas...)
	}
	bar.Finish()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEBUG_ID\tCODE_ID\tKIND\tARCH\tOBJECT\tFEATURES")
	for _, m := range stored {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.DebugID, dash(m.CodeID), m.Kind, m.Arch,
			dash(m.ObjectName), dash(strings.Join(m.Features, ",")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "uploaded %d files (%d debug ids), skipped %d non-debug files\n", len(files), len(stored), skipped)
	return nil
}

func uploadOne(ctx context.Context, endpoint, token, path string, bar io.Writer) ([]debugfiles.FileMeta, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pr, pw := io.Pipe()
	go func() {
		zw := zip.NewWriter(pw)
		w, err := zw.CreateHeader(&zip.FileHeader{Name: filepath.Base(path), Method: zip.Store})
		if err == nil {
			_, err = io.Copy(w, io.TeeReader(f, bar))
		}
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, pr)
	if err != nil {
		pr.Close()
		return nil, err
	}
	req.Header.Set("Content-Type", "application/zip")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		pr.Close()
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return nil, fmt.Errorf("server: %s (%s)", e.Error.Message, resp.Status)
		}
		return nil, fmt.Errorf("server: %s: %.200s", resp.Status, body)
	}
	return decodeUploaded(body)
}

// decodeUploaded accepts the list of stored files bare or wrapped in an
// object ({"files": […]}).
func decodeUploaded(body []byte) ([]debugfiles.FileMeta, error) {
	var list []debugfiles.FileMeta
	if err := json.Unmarshal(body, &list); err == nil {
		return list, nil
	}
	var wrapped struct {
		Files []debugfiles.FileMeta `json:"files"`
	}
	if err := json.Unmarshal(body, &wrapped); err != nil {
		return nil, fmt.Errorf("unexpected response %.200s: %w", body, err)
	}
	return wrapped.Files, nil
}
