package rawproto

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// A *Message travels as its bytes, both ways, and owns what it was given.
func TestMessagePassesThrough(t *testing.T) {
	c := Codec()
	if c.Name() != "proto" {
		t.Errorf("Name = %q, want proto (the content type peers expect)", c.Name())
	}
	want := []byte{0x0a, 0x03, 'a', 'b', 'c', 0xff}
	out, err := c.Marshal(&Message{Bytes: want})
	if err != nil || !bytes.Equal(out.Materialize(), want) {
		t.Fatalf("Marshal = %x, %v; want %x", out.Materialize(), err, want)
	}
	buf := append([]byte(nil), want...)
	var m Message
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(buf)}, &m); err != nil || !bytes.Equal(m.Bytes, want) {
		t.Fatalf("Unmarshal = %x, %v; want %x", m.Bytes, err, want)
	}
	buf[0] = 0 // gRPC reuses its buffers
	if !bytes.Equal(m.Bytes, want) {
		t.Errorf("the message shares the codec's buffer: %x", m.Bytes)
	}
}

// Every other message is gRPC's protobuf codec's business, unchanged; a
// nil *Message is an error, not a panic.
func TestOtherMessagesAreProtobuf(t *testing.T) {
	c := Codec()
	in := wrapperspb.String("hello")
	out, err := c.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := proto.Marshal(in); !bytes.Equal(out.Materialize(), want) {
		t.Errorf("Marshal = %x, want %x", out.Materialize(), want)
	}
	got := new(wrapperspb.StringValue)
	if err := c.Unmarshal(out, got); err != nil || got.GetValue() != "hello" {
		t.Errorf("Unmarshal = %v, %v", got, err)
	}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0xff})}, new(wrapperspb.StringValue)); err == nil {
		t.Error("Unmarshal of bad protobuf succeeded")
	}
	if _, err := c.Marshal("not a message"); err == nil {
		t.Error("Marshal of a string succeeded")
	}
	var nilMsg *Message
	if _, err := c.Marshal(nilMsg); err == nil {
		t.Error("Marshal of a nil *Message succeeded")
	}
	if err := c.Unmarshal(mem.BufferSlice{}, nilMsg); err == nil {
		t.Error("Unmarshal into a nil *Message succeeded")
	}
}
