// Package secretscan finds the secret values of an Argus configuration
// before it is decoded, so that even the diagnostics of a file that fails
// to parse or decode can be redacted: the process environment's (Environment),
// the values of secret attributes and of env() and file() calls in a
// parsed body (Body), and the literals of secret attributes in a file that
// does not parse (Source).
package secretscan

import (
	"net/url"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/argusmcp/argus/host/config"
)

// otelHeaderVars are the environment variables whose values the otlp
// exporter sends as request headers: secrets, like backend headers.
var otelHeaderVars = []string{
	"OTEL_EXPORTER_OTLP_HEADERS",
	"OTEL_EXPORTER_OTLP_TRACES_HEADERS",
	"OTEL_EXPORTER_OTLP_METRICS_HEADERS",
	"OTEL_EXPORTER_OTLP_LOGS_HEADERS",
}

// Environment returns the secrets the process environment holds
// for Argus and its built-in plugins: $ARGUS_MGMT_TOKEN and the OTLP
// header variables (each whole value, each entry and each header value,
// raw and URL-decoded, so a malformed list is covered too).
func Environment() []string {
	var out []string
	if v, ok := os.LookupEnv(config.ManagementTokenEnv); ok {
		out = append(out, v)
	}
	for _, name := range otelHeaderVars {
		raw, ok := os.LookupEnv(name)
		if !ok {
			continue
		}
		out = append(out, raw)
		for _, kv := range strings.Split(raw, ",") {
			out = append(out, kv)
			if _, v, ok := strings.Cut(kv, "="); ok {
				out = append(out, v)
				if u, err := url.QueryUnescape(strings.TrimSpace(v)); err == nil {
					out = append(out, u)
				}
			}
		}
	}
	return out
}

// secretAttrs are the attributes whose values are secrets, by block path
// (block types joined by "/", then the attribute).
var secretAttrs = map[string]bool{
	"auth/token/value": true,
	"management/token": true,
	"backend/headers":  true,
}

// Body evaluates every attribute of body, however broken the rest
// of the file is, so that env() and file() record what they resolve, and
// reports the values of the secret attributes (literals included) to add.
// Diagnostics are ignored: decoding reports them. This runs before
// decoding so that diagnostics of a file that fails to parse or decode can
// still be redacted.
func Body(body hcl.Body, ctx *hcl.EvalContext, add func(...string)) {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return
	}
	var walk func(b *hclsyntax.Body, path string)
	walk = func(b *hclsyntax.Body, path string) {
		for name, attr := range b.Attributes {
			v, _ := attr.Expr.Value(ctx)
			if secretAttrs[path+name] {
				for _, s := range stringsIn(v) {
					add(s)
					if _, cred, ok := strings.Cut(strings.TrimSpace(s), " "); ok {
						add(strings.TrimSpace(cred)) // "Bearer <token>"
					}
				}
			}
		}
		for _, blk := range b.Blocks {
			walk(blk.Body, path+blk.Type+"/")
		}
	}
	walk(sb, "")
}

// Source reports the string literals assigned to an attribute named
// like a secret attribute ("value", "token"), found token by token: for a
// file that does not parse, whose broken lines the syntax tree lacks.
func Source(src []byte, filename string, add func(...string)) {
	toks, _ := hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	for i := 0; i+3 < len(toks); i++ {
		name := string(toks[i].Bytes)
		if toks[i].Type != hclsyntax.TokenIdent || (name != "value" && name != "token") ||
			toks[i+1].Type != hclsyntax.TokenEqual || toks[i+2].Type != hclsyntax.TokenOQuote {
			continue
		}
		for j := i + 3; j < len(toks) && toks[j].Type == hclsyntax.TokenQuotedLit; j++ {
			add(string(toks[j].Bytes))
		}
	}
}

// stringsIn returns the known strings in v: v itself, or the elements of a
// collection or object, recursively.
func stringsIn(v cty.Value) []string {
	if v.IsNull() || !v.IsWhollyKnown() {
		return nil
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return []string{v.AsString()}
	case ty.IsCollectionType() || ty.IsObjectType() || ty.IsTupleType():
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, stringsIn(e)...)
		}
		return out
	}
	return nil
}
