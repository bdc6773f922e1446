// Package console serves the operator's web console at /manage/ui/: static
// ES modules and CSS embedded in the binary (no framework, no npm, nothing
// fetched at run time) that read and drive the management API
// (/manage/v1) in the browser.
//
// The files served here are the same in every Argus binary and hold no
// gateway data: the login page and the scripts behind the other pages.
// Everything they show comes from /manage/v1, which needs the management
// token or an admin JWT (401 without). The browser keeps the token in
// sessionStorage and sends it only in the Authorization header of fetch
// requests (live updates read server-sent events through fetch, since
// EventSource cannot set headers), never in a URL.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// Prefix is where the console is mounted.
const Prefix = "/manage/ui/"

// CSP is the Content-Security-Policy of every console response: only
// Argus's own origin, no inline script or style, no framing.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

//go:embed assets
var assets embed.FS

// Handler serves the console; mount it at Prefix (it also redirects the
// bare "/manage/ui" there).
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix(Prefix, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-cache")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !strings.HasPrefix(r.URL.Path, Prefix) {
			http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
			return
		}
		if r.URL.Path != Prefix && strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		files.ServeHTTP(w, r)
	})
}
