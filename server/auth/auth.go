// Package auth checks the bearer tokens of stacklens's HTTP API and tells
// handlers what the caller may do.
//
// Tokens come from a JSON list, in a file or in the STACKLENS_TOKENS
// environment variable:
//
//	[{"token": "…", "scope": "upload|symbolicate|admin", "project": "name|*"}]
//
// A token may appear in several entries; its grants add up. With no tokens
// configured the API is open: every caller is an administrator of every
// project (the server then only listens on loopback).
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
)

// Scope is a permission a token grants.
type Scope string

const (
	// ScopeUpload allows uploading artifacts and listing them.
	ScopeUpload Scope = "upload"
	// ScopeSymbolicate allows symbolicating events and listing artifacts.
	ScopeSymbolicate Scope = "symbolicate"
	// ScopeAdmin implies every other scope and allows deleting.
	ScopeAdmin Scope = "admin"
)

// AnyProject in a grant matches every project.
const AnyProject = "*"

// Errors returned by Authenticate; test with errors.Is.
var (
	// ErrUnauthenticated: the request carries no token or an unknown one (HTTP 401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: the token is valid but lacks a scope or project (HTTP 403).
	ErrForbidden = errors.New("forbidden")
)

// Grant is one entry of the tokens list.
type Grant struct {
	Token   string `json:"token"`
	Scope   Scope  `json:"scope"`
	Project string `json:"project"`
}

// Principal is the authenticated caller. The zero Principal is allowed
// nothing, so a handler reached without the middleware denies by default.
type Principal struct {
	open   bool
	grants []Grant // Token fields are cleared: a Principal never carries secrets
}

// Open reports whether the caller was let in because no tokens are configured.
func (p Principal) Open() bool { return p.open }

// Allows reports whether the caller may act with scope on project.
// ScopeAdmin implies the other scopes; a grant for "*" covers every project.
func (p Principal) Allows(scope Scope, project string) bool {
	if p.open {
		return true
	}
	for _, g := range p.grants {
		if g.Project != AnyProject && g.Project != project {
			continue
		}
		if g.Scope == scope || g.Scope == ScopeAdmin {
			return true
		}
	}
	return false
}

// AllowsAny reports whether the caller holds at least one of scopes on project.
func (p Principal) AllowsAny(project string, scopes ...Scope) bool {
	for _, s := range scopes {
		if p.Allows(s, project) {
			return true
		}
	}
	return false
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the caller set by the middleware, or the zero
// Principal (allowed nothing) when there is none.
func FromContext(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// projectName is the project-name rule shared with the HTTP API.
var projectName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidProject reports whether name is an acceptable project name:
// 1 to 64 of [A-Za-z0-9._-], and not "." or "..".
func ValidProject(name string) bool {
	return projectName.MatchString(name) && name != "." && name != ".."
}

type tokenEntry struct {
	digest [sha256.Size]byte
	grant  Grant
}

// Authenticator holds the configured tokens. Safe for concurrent use.
type Authenticator struct {
	entries []tokenEntry
}

// New returns an Authenticator for grants, after validating them. No grants
// means the open mode.
func New(grants []Grant) (*Authenticator, error) {
	a := &Authenticator{}
	for i, g := range grants {
		if g.Token == "" {
			return nil, fmt.Errorf("token %d: empty token", i)
		}
		if strings.TrimSpace(g.Token) != g.Token || strings.ContainsAny(g.Token, " \t\r\n") {
			return nil, fmt.Errorf("token %d: token contains whitespace", i)
		}
		switch g.Scope {
		case ScopeUpload, ScopeSymbolicate, ScopeAdmin:
		default:
			return nil, fmt.Errorf("token %d: scope %q is not one of upload, symbolicate, admin", i, g.Scope)
		}
		if g.Project == "" {
			return nil, fmt.Errorf("token %d: missing project (a project name or %q)", i, AnyProject)
		}
		if g.Project != AnyProject && !ValidProject(g.Project) {
			return nil, fmt.Errorf("token %d: invalid project name %q", i, g.Project)
		}
		a.entries = append(a.entries, tokenEntry{digest: sha256.Sum256([]byte(g.Token)), grant: g})
	}
	return a, nil
}

// ParseGrants decodes a JSON tokens list.
func ParseGrants(data []byte) ([]Grant, error) {
	var grants []Grant
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&grants); err != nil {
		return nil, fmt.Errorf("tokens must be a JSON list of {\"token\",\"scope\",\"project\"}: %w", err)
	}
	return grants, nil
}

// Load builds an Authenticator from a tokens file (path, may be "") and an
// inline JSON list (inline, may be ""); their grants are combined.
func Load(path, inline string) (*Authenticator, error) {
	var all []Grant
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading tokens file: %w", err)
		}
		grants, err := ParseGrants(data)
		if err != nil {
			return nil, fmt.Errorf("tokens file %s: %w", path, err)
		}
		all = append(all, grants...)
	}
	if strings.TrimSpace(inline) != "" {
		grants, err := ParseGrants([]byte(inline))
		if err != nil {
			return nil, fmt.Errorf("inline tokens: %w", err)
		}
		all = append(all, grants...)
	}
	return New(all)
}

// Open reports whether no tokens are configured (no authentication).
func (a *Authenticator) Open() bool { return len(a.entries) == 0 }

// Authenticate returns the caller behind r's "Authorization: Bearer" header.
// In the open mode every request is let in, whatever it carries.
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	if a.Open() {
		return Principal{open: true}, nil
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return Principal{}, fmt.Errorf("%w: missing Authorization: Bearer <token> header", ErrUnauthenticated)
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return Principal{}, fmt.Errorf("%w: Authorization header must be \"Bearer <token>\"", ErrUnauthenticated)
	}
	token = strings.TrimSpace(token)
	// Comparing fixed-size digests of every entry, without an early exit,
	// keeps the time independent of which token (or how much of one) matched.
	digest := sha256.Sum256([]byte(token))
	var p Principal
	for _, e := range a.entries {
		if subtle.ConstantTimeCompare(digest[:], e.digest[:]) == 1 {
			p.grants = append(p.grants, Grant{Scope: e.grant.Scope, Project: e.grant.Project})
		}
	}
	if len(p.grants) == 0 {
		return Principal{}, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	}
	return p, nil
}
