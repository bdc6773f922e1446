package configload

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/config/configload/attr"
	"github.com/argusmcp/argus/shared"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

type auditBlock struct {
	Enabled        *bool          `hcl:"enabled,optional"`
	RecordRequests *bool          `hcl:"record_requests,optional"`
	LogEvents      *bool          `hcl:"log_events,optional"`
	File           *string        `hcl:"file,optional"`
	MaxSizeMB      *int           `hcl:"max_size_mb,optional"`
	BackupCount    *int           `hcl:"backup_count,optional"`
	Sinks          []*pluginBlock `hcl:"sink,block"`
	Body           hcl.Body       `hcl:",body"`
}

type telemetryBlock struct {
	Enabled     *bool          `hcl:"enabled,optional"`
	Prometheus  *bool          `hcl:"prometheus,optional"`
	ServiceName *string        `hcl:"service_name,optional"`
	Exporters   []*pluginBlock `hcl:"exporter,block"`
	Body        hcl.Body       `hcl:",body"`
}

// pluginBlock is `<kind> "<plugin>" "<instance>" { host { ... } ... }`; the
// remaining body belongs to the plugin.
type pluginBlock struct {
	Plugin    string           `hcl:"plugin,label"`
	Name      string           `hcl:"name,label"`
	Host      *pluginHostBlock `hcl:"host,block"`
	Remain    hcl.Body         `hcl:",remain"`
	DeclRange hcl.Range        `hcl:",def_range"`
}

// pluginHostBlock holds the host's settings of an instance, in a nested
// block so that no plugin attribute can shadow them.
type pluginHostBlock struct {
	SHA256    *string  `hcl:"sha256,optional"`
	Required  *bool    `hcl:"required,optional"`
	QueueSize *int     `hcl:"queue_size,optional"`
	OnFull    *string  `hcl:"on_full,optional"`
	AckBefore *bool    `hcl:"ack_before_reply,optional"`
	Body      hcl.Body `hcl:",body"`
}

var sha256RE = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

func (raw *fileSchema) buildPlugins(cfg *config.Config, ctx *hcl.EvalContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	cfg.Audit = config.Audit{Enabled: true, File: config.DefaultAuditFile, MaxSizeMB: config.DefaultAuditMaxSizeMB, BackupCount: config.DefaultAuditBackupCount}
	if a := raw.Audit; a != nil {
		if a.Enabled != nil {
			cfg.Audit.Enabled = *a.Enabled
		}
		if a.RecordRequests != nil {
			cfg.Audit.RecordRequests = *a.RecordRequests
		}
		if a.LogEvents != nil {
			cfg.Audit.LogEvents = *a.LogEvents
		}
		if a.File != nil {
			cfg.Audit.File = *a.File
			if strings.TrimSpace(*a.File) == "" {
				diags = append(diags, attr.Error(a.Body, "file", "Empty audit file", "file must name the audit log file."))
			}
		}
		for _, n := range []struct {
			name string
			v    *int
			dst  *int
		}{{"max_size_mb", a.MaxSizeMB, &cfg.Audit.MaxSizeMB}, {"backup_count", a.BackupCount, &cfg.Audit.BackupCount}} {
			if n.v == nil {
				continue
			}
			*n.dst = *n.v
			if *n.v < 0 {
				diags = append(diags, attr.Error(a.Body, n.name, "Invalid "+n.name, n.name+" must be zero or more (0 disables rotation)."))
			}
		}
		cfg.Audit.Sinks, diags = appendInstances(diags, shared.KindAuditSink, a.Sinks)
		diags = append(diags, sharedJSONLFiles(cfg.Audit.Sinks, ctx)...)
	}
	if t := raw.Telemetry; t != nil {
		if t.Enabled != nil {
			cfg.Telemetry.Enabled = *t.Enabled
		}
		if t.ServiceName != nil {
			cfg.Telemetry.ServiceName = *t.ServiceName
		}
		if t.Prometheus != nil {
			cfg.Telemetry.Prometheus = *t.Prometheus
		}
		cfg.Telemetry.Exporters, diags = appendInstances(diags, shared.KindTelemetryExporter, t.Exporters)
	}
	if h := raw.Health; h != nil {
		cfg.Health.Probes, diags = appendInstances(diags, shared.KindHealthProbe, h.Probes)
	}
	addDefaultInstances(cfg, raw.Audit)
	return diags
}

