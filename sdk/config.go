package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/argusmcp/argus/shared/configschema"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// Logger is where a plugin logs: lines appear in Argus's log under the
// plugin instance's name, at their level, with sensitive values redacted.
// Arguments after the message are key/value pairs. Both hclog.Logger and
// *slog.Logger satisfy it, so a plugin's unit tests can pass either.
type Logger interface {
	Debug(msg string, args ...any)
	Info(msg string, args ...any)
	Warn(msg string, args ...any)
	Error(msg string, args ...any)
}

// Config is one instance's decoded configuration. Argus has already checked
// it against the schema and applied defaults, so every attribute of the
// schema has a value of its declared type, or none when it is optional,
// absent and without default (see Has; the accessors then return the zero
// value).
//
// The accessors fail loudly on a plugin's own mistakes: reading an
// attribute the schema does not declare, or reading one with the accessor
// of another type (Int on a string, Bool on a list), panics with a
// *ConfigError. Inside a factory's Validate or New, the SDK recovers that
// panic and rejects the configuration with a diagnostic naming the
// attribute, so the mistake shows on the first `argus validate` or test
// run; elsewhere (read configuration in New, not later) it is an ordinary
// panic. The zero Config has no attributes.
type Config struct {
	instance string
	raw      []byte
	values   map[string]json.RawMessage
	types    map[string]pluginv1.AttributeType
	log      Logger
}

func newConfig(instance string, raw []byte, schema *Schema, log Logger) (Config, error) {
	c := Config{instance: instance, raw: raw, log: log, types: map[string]pluginv1.AttributeType{}}
	for _, a := range schema.proto().GetAttributes() {
		c.types[a.GetName()] = a.GetType()
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &c.values); err != nil {
			return c, fmt.Errorf("configuration is not a JSON object: %w", err)
		}
	}
	return c, nil
}

// Instance is the instance's name (the block's second label).
func (c Config) Instance() string { return c.instance }

// Logger logs under the instance's name in Argus's log. Never nil.
func (c Config) Logger() Logger {
	if c.log == nil {
		return hclog.NewNullLogger()
	}
	return c.log
}

// Has reports whether the attribute has a value (it was set or has a
// default). Like the accessors, it panics for an attribute the schema does
// not declare.
func (c Config) Has(name string) bool {
	c.check("Has", name)
	v, ok := c.values[name]
	return ok && string(v) != "null"
}

// ConfigError is a plugin reading its Config wrongly: an attribute its
// schema does not declare, or one of another type than the accessor reads.
// The accessors panic with it; see Config.
type ConfigError struct {
	// Accessor is the Config method called, for example "Int".
	Accessor string
	// Attribute is the name it was called with.
	Attribute string
	// Problem says what is wrong.
	Problem string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("sdk: Config.%s(%q): %s", e.Accessor, e.Attribute, e.Problem)
}

// accessorTypes lists the attribute types each typed accessor reads.
var accessorTypes = map[string][]pluginv1.AttributeType{
	"String":    {pluginv1.AttributeType_ATTRIBUTE_TYPE_STRING, pluginv1.AttributeType_ATTRIBUTE_TYPE_DURATION},
	"Bool":      {pluginv1.AttributeType_ATTRIBUTE_TYPE_BOOL},
	"Int":       {pluginv1.AttributeType_ATTRIBUTE_TYPE_INTEGER},
	"Float":     {pluginv1.AttributeType_ATTRIBUTE_TYPE_NUMBER, pluginv1.AttributeType_ATTRIBUTE_TYPE_INTEGER},
	"Duration":  {pluginv1.AttributeType_ATTRIBUTE_TYPE_DURATION},
	"Strings":   {pluginv1.AttributeType_ATTRIBUTE_TYPE_LIST_OF_STRING},
	"StringMap": {pluginv1.AttributeType_ATTRIBUTE_TYPE_MAP_OF_STRING},
}

// check panics with a *ConfigError unless name is a schema attribute of a
// type accessor reads (any type for Has).
func (c Config) check(accessor, name string) {
	t, ok := c.types[name]
	if !ok {
		known := slices.Sorted(maps.Keys(c.types))
		problem := "the schema declares no such attribute"
		if len(known) > 0 {
			problem += " (it declares " + strings.Join(known, ", ") + ")"
		}
		panic(&ConfigError{Accessor: accessor, Attribute: name, Problem: problem})
	}
	if want, typed := accessorTypes[accessor]; typed && !slices.Contains(want, t) {
		decl := configschema.SDKTypeName(t)
		read := decl
		if read == "Number" {
			read = "Float"
		}
		panic(&ConfigError{Accessor: accessor, Attribute: name,
			Problem: fmt.Sprintf("the schema declares it with Schema.%s; read it with Config.%s", decl, read)})
	}
}

