package sdktest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/argusmcp/argus/sdk"
	"github.com/argusmcp/argus/shared"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// ProbeClient calls a configured health probe.
type ProbeClient struct {
	c pluginv1.HealthProbeServiceClient
}

// Probe configures the plugin as a health probe with config (HCL), offering
// it host (nil: an empty FakeHost), and returns a client for it;
// diagnostics fail the test.
func (h *Harness) Probe(config string, host sdk.Host) *ProbeClient {
	h.t.Helper()
	h.MustConfigure(KindHealthProbe, config, ConfigureOptions{Host: host})
	return &ProbeClient{c: pluginv1.NewHealthProbeServiceClient(h.conn.GRPC)}
}

// Check checks backend.
func (p *ProbeClient) Check(ctx context.Context, backend string) (sdk.Result, error) {
	resp, err := p.c.Check(ctx, &pluginv1.CheckRequest{Backend: backend})
	if err != nil {
		return sdk.Result{}, err
	}
	res := sdk.Result{Message: resp.GetMessage(), Latency: resp.GetLatency().AsDuration()}
	res.Status, _ = shared.HealthStatus(resp.GetStatus())
	return res, nil
}

// ProbeSuite describes the situations ProbeConformance checks a probe in.
type ProbeSuite struct {
	// Host is offered to the probe; nil: an empty FakeHost.
	Host sdk.Host
	// Cases are checks with their expected outcome; at least one should be
	// healthy and one unhealthy.
	Cases []ProbeCase
}

// ProbeCase is one check and its expected status.
type ProbeCase struct {
	Name    string
	Config  string // HCL body of the probe block
	Backend string
	Want    sdk.Status
}

// ProbeConformance checks that p behaves as Argus expects of a health
// probe:
//
//   - GetInfo names the plugin, protocol 1, the health probe kind;
//   - its schema is valid and every case's configuration passes a dry run;
//   - every case yields its expected status, a latency and, unless
//     healthy, a message;
//   - a check respects its deadline (it answers, one way or another, soon
//     after a 100 ms deadline passes);
//   - concurrent checks work.
func ProbeConformance(t *testing.T, p *sdk.Plugin, suite ProbeSuite) {
	if len(suite.Cases) == 0 {
		t.Fatal("sdktest: ProbeConformance needs at least one case")
	}
	t.Run("Info", func(t *testing.T) { checkInfo(t, Start(t, p), p, KindHealthProbe) })
	t.Run("DryRun", func(t *testing.T) {
		h := Start(t, p)
		h.Schema(KindHealthProbe) // fails the test if invalid
		for _, c := range suite.Cases {
			if out := h.Configure(KindHealthProbe, c.Config, ConfigureOptions{DryRun: true}); out != "" {
				t.Fatalf("case %s: dry run rejected the configuration:\n%s", c.Name, out)
			}
		}
	})
	for _, c := range suite.Cases {
		t.Run("Case/"+c.Name, func(t *testing.T) {
			probe := Start(t, p).Probe(c.Config, suite.Host)
			res, err := probe.Check(context.Background(), c.Backend)
			if err != nil {
				t.Fatalf("Check(%q): %v", c.Backend, err)
			}
			if res.Status != c.Want {
				t.Errorf("Check(%q) = %v (%q), want %v", c.Backend, res.Status, res.Message, c.Want)
			}
			if res.Latency <= 0 {
				t.Errorf("Check(%q) latency = %v, want > 0", c.Backend, res.Latency)
			}
			if res.Status != sdk.Healthy && res.Message == "" {
				t.Errorf("Check(%q) is %v without a message", c.Backend, res.Status)
			}
		})
	}
	c := suite.Cases[0]
	t.Run("Deadline", func(t *testing.T) {
		probe := Start(t, p).Probe(c.Config, suite.Host)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _ = probe.Check(ctx, c.Backend)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Check took %v with a 100ms deadline", d)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		probe := Start(t, p).Probe(c.Config, suite.Host)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				res, err := probe.Check(context.Background(), c.Backend)
				if err == nil && res.Status != c.Want {
					err = errorf("concurrent Check = %v, want %v", res.Status, c.Want)
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})
}
