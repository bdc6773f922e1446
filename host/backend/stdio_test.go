package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

var wireSamples = []string{
	`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}}`,
	`{"jsonrpc":"2.0","id":"argus-raw-7","result":{}}`,
	`{"jsonrpc":"2.0","id":2.5,"error":{"code":-32602,"message":"bad","data":{"x":1}}}`,
	`{"jsonrpc":"2.0","id":3,"method":"roots/list","params":{}}`,
	`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1}}`,
	`{"jsonrpc":"2.0","method":"","id":4}`,
	`{"jsonrpc":"2.0","id":null,"result":{}}`,
	`{"jsonrpc":"2.0","result":{}}`,
	`{"jsonrpc":"1.0","id":1,"result":{}}`,
	`{"id":1,"result":{}}`,
	`{"jsonrpc":"2.0","id":{"a":1},"result":{}}`,
	`{"jsonrpc":"2.0","id":true,"result":{}}`,
	`{"jsonrpc":"2.0","id":1,"method":7}`,
	`{"jsonrpc":"2.0","ID":1,"Result":{}}`,
	`{"jsonrpc":"2.0","id":"é\u00e9","method":"m\u00e9","params":[1,2]}`,
	`[1]`,
	`"x"`,
	`{`,
}

// TestDecodeMessageAsTheSDK: the connection's decoder accepts and refuses
// what jsonrpc.DecodeMessage does, and decodes to the same messages.
func TestDecodeMessageAsTheSDK(t *testing.T) {
	for _, s := range wireSamples {
		want, wantErr := jsonrpc.DecodeMessage([]byte(s))
		got, err := decodeMessage([]byte(s))
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%s: error %v, the SDK's %v", s, err, wantErr)
			continue
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", s, got, want)
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, s := range wireSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, wantErr := jsonrpc.DecodeMessage(b)
		got, err := decodeMessage(b)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%q: error %v, the SDK's %v", b, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %#v\nwant %#v", b, got, want)
		}
	})
}

func readerConn(r io.Reader, limit int) *stdioConn {
	l := &frameLimit{r: r, limit: limit}
	return &stdioConn{limit: l, dec: json.NewDecoder(l)}
}

// TestStdioFraming: messages one per line (\n or \r\n), a batch read as its
// messages in order, data after a message on its line refused, a message
// over the frame limit refused, EOF at the end.
func TestStdioFraming(t *testing.T) {
	ctx := context.Background()
	in := `{"jsonrpc":"2.0","id":1,"result":{}}` + "\n" +
		`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}` + "\r\n" +
		`[{"jsonrpc":"2.0","id":2,"result":{}},{"jsonrpc":"2.0","id":3,"result":{}}]` + "\n"
	c := readerConn(strings.NewReader(in), 1<<20)
	var ids []string
	for {
		m, err := c.Read(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch m := m.(type) {
		case *jsonrpc.Response:
			ids = append(ids, fmt.Sprint(m.ID.Raw()))
		case *jsonrpc.Request:
			ids = append(ids, m.Method)
		}
	}
	if got := strings.Join(ids, " "); got != "1 notifications/message 2 3" {
		t.Fatalf("read %q", got)
	}

	c = readerConn(strings.NewReader(`{"jsonrpc":"2.0","id":1,"result":{}} {"jsonrpc":"2.0","id":2,"result":{}}`+"\n"), 1<<20)
	if _, err := c.Read(ctx); err == nil || !strings.Contains(err.Error(), "trailing data") {
		t.Fatalf("two messages on a line: %v", err)
	}

	big := `{"jsonrpc":"2.0","id":1,"result":{"text":"` + strings.Repeat("x", 4096) + `"}}` + "\n"
	c = readerConn(strings.NewReader(big), 1024)
	if _, err := c.Read(ctx); !errors.Is(err, errFrameTooLarge) {
		t.Fatalf("a message over the frame limit: %v", err)
	}
}
