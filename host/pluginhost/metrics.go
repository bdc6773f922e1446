package pluginhost

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// RegisterMetrics adds argus.plugin.restarts (per instance, observed at
// each collection) to m.
func (r *Runtime) RegisterMetrics(m metric.Meter) error {
	restarts, err := m.Int64ObservableCounter("argus.plugin.restarts",
		metric.WithDescription("Plugin process restarts, by instance."), metric.WithUnit("{restart}"))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, s := range r.Status() {
			o.ObserveInt64(restarts, int64(s.Restarts), metric.WithAttributes(attribute.String("instance", s.ID)))
		}
		return nil
	}, restarts)
	return err
}
