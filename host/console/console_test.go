package console

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServesAssetsWithStrictHeaders(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, c := range []struct{ path, ctype, contains string }{
		{"/manage/ui/", "text/html", `<script type="module" src="app.js">`},
		{"/manage/ui/app.js", "javascript", "import"},
		{"/manage/ui/lib.js", "javascript", "sessionStorage"},
		{"/manage/ui/style.css", "text/css", ".card"},
		{"/manage/ui/favicon.svg", "image/svg+xml", "<svg"},
		{"/manage/ui/pages/backends.js", "javascript", "/events/stream"},
	} {
		res, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		b := string(body)
		if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), c.ctype) || !strings.Contains(b, c.contains) {
			t.Errorf("%s: %d %q, body has %q: %v", c.path, res.StatusCode, res.Header.Get("Content-Type"), c.contains, strings.Contains(b, c.contains))
		}
		if res.Header.Get("Content-Security-Policy") != CSP || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", c.path, res.Header)
		}
	}
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/manage/ui/pages/", 404}, // no directory listing
		{"GET", "/manage/ui/nope.js", 404},
		{"POST", "/manage/ui/", 405},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, res.StatusCode, c.code)
		}
	}
}

// TestNoInlineScriptOrStyle: the CSP forbids inline script and style, so
// none may be in the assets (the browser test would see the violation as
// a console error, this finds it without a browser).
func TestNoInlineScriptOrStyle(t *testing.T) {
	err := fs.WalkDir(assets, "assets", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(assets, path)
		s := string(b)
		for _, bad := range []string{"style=\"", "<style", "onclick=\"", "onload=\"", "javascript:", "innerHTML", "eval(", "http://", "https://"} {
			if bad == "http://" && strings.Contains(s, "http://www.w3.org/2000/svg") {
				s = strings.ReplaceAll(s, "http://www.w3.org/2000/svg", "")
			}
			if strings.Contains(s, bad) {
				t.Errorf("%s contains %q", path, bad)
			}
		}
		if strings.HasSuffix(path, ".html") && strings.Contains(s, "<script>") {
			t.Errorf("%s has an inline script", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