// sharedJSONLFiles refuses two jsonl sinks on one file: the second would
// wait for the first's lock at start-up and then fail. Paths are compared
// the way the plugin opens them, relative to the working directory.
func sharedJSONLFiles(sinks []config.PluginInstance, ctx *hcl.EvalContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	seen := map[string]config.PluginInstance{}
	for _, in := range sinks {
		if in.Plugin != "jsonl" {
			continue
		}
		file := jsonlDefaultFile
		if sb, ok := in.Body.(*hclsyntax.Body); ok {
			if attr, ok := sb.Attributes["file"]; ok {
				v, d := attr.Expr.Value(ctx)
				if d.HasErrors() || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
					continue // the plugin's schema reports it
				}
				file = v.AsString()
			}
		}
		abs, err := filepath.Abs(file)
		if err != nil {
			continue
		}
		if prev, ok := seen[abs]; ok {
			diags = append(diags, attr.Error(in.Body, "file", "Audit file used twice",
				fmt.Sprintf("Sink %q %q would write the file of sink %q %q (declared at %s); give each jsonl sink a file of its own (the second could never take the first's lock).",
					in.Plugin, in.Name, prev.Plugin, prev.Name, prev.DeclRange)))
			continue
		}
		seen[abs] = in
	}
	return diags
}

// jsonlDefaultFile is the jsonl plugin's default file, relative to the
// working directory.
const jsonlDefaultFile = "logs/audit.jsonl"

// addDefaultInstances fills in the built-in plugins a block stands for
// when it names none: the jsonl sink with the audit block's seed keys, the
// otlp exporter (configured by OTEL_EXPORTER_OTLP_*), the ping probe.
//
// The default sink's body is built from values, not from HCL text, so any
// file name works, and its attributes point at the audit block's own
// attributes for diagnostics.
func addDefaultInstances(cfg *config.Config, audit *auditBlock) {
	if cfg.Audit.Enabled && len(cfg.Audit.Sinks) == 0 {
		file := cfg.Audit.File
		if !filepath.IsAbs(file) && !strings.HasPrefix(cfg.Filename, "<") {
			file = filepath.Join(filepath.Dir(cfg.Filename), file)
		}
		var body hcl.Body
		if audit != nil {
			body = audit.Body
		}
		in := defaultInstance(shared.KindAuditSink, "jsonl", body, []literal{
			{"file", cty.StringVal(file)},
			{"max_size_mb", cty.NumberIntVal(int64(cfg.Audit.MaxSizeMB))},
			{"backup_count", cty.NumberIntVal(int64(cfg.Audit.BackupCount))},
		})
		cfg.Audit.Sinks = append(cfg.Audit.Sinks, in)
	}
	// With Prometheus scraping and no exporter block, nothing is pushed.
	if cfg.Telemetry.Enabled && len(cfg.Telemetry.Exporters) == 0 && !cfg.Telemetry.Prometheus {
		cfg.Telemetry.Exporters = append(cfg.Telemetry.Exporters, defaultInstance(shared.KindTelemetryExporter, "otlp", nil, nil))
	}
	if len(cfg.Health.Probes) == 0 {
		cfg.Health.Probes = append(cfg.Health.Probes, defaultInstance(shared.KindHealthProbe, "ping", nil, nil))
	}
}

// literal is one attribute of a default instance's body.
type literal struct {
	name string
	val  cty.Value
}

