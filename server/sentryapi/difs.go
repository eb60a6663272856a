package sentryapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/stacklens/stacklens/debugfiles"
	"github.com/stacklens/stacklens/server/auth"
)

// maxDIFsPerRequest bounds the lookups and assemblies one request starts.
const maxDIFsPerRequest = 10000

type difAssembleFile struct {
	Name    string   `json:"name"`
	DebugID string   `json:"debug_id"`
	Chunks  []string `json:"chunks"`
}

// difInfo is Sentry's description of a stored debug file, which
// `sentry-cli debug-files upload --wait` prints.
type difInfo struct {
	ID          string            `json:"id"`
	UUID        string            `json:"uuid"`
	DebugID     string            `json:"debugId"`
	CodeID      string            `json:"codeId,omitempty"`
	ObjectName  string            `json:"objectName"`
	CPUName     string            `json:"cpuName"`
	SymbolType  string            `json:"symbolType"`
	Size        int64             `json:"size"`
	SHA1        string            `json:"sha1"`
	DateCreated string            `json:"dateCreated"`
	Headers     map[string]string `json:"headers"`
	Data        difData           `json:"data"`
}

type difData struct {
	Features []string `json:"features"`
}

// serveDIFAssemble assembles the debug files of one request (sentry-cli
// debug-files upload), each independently: the answer has one entry per
// requested file, keyed by its SHA-1.
func (h *handler) serveDIFAssemble(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodPost) {
		return
	}
	project := r.PathValue("project")
	if !allowed(w, r, auth.ScopeUpload, project) {
		return
	}
	if h.deps.DebugFiles == nil {
		writeDetail(w, http.StatusNotImplemented, "debug file uploads are not available on this server")
		return
	}
	var req map[string]difAssembleFile
	if !decodeJSON(w, r, maxAssembleBody, &req) {
		return
	}
	if len(req) > maxDIFsPerRequest {
		writeDetail(w, http.StatusBadRequest, fmt.Sprintf("%d files in one request; at most %d", len(req), maxDIFsPerRequest))
		return
	}
	type pending struct {
		reqKey   string
		stateKey string
		a        *assembly
	}
	ctx := r.Context()
	resp := make(map[string]assembleResponse, len(req))
	var running []pending
	// A stable order keeps logs and background starts reproducible.
	names := make([]string, 0, len(req))
	for k := range req {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, reqKey := range names {
		file := req[reqKey]
		checksum, chunks, err := h.validateChunks(reqKey, file.Chunks)
		if err != nil {
			resp[reqKey] = assembleResponse{State: stateError, MissingChunks: []string{}, Detail: err.Error()}
			continue
		}
		key := stateKey(checksum, "dif-"+project)
		st, known, err := h.currentState(ctx, key)
		if err != nil {
			h.internalError(w, "reading an assembly state", err)
			return
		}
		if known {
			resp[reqKey] = responseOf(st)
			continue
		}
		missing, err := h.missingChunks(ctx, chunks)
		if err != nil {
			h.internalError(w, "looking up chunks", err)
			return
		}
		if len(missing) > 0 {
			resp[reqKey] = assembleResponse{State: stateNotFound, MissingChunks: missing}
			continue
		}
		a := h.startAssembly(ctx, key, func(ctx context.Context) assemblyState {
			return h.assembleDIF(ctx, project, checksum, chunks, file)
		})
		running = append(running, pending{reqKey, key, a})
	}
	deadline := time.NewTimer(h.cfg.AssembleWait)
	defer deadline.Stop()
	for _, p := range running {
		resp[p.reqKey] = responseOf(h.await(ctx, deadline.C, p.stateKey, p.a))
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *handler) assembleDIF(ctx context.Context, project, checksum string, chunks []string, file difAssembleFile) assemblyState {
	f, size, err := h.assembleFile(ctx, checksum, chunks)
	if err != nil {
		return h.failed("assembling a debug file", checksum, err)
	}
	defer removeTemp(f)
	metas, err := h.deps.DebugFiles.Upload(ctx, project, f)
	if err != nil {
		if errors.Is(err, debugfiles.ErrInvalidInput) || errors.Is(err, debugfiles.ErrMalformed) || errors.Is(err, debugfiles.ErrUnsupported) {
			return assemblyState{State: stateError, Detail: "not a usable debug information file: " + err.Error()}
		}
		return h.failed("storing a debug file", checksum, err)
	}
	if len(metas) == 0 {
		return assemblyState{State: stateError, Detail: "not a debug information file"}
	}
	// A fat file holds several objects; describe the one the client named.
	meta := metas[0]
	for _, m := range metas {
		if strings.EqualFold(m.DebugID, file.DebugID) {
			meta = m
			break
		}
	}
	h.log.Info("sentry api: stored debug file", "project", project, "debug_id", meta.DebugID, "kind", meta.Kind, "name", file.Name, "sha1", checksum, "size", size)
	return assemblyState{State: stateOK, DIF: describeDIF(meta, file.Name, checksum, size)}
}

func describeDIF(meta debugfiles.FileMeta, name, checksum string, size int64) *difInfo {
	uuid := meta.DebugID
	if len(uuid) > 36 {
		uuid = uuid[:36] // the debug ID without its age
	}
	objectName := meta.ObjectName
	if objectName == "" {
		objectName = name
	}
	features := meta.Features
	if features == nil {
		features = []string{}
	}
	created := meta.UploadedAt
	if created == "" {
		created = time.Now().UTC().Format(time.RFC3339)
	}
	return &difInfo{
		ID:          checksum,
		UUID:        uuid,
		DebugID:     meta.DebugID,
		CodeID:      meta.CodeID,
		ObjectName:  objectName,
		CPUName:     meta.Arch,
		SymbolType:  string(meta.Kind),
		Size:        size,
		SHA1:        checksum,
		DateCreated: created,
		Headers:     map[string]string{},
		Data:        difData{Features: features},
	}
}
