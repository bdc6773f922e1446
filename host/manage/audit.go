package manage

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/argusmcp/argus/shared/auditlog/query"
)

// AuditRing holds the most recent audit events, as the sinks receive
// them; *recent.Ring implements it.
type AuditRing interface {
	// Newest returns up to n events, newest first, that keep accepts.
	Newest(n int, keep func([]byte) bool) [][]byte
	// Subscribe delivers events added from now on; the channel closes
	// when the subscriber falls behind or on cancel.
	Subscribe(buffer int) (<-chan []byte, func())
	// Cap is how many events the ring keeps.
	Cap() int
}

// auditFilter reads the filters of /audit and /audit/stream (the same
// query string `argus audit query` reads) and returns the predicate.
// A malformed query string is a 400 (r.URL.Query() would drop the pair
// it cannot decode, silently widening the match), and so is every filter
// query.Parse refuses (a repeated one among them).
func auditFilter(w http.ResponseWriter, r *http.Request) (query.Filter, func([]byte) bool, bool) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "malformed query string: "+err.Error())
		return query.Filter{}, nil, false
	}
	f, err := query.Parse(v, time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return f, nil, false
	}
	return f, func(line []byte) bool {
		fields, err := query.Decode(line)
		return err == nil && f.Match(fields)
	}, true
}

// auditList serves GET /audit: the most recent events the filters
// accept, newest first.
func (a *API) auditList(w http.ResponseWriter, r *http.Request) {
	f, keep, ok := auditFilter(w, r)
	if !ok {
		return
	}
	out := []json.RawMessage{}
	capacity := 0
	if a.o.AuditRing != nil && a.o.AuditRing.Cap() > 0 {
		for _, e := range a.o.AuditRing.Newest(f.Max(), keep) {
			out = append(out, e)
		}
		capacity = a.o.AuditRing.Cap()
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out, "count": len(out), "buffer": capacity})
}

// auditStream serves GET /audit/stream: every new event the filters
// accept, as a server-sent event "audit" whose data is the event's JSON.
// A client that falls behind is disconnected; it reconnects and reads
// the gap from GET /audit.
func (a *API) auditStream(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	_, keep, ok := auditFilter(w, r)
	if !ok {
		return
	}
	if a.o.AuditRing == nil || a.o.AuditRing.Cap() == 0 {
		writeError(w, http.StatusNotFound, "no audit events are kept: audit is disabled or management.audit_buffer is 0")
		return
	}
	done, ok := a.openStream(w)
	if !ok {
		return
	}
	defer done()
	ch, cancel := a.o.AuditRing.Subscribe(256)
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": connected\n\n")
	flusher.Flush()
	pump(r.Context(), w, flusher, a.o.Heartbeat, ch, func(e []byte) bool {
		if !keep(e) {
			return true
		}
		_, err := fmt.Fprintf(w, "event: audit\ndata: %s\n\n", e)
		flusher.Flush()
		return err == nil
	})
}

// traffic serves GET /traffic: requests and failures in time buckets.
func (a *API) traffic(w http.ResponseWriter, _ *http.Request) {
	if a.o.Traffic == nil {
		writeJSON(w, http.StatusOK, TrafficReport{BucketSeconds: int(TrafficBucket / time.Second), Buckets: []TrafficSample{}})
		return
	}
	writeJSON(w, http.StatusOK, a.o.Traffic.Report())
}
