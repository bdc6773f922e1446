// Package configschema turns the configuration schema a plugin declares
// (pluginv1.Schema) into an hcldec specification, decodes a configuration
// block's body against it, and encodes the result as the JSON object the
// plugin receives in Configure.
//
// The host decodes user configuration with it, and sdk/sdktest decodes the
// HCL of plugin tests with it, so a plugin's tests see exactly what the host
// would send.
package configschema

import (
	"cmp"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// Reserved is the name of the nested block that holds the host's own
// settings of a plugin instance; no plugin attribute may use it.
const Reserved = "host"

// ctyType maps an attribute type to the HCL type it is decoded as.
func ctyType(t pluginv1.AttributeType) (cty.Type, bool) {
	switch t {
	case pluginv1.AttributeType_ATTRIBUTE_TYPE_STRING, pluginv1.AttributeType_ATTRIBUTE_TYPE_DURATION:
		return cty.String, true
	case pluginv1.AttributeType_ATTRIBUTE_TYPE_NUMBER, pluginv1.AttributeType_ATTRIBUTE_TYPE_INTEGER:
		return cty.Number, true
	case pluginv1.AttributeType_ATTRIBUTE_TYPE_BOOL:
		return cty.Bool, true
	case pluginv1.AttributeType_ATTRIBUTE_TYPE_LIST_OF_STRING:
		return cty.List(cty.String), true
	case pluginv1.AttributeType_ATTRIBUTE_TYPE_MAP_OF_STRING:
		return cty.Map(cty.String), true
	}
	return cty.NilType, false
}

// sdkTypeNames are the names the plugin SDK gives attribute types.
var sdkTypeNames = map[pluginv1.AttributeType]string{
	pluginv1.AttributeType_ATTRIBUTE_TYPE_STRING:         "String",
	pluginv1.AttributeType_ATTRIBUTE_TYPE_NUMBER:         "Number",
	pluginv1.AttributeType_ATTRIBUTE_TYPE_INTEGER:        "Int",
	pluginv1.AttributeType_ATTRIBUTE_TYPE_BOOL:           "Bool",
	pluginv1.AttributeType_ATTRIBUTE_TYPE_DURATION:       "Duration",
	pluginv1.AttributeType_ATTRIBUTE_TYPE_LIST_OF_STRING: "Strings",
	pluginv1.AttributeType_ATTRIBUTE_TYPE_MAP_OF_STRING:  "StringMap",
}

// SDKTypeName is the plugin SDK's name for attribute type t: the
// sdk.Schema method that declares it ("String", "Int", "Strings", …), or
// the type's protocol name for a type the SDK does not know.
func SDKTypeName(t pluginv1.AttributeType) string {
	if n, ok := sdkTypeNames[t]; ok {
		return n
	}
	return t.String()
}

// Validate reports everything wrong with a schema: invalid or duplicate
// names, the reserved name, unknown types, defaults that do not fit their
// type, required attributes with a default. A nil schema is empty.
func Validate(s *pluginv1.Schema) error {
	var errs []error
	seen := map[string]bool{}
	for _, a := range s.GetAttributes() {
		name := a.GetName()
		switch {
		case !hclsyntax.ValidIdentifier(name):
			errs = append(errs, fmt.Errorf("attribute %q: not a valid HCL identifier", name))
		case name == Reserved:
			errs = append(errs, fmt.Errorf("attribute %q: the name is reserved for the host's settings", name))
		case seen[name]:
			errs = append(errs, fmt.Errorf("attribute %q: declared twice", name))
		}
		seen[name] = true
		if _, ok := ctyType(a.GetType()); !ok {
			errs = append(errs, fmt.Errorf("attribute %q: unsupported type %v", name, a.GetType()))
			continue
		}
		if a.GetDefaultJson() == "" {
			continue
		}
		if a.GetRequired() {
			errs = append(errs, fmt.Errorf("attribute %q: a required attribute cannot have a default", name))
		}
		if _, err := defaultValue(a); err != nil {
			errs = append(errs, fmt.Errorf("attribute %q: default %s: %v", name, a.GetDefaultJson(), err))
		}
	}
	return errors.Join(errs...)
}

func defaultValue(a *pluginv1.Attribute) (cty.Value, error) {
	ty, _ := ctyType(a.GetType())
	v, err := ctyjson.Unmarshal([]byte(a.GetDefaultJson()), ty)
	if err != nil {
		return cty.NilVal, err
	}
	if v.IsNull() {
		return cty.NilVal, errors.New("null is not a default; leave the default out")
	}
	if msg := checkValue(a.GetType(), v); msg != "" {
		return cty.NilVal, errors.New(msg)
	}
	return v, nil
}

// Spec is the hcldec specification of a valid schema.
func Spec(s *pluginv1.Schema) (hcldec.ObjectSpec, error) {
	if err := Validate(s); err != nil {
		return nil, err
	}
	spec := hcldec.ObjectSpec{}
	for _, a := range s.GetAttributes() {
		ty, _ := ctyType(a.GetType())
		var as hcldec.Spec = &hcldec.AttrSpec{Name: a.GetName(), Type: ty, Required: a.GetRequired()}
		if a.GetDefaultJson() != "" {
			v, _ := defaultValue(a)
			as = &hcldec.DefaultSpec{Primary: as, Default: &hcldec.LiteralSpec{Value: v}}
		}
		spec[a.GetName()] = as
	}
	return spec, nil
}

// Value is a decoded configuration.
type Value struct {
	// JSON is the configuration as the plugin receives it: one member per
	// schema attribute, defaults applied, null for absent optional ones.
	JSON []byte
	// Sensitive holds the string values of sensitive attributes (list
	// elements and map values included), for log redaction.
	Sensitive []string
}

// Decode decodes body against the schema, evaluating expressions in ctx.
// Diagnostics point at the offending attribute (or at the block for a
// missing one). The schema must be valid (see Validate).
func Decode(body hcl.Body, s *pluginv1.Schema, ctx *hcl.EvalContext) (Value, hcl.Diagnostics) {
	spec, err := Spec(s)
	if err != nil {
		return Value{}, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid plugin schema",
			Detail: err.Error(), Subject: body.MissingItemRange().Ptr()}}
	}
	val, diags := hcldec.Decode(body, spec, ctx)
	if diags.HasErrors() {
		// hcldec visits a spec's attributes in map order; report in
		// source order.
		slices.SortStableFunc(diags, func(a, b *hcl.Diagnostic) int { return cmp.Compare(offset(a), offset(b)) })
		return Value{}, diags
	}
	var out Value
	for _, a := range s.GetAttributes() {
		v := val.GetAttr(a.GetName())
		if v.IsNull() || !v.IsKnown() {
			continue
		}
		if msg := checkValue(a.GetType(), v); msg != "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError,
				Summary: "Invalid value for " + a.GetName(), Detail: msg,
				Subject: hcldec.SourceRange(body, spec[a.GetName()]).Ptr()})
		}
		if a.GetSensitive() {
			out.Sensitive = append(out.Sensitive, stringsOf(v)...)
		}
	}
	if diags.HasErrors() {
		return Value{}, diags
	}
	b, err := ctyjson.Marshal(val, val.Type())
	if err != nil {
		return Value{}, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot encode plugin configuration",
			Detail: err.Error(), Subject: body.MissingItemRange().Ptr()})
	}
	out.JSON = b
	return out, diags
}

