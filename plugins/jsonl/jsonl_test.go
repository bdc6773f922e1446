package jsonl_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/argusmcp/argus/plugins/jsonl"
	"github.com/argusmcp/argus/sdk/sdktest"
	"github.com/argusmcp/argus/shared/auditlog"
	auditverify "github.com/argusmcp/argus/shared/auditlog/verify"
)

func TestConformance(t *testing.T) {
	for _, cfg := range []string{
		`fsync = "interval"`,
		`fsync = "always"`,
		`fsync = "never"`,
		`fsync = "interval"` + "\n" + `fsync_interval = "10ms"` + "\n" + `max_size_mb = 0.001`,
		`rotation = "timestamp"` + "\n" + `max_size_mb = 1` + "\n" + `compress = true`,
		`hmac_key = "0123456789abcdef0123456789abcdef"`,
	} {
		t.Run(strings.ReplaceAll(cfg, "\n", ","), func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "logs", "audit.jsonl")
			sdktest.SinkConformance(t, jsonl.Plugin(), fmt.Sprintf("file = %q\n%s", file, cfg))
			var key []byte
			if strings.Contains(cfg, "hmac_key") {
				key = []byte("0123456789abcdef0123456789abcdef")
			}
			files, err := auditlog.Files(file)
			if err != nil {
				t.Fatal(err)
			}
			// Every subtest wrote to the same file: one chain, and the
			// replays skipped.
			if rep, err := auditverify.Verify(files, auditverify.Options{Key: key}); err != nil || !rep.OK() || len(rep.Chains) != 1 || rep.Chains[0].LastSeq != 30 {
				t.Fatalf("verify: %v, %v", rep, err)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		config, want string
	}{
		{``, ""},
		{`max_size_mb = 0.5` + "\n" + `backup_count = 0`, ""},
		{`rotation = "timestamp"` + "\n" + `max_age_days = 30` + "\n" + `compress = true` + "\n" + `backup_count = 0`, ""},
		{`file = ""`, "path must not be empty"},
		{`file = "logs/"`, "names a directory"},
		{`max_size_mb = -1`, "-1 is negative; use 0 to disable rotation"},
		{`max_size_mb = 2000000`, "is more than 1048576 MiB"},
		{`max_size_mb = 1e-9`, "less than one byte"},
		{`backup_count = -2`, "-2 is not a number of backups"},
		{`backup_count = 1.5`, "1.5 is not a whole number"},
		{`fsync = "sometimes"`, `"sometimes" is not a mode; use "always", "interval" or "never"`},
		{`fsync_interval = "0s"`, "Invalid fsync_interval"},
		{`fsync_interval = "soon"`, "duration"},
		{`rotation = "daily"`, `"daily" is not a rotation mode`},
		{`compress = true`, `compress applies only to rotation = "timestamp"`},
		{`max_age_days = 7`, `max_age_days applies only to rotation = "timestamp"`},
		{`max_age_days = -1` + "\n" + `rotation = "timestamp"`, "-1 is not a number of days"},
		{`rotation = "timestamp"` + "\n" + `max_size_mb = 0.5`, "must be a whole number of at least 1"},
		{`rotation = "timestamp"` + "\n" + `max_size_mb = 0`, "must be a whole number of at least 1"},
		{`hmac_key = "short"`, "key is 5 bytes long; use at least 16"},
		{`hmac_key = "   "`, "is 0 bytes long"},
		{`unknown = 1`, "Unsupported argument"},
	} {
		t.Run(tc.config, func(t *testing.T) {
			h := sdktest.Start(t, jsonl.Plugin())
			out := h.Configure(sdktest.KindAuditSink, tc.config, sdktest.ConfigureOptions{DryRun: true})
			if tc.want == "" && out != "" || !strings.Contains(out, tc.want) {
				t.Fatalf("diagnostics:\n%s\nwant %q", out, tc.want)
			}
		})
	}
}

// TestRestartDedupe drives the plugin over gRPC as the host does: write,
// restart the plugin, replay overlapping batches; then a new delivery
// stream. Each event lands once and the chain verifies. (Crashes, where
// nothing is flushed, are in the package's own tests.)
func TestRestartDedupe(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	config := fmt.Sprintf("file = %q\nmax_size_mb = 0.01\nbackup_count = 50", file)
	var h *sdktest.Harness
	sink := func() *sdktest.SinkClient {
		if h != nil {
			h.Shutdown()
		}
		h = sdktest.Start(t, jsonl.Plugin())
		s := h.Sink(config)
		s.Stream = "stream-A"
		return s
	}
	s := sink()
	if _, err := s.Write(ctx, sdktest.AuditEvents(1, 40)...); err != nil {
		t.Fatal(err)
	}
	for _, replay := range [][2]int{{20, 60}, {1, 80}, {75, 100}} {
		s = sink()
		if _, err := s.Write(ctx, sdktest.AuditEvents(uint64(replay[0]), replay[1]-replay[0]+1)...); err != nil {
			t.Fatal(err)
		}
	}
	if ack, err := s.Flush(ctx); err != nil || ack != 100 {
		t.Fatalf("Flush = %d, %v", ack, err)
	}
	s = sink()
	s.Stream = "stream-B" // Argus restarted: a new stream numbered from 1
	if _, err := s.Write(ctx, sdktest.AuditEvents(1, 10)...); err != nil {
		t.Fatal(err)
	}
	s.Close(ctx)

	files, _ := auditlog.Files(file)
	rep, err := auditverify.Verify(files, auditverify.Options{})
	if err != nil || !rep.OK() || len(rep.Chains) != 1 || !rep.Chains[0].Genesis || rep.Chains[0].Records != 110 || len(files) < 5 {
		t.Fatalf("verify %d files: %v, %v", len(files), rep, err)
	}
	var got []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			rec, err := auditlog.Parse([]byte(line))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, rec.Delivery.Stream+"/"+strconv.FormatUint(rec.Delivery.Seq, 10))
		}
	}
	for i, g := range got {
		want := fmt.Sprintf("stream-A/%d", i+1)
		if i >= 100 {
			want = fmt.Sprintf("stream-B/%d", i-99)
		}
		if g != want {
			t.Fatalf("record %d is %s, want %s", i, g, want)
		}
	}
}
