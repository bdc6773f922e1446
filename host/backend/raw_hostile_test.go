package backend

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/internal/leakcheck"
)

// TestHostileRawBackend is, with ARGUS_HOSTILE_BACKEND set, a stdio MCP
// backend that answers tools/call as the tool's name says: "echo" once,
// "twice" twice, "wrong-id" under a numeric id, "never" not at all,
// "garbage" with a line that is no JSON, "die" by exiting, "extra" with a
// member the JSON-RPC answer needs not, "log-first" after a log message.
// Every line it reads is appended to the file ARGUS_HOSTILE_BACKEND names.
func TestHostileRawBackend(t *testing.T) {
	logFile := os.Getenv("ARGUS_HOSTILE_BACKEND")
	if logFile == "" {
		t.Skip("a helper process for TestRawCallsHostileBackend")
	}
	log, _ := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	out := bufio.NewWriter(os.Stdout)
	send := func(s string) { out.WriteString(s + "\n"); out.Flush() }
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fmt.Fprintln(log, sc.Text())
		var m toolCall
		json.Unmarshal(sc.Bytes(), &m)
		id := string(m.ID)
		result := `{"jsonrpc":"2.0","id":` + id + `,"result":{"content":[{"type":"text","text":"` + m.Params.Name + `"}]}}`
		switch {
		case m.Method == "initialize":
			send(`{"jsonrpc":"2.0","id":` + id + `,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"hostile","version":"0"}}}`)
		case m.Method == "tools/list":
			send(`{"jsonrpc":"2.0","id":` + id + `,"result":{"tools":[]}}`)
		case m.Method != "tools/call" || m.Params.Name == "never":
		case m.Params.Name == "twice":
			send(result)
			send(result)
		case m.Params.Name == "wrong-id":
			send(`{"jsonrpc":"2.0","id":424242,"result":{"content":[]}}`)
		case m.Params.Name == "garbage":
			send(`this is no JSON`)
		case m.Params.Name == "bad-block":
			send(`{"jsonrpc":"2.0","id":` + id + `,"result":{"content":[{"type":"text","text":5}]}}`)
		case m.Params.Name == "die":
			os.Exit(3)
		case m.Params.Name == "extra":
			send(strings.TrimSuffix(result, "}") + `,"extra":true}`)
		case m.Params.Name == "log-first":
			send(`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"before the result"}}`)
			send(result)
		case m.Method == "tools/call":
			send(result)
		}
	}
	os.Exit(0)
}

// toolCall is what the test backends read of a request: its id, method
// and, for tools/call, the tool's name.
type toolCall struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		Name string `json:"name"`
	} `json:"params"`
}

// dialHostileBackend connects to TestHostileRawBackend, which logs every
// line it reads to logFile; onRead (may be nil) sees what the SDK's
// session reads.
func dialHostileBackend(t *testing.T, logFile string, onRead func(jsonrpc.Message)) *Conn {
	t.Helper()
	cfg := config.Backend{Name: "hostile", Type: config.TypeStdio, Command: os.Args[0],
		Args: []string{"-test.run=^TestHostileRawBackend$"}, Env: map[string]string{"ARGUS_HOSTILE_BACKEND": logFile},
		ProtocolVersion: "2025-11-25", ConnectTimeout: 30 * time.Second, CallTimeout: 30 * time.Second}
	c, err := Dial(context.Background(), cfg, Options{Logger: hclog.NewNullLogger(),
		Client: &mcp.Implementation{Name: "argus", Version: "test"}, OnRead: onRead})
	if err != nil {
		t.Fatal(err)
	}
	if !c.RawCalls() {
		t.Fatal("RawCalls false")
	}
	return c
}

