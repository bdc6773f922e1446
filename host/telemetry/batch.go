package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// batcher is the span processor in front of every span exporter: the
// OpenTelemetry SDK's BatchSpanProcessor semantics (spans queue up to a
// bound and are dropped beyond it, exported in batches when a batch is
// full or every schedule delay, ForceFlush and Shutdown export what is
// queued; the OTEL_BSP_* variables apply), without its hand-off of every
// span to the exporting goroutine over a channel. That hand-off wakes the
// goroutine twice per proxied call (SERVER and CLIENT span), which cost
// more CPU than recording the spans; here a span is appended under a
// mutex, and the goroutine wakes only for a full batch or the timer.
type batcher struct {
	exp  sdktrace.SpanExporter
	name string // the exporter's, in metrics and reports
	o    batchOptions

	mu      sync.Mutex
	queue   []sdktrace.ReadOnlySpan
	spare   []sdktrace.ReadOnlySpan // the previous queue's array, reused
	stopped bool
	// What became of the spans (SpanCounts): exported; dropped because
	// the queue was full; lost with an export that failed (the batch that
	// failed and those queued behind it in the same round).
	exported, dropped, lost uint64

	droppedReported uint64    // dropped as of the last report of drops
	dropsReported   time.Time // when drops were last reported

	exporting chan struct{} // holds a token while an export runs: one at a time

	failed   int       // failed exports not reported yet (under mu)
	reported time.Time // when one was last reported (under mu)

	full chan struct{} // a full batch waits (coalesced)
	stop chan struct{}
	done chan struct{}
	// abort ends the background export under way: Shutdown's context
	// ended before it did.
	aborted context.Context
	abort   context.CancelFunc
}

// batchOptions are the BatchSpanProcessor's settings.
type batchOptions struct {
	scheduleDelay time.Duration // OTEL_BSP_SCHEDULE_DELAY, default 5s
	exportTimeout time.Duration // OTEL_BSP_EXPORT_TIMEOUT, default 30s
	maxQueue      int           // OTEL_BSP_MAX_QUEUE_SIZE, default 2048
	maxBatch      int           // OTEL_BSP_MAX_EXPORT_BATCH_SIZE, default 512
}

// batchOptionsFromEnv reads the OTEL_BSP_* variables as the SDK does:
// milliseconds and counts, positive integers only; a batch never larger
// than the queue.
func batchOptionsFromEnv(getenv func(string) string) batchOptions {
	num := func(name string, def int) int {
		if n, err := strconv.Atoi(getenv(name)); err == nil && n > 0 {
			return n
		}
		return def
	}
	o := batchOptions{
		scheduleDelay: time.Duration(num("OTEL_BSP_SCHEDULE_DELAY", 5000)) * time.Millisecond,
		exportTimeout: time.Duration(num("OTEL_BSP_EXPORT_TIMEOUT", 30000)) * time.Millisecond,
		maxQueue:      num("OTEL_BSP_MAX_QUEUE_SIZE", sdktrace.DefaultMaxQueueSize),
		maxBatch:      num("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", sdktrace.DefaultMaxExportBatchSize),
	}
	if o.maxBatch > o.maxQueue {
		o.maxBatch = min(sdktrace.DefaultMaxExportBatchSize, o.maxQueue)
	}
	return o
}

var _ sdktrace.SpanProcessor = (*batcher)(nil)

// newBatcher starts exporting to exp; Shutdown stops it. name is exp's
// in metrics and reports.
func newBatcher(exp sdktrace.SpanExporter, name string, o batchOptions) *batcher {
	b := &batcher{exp: exp, name: name, o: o, full: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), exporting: make(chan struct{}, 1)}
	b.aborted, b.abort = context.WithCancel(context.Background())
	go b.run()
	return b
}

func (b *batcher) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd queues a sampled span; beyond the queue bound it is dropped.
func (b *batcher) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return
	}
	if len(b.queue) >= b.o.maxQueue {
		b.dropped++
		b.mu.Unlock()
		return
	}
	b.queue = append(b.queue, s)
	full := len(b.queue) == b.o.maxBatch
	b.mu.Unlock()
	if full {
		select {
		case b.full <- struct{}{}:
		default:
		}
	}
}

func (b *batcher) run() {
	defer close(b.done)
	t := time.NewTicker(b.o.scheduleDelay)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		case <-b.full:
		}
		ctx, cancel := context.WithTimeout(b.aborted, b.o.exportTimeout)
		if err := b.export(ctx); err != nil {
			b.report(err)
		}
		cancel()
		b.reportDrops(time.Now())
	}
}

