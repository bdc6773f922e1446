package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/argusmcp/argus/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Plugin describes the http health probe.
func Plugin() *sdk.Plugin {
	return sdk.New("http", Version, sdk.HealthProbe(sdk.ProbeFactory{
		Schema: sdk.NewSchema().
			String("url", "The URL to GET; {backend} is replaced by the checked backend's name.", sdk.Required()).
			Int("expect_status", "The status code that means healthy.", sdk.Default(200)).
			Duration("degraded_latency", "A slower answer makes the backend degraded; 0 never does.", sdk.Default("0s")).
			Strings("backends", "Only check these backends (others are reported healthy); empty checks all."),
		Validate: validate,
		New: func(_ context.Context, cfg sdk.Config, _ sdk.Host) (sdk.Probe, error) {
			return &probe{
				url:      cfg.String("url"),
				expect:   int(cfg.Int("expect_status")),
				degraded: cfg.Duration("degraded_latency"),
				only:     cfg.Strings("backends"),
				client:   &http.Client{},
			}, nil
		},
	}))
}

func validate(cfg sdk.Config) error {
	u, err := url.Parse(strings.ReplaceAll(cfg.String("url"), "{backend}", "b"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return sdk.Errorf("url", "%q is not an absolute http:// or https:// URL.", cfg.String("url"))
	}
	if s := cfg.Int("expect_status"); s < 100 || s > 599 {
		return sdk.Errorf("expect_status", "%d is not an HTTP status code.", s)
	}
	return nil
}

type probe struct {
	url      string
	expect   int
	degraded time.Duration
	only     []string
	client   *http.Client
}

// Check GETs the URL within ctx's deadline (Argus's health timeout).
func (p *probe) Check(ctx context.Context, backend string) (sdk.Result, error) {
	if len(p.only) > 0 && !slices.Contains(p.only, backend) {
		return sdk.Result{Status: sdk.Healthy, Message: "not checked by this probe"}, nil
	}
	target := strings.ReplaceAll(p.url, "{backend}", url.PathEscape(backend))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return sdk.Result{}, err
	}
	req.Header.Set("User-Agent", "argus-plugin-http/"+Version)
	start := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		return sdk.Result{Latency: time.Since(start)}, fmt.Errorf("GET %s: %w", target, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	latency := time.Since(start)
	switch {
	case resp.StatusCode != p.expect:
		return sdk.Result{Status: sdk.Unhealthy, Latency: latency,
			Message: fmt.Sprintf("GET %s: status %d, want %d", target, resp.StatusCode, p.expect)}, nil
	case p.degraded > 0 && latency > p.degraded:
		return sdk.Result{Status: sdk.Degraded, Latency: latency,
			Message: fmt.Sprintf("GET %s took %v (degraded above %v)", target, latency.Round(time.Millisecond), p.degraded)}, nil
	}
	return sdk.Result{Status: sdk.Healthy, Latency: latency}, nil
}
