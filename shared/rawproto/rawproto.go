// Package rawproto lets one side of a gRPC call handle a protobuf message
// as the bytes it travels as, without decoding or encoding it: a
// telemetry exporter plugin that only forwards the host's OTLP export
// requests takes them as they arrived and sends them on as they are.
//
// Codec is gRPC's own protobuf codec for every other message, so a server
// or call that uses it behaves exactly as before for them; the bytes on
// the wire are the same either way.
package rawproto

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the codec Codec wraps
	"google.golang.org/grpc/mem"
)

// Message is a protobuf message kept as its encoding.
type Message struct{ Bytes []byte }

// Codec is gRPC's "proto" codec, except that a *Message is passed through
// as its bytes. Use it with grpc.ForceServerCodecV2 on a server whose
// handlers decode some requests into a *Message, or with
// grpc.ForceCodecV2 on a call that sends one.
func Codec() encoding.CodecV2 { return theCodec }

// theCodec is made once: the import above has registered "proto" by then.
var theCodec = codec{proto: encoding.GetCodecV2("proto")}

type codec struct{ proto encoding.CodecV2 }

// Name is "proto": peers see the usual content type.
func (c codec) Name() string { return c.proto.Name() }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*Message); ok {
		if m == nil {
			return nil, fmt.Errorf("rawproto: nil message")
		}
		return mem.BufferSlice{mem.SliceBuffer(m.Bytes)}, nil
	}
	return c.proto.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := v.(*Message); ok {
		if m == nil {
			return fmt.Errorf("rawproto: nil message")
		}
		m.Bytes = data.Materialize() // a copy: gRPC reuses data's buffers
		return nil
	}
	return c.proto.Unmarshal(data, v)
}
