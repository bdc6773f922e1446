package backend

import (
	"fmt"
	"net/http"
	"time"
)

// standaloneID is the id the standalone stream's reading takes as its
// call's: none a backend sends, so nothing on the stream is mistaken for
// an answer of its own.
const standaloneID = "\x00standalone"

// listen reads a streamable-HTTP session's standalone SSE stream (the GET
// a client opens once initialized, on which the backend sends what belongs
// to no call: list_changed, resources/updated, log messages, its own
// requests) and hands every message on it to the SDK's session, until the
// connection closes. The SDK's client opens that stream itself only when
// it sees its own connection, not Argus's observing wrapper (observedConn),
// so without this none of those messages would reach Argus.
//
// It follows the SDK client's rules: a 405 (or, as the SDK accepts, any
// other 4xx, or a body that is not an event stream) means the backend
// offers no such stream; a stream that ends or breaks is resumed from its
// last event ID, or reopened without one, after the SDK's backoff; and the
// session ends on a status that ends it, or after maxRetries streams in a
// row that gave no new event. Unlike the SDK's, a stream that stayed open
// for stableStream counts as progress even without an event: a proxy that
// cuts idle streams after a minute does not end the session every three
// minutes.
func (h *httpCalls) listen(sessionID string, logf func(msg string, args ...any)) {
	c := &httpCall{httpCalls: h, ctx: h.closed, what: sending("standalone SSE stream"), sessionID: sessionID, id: standaloneID}
	resp, err := c.get()
	if err != nil {
		if h.closed.Err() == nil {
			h.fail(fmt.Errorf("standalone SSE stream: %w (session ID: %v)", err, sessionID))
		}
		return
	}
	switch ct := mediaType(resp); {
	case resp.StatusCode == http.StatusMethodNotAllowed:
		resp.Body.Close()
		return
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests:
		resp.Body.Close()
		logf("the backend answered its standalone SSE stream with a status other than 405; reading none", "status", resp.StatusCode)
		return
	case resp.StatusCode < 300 && ct != "text/event-stream":
		resp.Body.Close()
		logf("the backend answered its standalone SSE stream with another content type; reading none", "content_type", ct)
		return
	}
	progressID, noProgress, last := "", 0, ""
	for {
		opened := time.Now()
		if fatal, err := c.statusError(resp); fatal {
			h.fail(err)
			return
		} else if err == nil {
			if _, _, err := c.events(resp); err != nil && h.closed.Err() == nil {
				logf("the backend's standalone SSE stream broke", "error", err)
			}
			if c.last != "" {
				last = c.last
			}
		}
		if h.closed.Err() != nil {
			return
		}
		if (last != "" && last != progressID) || time.Since(opened) >= stableStream {
			progressID, noProgress = last, 0
		} else if noProgress++; noProgress > c.maxRetries {
			h.fail(fmt.Errorf("%s: exceeded %d retries without progress (session ID: %v)", c.what, c.maxRetries, sessionID))
			return
		}
		c.last = last // events starts each stream without one
		if resp, err = c.resume(); err != nil {
			if h.closed.Err() == nil {
				h.fail(fmt.Errorf("%s: failed to reconnect (session ID: %v): %w", c.what, sessionID, err))
			}
			return
		}
	}
}

// stableStream is how long a standalone stream must have stayed open to
// count as working, with or without events (listen).
const stableStream = 10 * time.Second