// reportDrops hands spans dropped because the queue was full to the
// OpenTelemetry error handler (the host logs it), at most every
// reportEvery, with how many since the last report: a trace with holes
// is otherwise indistinguishable from calls that never happened.
func (b *batcher) reportDrops(now time.Time) {
	b.mu.Lock()
	n := b.dropped - b.droppedReported
	if n == 0 || !b.dropsReported.IsZero() && now.Sub(b.dropsReported) < reportEvery {
		b.mu.Unlock()
		return
	}
	b.droppedReported, b.dropsReported = b.dropped, now
	b.mu.Unlock()
	otel.Handle(fmt.Errorf("telemetry: exporter %s falls behind: %d spans dropped since the last report, the span queue (OTEL_BSP_MAX_QUEUE_SIZE=%d) being full", b.name, n, b.o.maxQueue))
}

// SpanCounts is what became of the spans one exporter was given.
type SpanCounts struct {
	Exporter string `json:"exporter"`
	// Exported were taken by the exporter; Dropped were not queued, the
	// queue being full (the exporter falls behind); Lost were in, or
	// queued behind, an export that failed.
	Exported uint64 `json:"spans_exported"`
	Dropped  uint64 `json:"spans_dropped"`
	Lost     uint64 `json:"spans_lost"`
}

func (b *batcher) counts() SpanCounts {
	b.mu.Lock()
	defer b.mu.Unlock()
	return SpanCounts{Exporter: b.name, Exported: b.exported, Dropped: b.dropped, Lost: b.lost}
}

// reportEvery is how often at most a failing exporter is reported.
const reportEvery = 30 * time.Second

// report hands an export failure to the OpenTelemetry error handler (the
// host logs it): the first at once, then at most one every reportEvery,
// with how many failed meanwhile.
func (b *batcher) report(err error) {
	now := time.Now()
	b.mu.Lock()
	b.failed++
	if !b.reported.IsZero() && now.Sub(b.reported) < reportEvery {
		b.mu.Unlock()
		return
	}
	if b.failed > 1 {
		err = fmt.Errorf("%w (%d failed exports since the last report)", err, b.failed)
	}
	b.failed, b.reported = 0, now
	b.mu.Unlock()
	otel.Handle(err)
}

// export sends everything queued, in batches of at most maxBatch, and
// stops at the first failure (those spans are dropped, as the SDK does).
func (b *batcher) export(ctx context.Context) error {
	// Waiting for an export under way ends with ctx: a ForceFlush or the
	// final export of Shutdown is not held past its deadline by one that
	// waits on a plugin that does not answer.
	select {
	case b.exporting <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-b.exporting }()
	b.mu.Lock()
	spans := b.queue
	b.queue, b.spare = b.spare[:0], nil
	b.mu.Unlock()
	var err error
	sent := 0
	for i := 0; i < len(spans) && err == nil; i += b.o.maxBatch {
		batch := spans[i:min(len(spans), i+b.o.maxBatch)]
		if err = b.exp.ExportSpans(ctx, batch); err == nil {
			sent += len(batch)
		}
	}
	lost := len(spans) - sent
	clear(spans) // let the spans go; keep the array for the next round
	b.mu.Lock()
	b.exported += uint64(sent)
	b.lost += uint64(lost)
	if b.spare == nil && cap(spans) <= 2*b.o.maxQueue {
		b.spare = spans[:0]
	}
	b.mu.Unlock()
	return err
}

// ForceFlush exports everything queued now.
func (b *batcher) ForceFlush(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.export(ctx)
}

// Shutdown stops taking spans, exports what is queued and shuts the
// exporter down. Calls after the first do nothing.
func (b *batcher) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return nil
	}
	b.stopped = true
	b.mu.Unlock()
	close(b.stop)
	select {
	case <-b.done:
	case <-ctx.Done():
		// An export under way outlasts ctx (a plugin that does not
		// answer): it is ended, and what is queued is dropped, as the
		// SDK's BatchSpanProcessor does when its Shutdown's context ends.
		b.abort()
		return errors.Join(ctx.Err(), b.exp.Shutdown(ctx))
	}
	defer b.abort()
	return errors.Join(b.export(ctx), b.exp.Shutdown(ctx))
}

// processorFor is the span processor Options.SpanExporters get: the
// i-th is named by its Name method if it has one, else "exporter<i>".
func processorFor(exp sdktrace.SpanExporter, i int) *batcher {
	name := "exporter" + strconv.Itoa(i)
	if n, ok := exp.(interface{ Name() string }); ok {
		name = n.Name()
	}
	return newBatcher(exp, name, batchOptionsFromEnv(os.Getenv))
}
