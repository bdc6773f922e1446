// Package otlpwire encodes finished spans as the protobuf bytes of an OTLP
// ExportTraceServiceRequest, straight from the SDK's ReadOnlySpan.
//
// The OpenTelemetry SDK's OTLP exporter first builds the request as a tree
// of generated protobuf structs (one allocation per span, attribute,
// value, status …) and then marshals the tree by reflection; in front of a
// plugin that forwards the bytes as they are, that was most of what
// exporting a span cost the host. AppendRequest writes the same message
// with protowire into one reusable buffer. It encodes what the SDK's
// transform (otlptrace/internal/tracetransform) encodes, field for field:
// its tests decode both and compare them.
package otlpwire

import (
	"math"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of the OTLP messages written here
// (opentelemetry/proto/{collector/trace,trace,common,resource}/v1).
const (
	requestResourceSpans = 1

	resourceSpansResource   = 1
	resourceSpansScopeSpans = 2
	resourceSpansSchemaURL  = 3

	resourceAttributes = 1

	scopeSpansScope     = 1
	scopeSpansSpans     = 2
	scopeSpansSchemaURL = 3

	scopeName       = 1
	scopeVersion    = 2
	scopeAttributes = 3

	spanTraceID           = 1
	spanSpanID            = 2
	spanTraceState        = 3
	spanParentSpanID      = 4
	spanName              = 5
	spanKind              = 6
	spanStart             = 7
	spanEnd               = 8
	spanAttributes        = 9
	spanDroppedAttributes = 10
	spanEvents            = 11
	spanDroppedEvents     = 12
	spanLinks             = 13
	spanDroppedLinks      = 14
	spanStatus            = 15
	spanFlags             = 16

	eventTime              = 1
	eventName              = 2
	eventAttributes        = 3
	eventDroppedAttributes = 4

	linkTraceID           = 1
	linkSpanID            = 2
	linkAttributes        = 4
	linkDroppedAttributes = 5
	linkFlags             = 6

	statusMessage = 2
	statusCode    = 3

	keyValueKey   = 1
	keyValueValue = 2

	anyString = 1
	anyBool   = 2
	anyInt    = 3
	anyDouble = 4
	anyArray  = 5
	anyKVList = 6
	anyBytes  = 7

	listValues = 1 // ArrayValue.values and KeyValueList.values
)

// OTLP's SpanFlags: whether a span's parent is remote is known, and is so.
const (
	flagHasIsRemote = 0x100
	flagIsRemote    = 0x200
)

// group is the resource and instrumentation scope spans are filed under.
type group struct {
	res   attribute.Distinct
	scope instrumentation.Scope
}

// AppendRequest appends the encoding of an ExportTraceServiceRequest
// carrying spans to b and returns the extended buffer. Spans are grouped
// by resource and then instrumentation scope, in the order each first
// appears; nil spans are skipped. No spans: nothing is appended.
func AppendRequest(b []byte, spans []sdktrace.ReadOnlySpan) []byte {
	// Almost always one resource and one scope: a short list beats a map.
	var groups [4]group
	keys := groups[:0]
	// Each span's group, found once: a scope need not equal itself (a NaN
	// in a float64 slice attribute), and such a span has a group of its
	// own, as in the SDK's transform, whose map lookup misses too.
	var inArr [512]int32 // a full batch, by default
	in := inArr[:0]
	if len(spans) > len(inArr) {
		in = make([]int32, 0, len(spans))
	}
	for _, s := range spans {
		j := -1
		if s != nil {
			g := group{s.Resource().Equivalent(), s.InstrumentationScope()}
			if j = indexOf(keys, g); j < 0 {
				j, keys = len(keys), append(keys, g)
			}
		}
		in = append(in, int32(j))
	}
	for i, k := range keys {
		if indexOfRes(keys[:i], k.res) >= 0 {
			continue // written with the first group of its resource
		}
		b = appendResourceSpans(b, spans, in, keys, i)
	}
	return b
}

func indexOf(keys []group, g group) int {
	for i, k := range keys {
		if k == g {
			return i
		}
	}
	return -1
}

func indexOfRes(keys []group, res attribute.Distinct) int {
	for i, k := range keys {
		if k.res == res {
			return i
		}
	}
	return -1
}

// appendResourceSpans writes the ResourceSpans of the resource of group
// first: one ScopeSpans for it and each later group of that resource,
// holding the spans filed under it (in).
func appendResourceSpans(b []byte, spans []sdktrace.ReadOnlySpan, in []int32, keys []group, first int) []byte {
	res := keys[first].res
	b, rs := open(b, requestResourceSpans)
	var r *resource.Resource
	for i, s := range spans {
		if in[i] == int32(first) {
			r = s.Resource()
			break
		}
	}
	if r != nil { // the SDK's transform sends it even when it is empty
		var m int
		b, m = open(b, resourceSpansResource)
		for it := r.Iter(); it.Next(); {
			b = appendKeyValue(b, resourceAttributes, it.Attribute())
		}
		b = closeMsg(b, m)
	}
	for j := first; j < len(keys); j++ {
		k := keys[j]
		if k.res != res {
			continue
		}
		var ss int
		b, ss = open(b, resourceSpansScopeSpans)
		if k.scope != (instrumentation.Scope{}) {
			var sc int
			b, sc = open(b, scopeSpansScope)
			b = appendString(b, scopeName, k.scope.Name)
			b = appendString(b, scopeVersion, k.scope.Version)
			for it := k.scope.Attributes.Iter(); it.Next(); {
				b = appendKeyValue(b, scopeAttributes, it.Attribute())
			}
			b = closeMsg(b, sc)
		}
		for i, s := range spans {
			if in[i] == int32(j) {
				b = appendSpan(b, s)
			}
		}
		b = appendString(b, scopeSpansSchemaURL, k.scope.SchemaURL)
		b = closeMsg(b, ss)
	}
	if r != nil {
		b = appendString(b, resourceSpansSchemaURL, r.SchemaURL())
	}
	return closeMsg(b, rs)
}

// appendSpan writes one Span of a ScopeSpans.
func appendSpan(b []byte, s sdktrace.ReadOnlySpan) []byte {
	b, m := open(b, scopeSpansSpans)
	sc := s.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	b = appendRaw(b, spanTraceID, tid[:])
	b = appendRaw(b, spanSpanID, sid[:])
	if ts := sc.TraceState(); ts.Len() > 0 {
		b = appendString(b, spanTraceState, ts.String())
	}
	parent := s.Parent()
	if psid := parent.SpanID(); psid.IsValid() {
		b = appendRaw(b, spanParentSpanID, psid[:])
	}
	b = appendString(b, spanName, s.Name())
	b = appendVarint(b, spanKind, uint64(kindOf(s.SpanKind())))
	b = appendFixed64(b, spanStart, unixNano(s.StartTime().UnixNano()))
	b = appendFixed64(b, spanEnd, unixNano(s.EndTime().UnixNano()))
	for _, kv := range s.Attributes() {
		b = appendKeyValue(b, spanAttributes, kv)
	}
	b = appendVarint(b, spanDroppedAttributes, clampUint32(s.DroppedAttributes()))
	for _, e := range s.Events() {
		var em int
		b, em = open(b, spanEvents)
		b = appendFixed64(b, eventTime, unixNano(e.Time.UnixNano()))
		b = appendString(b, eventName, e.Name)
		for _, kv := range e.Attributes {
			b = appendKeyValue(b, eventAttributes, kv)
		}
		b = appendVarint(b, eventDroppedAttributes, clampUint32(e.DroppedAttributeCount))
		b = closeMsg(b, em)
	}
	b = appendVarint(b, spanDroppedEvents, clampUint32(s.DroppedEvents()))
	for _, l := range s.Links() {
		var lm int
		b, lm = open(b, spanLinks)
		ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		b = appendRaw(b, linkTraceID, ltid[:])
		b = appendRaw(b, linkSpanID, lsid[:])
		for _, kv := range l.Attributes {
			b = appendKeyValue(b, linkAttributes, kv)
		}
		b = appendVarint(b, linkDroppedAttributes, clampUint32(l.DroppedAttributeCount))
		b = appendFixed32(b, linkFlags, flags(l.SpanContext.TraceFlags(), l.SpanContext))
		b = closeMsg(b, lm)
	}
	b = appendVarint(b, spanDroppedLinks, clampUint32(s.DroppedLinks()))
	// The SDK's transform always sends a status, unset or not.
	st := s.Status()
	b, stm := open(b, spanStatus)
	b = appendString(b, statusMessage, st.Description)
	b = appendVarint(b, statusCode, uint64(statusOf(st.Code)))
	b = closeMsg(b, stm)
	b = appendFixed32(b, spanFlags, flags(sc.TraceFlags(), parent))
	return closeMsg(b, m)
}

// appendKeyValue writes kv as a KeyValue in field f.
func appendKeyValue(b []byte, f protowire.Number, kv attribute.KeyValue) []byte {
	b, m := open(b, f)
	b = appendString(b, keyValueKey, string(kv.Key))
	b = appendAnyValue(b, keyValueValue, kv.Value)
	return closeMsg(b, m)
}

// appendAnyValue writes v as an AnyValue in field f, as the SDK's
// transform maps each attribute type (an unknown type: "INVALID").
func appendAnyValue(b []byte, f protowire.Number, v attribute.Value) []byte {
	b, m := open(b, f)
	switch v.Type() {
	case attribute.BOOL:
		b = appendBool(b, anyBool, v.AsBool())
	case attribute.INT64:
		b = protowire.AppendTag(b, anyInt, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(v.AsInt64()))
	case attribute.FLOAT64:
		b = protowire.AppendTag(b, anyDouble, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(v.AsFloat64()))
	case attribute.STRING:
		b = protowire.AppendTag(b, anyString, protowire.BytesType)
		b = protowire.AppendString(b, valid(v.AsString()))
	case attribute.BYTESLICE:
		b = protowire.AppendTag(b, anyBytes, protowire.BytesType)
		b = protowire.AppendBytes(b, v.AsByteSlice())
	case attribute.BOOLSLICE:
		b = appendArray(b, v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		b = appendArray(b, v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		b = appendArray(b, v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		b = appendArray(b, v.AsStringSlice(), attribute.StringValue)
	case attribute.SLICE:
		b = appendArray(b, v.AsSlice(), func(x attribute.Value) attribute.Value { return x })
	case attribute.MAP:
		var a int
		b, a = open(b, anyKVList)
		for _, kv := range v.AsMap() {
			b = appendKeyValue(b, listValues, kv)
		}
		b = closeMsg(b, a)
	case attribute.EMPTY:
	default:
		b = protowire.AppendTag(b, anyString, protowire.BytesType)
		b = protowire.AppendString(b, "INVALID")
	}
	return closeMsg(b, m)
}

// appendArray writes xs as an ArrayValue in AnyValue's array_value.
func appendArray[T any](b []byte, xs []T, value func(T) attribute.Value) []byte {
	var a int
	b, a = open(b, anyArray)
	for _, x := range xs {
		b = appendAnyValue(b, listValues, value(x))
	}
	return closeMsg(b, a)
}

// open starts an embedded message in field f: its tag and a one-byte
// length that closeMsg fixes. It returns where the message's bytes begin.
func open(b []byte, f protowire.Number) ([]byte, int) {
	b = protowire.AppendTag(b, f, protowire.BytesType)
	return append(b, 0), len(b) + 1
}

// closeMsg writes the length of the message begun at start, moving the
// message up when its length takes more than the one byte open kept.
func closeMsg(b []byte, start int) []byte {
	n := len(b) - start
	w := protowire.SizeVarint(uint64(n))
	if w == 1 {
		b[start-1] = byte(n)
		return b
	}
	for range w - 1 {
		b = append(b, 0)
	}
	copy(b[start+w-1:], b[start:start+n])
	protowire.AppendVarint(b[:start-1], uint64(n))
	return b
}

// The scalar fields: proto3 leaves a field at its zero value out.

// appendString writes a string field, made valid UTF-8.
func appendString(b []byte, f protowire.Number, s string) []byte {
	return appendRaw(b, f, valid(s))
}

// valid is s with every invalid UTF-8 sequence replaced by U+FFFD.
// Protobuf strings are UTF-8; one that is not (a client's request id, a
// backend's error message) would have failed the whole batch in the
// SDK's exporter, and a collector refuses the request that carries it.
func valid(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// appendRaw writes a string or bytes field as it is.
func appendRaw[S ~string | ~[]byte](b []byte, f protowire.Number, v S) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, f, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(len(v)))
	return append(b, v...)
}

// appendNumber writes a numeric field of wire type t.
func appendNumber(b []byte, f protowire.Number, t protowire.Type, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, f, t)
	switch t {
	case protowire.Fixed64Type:
		return protowire.AppendFixed64(b, v)
	case protowire.Fixed32Type:
		return protowire.AppendFixed32(b, uint32(v))
	}
	return protowire.AppendVarint(b, v)
}

func appendVarint(b []byte, f protowire.Number, v uint64) []byte {
	return appendNumber(b, f, protowire.VarintType, v)
}

func appendFixed64(b []byte, f protowire.Number, v uint64) []byte {
	return appendNumber(b, f, protowire.Fixed64Type, v)
}

func appendFixed32(b []byte, f protowire.Number, v uint32) []byte {
	return appendNumber(b, f, protowire.Fixed32Type, uint64(v))
}

// appendBool writes a oneof member: present even when false.
func appendBool(b []byte, f protowire.Number, v bool) []byte {
	b = protowire.AppendTag(b, f, protowire.VarintType)
	return protowire.AppendVarint(b, protowire.EncodeBool(v))
}

// flags are the W3C trace flags with whether the parent is remote.
func flags(tf trace.TraceFlags, parent trace.SpanContext) uint32 {
	f := uint32(tf) | flagHasIsRemote
	if parent.IsRemote() {
		f |= flagIsRemote
	}
	return f
}

func unixNano(ns int64) uint64 { return uint64(max(0, ns)) }

func clampUint32(v int) uint64 {
	return uint64(min(max(v, 0), math.MaxUint32))
}

// kindOf is OTLP's Span.SpanKind of k.
func kindOf(k trace.SpanKind) int {
	switch k {
	case trace.SpanKindInternal, trace.SpanKindServer, trace.SpanKindClient,
		trace.SpanKindProducer, trace.SpanKindConsumer:
		return int(k) // the same numbers: INTERNAL 1 … CONSUMER 5
	}
	return 0
}

// statusOf is OTLP's Status.StatusCode of c.
func statusOf(c codes.Code) int {
	switch c {
	case codes.Ok:
		return 1
	case codes.Error:
		return 2
	}
	return 0
}
