package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/stacklens/stacklens/debugfiles"
)

// inspectedFile is one architecture of one local file, as inspect prints it.
type inspectedFile struct {
	File string `json:"file"`
	debugfiles.FileMeta
	Error string `json:"error,omitempty"`
}

// runInspect identifies local object and debug files: kind, arch, ids and
// features, as an upload would record them.
func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("inspect", stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: stacklens inspect [--json] FILE...")
		fs.PrintDefaults()
	}
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return &usageError{msg: "inspect: no files given"}
	}
	var rows []inspectedFile
	failed := 0
	for _, p := range paths {
		metas, err := identifyPath(p)
		if err != nil {
			failed++
			rows = append(rows, inspectedFile{File: p, Error: err.Error()})
			continue
		}
		for _, m := range metas {
			rows = append(rows, inspectedFile{File: p, FileMeta: m})
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FILE\tKIND\tARCH\tDEBUG_ID\tCODE_ID\tOBJECT\tFEATURES")
		for _, r := range rows {
			if r.Error != "" {
				fmt.Fprintf(tw, "%s\terror: %s\n", r.File, r.Error)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.File, r.Kind, r.Arch, r.DebugID,
				dash(r.CodeID), dash(r.ObjectName), dash(strings.Join(r.Features, ",")))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("inspect: %d of %d files could not be identified", failed, len(paths))
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// identifyPath identifies a local file; the object name defaults to the
// file's base name, as an upload records it.
func identifyPath(path string) ([]debugfiles.FileMeta, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	metas, err := debugfiles.Identify(f, st.Size())
	if err != nil {
		return nil, err
	}
	for i := range metas {
		if metas[i].ObjectName == "" {
			metas[i].ObjectName = st.Name()
		}
	}
	return metas, nil
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments (`upload debug-files DIR --url U`), then applies the
// STACKLENS_* environment like every other command.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errFlagParse, err)
		}
		left := fs.Args()
		if len(left) == 0 {
			break
		}
		pos = append(pos, left[0])
		rest = left[1:]
	}
	if err := parseFlags(fs, nil); err != nil {
		return nil, err
	}
	return pos, nil
}