// TestRawCallsHostileBackend: whatever a stdio backend makes of a raw
// tools/call (answering twice, under another id, never, with garbage,
// dying mid-call), the caller gets an answer or an error in bounded time,
// the backend is told of a call given up, no raw call stays registered,
// and closing the connection leaves no goroutine behind.
func TestRawCallsHostileBackend(t *testing.T) {
	leakcheck.Check(t)
	logFile := t.TempDir() + "/read.log"
	var notified atomic.Int32 // notifications the SDK's session read
	dialHostile := func() *Conn {
		t.Helper()
		return dialHostileBackend(t, logFile, func(m jsonrpc.Message) {
			if r, ok := m.(*jsonrpc.Request); ok && r.Method == "notifications/message" {
				notified.Add(1)
			}
		})
	}
	registered := func(c *Conn) int {
		c.raw.mu.Lock()
		defer c.raw.mu.Unlock()
		return len(c.raw.waiting)
	}
	call := func(c *Conn, name string, timeout time.Duration) (mcp.Result, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return c.CallTool(ctx, &mcp.CallToolParams{Name: name})
	}

	c := dialHostile()
	for _, name := range []string{"twice", "echo"} {
		if res, err := call(c, name, 20*time.Second); err != nil || !strings.Contains(string(res.(*RawToolResult).Raw), name) {
			t.Fatalf("%s: %v %v", name, res, err)
		}
	}
	// A plain answer goes to its caller without the SDK's reader (the
	// answerFilter takes it); one with a member too many goes through the
	// SDK's reader and reaches its caller from there. The filter takes an
	// answer only once the SDK's session has read every message before it
	// (here: the second answer of "twice"), so each call waits for that
	// first; under load the session could still be on it.
	for name, viaSDK := range map[string]uint64{"echo": 0, "extra": 1} {
		for deadline := time.Now().Add(10 * time.Second); c.raw.read.Load() != c.raw.taken.Load(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the SDK's session did not come back for the next message (%d taken, %d read)", c.raw.taken.Load(), c.raw.read.Load())
			}
		}
		before := c.raw.taken.Load()
		res, err := call(c, name, 20*time.Second)
		if b, _ := json.Marshal(res); err != nil || !strings.Contains(string(b), `"text":"`+name+`"`) {
			t.Fatalf("%s: %s %v", name, b, err)
		}
		if n := c.raw.taken.Load() - before; n != viaSDK {
			t.Errorf("%s: the SDK's reader read %d messages, want %d", name, n, viaSDK)
		}
	}
	// A message written before the answer is read before the caller has it.
	for range 20 {
		before := notified.Load()
		if _, err := call(c, "log-first", 20*time.Second); err != nil {
			t.Fatal(err)
		}
		if notified.Load() != before+1 {
			t.Fatal("the answer overtook the log message written before it")
		}
	}
	for _, name := range []string{"wrong-id", "never"} {
		if _, err := call(c, name, 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: %v, want the deadline", name, err)
		}
	}
	if n := registered(c); n != 0 {
		t.Fatalf("%d raw calls still registered", n)
	}
	// The backend was told of the calls given up.
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(logFile)
		if strings.Count(string(b), `"method":"notifications/cancelled"`) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the backend read:\n%s\nwant two notifications/cancelled", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A malformed content block is refused as the SDK's client refuses it.
	if res, err := call(c, "bad-block", 20*time.Second); err == nil {
		t.Fatalf("bad-block: %#v, want the decoding error", res)
	}
	if res, err := call(c, "echo", 20*time.Second); err != nil || res == nil {
		t.Fatalf("echo after the odd answers: %v", err)
	}
	c.Close()

	// The error says why the connection ended, as the SDK's client does.
	for name, why := range map[string]string{"garbage": "invalid character", "die": "exit status 3"} {
		c := dialHostile()
		start := time.Now()
		_, err := call(c, name, 20*time.Second)
		if !errors.Is(err, errConnClosed) || !strings.Contains(fmt.Sprint(err), why) || time.Since(start) > 10*time.Second {
			t.Fatalf("%s: %v after %v, want the connection's end (%s) at once", name, err, time.Since(start), why)
		}
		if n := registered(c); n != 0 {
			t.Fatalf("%s: %d raw calls still registered", name, n)
		}
		c.Close()
	}
}
