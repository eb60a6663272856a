package sentryapi

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stacklens/stacklens/storage"
)

// Assembly states, as sentry-cli understands them.
const (
	stateNotFound = "not_found" // some chunks are missing: the client uploads them and asks again
	stateCreated  = "created"   // assembly under way: the client polls (with --wait) or stops
	stateOK       = "ok"
	stateError    = "error"
)

// assemblyState is both the stored record of an assembly and the basis of
// the per-file answer to an assemble call.
type assemblyState struct {
	State   string    `json:"state"`
	Detail  string    `json:"detail,omitempty"`
	DIF     *difInfo  `json:"dif,omitempty"`
	Updated time.Time `json:"updated_at"`
}

// assembly is one assembly running on this replica.
type assembly struct {
	done   chan struct{}
	result assemblyState // set before done is closed
}

// stateKey is the record of one assembly. The checksum comes first so that
// every record about one file sits together; the rest says what the file
// was assembled into, since the same bytes may go to several projects.
func stateKey(checksum, what string) string {
	return "sentry/assemble/" + checksum + "/" + what + ".json"
}

// currentState reports the known state of the assembly whose record is key:
// running here, or recorded by any replica. An error state is reported once
// and then forgotten, so that running the upload again retries it instead
// of repeating a stale failure.
func (h *handler) currentState(ctx context.Context, key string) (assemblyState, bool, error) {
	h.mu.Lock()
	_, running := h.inflight[key]
	h.mu.Unlock()
	if running {
		return assemblyState{State: stateCreated}, true, nil
	}
	var st assemblyState
	if err := h.getRecord(ctx, key, &st); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return assemblyState{}, false, nil
		}
		return assemblyState{}, false, err
	}
	switch st.State {
	case stateOK:
		// Remembered long enough to answer polls; after that the same file
		// is assembled again from its chunks, so that a re-upload after
		// its artifact was deleted (or replaced by another upload) is
		// stored again instead of being waved through.
		if time.Since(st.Updated) < h.cfg.AssembleTimeout {
			return st, true, nil
		}
	case stateError:
		if err := h.deps.Bucket.Delete(ctx, key); err != nil {
			h.log.Warn("sentry api: forgetting an assembly error", "key", key, "err", err)
		}
		return st, true, nil
	case stateCreated:
		// A replica that died mid-assembly leaves "created" behind; after
		// the time limit the work is considered abandoned and redone.
		if time.Since(st.Updated) < h.cfg.AssembleTimeout {
			return st, true, nil
		}
	}
	return assemblyState{}, false, nil
}

// startAssembly runs fn in the background unless an assembly with the same
// record key already runs here, recording its progress so that polls
// reaching any replica see it.
func (h *handler) startAssembly(ctx context.Context, key string, fn func(ctx context.Context) assemblyState) *assembly {
	h.mu.Lock()
	if a, ok := h.inflight[key]; ok {
		h.mu.Unlock()
		return a
	}
	a := &assembly{done: make(chan struct{})}
	h.inflight[key] = a
	h.mu.Unlock()

	// The assembly outlives the request that started it: the client may
	// get "created" and come back later.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.AssembleTimeout)
	go func() {
		defer cancel()
		if err := h.putRecord(ctx, key, assemblyState{State: stateCreated, Updated: time.Now().UTC()}); err != nil {
			h.log.Warn("sentry api: recording an assembly start", "key", key, "err", err)
		}
		var res assemblyState
		// Each assembly holds a whole file on local disk: bound how many run.
		select {
		case h.slots <- struct{}{}:
			res = fn(ctx)
			<-h.slots
		case <-ctx.Done():
			res = assemblyState{State: stateError, Detail: "the server was too busy to process the file in time; upload it again"}
		}
		res.Updated = time.Now().UTC()
		if err := h.putRecord(ctx, key, res); err != nil {
			h.log.Error("sentry api: recording an assembly result", "key", key, "err", err)
			// A stale "created" would make other replicas answer it until
			// the timeout; without a record they start over instead.
			_ = h.deps.Bucket.Delete(ctx, key)
		}
		a.result = res
		h.mu.Lock()
		delete(h.inflight, key)
		h.mu.Unlock()
		close(a.done)
	}()
	return a
}

