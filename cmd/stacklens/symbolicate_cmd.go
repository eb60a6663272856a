package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/stacklens/stacklens/symbolicate/tracetext"
)

// runSymbolicate sends an event file to a stacklens server and prints the
// readable trace (or, with --json, the enriched event).
func runSymbolicate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("symbolicate", stderr)
	client := addClientFlags(fs, "symbolicate")
	asJSON := fs.Bool("json", false, "print the enriched event as JSON instead of a readable trace")
	noContext := fs.Bool("no-context", false, "do not print source context lines")
	color := fs.Bool("color", false, "colour the output with ANSI codes")
	timeout := fs.Duration("timeout", time.Minute, "request timeout")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: stacklens symbolicate --project P [--url URL] [--token T] [--json] EVENT.json|-")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return &usageError{msg: "symbolicate needs exactly one event file (or - for standard input)"}
	}
	endpoint, err := client.endpoint("symbolicate", "symbolicate")
	if err != nil {
		return err
	}
	var body []byte
	if name := fs.Arg(0); name == "-" {
		body, err = io.ReadAll(os.Stdin)
	} else {
		body, err = os.ReadFile(name)
	}
	if err != nil {
		return fmt.Errorf("reading the event: %w", err)
	}
	if !json.Valid(body) {
		return fmt.Errorf("%s is not valid JSON", fs.Arg(0))
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if client.token != "" {
		req.Header.Set("Authorization", "Bearer "+client.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("contacting %s: %w", client.server, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(out, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("server answered %d %s: %s", resp.StatusCode, e.Error.Code, e.Error.Message)
		}
		return fmt.Errorf("server answered %s", resp.Status)
	}
	if *asJSON {
		var buf bytes.Buffer
		if err := json.Indent(&buf, out, "", "  "); err != nil {
			return fmt.Errorf("the server's answer is not JSON: %w", err)
		}
		buf.WriteByte('\n')
		_, err := stdout.Write(buf.Bytes())
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	var event map[string]any
	if err := dec.Decode(&event); err != nil {
		return fmt.Errorf("the server's answer is not an event: %w", err)
	}
	return tracetext.Format(stdout, event, tracetext.Options{Context: !*noContext, Color: *color})
}
