package auth

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestNewRejectsBadGrants(t *testing.T) {
	tests := []struct {
		name  string
		grant Grant
	}{
		{"empty token", Grant{Token: "", Scope: ScopeUpload, Project: "p"}},
		{"token with space", Grant{Token: "a b", Scope: ScopeUpload, Project: "p"}},
		{"unknown scope", Grant{Token: "t", Scope: "write", Project: "p"}},
		{"missing project", Grant{Token: "t", Scope: ScopeUpload}},
		{"bad project", Grant{Token: "t", Scope: ScopeUpload, Project: "../x"}},
		{"dot project", Grant{Token: "t", Scope: ScopeUpload, Project: ".."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New([]Grant{tc.grant}); err == nil {
				t.Fatalf("New(%+v) succeeded, want an error", tc.grant)
			}
		})
	}
}

func TestAuthenticateAndAllows(t *testing.T) {
	a, err := New([]Grant{
		{Token: "up-p", Scope: ScopeUpload, Project: "p"},
		{Token: "sym-all", Scope: ScopeSymbolicate, Project: AnyProject},
		{Token: "adm-q", Scope: ScopeAdmin, Project: "q"},
		{Token: "multi", Scope: ScopeUpload, Project: "p"},
		{Token: "multi", Scope: ScopeSymbolicate, Project: "q"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.Open() {
		t.Fatal("Open() = true with tokens configured")
	}
	type check struct {
		scope   Scope
		project string
		want    bool
	}
	tests := []struct {
		name    string
		header  string
		wantErr error
		checks  []check
	}{
		{name: "missing header", header: "", wantErr: ErrUnauthenticated},
		{name: "wrong scheme", header: "Basic up-p", wantErr: ErrUnauthenticated},
		{name: "unknown token", header: "Bearer nope", wantErr: ErrUnauthenticated},
		{name: "prefix of a token", header: "Bearer up-", wantErr: ErrUnauthenticated},
		{name: "upload token", header: "Bearer up-p", checks: []check{
			{ScopeUpload, "p", true}, {ScopeUpload, "q", false},
			{ScopeSymbolicate, "p", false}, {ScopeAdmin, "p", false},
		}},
		{name: "lower-case scheme", header: "bearer up-p", checks: []check{{ScopeUpload, "p", true}}},
		{name: "wildcard project", header: "Bearer sym-all", checks: []check{
			{ScopeSymbolicate, "p", true}, {ScopeSymbolicate, "anything", true}, {ScopeUpload, "p", false},
		}},
		{name: "admin implies others", header: "Bearer adm-q", checks: []check{
			{ScopeUpload, "q", true}, {ScopeSymbolicate, "q", true}, {ScopeAdmin, "q", true}, {ScopeAdmin, "p", false},
		}},
		{name: "grants add up", header: "Bearer multi", checks: []check{
			{ScopeUpload, "p", true}, {ScopeSymbolicate, "q", true}, {ScopeSymbolicate, "p", false}, {ScopeUpload, "q", false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			p, err := a.Authenticate(r)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if p.Allows(ScopeSymbolicate, "p") {
					t.Fatal("failed authentication still allows something")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.checks {
				if got := p.Allows(c.scope, c.project); got != c.want {
					t.Errorf("Allows(%s, %s) = %v, want %v", c.scope, c.project, got, c.want)
				}
			}
		})
	}
}

func TestOpenModeAllowsEverything(t *testing.T) {
	a, err := Load("", "")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Open() {
		t.Fatal("no tokens should mean open mode")
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer whatever")
	p, err := a.Authenticate(r)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Open() || !p.Allows(ScopeAdmin, "any") {
		t.Fatal("open-mode principal should be allowed everything")
	}
}

func TestZeroPrincipalAllowsNothing(t *testing.T) {
	p := FromContext(context.Background())
	for _, s := range []Scope{ScopeUpload, ScopeSymbolicate, ScopeAdmin} {
		if p.Allows(s, "p") {
			t.Errorf("zero principal allows %s", s)
		}
	}
	ctx := NewContext(context.Background(), Principal{grants: []Grant{{Scope: ScopeUpload, Project: "p"}}})
	if !FromContext(ctx).Allows(ScopeUpload, "p") {
		t.Fatal("principal lost in context round trip")
	}
}

func TestLoadCombinesFileAndInline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	if err := os.WriteFile(path, []byte(`[{"token":"f","scope":"upload","project":"p"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := Load(path, `[{"token":"e","scope":"admin","project":"*"}]`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"f", "e"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		if _, err := a.Authenticate(r); err != nil {
			t.Errorf("token %q: %v", tok, err)
		}
	}
	bad := []struct{ name, path, inline string }{
		{"missing file", filepath.Join(t.TempDir(), "nope.json"), ""},
		{"not a list", "", `{"token":"x"}`},
		{"unknown field", "", `[{"token":"x","scope":"admin","project":"*","extra":1}]`},
		{"bad json", "", `[{`},
	}
	for _, b := range bad {
		if _, err := Load(b.path, b.inline); err == nil {
			t.Errorf("%s: Load succeeded, want error", b.name)
		}
	}
}

func TestValidProject(t *testing.T) {
	tests := map[string]bool{
		"p": true, "my-app_1.2": true, ".": false, "..": false, "": false, "a/b": false,
		"a b": false, "é": false, "x" + string(make([]byte, 64)): false,
		"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234":  true,
		"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij12345": false,
	}
	for name, want := range tests {
		if got := ValidProject(name); got != want {
			t.Errorf("ValidProject(%q) = %v, want %v", name, got, want)
		}
	}
}
