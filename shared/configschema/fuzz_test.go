package configschema

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"google.golang.org/protobuf/proto"

	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

func marshal(f *testing.F, m proto.Message) []byte {
	f.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzPluginReplies feeds the decoders of what a plugin sends the host at
// start-up (its configuration schema, then the diagnostics of Configure)
// with arbitrary bytes, and a configuration block with arbitrary HCL: the
// host validates the schema, decodes the block against it and maps the
// diagnostics back onto it without panicking, whatever a plugin replies.
func FuzzPluginReplies(f *testing.F) {
	str := pluginv1.AttributeType_ATTRIBUTE_TYPE_STRING
	schema := &pluginv1.Schema{Attributes: []*pluginv1.Attribute{
		{Name: "file", Type: str, Required: true},
		{Name: "timeout", Type: pluginv1.AttributeType_ATTRIBUTE_TYPE_DURATION, DefaultJson: `"5s"`},
		{Name: "n", Type: pluginv1.AttributeType_ATTRIBUTE_TYPE_INTEGER, DefaultJson: `3`},
		{Name: "tags", Type: pluginv1.AttributeType_ATTRIBUTE_TYPE_LIST_OF_STRING, Sensitive: true},
		{Name: "headers", Type: pluginv1.AttributeType_ATTRIBUTE_TYPE_MAP_OF_STRING},
		{Name: "on", Type: pluginv1.AttributeType_ATTRIBUTE_TYPE_BOOL},
		{Name: "ratio", Type: pluginv1.AttributeType_ATTRIBUTE_TYPE_NUMBER},
	}}
	diags := &pluginv1.ConfigureResponse{Diagnostics: []*pluginv1.Diagnostic{
		{Severity: pluginv1.Severity_SEVERITY_ERROR, Summary: "bad", Attribute: "file"},
		{Severity: pluginv1.Severity_SEVERITY_WARNING, Summary: "odd", Attribute: "nope"},
	}}
	f.Add(marshal(f, schema), marshal(f, diags), []byte("file = \"a\"\ntags = [\"x\"]\nheaders = { a = \"b\" }\nn = 2\ntimeout = \"1s\"\n"))
	f.Add(marshal(f, schema), []byte(nil), []byte("n = 1.5\ntimeout = \"-1s\"\n"))
	f.Add(marshal(f, &pluginv1.Schema{Attributes: []*pluginv1.Attribute{{Name: "host", Type: str}, {Name: "x", Type: 99, DefaultJson: "{"}}}), []byte(nil), []byte(""))
	f.Fuzz(func(t *testing.T, schemaBytes, diagBytes, src []byte) {
		var s pluginv1.Schema
		if proto.Unmarshal(schemaBytes, &s) != nil {
			return
		}
		file, _ := hclsyntax.ParseConfig(src, "plugin.hcl", hcl.InitialPos)
		if file == nil {
			return
		}
		if Validate(&s) == nil {
			Decode(file.Body, &s, nil)
		}
		var resp pluginv1.ConfigureResponse
		if proto.Unmarshal(diagBytes, &resp) == nil {
			for _, d := range Diagnostics(file.Body, resp.GetDiagnostics()) {
				_ = d.Error()
			}
		}
	})
}
