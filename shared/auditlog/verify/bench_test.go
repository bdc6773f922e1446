package verify

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/argusmcp/argus/shared/auditlog"
)

// BenchmarkVerify verifies an unkeyed trail of about 1 GiB
// ($ARGUS_AUDIT_BENCH_MB MiB) in 100 MiB files, generated in the
// benchmark's temporary directory, and reports MB/s and records/s.
func BenchmarkVerify(b *testing.B) {
	mb := 1024
	if s := os.Getenv("ARGUS_AUDIT_BENCH_MB"); s != "" {
		mb, _ = strconv.Atoi(s)
	}
	dir := b.TempDir()
	files, records, size := benchTrail(b, dir, int64(mb)<<20)
	b.SetBytes(size)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		rep, err := Verify(files, Options{FindHeads: true})
		if err != nil || !rep.OK() || rep.Chains[0].Records != records {
			b.Fatalf("%+v, %v", rep, err)
		}
	}
	b.ReportMetric(float64(records)*float64(b.N)/time.Since(start).Seconds(), "records/s")
}

// benchTrail writes a trail of gateway-like records (about 700 bytes
// each) into numbered 100 MiB files.
func benchTrail(b *testing.B, dir string, total int64) ([]string, int, int64) {
	c := auditlog.NewChain(nil)
	c.SetID(auditlog.NewChainID())
	base := filepath.Join(dir, "audit.jsonl")
	var paths []string
	var size int64
	records := 0
	for size < total {
		path := fmt.Sprintf("%s.%d", base, 1000+len(paths))
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		var n int64
		for n < 100<<20 && size+n < total {
			records++
			ev := fmt.Appendf(nil, `{"timestamp":"2026-02-23T12:34:56.%06d+00:00","event_type":"mcp_operation","event_id":"a1b2c3d4-e5f6-4890-abcd-%012d","source":{"session_id":"ZB3QJ5K2M7N8P9Q0R1S2T3U4V5W6X7Y8","client_ip":"127.0.0.1","user_id":"alice"},"target":{"backend":"demo","method":"call_tool","capability_name":"demo_search","original_name":"search"},"outcome":{"status":"success","latency_ms":%d.5,"error":null,"error_type":null},"metadata":{"request_id":"0d4c9e1f-2a3b-4c5d-8e6f-%012d","jsonrpc_id":%d,"transport":"streamable-http","protocol_version":"2025-11-25","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","note":"line \"%d\"\nnext"}}`,
				records%1000000, records, records%97, records, records, records)
			line, err := c.Seal(ev, "7f3c9a2e-1b4d-4c8e-9f6a-2d5e8b1c0a94", uint64(records))
			if err != nil {
				b.Fatal(err)
			}
			w.Write(line)
			n += int64(len(line))
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		size += n
		paths = append(paths, path)
	}
	if err := auditlog.WriteHead(base+auditlog.HeadSuffix, auditlog.Head{Chain: c.ID(), Seq: c.Seq(), Hash: c.Head(), Time: time.Now()}, nil, false); err != nil {
		b.Fatal(err)
	}
	return paths, records, size
}
