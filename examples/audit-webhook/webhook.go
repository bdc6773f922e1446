package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/argusmcp/argus/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>".
const SignatureHeader = "X-Argus-Signature"

// Plugin describes the webhook audit sink.
func Plugin() *sdk.Plugin {
	return sdk.New("webhook", Version, sdk.AuditSink(sdk.SinkFactory{
		Schema: sdk.NewSchema().
			String("url", "The http(s) URL every batch is POSTed to.", sdk.Required()).
			String("secret", "Key of the HMAC-SHA256 signature in "+SignatureHeader+"; no signature when unset.", sdk.Sensitive()).
			StringMap("headers", "Extra request headers (for example an Authorization header).", sdk.Sensitive()).
			Duration("timeout", "Bound on one POST.", sdk.Default("10s")).
			Int("max_retries", "Retries of a failed POST before the batch is reported failed (Argus keeps it and sends it again later).", sdk.Default(5)).
			Duration("retry_backoff", "Delay before the first retry; it doubles with each retry, with jitter.", sdk.Default("200ms")),
		Validate: validate,
		New: func(_ context.Context, cfg sdk.Config) (sdk.Sink, error) {
			return &sink{
				url:     cfg.String("url"),
				secret:  []byte(cfg.String("secret")),
				headers: cfg.StringMap("headers"),
				retries: int(cfg.Int("max_retries")),
				backoff: cfg.Duration("retry_backoff"),
				client:  &http.Client{Timeout: cfg.Duration("timeout")},
				log:     cfg.Logger(),
			}, nil
		},
	}))
}

func validate(cfg sdk.Config) error {
	var errs []error
	u, err := url.Parse(cfg.String("url"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, sdk.Errorf("url", "%q is not an absolute http:// or https:// URL.", cfg.String("url")))
	}
	if cfg.Int("max_retries") < 0 {
		errs = append(errs, sdk.Errorf("max_retries", "must be zero or more."))
	}
	if cfg.Duration("timeout") <= 0 {
		errs = append(errs, sdk.Errorf("timeout", "must be greater than zero."))
	}
	return errors.Join(errs...)
}

type sink struct {
	url     string
	secret  []byte
	headers map[string]string
	retries int
	backoff time.Duration
	client  *http.Client
	log     sdk.Logger
}

// Write POSTs the batch as one JSON array, retrying transient failures.
// Success (2xx) means the receiver has the events: the batch is durable.
func (s *sink) Write(ctx context.Context, events []sdk.Event) error {
	var body bytes.Buffer
	body.WriteByte('[')
	for i, e := range events {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(e.JSON)
	}
	body.WriteByte(']')
	sig := ""
	if len(s.secret) > 0 {
		mac := hmac.New(sha256.New, s.secret)
		mac.Write(body.Bytes())
		sig = "sha256=" + hex.EncodeToString(mac.Sum(nil))
	}
	first, last := events[0].Seq, events[len(events)-1].Seq
	delay := s.backoff
	for attempt := 0; ; attempt++ {
		err := s.post(ctx, body.Bytes(), sig, sdk.Stream(ctx), first, last)
		if err == nil {
			return nil
		}
		var perm permanent
		if errors.As(err, &perm) || attempt >= s.retries {
			return fmt.Errorf("POST %s (events %d-%d, %d attempts): %w", s.url, first, last, attempt+1, err)
		}
		s.log.Warn("webhook POST failed; retrying", "error", err, "attempt", attempt+1, "in", delay)
		select {
		case <-time.After(delay/2 + rand.N(delay/2+1)):
		case <-ctx.Done():
			return fmt.Errorf("POST %s: %w (last error: %v)", s.url, ctx.Err(), err)
		}
		delay *= 2
	}
}

// permanent is a failure a retry cannot fix (a 4xx other than 408/429).
type permanent struct{ error }

func (s *sink) post(ctx context.Context, body []byte, sig, stream string, first, last uint64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return permanent{err}
	}
	for k, v := range s.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "argus-plugin-webhook/"+Version)
	req.Header.Set("X-Argus-Stream", stream)
	req.Header.Set("X-Argus-First-Seq", strconv.FormatUint(first, 10))
	req.Header.Set("X-Argus-Last-Seq", strconv.FormatUint(last, 10))
	if sig != "" {
		req.Header.Set(SignatureHeader, sig)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return fmt.Errorf("status %s", resp.Status)
	}
	return permanent{fmt.Errorf("status %s", resp.Status)}
}

// Close releases idle connections.
func (s *sink) Close(context.Context) error {
	s.client.CloseIdleConnections()
	return nil
}
