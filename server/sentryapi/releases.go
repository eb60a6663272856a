package sentryapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/stacklens/stacklens/server/auth"
	"github.com/stacklens/stacklens/sourcemaps"
	"github.com/stacklens/stacklens/storage"
	"github.com/stacklens/stacklens/storage/blobstore"
)

// Releases exist so that `sentry-cli releases new/finalize/info/list` and CI
// scripts built on them work; stacklens itself only needs release names on
// uploaded artifacts. A release is kept once for the organization (the org
// slug is ignored) and once per project, for listing.

type release struct {
	Version      string     `json:"version"`
	Ref          string     `json:"ref,omitempty"`
	URL          string     `json:"url,omitempty"`
	Projects     []string   `json:"projects"`
	DateCreated  time.Time  `json:"date_created"`
	DateStarted  *time.Time `json:"date_started,omitempty"`
	DateReleased *time.Time `json:"date_released,omitempty"`
}

// sentryRelease is the release object of Sentry's API, which sentry-cli
// prints.
func (rel release) sentryRelease() map[string]any {
	projects := make([]map[string]any, 0, len(rel.Projects))
	for _, p := range rel.Projects {
		projects = append(projects, map[string]any{"slug": p, "name": p})
	}
	short := rel.Version
	if _, after, ok := strings.Cut(short, "@"); ok && after != "" {
		short = after
	}
	return map[string]any{
		"version":      rel.Version,
		"shortVersion": short,
		"ref":          nullIfEmpty(rel.Ref),
		"url":          nullIfEmpty(rel.URL),
		"dateCreated":  rel.DateCreated,
		"dateStarted":  rel.DateStarted,
		"dateReleased": rel.DateReleased,
		"lastEvent":    nil,
		"newGroups":    0,
		"commitCount":  0,
		"deployCount":  0,
		"data":         map[string]any{},
		"projects":     projects,
	}
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// releaseUpdate is the body of POST releases/ and PUT releases/{version}/.
type releaseUpdate struct {
	Version      string     `json:"version"`
	Projects     []string   `json:"projects"`
	Ref          *string    `json:"ref"`
	URL          *string    `json:"url"`
	DateStarted  *time.Time `json:"dateStarted"`
	DateReleased *time.Time `json:"dateReleased"`
}

func orgReleaseKey(version string) string {
	return "sentry/releases/" + blobstore.KeyPart(version) + ".json"
}

func projectReleasePrefix(project string) string {
	return "sentry/p/" + project + "/releases/"
}

func projectReleaseKey(project, version string) string {
	return projectReleasePrefix(project) + blobstore.KeyPart(version) + ".json"
}

func validVersion(v string) bool { return sourcemaps.ValidRelease(v) == nil }

func (h *handler) serveOrgReleases(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodPost) {
		return
	}
	var upd releaseUpdate
	if !decodeJSON(w, r, 1<<20, &upd) {
		return
	}
	if !validVersion(upd.Version) {
		writeDetail(w, http.StatusBadRequest, "invalid release version \""+upd.Version+"\"")
		return
	}
	if len(upd.Projects) == 0 {
		writeDetail(w, http.StatusBadRequest, "a release needs at least one project")
		return
	}
	rel, created, ok := h.updateRelease(w, r, upd.Version, upd)
	if !ok {
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, rel.sentryRelease())
}

func (h *handler) serveOrgRelease(w http.ResponseWriter, r *http.Request) {
	version := r.PathValue("version")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		rel, ok := h.readableRelease(w, r, version, "")
		if ok {
			writeJSON(w, http.StatusOK, rel.sentryRelease())
		}
	case http.MethodPut:
		var upd releaseUpdate
		if !decodeJSON(w, r, 1<<20, &upd) {
			return
		}
		if !validVersion(version) {
			writeDetail(w, http.StatusBadRequest, "invalid release version \""+version+"\"")
			return
		}
		if len(upd.Projects) == 0 {
			// An update without projects applies to the release's own.
			var existing release
			if err := h.getRecord(r.Context(), orgReleaseKey(version), &existing); err != nil {
				h.releaseLookupFailed(w, err)
				return
			}
			upd.Projects = existing.Projects
		}
		rel, _, ok := h.updateRelease(w, r, version, upd)
		if ok {
			writeJSON(w, http.StatusOK, rel.sentryRelease())
		}
	default:
		allowMethod(w, r, http.MethodGet, http.MethodPut)
	}
}

