package policy

import (
	"context"

	"go.opentelemetry.io/otel/metric"
)

// RegisterMetrics exports the refusal counters: argus.quota.rejected
// (calls refused for a used-up quota) and argus.policy.denied (calls a
// policy denied).
func (g *Guard) RegisterMetrics(m metric.Meter) error {
	rejected, err := m.Int64ObservableCounter("argus.quota.rejected",
		metric.WithDescription("Calls refused because the caller's quota was used up."), metric.WithUnit("{call}"))
	if err != nil {
		return err
	}
	denied, err := m.Int64ObservableCounter("argus.policy.denied",
		metric.WithDescription("Calls an authorization policy denied."), metric.WithUnit("{call}"))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(rejected, g.Rejected.Load())
		o.ObserveInt64(denied, g.Denied.Load())
		return nil
	}, rejected, denied)
	return err
}
