package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// errFlagParse marks a command line the flag package rejected (it has
// already printed why).
var errFlagParse = errors.New("invalid flags")

// newFlagSet returns a flag set that reports problems to stderr and lets
// the caller decide the exit status.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("stacklens "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// envName is the environment variable that sets flag name:
// STACKLENS_ + upper-case name with "." and "-" turned into "_".
func envName(name string) string {
	return "STACKLENS_" + strings.NewReplacer(".", "_", "-", "_").Replace(strings.ToUpper(name))
}

// parseFlags parses args, then sets every flag not given on the command line
// from its STACKLENS_<FLAG> environment variable, if set and not empty.
func parseFlags(fs *flag.FlagSet, args []string) error {
	return parseFlagsEnv(fs, args, os.LookupEnv)
}

func parseFlagsEnv(fs *flag.FlagSet, args []string, lookup func(string) (string, bool)) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errFlagParse, err)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		// An empty variable counts as unset, as container tooling often
		// passes every variable through whether it has a value or not.
		v, ok := lookup(envName(f.Name))
		if !ok || v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("environment variable %s: %w", envName(f.Name), err))
		}
	})
	return errors.Join(errs...)
}

// flagGiven reports whether name was set, on the command line or from the
// environment.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
