// Command stacklens is the stacklens symbolication service and its client:
//
//	stacklens serve          run the HTTP API
//	stacklens upload …       upload source maps or debug files
//	stacklens symbolicate …  symbolicate an event file
//	stacklens inspect …      explain what is stored and why a frame resolves or not
//	stacklens version        print the version
//
// Every flag can also come from the environment as STACKLENS_<FLAG>
// (upper-case, "." and "-" become "_"); a flag on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// commandFunc runs one subcommand with the arguments after its name.
type commandFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// commands is the subcommand table. A function rather than a package
// variable, so that nothing can mutate it at run time.
func commands() map[string]commandFunc {
	return map[string]commandFunc{
		"serve":       runServe,
		"version":     runVersion,
		"upload":      runUpload,
		"inspect":     runInspect,
		"symbolicate": runSymbolicate,
	}
}

// uploadCommands are the subcommands of "stacklens upload".
func uploadCommands() map[string]commandFunc {
	return map[string]commandFunc{
		"sourcemaps":  runUploadSourcemaps,
		"debug-files": runUploadDebugFiles,
	}
}

const usageText = `stacklens: symbolication service for JavaScript and native stack traces

usage: stacklens <command> [flags] [args]

commands:
  serve                   run the HTTP API (stacklens serve -h for its flags)
  upload sourcemaps       upload minified JavaScript and source maps
  upload debug-files      upload native debug files
  symbolicate             symbolicate an event
  inspect                 show what is stored and why a frame resolves or not
  version                 print the version

Every flag can also be set from the environment as STACKLENS_<FLAG>
(upper-case, "." and "-" become "_"); command-line flags win.
`

// usageError makes main exit 2 after printing the usage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, commands(), "", args, stdout, stderr)
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "stacklens: %s\n\n%s", ue.msg, usageText)
		return 2
	case errors.Is(err, errFlagParse):
		// The flag package already printed the problem and the flags.
		return 2
	default:
		fmt.Fprintf(stderr, "stacklens: %v\n", err)
		return 1
	}
}

// dispatch runs the command named by args[0] from table; prefix is the
// parent command ("" or "upload") for messages.
func dispatch(ctx context.Context, table map[string]commandFunc, prefix string, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &usageError{msg: "missing command" + forCommand(prefix) + "; one of: " + names(table)}
	}
	name := args[0]
	if name == "-h" || name == "-help" || name == "--help" || name == "help" {
		fmt.Fprint(stdout, usageText)
		return nil
	}
	cmd, ok := table[name]
	if !ok {
		return &usageError{msg: fmt.Sprintf("unknown command %q%s; one of: %s", strings.TrimSpace(prefix+" "+name), forCommand(prefix), names(table))}
	}
	return cmd(ctx, args[1:], stdout, stderr)
}

func forCommand(prefix string) string {
	if prefix == "" {
		return ""
	}
	return " for " + prefix
}

func names(table map[string]commandFunc) string {
	var out []string
	for n := range table {
		out = append(out, n)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func runUpload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, uploadCommands(), "upload", args, stdout, stderr)
}