func (h *handler) serveProjectReleases(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	project := r.PathValue("project")
	if !allowedRead(w, r, project) {
		return
	}
	ctx := r.Context()
	var out []map[string]any
	err := h.deps.Bucket.List(ctx, projectReleasePrefix(project), func(info storage.ObjectInfo) error {
		var rel release
		if err := h.getRecord(ctx, info.Key, &rel); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return nil // deleted meanwhile
			}
			return err
		}
		out = append(out, rel.sentryRelease())
		return nil
	})
	if err != nil {
		h.internalError(w, "listing releases", err)
		return
	}
	// Newest first, as Sentry lists them.
	slices.SortStableFunc(out, func(a, b map[string]any) int {
		return b["dateCreated"].(time.Time).Compare(a["dateCreated"].(time.Time))
	})
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) serveProjectRelease(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	rel, ok := h.readableRelease(w, r, r.PathValue("version"), r.PathValue("project"))
	if ok {
		writeJSON(w, http.StatusOK, rel.sentryRelease())
	}
}

// readableRelease loads a release the caller may see: one of its projects
// (or, when given, project) must be readable. A release the caller may not
// see is reported missing, so its existence does not leak.
func (h *handler) readableRelease(w http.ResponseWriter, r *http.Request, version, project string) (release, bool) {
	if !validVersion(version) {
		writeDetail(w, http.StatusNotFound, "The requested resource does not exist")
		return release{}, false
	}
	key := orgReleaseKey(version)
	if project != "" {
		if !allowedRead(w, r, project) {
			return release{}, false
		}
		key = projectReleaseKey(project, version)
	}
	var rel release
	if err := h.getRecord(r.Context(), key, &rel); err != nil {
		h.releaseLookupFailed(w, err)
		return release{}, false
	}
	p := auth.FromContext(r.Context())
	for _, proj := range rel.Projects {
		if p.AllowsAny(proj, auth.ScopeUpload, auth.ScopeSymbolicate) {
			return rel, true
		}
	}
	writeDetail(w, http.StatusNotFound, "The requested resource does not exist")
	return release{}, false
}

func (h *handler) releaseLookupFailed(w http.ResponseWriter, err error) {
	if errors.Is(err, storage.ErrNotFound) {
		writeDetail(w, http.StatusNotFound, "The requested resource does not exist")
		return
	}
	h.internalError(w, "reading a release", err)
}

func allowedRead(w http.ResponseWriter, r *http.Request, project string) bool {
	if !auth.ValidProject(project) {
		writeDetail(w, http.StatusBadRequest, "invalid project slug \""+project+"\"")
		return false
	}
	if !auth.FromContext(r.Context()).AllowsAny(project, auth.ScopeUpload, auth.ScopeSymbolicate) {
		writeDetail(w, http.StatusForbidden, "You do not have permission to perform this action.")
		return false
	}
	return true
}

// updateRelease creates or updates a release and its per-project records.
// Concurrent updates of one release may lose a field (last writer wins),
// which is harmless for what these records are used for.
func (h *handler) updateRelease(w http.ResponseWriter, r *http.Request, version string, upd releaseUpdate) (release, bool, bool) {
	projects := slices.Clone(upd.Projects)
	slices.Sort(projects)
	projects = slices.Compact(projects)
	for _, p := range projects {
		if !allowed(w, r, auth.ScopeUpload, p) {
			return release{}, false, false
		}
	}
	ctx := r.Context()
	var rel release
	created := false
	if err := h.getRecord(ctx, orgReleaseKey(version), &rel); err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			h.internalError(w, "reading a release", err)
			return release{}, false, false
		}
		created = true
		rel = release{Version: version, DateCreated: time.Now().UTC()}
	}
	for _, p := range projects {
		if !slices.Contains(rel.Projects, p) {
			rel.Projects = append(rel.Projects, p)
		}
	}
	slices.Sort(rel.Projects)
	if upd.Ref != nil {
		rel.Ref = *upd.Ref
	}
	if upd.URL != nil {
		rel.URL = *upd.URL
	}
	if upd.DateStarted != nil {
		rel.DateStarted = upd.DateStarted
	}
	if upd.DateReleased != nil {
		rel.DateReleased = upd.DateReleased
	}
	if err := h.storeRelease(ctx, rel); err != nil {
		h.internalError(w, "storing a release", err)
		return release{}, false, false
	}
	return rel, created, true
}

func (h *handler) storeRelease(ctx context.Context, rel release) error {
	for _, p := range rel.Projects {
		if err := h.putRecord(ctx, projectReleaseKey(p, rel.Version), rel); err != nil {
			return err
		}
	}
	return h.putRecord(ctx, orgReleaseKey(rel.Version), rel)
}
