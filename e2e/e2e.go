// Package e2e holds stacklens's end-to-end tests: the real binary, started
// as a server, fed by the real clients (stacklens upload, sentry-cli, the
// Sentry SDK) and checked against the real toolchains' ground truth.
package e2e
