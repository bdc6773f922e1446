package otelcoltest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// Span is one span as the collector received it, flattened out of its
// resource and scope.
type Span struct {
	TraceID      string // 32 lower-case hex digits
	SpanID       string // 16 lower-case hex digits
	ParentSpanID string // "" for a root span
	TraceState   string
	Name         string
	// Kind is "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER" or
	// "UNSPECIFIED", whether the JSON gave it as a number or a name.
	Kind              string
	StartTimeUnixNano uint64
	EndTimeUnixNano   uint64
	// Attributes, Resource and event attributes map keys to string, int64,
	// bool, float64, []byte, []any or map[string]any values.
	Attributes map[string]any
	Events     []Event
	Status     Status
	Resource   map[string]any
	ScopeName  string
}

// Status is a span's status. Code is "UNSET", "OK" or "ERROR".
type Status struct {
	Code    string
	Message string
}

// Event is a span event (an exception is recorded as one named "exception").
type Event struct {
	Name         string
	TimeUnixNano uint64
	Attributes   map[string]any
}

// Metric is one metric of one exported batch, flattened out of its
// resource and scope. A metric exported several times appears once per
// batch.
type Metric struct {
	Name        string
	Description string
	Unit        string
	// Kind is "SUM", "GAUGE", "HISTOGRAM", "EXPONENTIAL_HISTOGRAM" or "SUMMARY".
	Kind string
	// Temporality is "CUMULATIVE", "DELTA" or "UNSPECIFIED" for sums and
	// histograms, "" for the others.
	Temporality string
	Monotonic   bool // sums only
	DataPoints  []DataPoint
	Resource    map[string]any
	ScopeName   string
}

// DataPoint is one point of a Metric. Sums and gauges set Value (an
// integer point converted to float64); histograms set Count, Sum,
// BucketCounts, ExplicitBounds and, when sent, Min and Max; exponential
// histograms and summaries set Count and Sum only.
type DataPoint struct {
	Attributes        map[string]any
	StartTimeUnixNano uint64
	TimeUnixNano      uint64
	Value             float64
	Count             uint64
	Sum               float64
	BucketCounts      []uint64
	ExplicitBounds    []float64
	Min, Max          *float64
}

// LogRecord is one log record as the collector received it, flattened out
// of its resource and scope.
type LogRecord struct {
	TimeUnixNano         uint64
	ObservedTimeUnixNano uint64
	SeverityNumber       int
	SeverityText         string
	EventName            string
	// Body is the record's body value (a string for most logs).
	Body       any
	TraceID    string // 32 lower-case hex digits, or ""
	SpanID     string // 16 lower-case hex digits, or ""
	Attributes map[string]any
	Resource   map[string]any
	ScopeName  string
}

// ReadSpansFile parses a file of OTLP-JSON trace batches, one per line, as
// the collector's file exporter writes it. A missing file holds no spans; a
// last line not yet ended by a newline (a write in progress) is ignored.
func ReadSpansFile(path string) ([]Span, error) {
	data, err := readLines(path)
	if err != nil {
		return nil, err
	}
	return ParseSpans(data)
}

// ReadMetricsFile parses a file of OTLP-JSON metric batches, one per line,
// like ReadSpansFile.
func ReadMetricsFile(path string) ([]Metric, error) {
	data, err := readLines(path)
	if err != nil {
		return nil, err
	}
	return ParseMetrics(data)
}

// ReadLogsFile parses a file of OTLP-JSON log batches, one per line, like
// ReadSpansFile.
func ReadLogsFile(path string) ([]LogRecord, error) {
	data, err := readLines(path)
	if err != nil {
		return nil, err
	}
	return ParseLogs(data)
}

