package listener

import (
	"log"
	"net"
	"net/http"

	"golang.org/x/net/netutil"

	"github.com/argusmcp/argus/host/config"
)

// NewServer returns the HTTP server for the client-facing listener, with
// the time limits of s: ReadHeaderTimeout for a request's headers (and for
// the first request on a new connection), ReadTimeout for the whole
// request, headers and body, and IdleTimeout for a keep-alive connection
// between requests. Neither read limit ends a long-running response or an
// SSE stream (GET /mcp, /manage/v1/events): net/http lifts the read
// deadline once a request's body has been read. No write timeout is set,
// for the same streams.
func NewServer(h http.Handler, s config.Server, errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		ReadTimeout:       s.ReadTimeout,
		IdleTimeout:       s.IdleTimeout,
		ErrorLog:          errorLog,
	}
}

// LimitListener caps the connections accepted from ln and not yet closed
// at n (n <= 0: no cap). Further connections wait in the kernel's accept
// queue until one closes.
func LimitListener(ln net.Listener, n int) net.Listener {
	if n <= 0 {
		return ln
	}
	return netutil.LimitListener(ln, n)
}