// await waits, until the shared deadline, for assembly a. It returns the
// final state, or "created" when the assembly is still running (the client
// will poll).
func (h *handler) await(ctx context.Context, deadline <-chan time.Time, key string, a *assembly) assemblyState {
	select {
	case <-a.done:
		if a.result.State == stateError {
			// The caller reports this error now: it must not be reported
			// again to a later retry (see currentState).
			if err := h.deps.Bucket.Delete(context.WithoutCancel(ctx), key); err != nil {
				h.log.Warn("sentry api: forgetting an assembly error", "key", key, "err", err)
			}
		}
		return a.result
	case <-deadline:
	case <-ctx.Done():
	}
	return assemblyState{State: stateCreated}
}

// missingChunks returns, in request order and without repeats, the chunks
// that are not stored.
func (h *handler) missingChunks(ctx context.Context, chunks []string) ([]string, error) {
	present := make([]bool, len(chunks))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, c := range chunks {
		g.Go(func() error {
			_, err := h.deps.Bucket.Stat(gctx, chunkKey(c))
			if err == nil {
				present[i] = true
				return nil
			}
			if errors.Is(err, storage.ErrNotFound) {
				return nil
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	missing := []string{}
	seen := make(map[string]bool)
	for i, c := range chunks {
		if !present[i] && !seen[c] {
			seen[c] = true
			missing = append(missing, c)
		}
	}
	return missing, nil
}

// assembleError is a failure the client should see verbatim.
type assembleError struct{ msg string }

func (e *assembleError) Error() string { return e.msg }

// assembleFile concatenates chunks into a temporary file and checks that
// the result hashes to checksum. The caller closes and removes the file.
func (h *handler) assembleFile(ctx context.Context, checksum string, chunks []string) (*os.File, int64, error) {
	f, err := os.CreateTemp(h.cfg.TmpDir, "sentry-assemble-*")
	if err != nil {
		return nil, 0, err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	sum := sha1.New()
	dst := io.MultiWriter(f, sum)
	var size int64
	for _, c := range chunks {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		body, err := h.deps.Bucket.Get(ctx, chunkKey(c))
		if errors.Is(err, storage.ErrNotFound) {
			return nil, 0, &assembleError{"chunk " + c + " is missing; upload the file again"}
		}
		if err != nil {
			return nil, 0, err
		}
		n, err := io.Copy(dst, io.LimitReader(body, h.cfg.MaxFileSize-size+1))
		body.Close()
		size += n
		if err != nil {
			return nil, 0, err
		}
		if size > h.cfg.MaxFileSize {
			return nil, 0, &assembleError{fmt.Sprintf("file is larger than the maximum file size (%d bytes)", h.cfg.MaxFileSize)}
		}
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != checksum {
		return nil, 0, &assembleError{fmt.Sprintf("checksum mismatch: the assembled chunks hash to %s, not %s", got, checksum)}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, err
	}
	ok = true
	return f, size, nil
}

func removeTemp(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

// validateChunks checks an assemble request's chunk list and normalises its
// spelling.
func (h *handler) validateChunks(checksum string, chunks []string) (string, []string, error) {
	checksum = strings.ToLower(checksum)
	if !isSHA1Hex(checksum) {
		return "", nil, fmt.Errorf("checksum %q is not a SHA-1 checksum", checksum)
	}
	if len(chunks) == 0 {
		return "", nil, errors.New("no chunks given")
	}
	if maxChunks := h.cfg.MaxFileSize/h.cfg.ChunkSize + 1; int64(len(chunks)) > maxChunks {
		return "", nil, fmt.Errorf("%d chunks exceed the maximum file size (%d bytes)", len(chunks), h.cfg.MaxFileSize)
	}
	out := make([]string, len(chunks))
	for i, c := range chunks {
		c = strings.ToLower(c)
		if !isSHA1Hex(c) {
			return "", nil, fmt.Errorf("chunk %q is not a SHA-1 checksum", chunks[i])
		}
		out[i] = c
	}
	return checksum, out, nil
}

// putRecord and getRecord keep small JSON records in the bucket.
func (h *handler) putRecord(ctx context.Context, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return h.deps.Bucket.Put(ctx, key, bytes.NewReader(data), int64(len(data)), storage.PutOptions{ContentType: "application/json"})
}

// maxRecordSize bounds what getRecord reads: records are small, and a
// corrupt or foreign object must not be read whole into memory.
const maxRecordSize = 1 << 20

func (h *handler) getRecord(ctx context.Context, key string, v any) error {
	body, err := h.deps.Bucket.Get(ctx, key)
	if err != nil {
		return err
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, maxRecordSize+1))
	if err != nil {
		return err
	}
	if len(data) > maxRecordSize {
		return fmt.Errorf("record %s is larger than %d bytes", key, maxRecordSize)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("record %s: %w", key, err)
	}
	return nil
}