func offset(d *hcl.Diagnostic) int {
	if d.Subject == nil {
		return -1
	}
	return d.Subject.Start.Byte
}

// checkValue applies the checks HCL's type system does not express.
func checkValue(t pluginv1.AttributeType, v cty.Value) string {
	switch t {
	case pluginv1.AttributeType_ATTRIBUTE_TYPE_DURATION:
		s := v.AsString()
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Sprintf("%q is not a duration; use a number with a unit such as \"500ms\", \"30s\" or \"5m\".", s)
		}
		if d < 0 {
			return fmt.Sprintf("%q is negative.", s)
		}
	case pluginv1.AttributeType_ATTRIBUTE_TYPE_INTEGER:
		if !v.AsBigFloat().IsInt() {
			return fmt.Sprintf("%s is not a whole number.", v.AsBigFloat().Text('g', -1))
		}
		if _, acc := v.AsBigFloat().Int64(); acc != big.Exact {
			return "The number does not fit in 64 bits."
		}
	}
	return ""
}

func stringsOf(v cty.Value) []string {
	if v.Type() == cty.String {
		return []string{v.AsString()}
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if !e.IsNull() && e.IsKnown() {
			out = append(out, e.AsString())
		}
	}
	return out
}

// AttributeRange is where attribute name is set in body, for diagnostics a
// plugin returns about it; the block's end when it is absent.
func AttributeRange(body hcl.Body, name string) hcl.Range {
	if name != "" {
		content, _, _ := body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: name}}})
		if a, ok := content.Attributes[name]; ok {
			return a.Expr.Range()
		}
	}
	return body.MissingItemRange()
}

// Diagnostics converts diagnostics a plugin returned from Configure into
// HCL diagnostics pointing into body: at the attribute a diagnostic names,
// else at the end of the block.
func Diagnostics(body hcl.Body, in []*pluginv1.Diagnostic) hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range in {
		sev := hcl.DiagError
		if d.GetSeverity() == pluginv1.Severity_SEVERITY_WARNING {
			sev = hcl.DiagWarning
		}
		r := AttributeRange(body, d.GetAttribute())
		out = append(out, &hcl.Diagnostic{Severity: sev, Summary: d.GetSummary(), Detail: d.GetDetail(), Subject: &r})
	}
	return out
}