// defaultInstance builds a default plugin instance whose body holds attrs.
// Each attribute's range is that of the attribute of the same name in
// from (the block whose settings it carries), else from's range, else a
// placeholder naming the instance.
func defaultInstance(kind pluginv1.Kind, plugin string, from hcl.Body, attrs []literal) config.PluginInstance {
	name := fmt.Sprintf("<default %s %q %q>", shared.KindBlock(kind), plugin, config.DefaultInstance)
	decl := hcl.Range{Filename: name, Start: hcl.InitialPos, End: hcl.InitialPos}
	src, _ := from.(*hclsyntax.Body)
	if src != nil {
		decl = src.SrcRange
	}
	body := &hclsyntax.Body{Attributes: hclsyntax.Attributes{}, SrcRange: decl, EndRange: decl}
	for _, a := range attrs {
		rng := decl
		if src != nil {
			if at, ok := src.Attributes[a.name]; ok {
				rng = at.Expr.Range()
			}
		}
		body.Attributes[a.name] = &hclsyntax.Attribute{Name: a.name, Expr: &hclsyntax.LiteralValueExpr{Val: a.val, SrcRange: rng},
			SrcRange: rng, NameRange: rng, EqualsRange: rng}
	}
	return config.PluginInstance{Kind: kind, Plugin: plugin, Name: config.DefaultInstance, Body: body, QueueSize: config.DefaultQueueSize, OnFull: "block",
		DeclRange: decl}
}

// appendInstances checks the plugin blocks of one kind.
func appendInstances(diags hcl.Diagnostics, kind pluginv1.Kind, blocks []*pluginBlock) ([]config.PluginInstance, hcl.Diagnostics) {
	block := shared.KindBlock(kind)
	var out []config.PluginInstance
	seen := map[string]*pluginBlock{}
	for _, b := range blocks {
		for _, l := range []struct{ what, v string }{{"plugin", b.Plugin}, {"instance", b.Name}} {
			if !backendNameRE.MatchString(l.v) {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + l.what + " name",
					Detail:  fmt.Sprintf("The %s name %q must start with a letter and contain only letters, digits, '_' and '-'.", l.what, l.v),
					Subject: b.DeclRange.Ptr()})
			}
		}
		if prev := seen[b.Name]; prev != nil {
			diags = append(diags, attr.Duplicate("Duplicate "+block+" instance", block, b.Name, "; instance names must be unique per block type", prev.DeclRange, b.DeclRange))
			continue
		}
		seen[b.Name] = b
		in := config.PluginInstance{Kind: kind, Plugin: b.Plugin, Name: b.Name, Body: b.Remain, DeclRange: b.DeclRange,
			QueueSize: config.DefaultQueueSize, OnFull: "block"}
		if h := b.Host; h != nil {
			if h.QueueSize != nil {
				in.QueueSize = *h.QueueSize
				if *h.QueueSize < 1 {
					diags = append(diags, attr.Error(h.Body, "queue_size", "Invalid queue size", "queue_size must be at least 1."))
				}
			}
			if h.OnFull != nil {
				in.OnFull = *h.OnFull
				diags = append(diags, attr.OneOf(h.Body, "on_full", *h.OnFull, "full-queue policy", []string{"block", "drop"})...)
			}
			if (h.QueueSize != nil || h.OnFull != nil) && kind != shared.KindAuditSink {
				diags = append(diags, attr.Error(h.Body, "queue_size", "Setting only for audit sinks",
					"queue_size and on_full apply to audit sink instances only."))
			}
			if h.AckBefore != nil {
				in.AckBeforeReply = *h.AckBefore
				if kind != shared.KindAuditSink {
					diags = append(diags, attr.Error(h.Body, "ack_before_reply", "Setting only for audit sinks",
						fmt.Sprintf("ack_before_reply means: answer an audited call only once this sink has its event. It has no meaning in a %s block.", block)))
				}
			}
			if h.Required != nil {
				in.Required = *h.Required
				if kind != shared.KindAuditSink {
					diags = append(diags, attr.Error(h.Body, "required", "Setting only for audit sinks",
						fmt.Sprintf("required means: refuse audited calls while this sink cannot record them. It has no meaning in a %s block.", block)))
				}
			}
			if h.SHA256 != nil {
				in.SHA256 = strings.ToLower(*h.SHA256)
				if !sha256RE.MatchString(*h.SHA256) {
					diags = append(diags, attr.Error(h.Body, "sha256", "Invalid sha256 pin",
						fmt.Sprintf("%q is not a SHA-256 digest; give the 64 hexadecimal digits `sha256sum` prints for the plugin's executable.", *h.SHA256)))
				}
			}
		}
		out = append(out, in)
	}
	return out, diags
}
