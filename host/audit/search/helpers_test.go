package search_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argusmcp/argus/internal/testbin"
	"github.com/argusmcp/argus/plugins/jsonl"
	"github.com/argusmcp/argus/sdk"
	"github.com/argusmcp/argus/sdk/sdktest"
	"github.com/argusmcp/argus/shared/auditlog"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// ev is the model of one audit event a test writes: what the query is
// expected to find, independently of how the command reads it.
type ev struct {
	id         string
	time       time.Time
	user       string
	backend    string
	capability string
	status     string // success or error
	errorType  string // with status error
	latency    float64
}

// events returns n events, one every step from t0, numbered from first,
// cycling through users, backends and outcomes; pad bytes of padding in
// metadata (to make files rotate sooner).
func events(prefix string, first, n int, t0 time.Time, step time.Duration) []ev {
	users := []string{"alice", "bob", "carol"}
	backends := []string{"github", "demo"}
	outcomes := [][2]string{{"success", ""}, {"error", "denied"}, {"success", ""}, {"error", "timeout"}, {"error", "rate_limited"}}
	out := make([]ev, n)
	for i := range out {
		k := first + i
		b := backends[k%len(backends)]
		o := outcomes[k%len(outcomes)]
		out[i] = ev{id: fmt.Sprintf("%s-%05d", prefix, k), time: t0.Add(time.Duration(i) * step),
			user: users[k%len(users)], backend: b, capability: b + "__tool" + fmt.Sprint(k%4),
			status: o[0], errorType: o[1], latency: float64(k%97) + 0.25}
	}
	return out
}

// sdkEvents encodes the model in the documented audit event format, with
// sequence numbers from seq.
func sdkEvents(evs []ev, seq uint64, pad int) []sdk.Event {
	out := make([]sdk.Event, len(evs))
	for i, e := range evs {
		var errType, errMsg any
		if e.errorType != "" {
			errType, errMsg = e.errorType, "failed: "+e.errorType
		}
		m := map[string]any{
			"timestamp":  e.time.UTC().Format("2006-01-02T15:04:05.000000+00:00"),
			"event_type": "mcp_operation",
			"event_id":   e.id,
			"source":     map[string]any{"session_id": "s1", "client_ip": "127.0.0.1", "user_id": e.user},
			"target":     map[string]any{"backend": e.backend, "method": "call_tool", "capability_name": e.capability, "original_name": "tool"},
			"outcome":    map[string]any{"status": e.status, "latency_ms": e.latency, "error": errMsg, "error_type": errType},
			"metadata":   map[string]any{"pad": strings.Repeat("p", pad)},
		}
		b, _ := json.Marshal(m)
		out[i] = sdk.Event{Seq: seq + uint64(i), JSON: b}
	}
	return out
}

// sink starts the real jsonl sink plugin on base with extra configuration
// (rotation settings).
func sink(t *testing.T, base, extra string) *sdktest.SinkClient {
	t.Helper()
	return sdktest.Start(t, jsonl.Plugin()).Sink(fmt.Sprintf("file = %q\n%s", base, extra))
}

// write sends evs (sequence numbers from seq) in batches of 64.
func write(t *testing.T, s *sdktest.SinkClient, evs []ev, seq uint64, pad int) {
	t.Helper()
	all := sdkEvents(evs, seq, pad)
	for i := 0; i < len(all); i += 64 {
		if _, err := s.Write(context.Background(), all[i:min(i+64, len(all))]...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// writeTrail writes evs to base through the jsonl sink and closes it; it
// fails the test unless the trail ends up with at least minFiles files
// (rotation happened).
func writeTrail(t *testing.T, base, extra string, evs []ev, pad, minFiles int) []string {
	t.Helper()
	s := sink(t, base, extra)
	write(t, s, evs, 1, pad)
	if _, err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	files := waitFiles(t, base, func(files []string) bool {
		return len(files) >= minFiles && !compressing(files)
	})
	return files
}

// compressing reports whether lumberjack still has a plain timestamped
// backup to gzip.
func compressing(files []string) bool {
	for _, f := range files {
		if strings.Contains(filepath.Base(f), "-20") && !strings.HasSuffix(f, ".gz") {
			return true
		}
	}
	return false
}

// waitFiles polls base's files until ok accepts them.
func waitFiles(t *testing.T, base string, ok func([]string) bool) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		files, _ := auditlog.Files(base)
		if ok(files) {
			return files
		}
		if time.Now().After(deadline) {
			t.Fatalf("files of %s: %v", base, files)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ids reads the event ids of JSON lines, in order.
func ids(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var e struct {
			ID string `json:"event_id"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		got = append(got, e.ID)
	}
	return got
}

// fileLines reads every line of the files, by event id.
func fileLines(t *testing.T, files ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range files {
		rc, err := auditlog.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
			var e struct {
				ID string `json:"event_id"`
			}
			if json.Unmarshal(line, &e) == nil {
				out[e.ID] = string(line)
			}
		}
	}
	return out
}