// ParseLogs parses OTLP-JSON log batches (ExportLogsServiceRequest
// objects), one per line; blank lines are skipped.
func ParseLogs(data []byte) ([]LogRecord, error) {
	var logs []LogRecord
	err := eachLine(data, func(n int, line []byte) error {
		var batch struct {
			ResourceLogs []struct {
				Resource  resource `json:"resource"`
				ScopeLogs []struct {
					Scope      scope `json:"scope"`
					LogRecords []struct {
						TimeUnixNano         jsonUint   `json:"timeUnixNano"`
						ObservedTimeUnixNano jsonUint   `json:"observedTimeUnixNano"`
						SeverityNumber       jsonEnum   `json:"severityNumber"`
						SeverityText         string     `json:"severityText"`
						EventName            string     `json:"eventName"`
						Body                 anyValue   `json:"body"`
						Attributes           []keyValue `json:"attributes"`
						TraceID              string     `json:"traceId"`
						SpanID               string     `json:"spanId"`
					} `json:"logRecords"`
				} `json:"scopeLogs"`
			} `json:"resourceLogs"`
		}
		if err := json.Unmarshal(line, &batch); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		for _, rl := range batch.ResourceLogs {
			res, err := attributes(rl.Resource.Attributes)
			if err != nil {
				return fmt.Errorf("line %d: resource: %w", n, err)
			}
			for _, sl := range rl.ScopeLogs {
				for _, r := range sl.LogRecords {
					attrs, err := attributes(r.Attributes)
					if err != nil {
						return fmt.Errorf("line %d: log record: %w", n, err)
					}
					body, err := r.Body.value()
					if err != nil {
						return fmt.Errorf("line %d: log record body: %w", n, err)
					}
					logs = append(logs, LogRecord{
						TimeUnixNano: uint64(r.TimeUnixNano), ObservedTimeUnixNano: uint64(r.ObservedTimeUnixNano),
						SeverityNumber: r.SeverityNumber.num, SeverityText: r.SeverityText, EventName: r.EventName,
						Body: body, TraceID: strings.ToLower(r.TraceID), SpanID: strings.ToLower(r.SpanID),
						Attributes: attrs, Resource: res, ScopeName: sl.Scope.Name,
					})
				}
			}
		}
		return nil
	})
	return logs, err
}

func readLines(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		return data[:i+1], nil
	}
	return nil, nil
}

