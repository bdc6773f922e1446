package gateway

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// RegisterMetrics adds the gauges of the gateway's state to m, observed
// at each collection: argus.backend.phase and
// argus.backend.health.latency per backend, and argus.panics.recovered.
func (g *Gateway) RegisterMetrics(m metric.Meter) error {
	phase, err := m.Int64ObservableGauge("argus.backend.phase",
		metric.WithDescription("1 for each backend's current lifecycle phase (attribute phase)."))
	if err != nil {
		return err
	}
	latency, err := m.Float64ObservableGauge("argus.backend.health.latency",
		metric.WithDescription("Latency of each backend's last health check."), metric.WithUnit("s"))
	if err != nil {
		return err
	}
	panics, err := m.Int64ObservableCounter("argus.panics.recovered",
		metric.WithDescription("Panics recovered while serving clients and backends; each failed one request with an internal error."), metric.WithUnit("{panic}"))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(panics, g.Panics().Count())
		for _, b := range g.Backends() {
			o.ObserveInt64(phase, 1, metric.WithAttributes(attribute.String("backend", b.Name), attribute.String("phase", string(b.Phase))))
			if b.Health.LastCheck != nil {
				o.ObserveFloat64(latency, b.Health.LatencyMS/1000, metric.WithAttributes(attribute.String("backend", b.Name)))
			}
		}
		return nil
	}, phase, latency, panics)
	return err
}
