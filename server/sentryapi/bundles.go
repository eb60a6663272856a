package sentryapi

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/stacklens/stacklens/server/auth"
	"github.com/stacklens/stacklens/sourcemaps"
)

// maxAssembleBody bounds an assemble request: 2 GiB in 8 MiB chunks is 256
// checksums, and a debug-files upload lists many files in one request.
const maxAssembleBody = 8 << 20

type bundleAssembleRequest struct {
	Checksum string   `json:"checksum"`
	Chunks   []string `json:"chunks"`
	Projects []string `json:"projects"`
	Version  string   `json:"version"`
	Dist     string   `json:"dist"`
}

type assembleResponse struct {
	State         string   `json:"state"`
	MissingChunks []string `json:"missingChunks"`
	Detail        string   `json:"detail,omitempty"`
	DIF           *difInfo `json:"dif,omitempty"`
}

func responseOf(st assemblyState) assembleResponse {
	return assembleResponse{State: st.State, MissingChunks: []string{}, Detail: st.Detail, DIF: st.DIF}
}

// serveBundleAssemble assembles an artifact bundle (sentry-cli sourcemaps
// upload) and stores it in every project it names.
func (h *handler) serveBundleAssemble(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodPost) {
		return
	}
	if h.deps.Bundles == nil {
		writeDetail(w, http.StatusNotImplemented, "source map uploads are not available on this server")
		return
	}
	var req bundleAssembleRequest
	if !decodeJSON(w, r, maxAssembleBody, &req) {
		return
	}
	checksum, chunks, err := h.validateChunks(req.Checksum, req.Chunks)
	if err != nil {
		writeDetail(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(req.Projects) == 0 {
		writeDetail(w, http.StatusBadRequest, "no projects given: pass --project")
		return
	}
	projects := slices.Clone(req.Projects)
	slices.Sort(projects)
	projects = slices.Compact(projects)
	for _, p := range projects {
		if !allowed(w, r, auth.ScopeUpload, p) {
			return
		}
	}
	ctx := r.Context()
	key := stateKey(checksum, "bundle-"+bundleTarget(projects, req.Version, req.Dist))
	st, known, err := h.currentState(ctx, key)
	if err != nil {
		h.internalError(w, "reading an assembly state", err)
		return
	}
	if known {
		writeJSON(w, http.StatusOK, responseOf(st))
		return
	}
	missing, err := h.missingChunks(ctx, chunks)
	if err != nil {
		h.internalError(w, "looking up chunks", err)
		return
	}
	if len(missing) > 0 {
		writeJSON(w, http.StatusOK, assembleResponse{State: stateNotFound, MissingChunks: missing})
		return
	}
	a := h.startAssembly(ctx, key, func(ctx context.Context) assemblyState {
		return h.assembleBundle(ctx, checksum, chunks, projects, req.Version, req.Dist)
	})
	deadline := time.NewTimer(h.cfg.AssembleWait)
	defer deadline.Stop()
	writeJSON(w, http.StatusOK, responseOf(h.await(ctx, deadline.C, key, a)))
}

// bundleTarget names where a bundle goes, for its state record: a digest,
// since release names are arbitrary text.
func bundleTarget(projects []string, release, dist string) string {
	sum := sha1.Sum([]byte(strings.Join(projects, "\x00") + "\x01" + release + "\x01" + dist))
	return hex.EncodeToString(sum[:10])
}

func (h *handler) assembleBundle(ctx context.Context, checksum string, chunks, projects []string, release, dist string) assemblyState {
	f, size, err := h.assembleFile(ctx, checksum, chunks)
	if err != nil {
		return h.failed("assembling an artifact bundle", checksum, err)
	}
	defer removeTemp(f)
	for _, p := range projects {
		sum, err := h.deps.Bundles.PutBundle(ctx, p, release, dist, f, size)
		if err != nil {
			if errors.Is(err, sourcemaps.ErrInvalidInput) {
				return assemblyState{State: stateError, Detail: "invalid artifact bundle: " + err.Error()}
			}
			return h.failed("storing an artifact bundle", checksum, err)
		}
		h.log.Info("sentry api: stored artifact bundle", "project", p, "release", sum.Release, "dist", sum.Dist, "files", len(sum.Files), "sha1", checksum, "size", size)
	}
	return assemblyState{State: stateOK}
}

// failed turns an assembly error into the state the client sees: its own
// message for what the client can fix, a generic one (and a log line) for
// server-side trouble.
func (h *handler) failed(what, checksum string, err error) assemblyState {
	var ae *assembleError
	if errors.As(err, &ae) {
		return assemblyState{State: stateError, Detail: ae.msg}
	}
	h.log.Error("sentry api: "+what, "sha1", checksum, "err", err)
	return assemblyState{State: stateError, Detail: "internal error while " + what + "; see the server log"}
}

func (h *handler) internalError(w http.ResponseWriter, what string, err error) {
	h.log.Error("sentry api: "+what, "err", err)
	writeDetail(w, http.StatusInternalServerError, "internal error while "+what)
}