// ParseSpans parses OTLP-JSON trace batches (ExportTraceServiceRequest
// objects), one per line; blank lines are skipped.
func ParseSpans(data []byte) ([]Span, error) {
	var spans []Span
	err := eachLine(data, func(n int, line []byte) error {
		var batch struct {
			ResourceSpans []struct {
				Resource   resource `json:"resource"`
				ScopeSpans []struct {
					Scope scope `json:"scope"`
					Spans []struct {
						TraceID           string     `json:"traceId"`
						SpanID            string     `json:"spanId"`
						ParentSpanID      string     `json:"parentSpanId"`
						TraceState        string     `json:"traceState"`
						Name              string     `json:"name"`
						Kind              jsonEnum   `json:"kind"`
						StartTimeUnixNano jsonUint   `json:"startTimeUnixNano"`
						EndTimeUnixNano   jsonUint   `json:"endTimeUnixNano"`
						Attributes        []keyValue `json:"attributes"`
						Events            []struct {
							Name         string     `json:"name"`
							TimeUnixNano jsonUint   `json:"timeUnixNano"`
							Attributes   []keyValue `json:"attributes"`
						} `json:"events"`
						Status struct {
							Code    jsonEnum `json:"code"`
							Message string   `json:"message"`
						} `json:"status"`
					} `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		}
		if err := json.Unmarshal(line, &batch); err != nil {
			return fmt.Errorf("traces line %d: %w", n, err)
		}
		for _, rs := range batch.ResourceSpans {
			res, err := attributes(rs.Resource.Attributes)
			if err != nil {
				return fmt.Errorf("traces line %d: resource: %w", n, err)
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					attrs, err := attributes(s.Attributes)
					if err != nil {
						return fmt.Errorf("traces line %d: span %q: %w", n, s.Name, err)
					}
					span := Span{
						TraceID:           strings.ToLower(s.TraceID),
						SpanID:            strings.ToLower(s.SpanID),
						ParentSpanID:      strings.ToLower(s.ParentSpanID),
						TraceState:        s.TraceState,
						Name:              s.Name,
						Kind:              s.Kind.name("SPAN_KIND_", spanKinds),
						StartTimeUnixNano: uint64(s.StartTimeUnixNano),
						EndTimeUnixNano:   uint64(s.EndTimeUnixNano),
						Attributes:        attrs,
						Status:            Status{Code: s.Status.Code.name("STATUS_CODE_", statusCodes), Message: s.Status.Message},
						Resource:          res,
						ScopeName:         ss.Scope.Name,
					}
					for _, e := range s.Events {
						ea, err := attributes(e.Attributes)
						if err != nil {
							return fmt.Errorf("traces line %d: span %q: event %q: %w", n, s.Name, e.Name, err)
						}
						span.Events = append(span.Events, Event{Name: e.Name, TimeUnixNano: uint64(e.TimeUnixNano), Attributes: ea})
					}
					spans = append(spans, span)
				}
			}
		}
		return nil
	})
	return spans, err
}

// ParseMetrics parses OTLP-JSON metric batches (ExportMetricsServiceRequest
// objects), one per line; blank lines are skipped.
func ParseMetrics(data []byte) ([]Metric, error) {
	var metrics []Metric
	err := eachLine(data, func(n int, line []byte) error {
		var batch struct {
			ResourceMetrics []struct {
				Resource     resource `json:"resource"`
				ScopeMetrics []struct {
					Scope   scope `json:"scope"`
					Metrics []struct {
						Name                 string     `json:"name"`
						Description          string     `json:"description"`
						Unit                 string     `json:"unit"`
						Sum                  *aggregate `json:"sum"`
						Gauge                *aggregate `json:"gauge"`
						Histogram            *aggregate `json:"histogram"`
						ExponentialHistogram *aggregate `json:"exponentialHistogram"`
						Summary              *aggregate `json:"summary"`
					} `json:"metrics"`
				} `json:"scopeMetrics"`
			} `json:"resourceMetrics"`
		}
		if err := json.Unmarshal(line, &batch); err != nil {
			return fmt.Errorf("metrics line %d: %w", n, err)
		}
		for _, rm := range batch.ResourceMetrics {
			res, err := attributes(rm.Resource.Attributes)
			if err != nil {
				return fmt.Errorf("metrics line %d: resource: %w", n, err)
			}
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					metric := Metric{Name: m.Name, Description: m.Description, Unit: m.Unit, Resource: res, ScopeName: sm.Scope.Name}
					var agg *aggregate
					switch {
					case m.Sum != nil:
						metric.Kind, agg = "SUM", m.Sum
					case m.Gauge != nil:
						metric.Kind, agg = "GAUGE", m.Gauge
					case m.Histogram != nil:
						metric.Kind, agg = "HISTOGRAM", m.Histogram
					case m.ExponentialHistogram != nil:
						metric.Kind, agg = "EXPONENTIAL_HISTOGRAM", m.ExponentialHistogram
					case m.Summary != nil:
						metric.Kind, agg = "SUMMARY", m.Summary
					default:
						metric.Kind, agg = "EMPTY", &aggregate{}
					}
					if metric.Kind == "SUM" || metric.Kind == "HISTOGRAM" || metric.Kind == "EXPONENTIAL_HISTOGRAM" {
						metric.Temporality = agg.AggregationTemporality.name("AGGREGATION_TEMPORALITY_", temporalities)
					}
					metric.Monotonic = agg.IsMonotonic
					for _, p := range agg.DataPoints {
						attrs, err := attributes(p.Attributes)
						if err != nil {
							return fmt.Errorf("metrics line %d: metric %q: %w", n, m.Name, err)
						}
						dp := DataPoint{
							Attributes:        attrs,
							StartTimeUnixNano: uint64(p.StartTimeUnixNano),
							TimeUnixNano:      uint64(p.TimeUnixNano),
							Count:             uint64(p.Count),
							Sum:               float64(p.Sum),
							Min:               (*float64)(p.Min),
							Max:               (*float64)(p.Max),
						}
						switch {
						case p.AsDouble != nil:
							dp.Value = float64(*p.AsDouble)
						case p.AsInt != nil:
							dp.Value = float64(*p.AsInt)
						}
						for _, b := range p.ExplicitBounds {
							dp.ExplicitBounds = append(dp.ExplicitBounds, float64(b))
						}
						for _, c := range p.BucketCounts {
							dp.BucketCounts = append(dp.BucketCounts, uint64(c))
						}
						metric.DataPoints = append(metric.DataPoints, dp)
					}
					metrics = append(metrics, metric)
				}
			}
		}
		return nil
	})
	return metrics, err
}

func eachLine(data []byte, f func(n int, line []byte) error) error {
	for n, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := f(n+1, line); err != nil {
			return err
		}
	}
	return nil
}

// The OTLP-JSON shapes decoded here; see opentelemetry-proto's
// docs/specification.md (JSON Protobuf Encoding): 64-bit integers may come
// as strings or numbers, enums as numbers or names, ids as hex strings.

type resource struct {
	Attributes []keyValue `json:"attributes"`
}

type scope struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type aggregate struct {
	AggregationTemporality jsonEnum `json:"aggregationTemporality"`
	IsMonotonic            bool     `json:"isMonotonic"`
	DataPoints             []struct {
		Attributes        []keyValue  `json:"attributes"`
		StartTimeUnixNano jsonUint    `json:"startTimeUnixNano"`
		TimeUnixNano      jsonUint    `json:"timeUnixNano"`
		AsDouble          *jsonFloat  `json:"asDouble"`
		AsInt             *jsonInt    `json:"asInt"`
		Count             jsonUint    `json:"count"`
		Sum               jsonFloat   `json:"sum"`
		BucketCounts      []jsonUint  `json:"bucketCounts"`
		ExplicitBounds    []jsonFloat `json:"explicitBounds"`
		Min               *jsonFloat  `json:"min"`
		Max               *jsonFloat  `json:"max"`
	} `json:"dataPoints"`
}

type keyValue struct {
	Key   string   `json:"key"`
	Value anyValue `json:"value"`
}

type anyValue struct {
	StringValue *string    `json:"stringValue"`
	BoolValue   *bool      `json:"boolValue"`
	IntValue    *jsonInt   `json:"intValue"`
	DoubleValue *jsonFloat `json:"doubleValue"`
	BytesValue  *string    `json:"bytesValue"` // base64
	ArrayValue  *struct {
		Values []anyValue `json:"values"`
	} `json:"arrayValue"`
	KvlistValue *struct {
		Values []keyValue `json:"values"`
	} `json:"kvlistValue"`
}

func attributes(kvs []keyValue) (map[string]any, error) {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		v, err := kv.Value.value()
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", kv.Key, err)
		}
		m[kv.Key] = v
	}
	return m, nil
}

// value converts to string, int64, bool, float64, []byte, []any,
// map[string]any, or nil for an empty value.
func (v anyValue) value() (any, error) {
	switch {
	case v.StringValue != nil:
		return *v.StringValue, nil
	case v.BoolValue != nil:
		return *v.BoolValue, nil
	case v.IntValue != nil:
		return int64(*v.IntValue), nil
	case v.DoubleValue != nil:
		return float64(*v.DoubleValue), nil
	case v.BytesValue != nil:
		return base64.StdEncoding.DecodeString(*v.BytesValue)
	case v.ArrayValue != nil:
		out := make([]any, 0, len(v.ArrayValue.Values))
		for _, e := range v.ArrayValue.Values {
			x, err := e.value()
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		return out, nil
	case v.KvlistValue != nil:
		return attributes(v.KvlistValue.Values)
	}
	return nil, nil
}

var (
	spanKinds     = []string{"UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"}
	statusCodes   = []string{"UNSET", "OK", "ERROR"}
	temporalities = []string{"UNSPECIFIED", "DELTA", "CUMULATIVE"}
)

// jsonEnum is a protobuf enum given as a number or as its name.
type jsonEnum struct {
	num  int
	text string
}

func (e *jsonEnum) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &e.text)
	}
	return json.Unmarshal(b, &e.num)
}

// name is the enum's name without prefix; an absent enum is names[0].
func (e jsonEnum) name(prefix string, names []string) string {
	if e.text != "" {
		return strings.TrimPrefix(e.text, prefix)
	}
	if e.num >= 0 && e.num < len(names) {
		return names[e.num]
	}
	return strconv.Itoa(e.num)
}

// jsonUint is a uint64 given as a string (as OTLP JSON requires) or a number.
type jsonUint uint64

func (u *jsonUint) UnmarshalJSON(b []byte) error {
	s := unquote(b)
	if s == "" || s == "null" {
		return nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	*u = jsonUint(v)
	return err
}

// jsonInt is an int64 given as a string (as OTLP JSON requires) or a number.
type jsonInt int64

func (i *jsonInt) UnmarshalJSON(b []byte) error {
	s := unquote(b)
	if s == "" || s == "null" {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	*i = jsonInt(v)
	return err
}

// jsonFloat is a double given as a number or a string ("NaN", "Infinity",
// "-Infinity" or a decimal).
type jsonFloat float64

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	s := unquote(b)
	switch s {
	case "", "null":
		return nil
	case "NaN":
		*f = jsonFloat(math.NaN())
		return nil
	case "Infinity":
		*f = jsonFloat(math.Inf(1))
		return nil
	case "-Infinity":
		*f = jsonFloat(math.Inf(-1))
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	*f = jsonFloat(v)
	return err
}

func unquote(b []byte) string {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		return string(b[1 : len(b)-1])
	}
	return string(b)
}
