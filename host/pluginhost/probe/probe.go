// Package probe is the host side of the health probe plugin kind (blocks
// `probe "<plugin>" "<instance>"`; the plugin side is sdk/probe.go): the
// client of a probe instance's HealthProbeService, its adapter to the
// gateway's health checks (Prober), and the host service through which
// probes reach the gateway's backends (Backends, HostService).
//
// Every backend is checked by the probe instances configured under
// `health`; without any, the configuration adds the built-in ping probe
// (plugins/ping), so there is one ping implementation.
package probe

import (
	"context"
	"fmt"
	"time"

	"github.com/argusmcp/argus/host/backend"
	"github.com/argusmcp/argus/host/health"
	"github.com/argusmcp/argus/host/pluginhost"
	"github.com/argusmcp/argus/host/pluginhost/proc"
	"github.com/argusmcp/argus/host/supervisor"
	"github.com/argusmcp/argus/shared"
	"github.com/argusmcp/argus/shared/healthstatus"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// Client calls one generation (process) of a health probe instance.
type Client struct {
	pluginhost.Generation
	c pluginv1.HealthProbeServiceClient
}

// Connect waits (within ctx) until the probe instance runs and returns a
// client for its current process.
func Connect(ctx context.Context, inst *pluginhost.Instance) (*Client, error) {
	g, err := inst.Conn(ctx, shared.KindHealthProbe)
	if err != nil {
		return nil, err
	}
	return &Client{Generation: g, c: pluginv1.NewHealthProbeServiceClient(g.GRPC())}, nil
}

// Result is the outcome of one health check.
type Result struct {
	Status  healthstatus.Status // Healthy, Degraded or Unhealthy
	Message string
	Latency time.Duration
}

// Check checks one backend. An error means the probe failed, not the
// backend.
func (c *Client) Check(ctx context.Context, backend string) (Result, error) {
	resp, err := c.c.Check(ctx, &pluginv1.CheckRequest{Backend: backend})
	if err != nil {
		return Result{}, proc.CallError(err)
	}
	status, ok := shared.HealthStatus(resp.GetStatus())
	if !ok {
		return Result{}, fmt.Errorf("malformed reply: health status %v", resp.GetStatus())
	}
	return Result{Status: status, Message: resp.GetMessage(), Latency: resp.GetLatency().AsDuration()}, nil
}

// Prober checks backends through a health probe instance, which reaches
// them through the host service (Backends). It is the gateway's Prober.
type Prober struct {
	Instance *pluginhost.Instance
}

// Probers are the health probe instances of rt, in configuration order,
// as the gateway's probes.
func Probers(rt *pluginhost.Runtime) []supervisor.Prober {
	var out []supervisor.Prober
	for _, inst := range rt.OfKind(shared.KindHealthProbe) {
		out = append(out, Prober{Instance: inst})
	}
	return out
}

// Probe checks backend name. The connection is not used: the plugin asks
// the host service for what it needs.
func (p Prober) Probe(ctx context.Context, name string, _ *backend.Conn) health.Result {
	id := p.Instance.ID()
	// A probe that cannot run says nothing about the backend: its result
	// is unknown, which the health rules ignore.
	client, err := Connect(ctx, p.Instance)
	if err != nil {
		return health.Result{Status: health.StatusUnknown, Message: "probe " + id + " unavailable: " + err.Error()}
	}
	res, err := client.Check(ctx, name)
	if err != nil {
		if ctx.Err() != nil {
			// The check ran out of time: the plugin's own answer (a slow
			// backend) and the deadline race, and either way the backend
			// did not answer within health.timeout. That is a failed check.
			return health.Result{Status: health.StatusUnhealthy, Message: "probe " + id + ": check timed out: " + err.Error()}
		}
		return health.Result{Status: health.StatusUnknown, Message: "probe " + id + ": " + err.Error()}
	}
	return health.Result{Status: res.Status, Message: res.Message, Latency: res.Latency}
}
