package audit

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// RegisterMetrics adds the audit queues' instruments to m, observed at
// each collection: argus.audit.queue.depth, argus.audit.dropped and
// argus.audit.failed_writes, per sink. A nil pipeline (audit disabled)
// registers nothing.
func (p *Pipeline) RegisterMetrics(m metric.Meter) error {
	if p == nil {
		return nil
	}
	depth, err := m.Int64ObservableGauge("argus.audit.queue.depth",
		metric.WithDescription("Audit events waiting for a sink's acknowledgement."), metric.WithUnit("{event}"))
	if err != nil {
		return err
	}
	dropped, err := m.Int64ObservableCounter("argus.audit.dropped",
		metric.WithDescription("Audit events dropped because a sink's queue was full (on_full = drop) or a request gave up waiting."), metric.WithUnit("{event}"))
	if err != nil {
		return err
	}
	failed, err := m.Int64ObservableCounter("argus.audit.failed_writes",
		metric.WithDescription("Failed writes to audit sinks (their events are replayed)."), metric.WithUnit("{write}"))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, s := range p.Stats() {
			attrs := metric.WithAttributes(attribute.String("sink", s.Sink))
			o.ObserveInt64(depth, int64(s.Depth), attrs)
			o.ObserveInt64(dropped, int64(s.Dropped), attrs)
			o.ObserveInt64(failed, int64(s.Failed), attrs)
		}
		return nil
	}, depth, dropped, failed)
	return err
}
