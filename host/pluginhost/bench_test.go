package pluginhost_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/argusmcp/argus/host/pluginhost/sink"
	"github.com/argusmcp/argus/sdk/sdktest"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// BenchmarkSinkProtocol measures the audit sink protocol itself: events
// per second from the host, through gRPC over the go-plugin connection
// (AutoMTLS), into the built-in discard sink running as its own process,
// one batch in flight at a time as a sink pipeline sends them; and the
// round-trip latency of one call (a one-event Write).
//
// Like BenchmarkHop it ignores b.N: each cell runs for ARGUS_BENCH_DURATION
// (default 2s) and reports through b.ReportMetric; run with -benchtime 1x:
//
//	go test -run '^$' -bench SinkProtocol -benchtime 1x ./host/pluginhost/
func BenchmarkSinkProtocol(b *testing.B) {
	dur := 2 * time.Second
	if s := os.Getenv("ARGUS_BENCH_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			b.Fatalf("ARGUS_BENCH_DURATION=%q: want a positive duration", s)
		}
		dur = d
	}
	e := newEnv(b, "", nil)
	if diags := e.rt.Start(context.Background(), e.specs(b, `audit {
  sink "discard" "bench" {}
}`)); diags.HasErrors() {
		b.Fatal(e.render(diags))
	}
	sc, err := sink.Connect(context.Background(), e.rt.Instance("sink.bench"))
	if err != nil {
		b.Fatal(err)
	}
	// Events in the documented audit format (~400 bytes of JSON each).
	template := sdktest.AuditEvents(1, 1)[0].JSON
	var seq uint64
	batch := func(n int) []*pluginv1.AuditEvent {
		out := make([]*pluginv1.AuditEvent, n)
		for i := range out {
			seq++
			out[i] = &pluginv1.AuditEvent{Seq: seq, Json: template}
		}
		return out
	}
	write := func(events []*pluginv1.AuditEvent) time.Duration {
		start := time.Now()
		ack, err := sc.Write(context.Background(), "bench", events)
		if err != nil || ack != events[len(events)-1].Seq {
			b.Fatalf("write: ack %d, %v", ack, err)
		}
		return time.Since(start)
	}
	for range 200 { // warm up
		write(batch(10))
	}

	type cell struct {
		size    int
		calls   []time.Duration
		elapsed time.Duration
	}
	var cells []cell
	for _, size := range []int{1, 100, 1000} {
		c := cell{size: size}
		start := time.Now()
		for time.Since(start) < dur {
			c.calls = append(c.calls, write(batch(size)))
		}
		c.elapsed = time.Since(start)
		slices.Sort(c.calls)
		cells = append(cells, c)
	}
	fmt.Printf("\naudit sink protocol, host -> discard plugin process (%d-byte events, one batch in flight):\n", len(template))
	fmt.Printf("%-12s %14s %12s %12s\n", "batch", "events/s", "p50", "p99")
	type figures struct {
		eps      float64
		p50, p99 time.Duration
	}
	var fig []figures
	for _, c := range cells {
		f := figures{float64(len(c.calls)*c.size) / c.elapsed.Seconds(), percentile(c.calls, 0.50), percentile(c.calls, 0.99)}
		fig = append(fig, f)
		fmt.Printf("%-12d %14.0f %12v %12v\n", c.size, f.eps, f.p50.Round(time.Microsecond), f.p99.Round(time.Microsecond))
	}
	fmt.Println()
	for i, c := range cells {
		b.Run(fmt.Sprintf("batch=%d", c.size), func(b *testing.B) {
			b.ReportMetric(fig[i].eps, "events/s")
			b.ReportMetric(float64(fig[i].p50.Microseconds()), "p50-µs/call")
			b.ReportMetric(float64(fig[i].p99.Microseconds()), "p99-µs/call")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// percentile returns the nearest-rank p-quantile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.9999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
