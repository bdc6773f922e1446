package gateway_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/internal/testbin"
)

// serverEverything is the TypeScript reference server, from npm.
const serverEverything = "@modelcontextprotocol/server-everything@2026.8.31"

var npmOnce sync.Once

// everythingServer installs the TypeScript reference server into the
// clone's .tools/npm (once; later runs reuse it) and returns its binary.
func everythingServer(t *testing.T) string {
	t.Helper()
	prefix := filepath.Join(testbin.Root(), ".tools", "npm")
	bin := filepath.Join(prefix, "node_modules", ".bin", "mcp-server-everything")
	pkgJSON := filepath.Join(prefix, "node_modules", "@modelcontextprotocol", "server-everything", "package.json")
	version := serverEverything[strings.LastIndex(serverEverything, "@")+1:]
	var err error
	npmOnce.Do(func() {
		if b, e := os.ReadFile(pkgJSON); e == nil && strings.Contains(string(b), `"version": "`+version+`"`) {
			return
		}
		t.Logf("installing %s into %s", serverEverything, prefix)
		cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--prefix", prefix, serverEverything)
		var out []byte
		if out, err = cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm install %s: %v\n%s", serverEverything, err, out)
		}
	})
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s not installed: %v", serverEverything, err)
	}
	return bin
}

// TestE2EInteropTypeScriptServer fronts the TypeScript reference server as
// a stdio backend and as a streamable-HTTP one. Over stdio it sends
// tools/list_changed before answering initialize and answers requests out
// of order; over HTTP it answers each call on an SSE stream with event
// ids (its event store), with the progress of a long operation before the
// answer on the same stream. All of it must work.
func TestE2EInteropTypeScriptServer(t *testing.T) {
	bin := everythingServer(t)
	t.Run("stdio", func(t *testing.T) {
		url, _ := startArgus(t, `
backend "everything" {
  type    = "stdio"
  command = `+hclString(bin)+`
  args    = ["stdio"]
}
conflict_resolution { strategy = "first-wins" }
`)
		interopTypeScript(t, url)
	})
	t.Run("streamable-http", func(t *testing.T) {
		addr := fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t))
		_, port, _ := strings.Cut(addr, ":")
		proc := startProc(t, "server-everything[http]", "/usr/bin/env", "PORT="+port, bin, "streamableHttp")
		if err := waitListening(proc, addr, startTimeout); err != nil {
			t.Fatal(err)
		}
		url, _ := startArgus(t, `
backend "everything" {
  type = "streamable-http"
  url  = "http://`+addr+`/mcp"
}
conflict_resolution { strategy = "first-wins" }
`)
		interopTypeScript(t, url)
	})
}

// interopTypeScript runs calls of every kind through Argus at url, in
// front of the TypeScript reference server.
func interopTypeScript(t *testing.T, url string) {
	ctx := context.Background()
	var mu sync.Mutex
	var progress []*mcp.ProgressNotificationParams
	s := relayClient(t, url, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			progress = append(progress, r.Params)
			mu.Unlock()
		},
	})

	if got := call(t, s, "echo", map[string]any{"message": "hello ts"}); got != "Echo: hello ts" {
		t.Errorf("echo = %q", got)
	}
	if got := call(t, s, "get-sum", map[string]any{"a": 19, "b": 23}); got != "The sum of 19 and 23 is 42." {
		t.Errorf("get-sum = %q", got)
	}

	// Concurrent calls: the server answers out of order.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			msg := strings.Repeat("x", i)
			res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": msg}})
			if err != nil || res.Content[0].(*mcp.TextContent).Text != "Echo: "+msg {
				t.Errorf("concurrent echo %d: %v %+v", i, err, res)
			}
		})
	}
	wg.Wait()

	params := &mcp.CallToolParams{Name: "trigger-long-running-operation", Arguments: map[string]any{"duration": 1, "steps": 4}}
	params.SetProgressToken("ts-progress")
	res, err := s.CallTool(ctx, params)
	if err != nil || !strings.Contains(text(t, res), "Long running operation completed") {
		t.Fatalf("long running operation: %v %+v", err, res)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		done := len(progress) > 0 && progress[len(progress)-1].Progress == progress[len(progress)-1].Total
		mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	if len(progress) != 4 || progress[3].Progress != 4 || progress[3].Total != 4 || progress[0].ProgressToken != "ts-progress" {
		t.Errorf("progress = %d notifications, last %+v", len(progress), progress[len(progress)-1])
	}
	mu.Unlock()

	pr, err := s.GetPrompt(ctx, &mcp.GetPromptParams{Name: "args-prompt", Arguments: map[string]string{"city": "Lisbon", "state": "PT"}})
	if err != nil || len(pr.Messages) == 0 || !strings.Contains(pr.Messages[0].Content.(*mcp.TextContent).Text, "Lisbon, PT") {
		t.Errorf("args-prompt: %v %+v", err, pr)
	}

	rr, err := s.ReadResource(ctx, &mcp.ReadResourceParams{URI: "demo://resource/dynamic/text/7"})
	if err != nil || len(rr.Contents) != 1 || !strings.HasPrefix(rr.Contents[0].Text, "Resource 7:") {
		t.Errorf("dynamic resource: %v %+v", err, rr)
	}
}
