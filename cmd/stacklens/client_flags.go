package main

import (
	"flag"
	"fmt"
	"net/url"
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
