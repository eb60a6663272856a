package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"

	"github.com/schollz/progressbar/v3"
)

// clientFlags are the flags every client subcommand shares: which server,
// which project, which token.
type clientFlags struct {
	server  string
	project string
	token   string
}

func addClientFlags(fs *flag.FlagSet, tokenScope string) *clientFlags {
	c := &clientFlags{}
	fs.StringVar(&c.server, "url", "http://127.0.0.1:8080", "stacklens server URL")
	fs.StringVar(&c.project, "project", "", "project (required)")
	fs.StringVar(&c.token, "token", "", "bearer token with the "+tokenScope+" scope")
	return c
}

// endpoint checks --project and returns the URL of a project API path,
// e.g. endpoint("upload debug-files", "debug-files").
func (c *clientFlags) endpoint(command, path string) (string, error) {
	if c.project == "" {
		return "", &usageError{msg: command + ": --project is required"}
	}
	u, err := url.JoinPath(c.server, "api", "v1", "projects", url.PathEscape(c.project), path)
	if err != nil {
		return "", fmt.Errorf("%s: bad --url: %w", command, err)
	}
	return u, nil
}

// uploadProgress is the byte progress bar of the upload subcommands, on
// stderr so that stdout keeps only the summary table.
func uploadProgress(stderr io.Writer, quiet bool, total int64) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetVisibility(!quiet),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription("uploading"),
		progressbar.OptionThrottle(100_000_000), // 100 ms
		progressbar.OptionClearOnFinish(),
	)
}
