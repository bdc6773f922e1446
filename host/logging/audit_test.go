package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestAuditMirrorBypassesLevelAndRedacts(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		secrets := NewSecrets("s3cret-token-value")
		opts := Options{Level: "off", Format: format, Output: &buf}
		log, err := New(opts, secrets)
		if err != nil {
			t.Fatal(err)
		}
		log.Error("this is silenced by level off")
		AuditMirror(opts, secrets)([]byte(`{"event_type":"mcp_operation","note":"s3cret-token-value"}`))
		out := buf.String()
		if strings.Contains(out, "silenced") {
			t.Errorf("%s: level off let a log line through", format)
		}
		if strings.Contains(out, "s3cret-token-value") || !strings.Contains(out, "[REDACTED]") {
			t.Errorf("%s: audit mirror not redacted: %s", format, out)
		}
		if format == "text" && !strings.Contains(out, "[AUDIT] argus.audit") {
			t.Errorf("text line: %s", out)
		}
		if format == "json" {
			var line map[string]any
			if err := json.Unmarshal([]byte(out), &line); err != nil || line["@level"] != "audit" || line["@level_value"] != float64(AuditLevel) {
				t.Errorf("json line %s (%v)", out, err)
			}
		}
	}
}
