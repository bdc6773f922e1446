// Package attr builds the diagnostics of configuration attributes: each
// points at the attribute's value in the user's file (or at its block when
// the attribute is absent), and the typed checks (Duration, Count, OneOf)
// report a bad value there.
package attr

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Duration parses the optional duration attribute name into dst.
func Duration(body hcl.Body, name string, v *string, zeroOK bool, dst *time.Duration) hcl.Diagnostics {
	if v == nil {
		return nil
	}
	d, err := time.ParseDuration(*v)
	if err != nil {
		return hcl.Diagnostics{Error(body, name, "Invalid duration",
			fmt.Sprintf("%q is not a duration; use a number with a unit such as \"500ms\", \"30s\" or \"5m\".", *v))}
	}
	if d < 0 && zeroOK {
		return hcl.Diagnostics{Error(body, name, "Invalid duration",
			fmt.Sprintf("%s must not be negative; \"0s\" turns it off.", name))}
	}
	if d < 0 || (d == 0 && !zeroOK) {
		return hcl.Diagnostics{Error(body, name, "Invalid duration",
			fmt.Sprintf("%s must be greater than zero.", name))}
	}
	*dst = d
	return nil
}

// Count parses the optional integer attribute name into dst; it must be at
// least min.
func Count(body hcl.Body, name string, v *int, min int, dst *int) hcl.Diagnostics {
	if v == nil {
		return nil
	}
	if *v < min {
		return hcl.Diagnostics{Error(body, name, "Invalid limit",
			fmt.Sprintf("%s must be at least %d.", name, min))}
	}
	*dst = *v
	return nil
}

// OneOf reports v, the value of attribute name, unless it is one of
// allowed; what names the setting in the message ("log level").
func OneOf(body hcl.Body, name, v, what string, allowed []string) hcl.Diagnostics {
	if slices.Contains(allowed, v) {
		return nil
	}
	return hcl.Diagnostics{Error(body, name, "Unsupported "+what,
		fmt.Sprintf("%q is not a valid %s; use one of %s.", v, what, QuoteList(allowed)))}
}

// QuoteList quotes each of l and joins them with commas.
func QuoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// Has reports whether body sets the attribute name.
func Has(body hcl.Body, name string) bool {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return false
	}
	_, ok = sb.Attributes[name]
	return ok
}

// Error builds an error diagnostic whose subject is the value of the
// attribute name in body, or the block when the attribute is absent.
func Error(body hcl.Body, name, summary, detail string) *hcl.Diagnostic {
	return diag(hcl.DiagError, body, name, summary, detail)
}

// Warning is Error as a warning.
func Warning(body hcl.Body, name, summary, detail string) *hcl.Diagnostic {
	return diag(hcl.DiagWarning, body, name, summary, detail)
}

// diag is a diagnostic of severity sev about attribute name (see Error).
func diag(sev hcl.DiagnosticSeverity, body hcl.Body, name, summary, detail string) *hcl.Diagnostic {
	d := &hcl.Diagnostic{Severity: sev, Summary: summary, Detail: detail}
	if sb, ok := body.(*hclsyntax.Body); ok {
		if a, ok := sb.Attributes[name]; ok {
			d.Subject = a.Expr.Range().Ptr()
			d.Context = a.SrcRange.Ptr()
			return d
		}
	}
	d.Subject = body.MissingItemRange().Ptr()
	return d
}

// Duplicate is the error for a named block declared twice: what (e.g.
// "backend") named name was first declared at prev; more is appended to
// the sentence.
func Duplicate(summary, what, name, more string, prev, here hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary,
		Detail:  fmt.Sprintf("A %s named %q was already declared at %s%s.", what, name, prev, more),
		Subject: here.Ptr()}
}

// Range is the range of attribute name's value in body, or the block's
// when it is absent.
func Range(body hcl.Body, name string) hcl.Range {
	if sb, ok := body.(*hclsyntax.Body); ok {
		if a, ok := sb.Attributes[name]; ok {
			return a.Expr.Range()
		}
	}
	return body.MissingItemRange()
}