func (c Config) get(accessor, name string, dst any) {
	c.check(accessor, name)
	v, ok := c.values[name]
	if !ok {
		return
	}
	if err := json.Unmarshal(v, dst); err != nil {
		// The host decoded the value against the schema; this is a
		// host/plugin mismatch, not a user error.
		panic(&ConfigError{Accessor: accessor, Attribute: name, Problem: fmt.Sprintf("the host sent %s: %v", v, err)})
	}
}

// String returns a string or duration attribute.
func (c Config) String(name string) string {
	var s string
	c.get("String", name, &s)
	return s
}

// Bool returns a bool attribute.
func (c Config) Bool(name string) bool {
	var b bool
	c.get("Bool", name, &b)
	return b
}

// Int returns an integer attribute (declared with Schema.Int).
func (c Config) Int(name string) int64 {
	var n int64
	c.get("Int", name, &n)
	return n
}

// Float returns a number or integer attribute.
func (c Config) Float(name string) float64 {
	var f float64
	c.get("Float", name, &f)
	return f
}

// Duration returns a duration attribute.
func (c Config) Duration(name string) time.Duration {
	var s string
	c.get("Duration", name, &s)
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(&ConfigError{Accessor: "Duration", Attribute: name, Problem: fmt.Sprintf("the host sent %q: %v", s, err)})
	}
	return d
}

// Strings returns a list-of-strings attribute.
func (c Config) Strings(name string) []string {
	var l []string
	c.get("Strings", name, &l)
	return l
}

// StringMap returns a map-of-strings attribute.
func (c Config) StringMap(name string) map[string]string {
	var m map[string]string
	c.get("StringMap", name, &m)
	return m
}

// Decode unmarshals the whole configuration (a JSON object with one member
// per schema attribute) into v, for plugins that prefer a struct with json
// tags. Durations arrive as strings. Decoding is strict: an attribute
// without a matching field in v is an error naming it, so a misspelt tag
// does not silently leave a field at its zero value.
func (c Config) Decode(v any) error {
	raw := c.raw
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("sdk: Config.Decode: %w", err)
	}
	return nil
}

// recoverConfigError turns a *ConfigError panic from fn into an error
// (a diagnostic on the attribute); any other panic goes on.
func recoverConfigError(err *error) {
	r := recover()
	if r == nil {
		return
	}
	ce, ok := r.(*ConfigError)
	if !ok {
		panic(r)
	}
	*err = &AttributeError{Attribute: ce.Attribute, Summary: "Plugin bug: Config." + ce.Accessor + " misused", Detail: ce.Error()}
}

// AttributeError is a problem with one attribute of the configuration.
// Returned (possibly joined with errors.Join) from a factory's Validate or
// New, it becomes a diagnostic pointing at that attribute in the user's
// file.
type AttributeError struct {
	Attribute string
	Summary   string
	Detail    string
}

func (e *AttributeError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%s: %s", e.Attribute, e.Summary)
	}
	return fmt.Sprintf("%s: %s: %s", e.Attribute, e.Summary, e.Detail)
}

// Errorf returns an *AttributeError about attribute with a formatted
// detail.
func Errorf(attribute, format string, args ...any) error {
	return &AttributeError{Attribute: attribute, Summary: "Invalid " + attribute, Detail: fmt.Sprintf(format, args...)}
}

// diagnostics turns errors from Validate or New into protocol diagnostics.
func diagnostics(err error) []*pluginv1.Diagnostic {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*pluginv1.Diagnostic
		for _, e := range j.Unwrap() {
			out = append(out, diagnostics(e)...)
		}
		return out
	}
	d := &pluginv1.Diagnostic{Severity: pluginv1.Severity_SEVERITY_ERROR, Summary: "Configuration rejected", Detail: err.Error()}
	var ae *AttributeError
	if errors.As(err, &ae) {
		d.Attribute, d.Summary, d.Detail = ae.Attribute, ae.Summary, ae.Detail
	}
	return []*pluginv1.Diagnostic{d}
}
