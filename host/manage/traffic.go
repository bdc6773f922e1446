package manage

import (
	"context"
	"sync"
	"time"

	"github.com/argusmcp/argus/host/request"
)

// Traffic buckets of GET /manage/v1/traffic: TrafficBuckets buckets of
// TrafficBucket each, the last 10 minutes.
const (
	TrafficBucket  = 10 * time.Second
	TrafficBuckets = 60
)

// Traffic counts MCP requests and failed ones in fixed time buckets (the
// console's request and error rates). It observes calls from the side,
// like the telemetry and audit observers: End costs one short lock and
// never blocks on anything else. Safe for concurrent use.
type Traffic struct {
	mu  sync.Mutex
	buf [TrafficBuckets]TrafficSample
	now func() time.Time
}

// TrafficSample is one bucket: the requests that ended in
// [Start, Start+TrafficBucket), and how many of them failed.
type TrafficSample struct {
	Start    time.Time `json:"start"`
	Requests int64     `json:"requests"`
	Errors   int64     `json:"errors"`
}

// NewTraffic starts counting.
func NewTraffic() *Traffic { return &Traffic{now: time.Now} }

// Observer is what the gateway's observer list takes.
func (t *Traffic) Observer() request.Observer { return trafficObserver{t} }

type trafficObserver struct{ t *Traffic }

func (trafficObserver) Begin(ctx context.Context, _ *request.Call) context.Context { return ctx }

// End counts a request once its outcome is known; a request that ended
// with an InputRequiredResult is one round of a call that goes on, and is
// counted when the call ends.
func (o trafficObserver) End(_ context.Context, c *request.Call) {
	if c.InputRequired {
		return
	}
	o.t.add(c.Err != nil || c.Outcome != request.OutcomeSuccess)
}

func (t *Traffic) add(failed bool) {
	start := t.now().Truncate(TrafficBucket)
	i := int(start.Unix()/int64(TrafficBucket/time.Second)) % TrafficBuckets
	t.mu.Lock()
	defer t.mu.Unlock()
	b := &t.buf[i]
	if !b.Start.Equal(start) {
		*b = TrafficSample{Start: start}
	}
	b.Requests++
	if failed {
		b.Errors++
	}
}

// TrafficReport is the body of GET /manage/v1/traffic.
type TrafficReport struct {
	BucketSeconds int             `json:"bucket_seconds"`
	Buckets       []TrafficSample `json:"buckets"` // oldest first, the current (partial) bucket last; empty buckets included
	// Over the last minute (the current bucket and the five before it):
	// requests per second and the share of them that failed (0..1).
	RequestRate float64 `json:"request_rate"`
	ErrorRate   float64 `json:"error_rate"`
}

// Report returns every bucket of the window, oldest first.
func (t *Traffic) Report() TrafficReport {
	now := t.now().Truncate(TrafficBucket)
	r := TrafficReport{BucketSeconds: int(TrafficBucket / time.Second), Buckets: make([]TrafficSample, 0, TrafficBuckets)}
	t.mu.Lock()
	for k := TrafficBuckets - 1; k >= 0; k-- {
		start := now.Add(-time.Duration(k) * TrafficBucket)
		i := int(start.Unix()/int64(TrafficBucket/time.Second)) % TrafficBuckets
		s := TrafficSample{Start: start.UTC()}
		if t.buf[i].Start.Equal(start) {
			s.Requests, s.Errors = t.buf[i].Requests, t.buf[i].Errors
		}
		r.Buckets = append(r.Buckets, s)
	}
	t.mu.Unlock()
	// The last minute: the complete buckets of it and the current one,
	// over the time they span, so a new gateway shows its first calls.
	const perMinute = int(time.Minute / TrafficBucket)
	var req, errs int64
	for _, s := range r.Buckets[len(r.Buckets)-perMinute:] {
		req, errs = req+s.Requests, errs+s.Errors
	}
	span := time.Duration(perMinute-1)*TrafficBucket + t.now().Sub(now)
	r.RequestRate = float64(req) / max(span, time.Second).Seconds()
	if req > 0 {
		r.ErrorRate = float64(errs) / float64(req)
	}
	return r
}
