package ping_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/argusmcp/argus/plugins/ping"
	"github.com/argusmcp/argus/sdk"
	"github.com/argusmcp/argus/sdk/sdktest"
)

func fakeHost() *sdktest.FakeHost {
	h := &sdktest.FakeHost{}
	h.Set("up", sdktest.FakeBackend{Info: sdk.Backend{Transport: "stdio", Connected: true, ProtocolVersion: "2025-11-25"}})
	h.Set("down", sdktest.FakeBackend{Info: sdk.Backend{Transport: "stdio", Connected: true, ProtocolVersion: "2025-11-25"}, PingErr: errors.New("connection closed")})
	h.Set("gone", sdktest.FakeBackend{Info: sdk.Backend{Transport: "sse"}})
	h.Set("slow", sdktest.FakeBackend{Info: sdk.Backend{Connected: true, ProtocolVersion: "2025-11-25"}, Delay: 80 * time.Millisecond})
	// A stateless-revision backend: its ping fails (the revision has none),
	// listing tools works.
	h.Set("modern", sdktest.FakeBackend{Info: sdk.Backend{Transport: "streamable-http", Connected: true, ProtocolVersion: "2026-07-28"},
		PingErr: errors.New("method not found"), Tools: []sdk.Tool{{Name: "echo"}}})
	return h
}

func TestConformance(t *testing.T) {
	sdktest.ProbeConformance(t, ping.Plugin(), sdktest.ProbeSuite{
		Host: fakeHost(),
		Cases: []sdktest.ProbeCase{
			{Name: "healthy", Backend: "up", Want: sdk.Healthy},
			{Name: "ping fails", Backend: "down", Want: sdk.Unhealthy},
			{Name: "not connected", Backend: "gone", Want: sdk.Unhealthy},
			{Name: "unknown backend", Backend: "nope", Want: sdk.Unhealthy},
			{Name: "slow", Config: `degraded_latency = "20ms"`, Backend: "slow", Want: sdk.Degraded},
			{Name: "stateless revision", Backend: "modern", Want: sdk.Healthy},
			{Name: "forced ping on stateless revision", Config: `method = "ping"`, Backend: "modern", Want: sdk.Unhealthy},
		},
	})
}

func TestInvalidConfig(t *testing.T) {
	h := sdktest.Start(t, ping.Plugin())
	for _, tc := range []struct{ config, want string }{
		{`method = "icmp"`, `"icmp" is not a method`},
		{`degraded_latency = "fast"`, `"fast" is not a duration`},
		{`degraded_latency = "0s"`, "must be greater than zero"},
		{`interval = "1s"`, `An argument named "interval" is not expected here`},
	} {
		out := h.Configure(sdktest.KindHealthProbe, tc.config, sdktest.ConfigureOptions{DryRun: true})
		if !strings.Contains(out, tc.want) || !strings.Contains(out, "plugin.hcl line 1") {
			t.Errorf("config %s: diagnostics\n%s\nwant %q with a position", tc.config, out, tc.want)
		}
	}
}

func TestMessage(t *testing.T) {
	probe := sdktest.Start(t, ping.Plugin()).Probe(`degraded_latency = "20ms"`, fakeHost())
	res, err := probe.Check(context.Background(), "slow")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Message, "degraded above 20ms") || res.Latency < 80*time.Millisecond {
		t.Errorf("slow check = %+v", res)
	}
	res, _ = probe.Check(context.Background(), "down")
	if res.Message != "ping: connection closed" {
		t.Errorf("failed check message = %q", res.Message)
	}
}
