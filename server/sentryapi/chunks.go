package sentryapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/stacklens/stacklens/storage"
)

// chunkKey is where a chunk lives. Chunks are global and content-addressed
// (by the SHA-1 sentry-cli names them with), so an interrupted upload
// resumes: assemble only asks for the chunks that are not stored yet.
func chunkKey(sha1hex string) string { return "chunks/" + sha1hex }

// isSHA1Hex reports whether s is 40 lowercase hex digits.
func isSHA1Hex(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (h *handler) serveChunkUpload(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.chunkUploadOptions(w, r)
	case http.MethodPost:
		h.postChunks(w, r)
	default:
		allowMethod(w, r, http.MethodGet, http.MethodPost)
	}
}

// chunkUploadOptions tells the client how to upload. sentry-cli 3.x has no
// fallback when this fails, and posts chunks to the url given here.
func (h *handler) chunkUploadOptions(w http.ResponseWriter, r *http.Request) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	// Behind a TLS-terminating proxy the client must still be sent to https.
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"url":              scheme + "://" + r.Host + r.URL.EscapedPath(),
		"chunkSize":        h.cfg.ChunkSize,
		"chunksPerRequest": h.cfg.MaxChunksPerRequest,
		"maxFileSize":      h.cfg.MaxFileSize,
		"maxRequestSize":   h.cfg.MaxRequestSize,
		"concurrency":      h.cfg.Concurrency,
		"hashAlgorithm":    "sha1",
		"compression":      []string{"gzip"},
		"accept": []string{
			"debug_files", "release_files", "pdbs", "sources", "bcsymbolmaps",
			"il2cpp", "portablepdbs", "artifact_bundles", "proguard",
		},
	})
}

// postChunks stores the chunks of one multipart request. Each part is read
// (and, for file_gzip, gunzipped) into memory up to ChunkSize bytes, its
// SHA-1 checked against its filename, then stored. Nothing is acknowledged
// unless every part is valid; valid parts before a bad one may remain
// stored, which is harmless since they are content-addressed.
func (h *handler) postChunks(w http.ResponseWriter, r *http.Request) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" {
		writeDetail(w, http.StatusBadRequest, "chunk upload must be multipart/form-data")
		return
	}
	// Some slack over the advertised limit covers the multipart framing.
	r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxRequestSize+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		writeDetail(w, http.StatusBadRequest, "invalid multipart body: "+err.Error())
		return
	}
	ctx := r.Context()
	var parts int64
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			h.chunkRequestError(w, err)
			return
		}
		parts++
		if parts > h.cfg.MaxChunksPerRequest {
			writeDetail(w, http.StatusBadRequest, fmt.Sprintf("too many chunks in one request (limit %d)", h.cfg.MaxChunksPerRequest))
			return
		}
		field := part.FormName()
		if field != "file_gzip" && field != "file" {
			// Unknown form fields are ignored, as Sentry does.
			_ = part.Close()
			continue
		}
		// A filename is the chunk's SHA-1; clients spell hex either case.
		name := strings.ToLower(part.FileName())
		if !isSHA1Hex(name) {
			writeDetail(w, http.StatusBadRequest, fmt.Sprintf("chunk filename %q is not a SHA-1 checksum", part.FileName()))
			return
		}
		data, err := h.readChunk(part, field == "file_gzip")
		_ = part.Close()
		if err != nil {
			var bad *badChunkError
			if errors.As(err, &bad) {
				writeDetail(w, http.StatusBadRequest, "chunk "+name+": "+bad.msg)
				return
			}
			h.chunkRequestError(w, err)
			return
		}
		sum := sha1.Sum(data)
		if hex.EncodeToString(sum[:]) != name {
			writeDetail(w, http.StatusBadRequest, fmt.Sprintf("chunk %s: content checksum is %x, not its name", name, sum))
			return
		}
		if err := h.storeChunk(r, name, data); err != nil {
			if ctx.Err() != nil {
				return
			}
			h.log.Error("sentry api: storing chunk", "chunk", name, "err", err)
			writeDetail(w, http.StatusInternalServerError, "could not store chunk "+name)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

type badChunkError struct{ msg string }

func (e *badChunkError) Error() string { return e.msg }

// readChunk reads one part, refusing more than ChunkSize uncompressed bytes
// so that a small gzip bomb cannot expand without bound.
func (h *handler) readChunk(part io.Reader, gzipped bool) ([]byte, error) {
	src := part
	if gzipped {
		zr, err := gzip.NewReader(part)
		if err != nil {
			if isMaxBytes(err) {
				return nil, err
			}
			return nil, &badChunkError{"invalid gzip data: " + err.Error()}
		}
		defer zr.Close()
		src = zr
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(src, h.cfg.ChunkSize+1))
	if err != nil {
		if isMaxBytes(err) {
			return nil, err
		}
		if gzipped {
			return nil, &badChunkError{"invalid gzip data: " + err.Error()}
		}
		return nil, err
	}
	if n > h.cfg.ChunkSize {
		return nil, &badChunkError{fmt.Sprintf("chunk is larger than the chunk size (%d bytes) once uncompressed", h.cfg.ChunkSize)}
	}
	return buf.Bytes(), nil
}

func isMaxBytes(err error) bool {
	var tooBig *http.MaxBytesError
	return errors.As(err, &tooBig)
}

func (h *handler) chunkRequestError(w http.ResponseWriter, err error) {
	if isMaxBytes(err) {
		writeDetail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("chunk request is larger than %d bytes", h.cfg.MaxRequestSize))
		return
	}
	writeDetail(w, http.StatusBadRequest, "invalid multipart body: "+err.Error())
}

func (h *handler) storeChunk(r *http.Request, sha1hex string, data []byte) error {
	key := chunkKey(sha1hex)
	if info, err := h.deps.Bucket.Stat(r.Context(), key); err == nil && info.Size == int64(len(data)) {
		return nil
	} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	sum := sha256.Sum256(data)
	return h.deps.Bucket.Put(r.Context(), key, bytes.NewReader(data), int64(len(data)), storage.PutOptions{
		SHA256:      hex.EncodeToString(sum[:]),
		ContentType: "application/octet-stream",
	})
}
