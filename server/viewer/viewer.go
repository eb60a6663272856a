// Package viewer serves stacklens's web viewer: a single page that sends an
// event to the symbolicate API and shows the readable trace, the reason for
// every frame that did not resolve, and what was uploaded. The assets are
// embedded, so the binary stays self-contained.
package viewer

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

// Handler serves the viewer's page and assets at the root of the mux it is
// mounted on ("/" → index.html, "/assets/…" → static files).
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		// The embedded tree is fixed at build time; this cannot fail.
		panic(err)
	}
	files := http.FileServer(http.FS(sub))
	mux := http.NewServeMux()
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", withHeaders(files)))
	mux.Handle("GET /{$}", withHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, sub, "index.html")
	})))
	return mux
}

// withHeaders adds a strict content security policy: the page renders
// untrusted event data, so no inline script and no third-party origins.
func withHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}
