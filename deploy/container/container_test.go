// Package container_test runs the Argus container image (make image) end
// to end with a real Docker engine: a mounted configuration, a stdio
// backend binary mounted in, the built-in jsonl sink writing into the
// mounted /var/lib/argus, and a clean `docker stop`.
//
// The image tests need a Docker daemon and ARGUS_IMAGE naming the image;
// `make e2e-image` builds the image and sets it, `.ci/run` starts dockerd
// when it can. Without them they skip and say which is missing. The check
// of the example configuration (argus.hcl here) runs everywhere.
package container_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config/configload"
	"github.com/argusmcp/argus/internal/testbin"
)

const (
	mgmtToken       = "container-e2e-management-token"
	shutdownTimeout = 5 * time.Second
	// stopGrace is docker stop's -t: SIGKILL after it. Argus must be gone
	// well before, within its own shutdown_timeout.
	stopGrace = 30 * time.Second
)

// needImage skips unless a Docker daemon answers and ARGUS_IMAGE names an
// image it holds.
func needImage(t *testing.T) string {
	t.Helper()
	image := os.Getenv("ARGUS_IMAGE")
	if image == "" {
		t.Skip("ARGUS_IMAGE is not set: make e2e-image builds the image (make image) and runs this test with it")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		testbin.Unavailable(t, "no docker CLI: the container test needs Docker (.ci/run installs docker.io and starts dockerd when it can)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		testbin.Unavailable(t, "no Docker daemon reachable (docker info: %v: %s); start dockerd (.ci/dockerd start) to run the container test", err, bytes.TrimSpace(out))
	}
	if out, err := exec.Command("docker", "image", "inspect", image).CombinedOutput(); err != nil {
		t.Fatalf("ARGUS_IMAGE=%s is not an image the daemon holds (make image builds it): %s", image, bytes.TrimSpace(out))
	}
	return image
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// staticDemoServer builds the demo backend without cgo, so it runs in an
// image without a C library.
func staticDemoServer(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "argus-demo-server")
	cmd := exec.Command("go", "build", "-o", out, "./examples/demo-server")
	cmd.Dir = testbin.Root()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build demo-server: %v\n%s", err, b)
	}
	return out
}

// TestImageMetadata: the image runs as the non-root user, carries its OCI
// labels, has no HEALTHCHECK, and its binary prints its version and lists
// the built-in plugins.
func TestImageMetadata(t *testing.T) {
	image := needImage(t)
	var inspect []struct {
		Config struct {
			User        string
			Labels      map[string]string
			Healthcheck *struct{ Test []string }
			Entrypoint  []string
			Cmd         []string
			WorkingDir  string
		}
	}
	if err := json.Unmarshal([]byte(docker(t, "image", "inspect", image)), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("docker image inspect: %v", err)
	}
	c := inspect[0].Config
	if c.User != "65532:65532" {
		t.Errorf("User = %q, want 65532:65532", c.User)
	}
	for _, l := range []string{"org.opencontainers.image.version", "org.opencontainers.image.revision", "org.opencontainers.image.source"} {
		if c.Labels[l] == "" {
			t.Errorf("label %s missing: %v", l, c.Labels)
		}
	}
	if c.Healthcheck != nil {
		t.Errorf("image has a HEALTHCHECK %v; orchestrators probe /manage/v1/health and /ready", c.Healthcheck.Test)
	}
	if strings.Join(c.Entrypoint, " ") != "/usr/local/bin/argus" || strings.Join(c.Cmd, " ") != "serve -config /etc/argus/argus.hcl" {
		t.Errorf("entrypoint %v cmd %v", c.Entrypoint, c.Cmd)
	}
	if v := docker(t, "run", "--rm", "--network", "host", image, "version"); v != "argus "+c.Labels["org.opencontainers.image.version"] {
		t.Errorf("argus version in the image = %q, label says %q", v, c.Labels["org.opencontainers.image.version"])
	}
	// The built-ins are the binary itself, re-executed: `argus plugins`
	// starts each one and asks it for its kinds.
	out := docker(t, "run", "--rm", "--network", "host", "--read-only", "--tmpfs", "/tmp", image, "plugins")
	for _, want := range []string{"jsonl", "otlp", "ping", "discard"} {
		if !strings.Contains(out, want) || strings.Contains(out, "error") {
			t.Errorf("argus plugins in the image:\n%s", out)
			break
		}
	}
}

