package jsonl

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/argusmcp/argus/sdk"
	"github.com/argusmcp/argus/sdk/sdktest"
)

// BenchmarkWrite measures the sink's Write throughput in batches of 256
// events (the host's batch size) per fsync mode and rotation, without the
// plugin protocol (BenchmarkWriteGRPC has it).
func BenchmarkWrite(b *testing.B) {
	for _, bc := range []struct {
		name string
		edit func(*config)
	}{
		{"fsync=never", func(c *config) { c.Fsync = fsyncNever }},
		{"fsync=interval", func(c *config) { c.Fsync = fsyncInterval }},
		{"fsync=always", func(c *config) { c.Fsync = fsyncAlways }},
		{"fsync=interval,rotate=1MiB", func(c *config) { c.Fsync, c.MaxBytes = fsyncInterval, 1<<20 }},
		{"fsync=interval,timestamp", func(c *config) { c.Fsync, c.Rotation, c.MaxSizeMB = fsyncInterval, rotationTimestamp, 1 }},
		{"fsync=interval,hmac", func(c *config) { c.Fsync, c.Key = fsyncInterval, []byte("0123456789abcdef0123456789abcdef") }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := testConfig(b.TempDir())
			bc.edit(&c)
			s, err := open(c, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(context.Background())
			benchWrite(b, func(events []sdk.Event) error { return s.Write(context.Background(), events) })
		})
	}
}

// BenchmarkWriteGRPC measures the same through the plugin protocol
// (in-process gRPC, as sdktest serves the plugin).
func BenchmarkWriteGRPC(b *testing.B) {
	file := testConfig(b.TempDir()).File
	s := sdktest.Start(b, Plugin()).Sink(fmt.Sprintf("file = %q\nfsync = \"interval\"", file))
	benchWrite(b, func(events []sdk.Event) error {
		_, err := s.Write(context.Background(), events...)
		return err
	})
}

// benchWrite writes batches of 256 new events until b is done and reports
// events/s.
func benchWrite(b *testing.B, write func([]sdk.Event) error) {
	const batch = 256
	tmpl := sdktest.AuditEvents(1, batch)
	events := make([]sdk.Event, batch)
	var seq uint64
	for b.Loop() {
		for i := range events {
			seq++
			events[i] = sdk.Event{Seq: seq, JSON: tmpl[i].JSON}
		}
		if err := write(events); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(seq)/b.Elapsed().Seconds(), "events/s")
}
