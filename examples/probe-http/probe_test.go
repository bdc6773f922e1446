package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/argusmcp/argus/sdk"
	"github.com/argusmcp/argus/sdk/sdktest"
)

// server answers /ok 200, /down 503, /created 201, /slow 200 after 100ms,
// /health/<name> 200 for "alpha" only.
func server(t *testing.T) string {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) {})
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/created", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) { time.Sleep(100 * time.Millisecond) })
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("/health/{name}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") != "alpha" {
			w.WriteHeader(http.StatusNotFound)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestConformance(t *testing.T) {
	base := server(t)
	sdktest.ProbeConformance(t, Plugin(), sdktest.ProbeSuite{Cases: []sdktest.ProbeCase{
		{Name: "ok", Config: `url = "` + base + `/ok"`, Backend: "demo", Want: sdk.Healthy},
		{Name: "down", Config: `url = "` + base + `/down"`, Backend: "demo", Want: sdk.Unhealthy},
		{Name: "expect 201", Config: `
url           = "` + base + `/created"
expect_status = 201`, Backend: "demo", Want: sdk.Healthy},
		{Name: "unexpected 201", Config: `url = "` + base + `/created"`, Backend: "demo", Want: sdk.Unhealthy},
		{Name: "slow", Config: `
url              = "` + base + `/slow"
degraded_latency = "20ms"`, Backend: "demo", Want: sdk.Degraded},
		{Name: "per backend ok", Config: `url = "` + base + `/health/{backend}"`, Backend: "alpha", Want: sdk.Healthy},
		{Name: "per backend down", Config: `url = "` + base + `/health/{backend}"`, Backend: "beta", Want: sdk.Unhealthy},
		{Name: "not checked", Config: `
url      = "` + base + `/down"
backends = ["other"]`, Backend: "demo", Want: sdk.Healthy},
		{Name: "unreachable", Config: `url = "http://127.0.0.1:1/"`, Backend: "demo", Want: sdk.Unhealthy},
	}})
}

func TestMessages(t *testing.T) {
	base := server(t)
	probe := sdktest.Start(t, Plugin()).Probe(`url = "`+base+`/down"`, nil)
	res, err := probe.Check(context.Background(), "demo")
	if err != nil || res.Message != "GET "+base+"/down: status 503, want 200" {
		t.Errorf("Check = %+v, %v", res, err)
	}
	probe = sdktest.Start(t, Plugin()).Probe(`url = "`+base+`/hang"`, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res, err = probe.Check(ctx, "demo")
	if err == nil && (res.Status != sdk.Unhealthy || !strings.Contains(res.Message, "context deadline exceeded")) {
		t.Errorf("hung server: %+v", res)
	}
}

func TestInvalidConfig(t *testing.T) {
	h := sdktest.Start(t, Plugin())
	for config, want := range map[string]string{
		`url = "localhost:8080"`:                    `is not an absolute http:// or https:// URL`,
		`url = "http://x"` + "\nexpect_status = 42": `42 is not an HTTP status code`,
		`expect_status = 200`:                       `The argument "url" is required`,
	} {
		if out := h.Configure(sdktest.KindHealthProbe, config, sdktest.ConfigureOptions{DryRun: true}); !strings.Contains(out, want) {
			t.Errorf("%s: diagnostics\n%s\nwant %q", config, out, want)
		}
	}
}