// TestE2EContainer runs the image as a platform would: read-only root
// filesystem, a tmpfs /tmp, the configuration and a stdio backend binary
// mounted read-only, /var/lib/argus a volume. A tool call works, its audit
// event is in the volume, and `docker stop` ends the container cleanly
// within the shutdown timeout with every event flushed.
func TestE2EContainer(t *testing.T) {
	image := needImage(t)
	dir := t.TempDir()
	etc := filepath.Join(dir, "etc")
	state := filepath.Join(dir, "state")
	demo := filepath.Join(dir, "demo")
	for _, d := range []string{etc, state, demo} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	staticDemoServer(t, demo)
	// The image runs as 65532; the state volume must be its to write.
	if os.Geteuid() == 0 {
		if err := os.Chown(state, 65532, 65532); err != nil {
			t.Fatal(err)
		}
	} else if err := os.Chmod(state, 0o777); err != nil {
		t.Fatal(err)
	}
	port := testbin.FreePort(t)
	config := fmt.Sprintf(`server {
  listen           = "127.0.0.1:%d"
  shutdown_timeout = "%s"
}
management {
  token = %q
}
backend "demo" {
  type    = "stdio"
  command = "/opt/demo/argus-demo-server"
  args    = ["-name", "demo"]
}
audit {
  file = "/var/lib/argus/audit.jsonl"
}
`, port, shutdownTimeout, mgmtToken)
	if err := os.WriteFile(filepath.Join(etc, "argus.hcl"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}

	name := fmt.Sprintf("argus-e2e-%d", time.Now().UnixNano())
	docker(t, "run", "-d", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
		"-v", etc+"/argus.hcl:/etc/argus/argus.hcl:ro",
		"-v", demo+":/opt/demo:ro",
		"-v", state+":/var/lib/argus",
		image)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("docker", "logs", name).CombinedOutput()
			t.Logf("container log:\n%s", out)
		}
		exec.Command("docker", "rm", "-f", name).Run()
	})

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitFor(t, 60*time.Second, "/manage/v1/ready to answer 200", func() bool {
		resp, err := http.Get(base + "/manage/v1/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	client := mcp.NewClient(&mcp.Implementation{Name: "container-e2e", Version: "test"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + "/mcp"}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	const calls = 50
	for i := range calls {
		res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "demo_echo", Arguments: map[string]any{"message": fmt.Sprintf("in a container %d", i)}})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if tc, ok := res.Content[0].(*mcp.TextContent); !ok || tc.Text != fmt.Sprintf("in a container %d", i) {
			t.Fatalf("call %d: %+v", i, res.Content)
		}
	}
	s.Close()

	// The built-in sink runs inside the image (argus re-executed itself).
	req, _ := http.NewRequest("GET", base+"/manage/v1/plugins", nil)
	req.Header.Set("Authorization", "Bearer "+mgmtToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var plugins struct {
		Plugins []struct {
			ID    string `json:"instance"`
			Phase string `json:"phase"`
		} `json:"plugins"`
	}
	json.NewDecoder(resp.Body).Decode(&plugins)
	resp.Body.Close()
	running := map[string]string{}
	for _, p := range plugins.Plugins {
		running[p.ID] = p.Phase
	}
	if running["sink.default"] != "running" {
		t.Errorf("plugins in the container: %v, want sink.default running", running)
	}

	// docker stop: SIGTERM to argus (PID 1); it must drain and flush the
	// audit sink and exit 0 within its shutdown timeout, long before
	// docker's SIGKILL.
	start := time.Now()
	docker(t, "stop", "-t", strconv.Itoa(int(stopGrace.Seconds())), name)
	took := time.Since(start)
	var stopped []struct {
		State struct {
			ExitCode  int
			OOMKilled bool
		}
	}
	if err := json.Unmarshal([]byte(docker(t, "inspect", name)), &stopped); err != nil || len(stopped) != 1 {
		t.Fatalf("docker inspect: %v", err)
	}
	if code := stopped[0].State.ExitCode; code != 0 {
		t.Errorf("argus exited %d on docker stop, want 0", code)
	}
	if took > shutdownTimeout+3*time.Second {
		t.Errorf("docker stop took %v; argus's shutdown_timeout is %v", took, shutdownTimeout)
	}
	logs, _ := exec.Command("docker", "logs", name).CombinedOutput()
	if !bytes.Contains(logs, []byte("stopped")) {
		t.Errorf("argus did not log a clean stop:\n%s", logs)
	}

	// Every call's event is in the mounted volume, written by the image's user.
	f, err := os.Open(filepath.Join(state, "audit.jsonl"))
	if err != nil {
		t.Fatalf("no audit file in the mounted /var/lib/argus: %v", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && os.Geteuid() == 0 {
		if uid := fileUID(fi); uid != 65532 {
			t.Errorf("audit file owned by uid %d, want 65532 (the image's user)", uid)
		}
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			EventType string `json:"event_type"`
			Target    struct {
				CapabilityName string `json:"capability_name"`
			} `json:"target"`
			Outcome struct {
				Status string `json:"status"`
			} `json:"outcome"`
			Metadata struct {
				JSONRPCID json.RawMessage `json:"jsonrpc_id"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit line: %v: %s", err, sc.Text())
		}
		if ev.EventType == "mcp_operation" && ev.Target.CapabilityName == "demo_echo" && ev.Outcome.Status == "success" {
			seen[string(ev.Metadata.JSONRPCID)] = true
		}
	}
	if len(seen) != calls {
		t.Errorf("%d demo_echo events in the audit file after docker stop, want %d", len(seen), calls)
	}
	t.Logf("docker stop took %v; %d audit events flushed to the volume", took.Round(time.Millisecond), len(seen))
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestExampleConfigLoads: the configuration the README runs the image with
// is valid and fits the image's layout.
func TestExampleConfigLoads(t *testing.T) {
	t.Setenv("ARGUS_MGMT_TOKEN", "a-token-of-sixteen-chars")
	cfg, diags := configload.NewParser().LoadFile("argus.hcl")
	if diags.HasErrors() {
		t.Fatalf("deploy/container/argus.hcl: %v", diags)
	}
	if cfg.Server.Listen != "0.0.0.0:9000" {
		t.Errorf("listen %q: in a container Argus must listen on all addresses (port 9000, the image's EXPOSE)", cfg.Server.Listen)
	}
	if len(cfg.Backends) != 1 || cfg.Backends[0].Command != "/opt/demo/argus-demo-server" {
		t.Errorf("backends %+v: the README mounts the demo server at /opt/demo", cfg.Backends)
	}
}
