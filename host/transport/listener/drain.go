package listener

import (
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Drain is the phase between the shutdown signal and the shutdown itself
// (server.drain_timeout): /manage/v1/ready answers 503 so load balancers
// and orchestrators take the replica out of rotation, while everything
// still arriving is served as usual — in-flight requests, requests of
// existing sessions, and new requests sent before the balancer noticed.
// Responses carry "Connection: close" meanwhile, so clients and proxies
// holding keep-alive connections (an L4 balancer such as a Kubernetes
// Service pins them) open their next connection elsewhere; idle
// connections are not cut, which would race a request sent on them.
//
// The zero value is not draining; it is safe for concurrent use.
type Drain struct {
	mu    sync.Mutex
	until time.Time // zero until the drain begins
}

// State reports whether the drain has begun and when it ends
// (manage.Options.Draining).
func (d *Drain) State() (bool, time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.until.IsZero(), d.until
}

// Handler wraps next: while draining, every response asks the client to
// close its connection after it.
func (d *Drain) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining, _ := d.State(); draining {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// Run drains for timeout and returns when it is over, early on a second
// SIGINT or SIGTERM or when the server fails (an error on errc, which Run
// returns). A timeout of 0 returns at once without draining.
func (d *Drain) Run(timeout time.Duration, errc <-chan error, log hclog.Logger) error {
	if timeout <= 0 {
		return nil
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	d.mu.Lock()
	d.until = time.Now().Add(timeout)
	d.mu.Unlock()
	log.Info("draining: /manage/v1/ready answers 503; in-flight requests and sessions are still served",
		"drain_timeout", timeout)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-t.C:
		log.Info("drain over")
	case s := <-sig:
		log.Info("drain cut short by a second signal", "signal", s.String())
	case err := <-errc:
		return err
	}
	return nil
}
