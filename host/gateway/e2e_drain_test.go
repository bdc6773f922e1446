package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// readyState fetches /manage/v1/ready from the gateway whose /mcp URL is
// given: the HTTP status and whether the answer says "draining".
func readyState(url string) (status int, draining bool, err error) {
	resp, err := http.Get(strings.TrimSuffix(url, "/mcp") + "/manage/v1/ready")
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	var r struct {
		Draining bool `json:"draining"`
	}
	err = json.NewDecoder(resp.Body).Decode(&r)
	return resp.StatusCode, r.Draining, err
}

// TestE2EDrain: on SIGTERM with server.drain_timeout set, /ready turns
// 503 "draining" at once while the replica goes on serving: a call in
// flight at the signal completes, the existing session makes new calls,
// a new stateless request is served (asked to close its connection), and
// the process exits cleanly only once the drain is over.
func TestE2EDrain(t *testing.T) {
	const drainTimeout = 3 * time.Second
	url, proc := startArgus(t, "server {\n  drain_timeout = \""+drainTimeout.String()+"\"\n}\n"+demoStdio(t, "alpha"))
	// A call that reports progress: its first notification proves it is
	// in flight when the signal goes out.
	progressed := make(chan struct{}, 16)
	client := mcp.NewClient(&mcp.Implementation{Name: "drain", Version: "test"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) { progressed <- struct{}{} },
	})
	ctx := context.Background()
	s, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, &mcp.ClientSessionOptions{ProtocolVersion: clientProtocolVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	inflight := make(chan error, 1)
	go func() {
		params := &mcp.CallToolParams{Name: "alpha_slow", Arguments: map[string]any{"steps": 4, "interval_ms": 400}}
		params.SetProgressToken("drain")
		res, err := s.CallTool(ctx, params)
		if err == nil && res.IsError {
			err = fmt.Errorf("in-flight call failed: %+v", res.Content)
		}
		inflight <- err
	}()
	select {
	case <-progressed:
	case <-time.After(30 * time.Second):
		t.Fatal("the slow call reported no progress")
	}

	signalled := time.Now()
	if err := proc.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "/ready to answer 503 draining", func() bool {
		status, draining, err := readyState(url)
		return err == nil && status == http.StatusServiceUnavailable && draining
	})
	t.Logf("/ready turned 503 %v after SIGTERM", time.Since(signalled).Round(time.Millisecond))

	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "alpha_echo", Arguments: map[string]any{"message": "during drain"}})
	if err != nil || text(t, res) != "during drain" {
		t.Errorf("existing session during drain: %v %+v", err, res)
	}
	status, msg := statelessPost(t, url, "tools/call", "alpha_echo", `"name":"alpha_echo","arguments":{"message":"new"}`, nil)
	if res, _ := msg["result"].(map[string]any); status != 200 || res == nil {
		t.Errorf("new stateless request during drain: %d %v", status, msg)
	}
	if err := <-inflight; err != nil {
		t.Errorf("call in flight at SIGTERM: %v", err)
	}
	resp, err := http.Get(strings.TrimSuffix(url, "/mcp") + "/manage/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Connection") != "close" && !resp.Close {
		t.Errorf("health during drain: %d, Connection %q (want 200 and close)", resp.StatusCode, resp.Header.Get("Connection"))
	}

	select {
	case <-proc.Done():
	case <-time.After(drainTimeout + 30*time.Second):
		t.Fatal("argus did not exit after the drain")
	}
	took := time.Since(signalled)
	t.Logf("exited %v after SIGTERM (drain_timeout %v)", took.Round(time.Millisecond), drainTimeout)
	if took < drainTimeout {
		t.Errorf("exited %v after SIGTERM, before drain_timeout %v", took, drainTimeout)
	}
	if err := proc.Err(); err != nil {
		t.Errorf("exit: %v\n%s", err, proc.Stderr.String())
	}
}

// TestE2EDrainSecondSignal: a second signal ends a long drain at once.
func TestE2EDrainSecondSignal(t *testing.T) {
	url, proc := startArgus(t, "server {\n  drain_timeout = \"10m\"\n}\n"+demoStdio(t, "alpha"))
	proc.Cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, 5*time.Second, "/ready to answer 503 draining", func() bool {
		status, draining, err := readyState(url)
		return err == nil && status == http.StatusServiceUnavailable && draining
	})
	proc.Cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-proc.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("argus still draining after a second signal")
	}
	if !strings.Contains(proc.Stderr.String(), "drain cut short") {
		t.Errorf("no log line for the cut drain:\n%s", proc.Stderr.String())
	}
}
