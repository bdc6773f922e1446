package manage

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/argusmcp/argus/host/events"
)

// stream serves GET /events/stream: server-sent events, one per event,
// with the event id so a client that reconnects with Last-Event-ID gets
// what it missed (as far as the buffer reaches), and a comment every
// Heartbeat so proxies keep the connection open.
func (a *API) stream(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	var after uint64
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		id, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "Last-Event-ID must be an event id")
			return
		}
		after = id
	}
	done, ok := a.openStream(w)
	if !ok {
		return
	}
	defer done()
	backlog, ch, cancel := a.o.Events.Subscribe(after, 256)
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	send := func(id uint64, data []byte) bool {
		_, err := fmt.Fprintf(w, "id: %d\nevent: argus\ndata: %s\n\n", id, data)
		flusher.Flush()
		return err == nil
	}
	if after == 0 {
		backlog = nil // a new client starts from now; /events has the history
	}
	for _, e := range backlog {
		b, _ := json.Marshal(e)
		if !send(e.ID, b) {
			return
		}
	}
	fmt.Fprint(w, ": connected\n\n")
	flusher.Flush()
	pump(r.Context(), w, flusher, a.o.Heartbeat, ch, func(e events.Event) bool {
		b, _ := json.Marshal(e)
		return send(e.ID, b)
	})
}

// pump sends every item of ch, and an SSE comment every heartbeat so
// proxies keep the connection open, until ctx ends, ch closes (the
// subscriber fell behind) or send fails.
func pump[T any](ctx context.Context, w http.ResponseWriter, flusher http.Flusher, heartbeat time.Duration, ch <-chan T, send func(T) bool) {
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-ch:
			if !ok || !send(e) {
				return
			}
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}
