package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/argusmcp/argus/shared/configschema"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// Schema declares the attributes a plugin's configuration block accepts.
// Build it by chaining; the zero value and nil are empty schemas (a block
// with no attributes).
//
//	sdk.NewSchema().
//		String("url", "Endpoint to POST to.", sdk.Required()).
//		Duration("timeout", "Per request.", sdk.Default("10s")).
//		String("secret", "HMAC key.", sdk.Sensitive())
//
// Argus decodes the user's block against it before the plugin sees the
// configuration: unknown attributes, missing required ones, wrong types and
// malformed durations are reported with file and line, and defaults are
// applied. Mistakes in the schema itself (duplicate names, a default of the
// wrong type) make New panic.
type Schema struct {
	attrs []*pluginv1.Attribute
	errs  []error
}

// NewSchema returns an empty schema.
func NewSchema() *Schema { return &Schema{} }

// AttrOption qualifies one attribute: Required, Sensitive or Default.
type AttrOption struct {
	apply func(*pluginv1.Attribute) error
}

// Required makes the attribute mandatory.
func Required() AttrOption {
	return AttrOption{func(a *pluginv1.Attribute) error { a.Required = true; return nil }}
}

// Sensitive marks the attribute's value as secret: Argus redacts it from
// its logs (including the plugin's own log lines).
func Sensitive() AttrOption {
	return AttrOption{func(a *pluginv1.Attribute) error { a.Sensitive = true; return nil }}
}

// Default is the value an absent attribute takes: a string, number, bool,
// []string or map[string]string matching the attribute's type; for
// durations a string ("10s") or a time.Duration.
func Default(v any) AttrOption {
	return AttrOption{func(a *pluginv1.Attribute) error {
		if d, ok := v.(time.Duration); ok {
			v = d.String()
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("default: %w", err)
		}
		a.DefaultJson = string(b)
		return nil
	}}
}

// String declares a string attribute.
func (s *Schema) String(name, description string, opts ...AttrOption) *Schema {
	return s.add(name, description, pluginv1.AttributeType_ATTRIBUTE_TYPE_STRING, opts)
}

// Number declares a number attribute (Config.Float reads it).
func (s *Schema) Number(name, description string, opts ...AttrOption) *Schema {
	return s.add(name, description, pluginv1.AttributeType_ATTRIBUTE_TYPE_NUMBER, opts)
}

// Int declares a whole-number attribute (Config.Int reads it).
func (s *Schema) Int(name, description string, opts ...AttrOption) *Schema {
	return s.add(name, description, pluginv1.AttributeType_ATTRIBUTE_TYPE_INTEGER, opts)
}

// Bool declares a boolean attribute.
func (s *Schema) Bool(name, description string, opts ...AttrOption) *Schema {
	return s.add(name, description, pluginv1.AttributeType_ATTRIBUTE_TYPE_BOOL, opts)
}

// Duration declares a duration attribute: a string such as "500ms" or
// "30s", checked by Argus (Config.Duration reads it).
func (s *Schema) Duration(name, description string, opts ...AttrOption) *Schema {
	return s.add(name, description, pluginv1.AttributeType_ATTRIBUTE_TYPE_DURATION, opts)
}

// Strings declares a list-of-strings attribute.
func (s *Schema) Strings(name, description string, opts ...AttrOption) *Schema {
	return s.add(name, description, pluginv1.AttributeType_ATTRIBUTE_TYPE_LIST_OF_STRING, opts)
}

// StringMap declares a map-of-strings attribute (for example headers).
func (s *Schema) StringMap(name, description string, opts ...AttrOption) *Schema {
	return s.add(name, description, pluginv1.AttributeType_ATTRIBUTE_TYPE_MAP_OF_STRING, opts)
}

func (s *Schema) add(name, description string, t pluginv1.AttributeType, opts []AttrOption) *Schema {
	a := &pluginv1.Attribute{Name: name, Type: t, Description: description}
	for _, o := range opts {
		if o.apply == nil {
			continue // the zero AttrOption does nothing
		}
		if err := o.apply(a); err != nil {
			s.errs = append(s.errs, fmt.Errorf("attribute %q: %w", name, err))
		}
	}
	s.attrs = append(s.attrs, a)
	return s
}

// proto is the schema as sent to the host.
func (s *Schema) proto() *pluginv1.Schema {
	if s == nil {
		return &pluginv1.Schema{}
	}
	return &pluginv1.Schema{Attributes: s.attrs}
}

func (s *Schema) err() error {
	if s == nil {
		return nil
	}
	return errors.Join(append(s.errs, configschema.Validate(s.proto()))...)
}
