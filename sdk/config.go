package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// Config is one instance's decoded configuration. Argus has already checked
// it against the schema and applied defaults, so the accessors only return
// zero values for optional attributes that are absent (see Has).
type Config struct {
	instance string
	raw      []byte
	values   map[string]json.RawMessage
	log      hclog.Logger
}

func newConfig(instance string, raw []byte, log hclog.Logger) (Config, error) {
	c := Config{instance: instance, raw: raw, log: log}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &c.values); err != nil {
			return c, fmt.Errorf("configuration is not a JSON object: %w", err)
		}
	}
	return c, nil
}

// Instance is the instance's name (the block's second label).
func (c Config) Instance() string { return c.instance }

// Logger logs under the instance's name in Argus's log.
func (c Config) Logger() hclog.Logger {
	if c.log == nil {
		return hclog.NewNullLogger()
	}
	return c.log
}

// Has reports whether the attribute has a value (it was set or has a
// default).
func (c Config) Has(name string) bool {
	v, ok := c.values[name]
	return ok && string(v) != "null"
}

func (c Config) get(name string, dst any) {
	if v, ok := c.values[name]; ok {
		_ = json.Unmarshal(v, dst)
	}
}

// String returns a string or duration attribute.
func (c Config) String(name string) string {
	var s string
	c.get(name, &s)
	return s
}

// Bool returns a bool attribute.
func (c Config) Bool(name string) bool {
	var b bool
	c.get(name, &b)
	return b
}

// Int returns an integer attribute.
func (c Config) Int(name string) int64 {
	var n int64
	c.get(name, &n)
	return n
}

// Float returns a number attribute.
func (c Config) Float(name string) float64 {
	var f float64
	c.get(name, &f)
	return f
}

// Duration returns a duration attribute.
func (c Config) Duration(name string) time.Duration {
	d, _ := time.ParseDuration(c.String(name))
	return d
}

// Strings returns a list-of-strings attribute.
func (c Config) Strings(name string) []string {
	var l []string
	c.get(name, &l)
	return l
}

// StringMap returns a map-of-strings attribute.
func (c Config) StringMap(name string) map[string]string {
	var m map[string]string
	c.get(name, &m)
	return m
}

// Decode unmarshals the whole configuration (a JSON object with one member
// per attribute) into v, for plugins that prefer a struct with json tags.
// Durations arrive as strings.
func (c Config) Decode(v any) error {
	if len(c.raw) == 0 {
		return json.Unmarshal([]byte("{}"), v)
	}
	return json.Unmarshal(c.raw, v)
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
