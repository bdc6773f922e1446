// Package ping is the built-in health probe. It asks Argus to ping the
// backend and reports the backend healthy, degraded when the answer took
// longer than degraded_latency, or unhealthy when there was none.
//
// The ping is protocol-aware: MCP revision 2026-07-28 has no ping request,
// so for backends that negotiated it (or a later one) the probe lists the
// backend's tools instead, which every revision answers.
//
//	health {
//	  probe "ping" "default" {
//	    degraded_latency = "2s"
//	  }
//	}
package ping

import (
	"context"
	"fmt"
	"time"

	"github.com/argusmcp/argus/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// statelessRevision is the first MCP revision without ping.
const statelessRevision = "2026-07-28"

// Plugin describes the ping probe.
func Plugin() *sdk.Plugin {
	return sdk.New("ping", Version, sdk.HealthProbe(sdk.ProbeFactory{
		Schema: sdk.NewSchema().
			Duration("degraded_latency", "A slower answer makes the backend degraded.", sdk.Default("5s")).
			String("method", `How to reach the backend: "auto" (ping, or list tools on revisions without ping), "ping" or "list_tools".`, sdk.Default("auto")),
		Validate: validate,
		New: func(_ context.Context, cfg sdk.Config, host sdk.Host) (sdk.Probe, error) {
			return &probe{host: host, degraded: cfg.Duration("degraded_latency"), method: cfg.String("method")}, nil
		},
	}))
}

func validate(cfg sdk.Config) error {
	switch m := cfg.String("method"); m {
	case "auto", "ping", "list_tools":
	default:
		return sdk.Errorf("method", "%q is not a method; use \"auto\", \"ping\" or \"list_tools\".", m)
	}
	if cfg.Duration("degraded_latency") <= 0 {
		return sdk.Errorf("degraded_latency", "must be greater than zero.")
	}
	return nil
}

type probe struct {
	host     sdk.Host
	degraded time.Duration
	method   string
}

func (p *probe) Check(ctx context.Context, backend string) (sdk.Result, error) {
	method := p.method
	if method == "auto" {
		method = "ping"
		b, err := p.host.Describe(ctx, backend)
		if err != nil {
			return sdk.Result{}, err
		}
		if !b.Connected {
			return sdk.Result{Status: sdk.Unhealthy, Message: "not connected"}, nil
		}
		if b.ProtocolVersion >= statelessRevision {
			method = "list_tools"
		}
	}
	start := time.Now()
	var err error
	if method == "list_tools" {
		_, err = p.host.ListTools(ctx, backend)
	} else {
		err = p.host.Ping(ctx, backend)
	}
	latency := time.Since(start)
	if err != nil {
		return sdk.Result{Status: sdk.Unhealthy, Message: fmt.Sprintf("%s: %v", method, err), Latency: latency}, nil
	}
	if latency > p.degraded {
		return sdk.Result{Status: sdk.Degraded, Latency: latency,
			Message: fmt.Sprintf("%s took %v (degraded above %v)", method, latency.Round(time.Millisecond), p.degraded)}, nil
	}
	return sdk.Result{Status: sdk.Healthy, Latency: latency}, nil
}
