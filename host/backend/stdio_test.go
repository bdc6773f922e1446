package backend

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// filterRun reads all of input through an answerFilter whose calls
// argus-raw-1 … argus-raw-9 are waiting, as the SDK's reader would; when
// sdkKeepsUp, every line handed over counts as read by the SDK's session
// at once, else none does. It returns what the SDK got and the answers
// delivered, by id.
func filterRun(t *testing.T, input string, sdkKeepsUp bool) (string, map[string]*jsonrpc.Response) {
	t.Helper()
	raw := &rawCalls{waiting: map[string]chan *jsonrpc.Response{}}
	chans := map[string]chan *jsonrpc.Response{}
	for i := 1; i <= 9; i++ {
		id := rawIDPrefix + string(rune('0'+i))
		chans[id] = make(chan *jsonrpc.Response, 1)
		raw.waiting[id] = chans[id]
	}
	f := &answerFilter{r: bufio.NewReaderSize(strings.NewReader(input), answerLineMax), raw: raw}
	var out, line bytes.Buffer
	buf := make([]byte, 100) // smaller than a line: the SDK's reader takes what it is given
	for {
		n, err := f.Read(buf)
		out.Write(buf[:n])
		line.Write(buf[:n])
		// a message is complete once what came since the last one is a
		// JSON value (a batch counts as its elements, as the SDK reads it)
		if msg := bytes.TrimSpace(line.Bytes()); bytes.HasSuffix(line.Bytes(), []byte("\n")) && json.Valid(msg) {
			var batch []json.RawMessage
			n := 1
			if json.Unmarshal(msg, &batch) == nil {
				n = len(batch)
			}
			if sdkKeepsUp {
				raw.read.Add(uint64(n))
			}
			line.Reset()
		} else if len(msg) == 0 {
			line.Reset()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]*jsonrpc.Response{}
	for id, ch := range chans {
		select {
		case r := <-ch:
			got[id] = r
		default:
		}
	}
	return out.String(), got
}

// TestAnswerFilter: a plain answer to a waiting Call is delivered and
// kept from the SDK; every other line reaches the SDK byte for byte, and
// so does an answer while a message before it is still unread, so order
// is kept.
func TestAnswerFilter(t *testing.T) {
	const (
		result = `{"jsonrpc":"2.0","id":"argus-raw-1","result":{"content":[{"type":"text","text":"hi"}]}}` + "\n"
		failed = `{"jsonrpc":"2.0","id":"argus-raw-2","error":{"code":-32602,"message":"no such tool","data":{"x":1}}}` + "\n"
		notice = `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"argus-raw-1"}}` + "\n"
	)
	out, got := filterRun(t, notice+result+"\n  \n"+failed, true)
	if out != notice+"\n  \n" {
		t.Fatalf("the SDK got %q", out)
	}
	if r := got["argus-raw-1"]; r == nil || r.Error != nil || string(r.Result) != `{"content":[{"type":"text","text":"hi"}]}` {
		t.Fatalf("result delivered as %+v", r)
	}
	if r := got["argus-raw-2"]; r == nil {
		t.Fatal("error not delivered")
	} else if e, ok := r.Error.(*jsonrpc.Error); !ok || e.Code != -32602 || e.Message != "no such tool" || string(e.Data) != `{"x":1}` {
		t.Fatalf("error delivered as %+v", r)
	}

	// Order: the SDK has not read the notice yet, so the answer after it
	// goes the SDK's way too.
	if out, got := filterRun(t, notice+result, false); out != notice+result || len(got) != 0 {
		t.Fatalf("behind an unread message: the SDK got %q, delivered %v", out, got)
	}

	long := `{"jsonrpc":"2.0","id":"argus-raw-3","result":{"content":[{"type":"text","text":"` + strings.Repeat("x", answerLineMax) + `"}]}}` + "\n"
	deep := `{"jsonrpc":"2.0","id":"argus-raw-4","result":{"a":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + "}}\n"
	for name, line := range map[string]string{
		"another member":     `{"jsonrpc":"2.0","id":"argus-raw-1","result":{},"extra":1}` + "\n",
		"member case":        `{"jsonrpc":"2.0","ID":"argus-raw-1","result":{}}` + "\n",
		"numeric id":         `{"jsonrpc":"2.0","id":1,"result":{"argus-raw-1":1}}` + "\n",
		"the SDK's id":       `{"jsonrpc":"2.0","id":"x-argus-raw-1","result":{}}` + "\n",
		"not waiting":        `{"jsonrpc":"2.0","id":"argus-raw-77","result":{}}` + "\n",
		"result and error":   `{"jsonrpc":"2.0","id":"argus-raw-1","result":{},"error":{"code":1,"message":"m"}}` + "\n",
		"neither":            `{"jsonrpc":"2.0","id":"argus-raw-1"}` + "\n",
		"null result":        `{"jsonrpc":"2.0","id":"argus-raw-1","result":null}` + "\n",
		"version":            `{"jsonrpc":"1.0","id":"argus-raw-1","result":{}}` + "\n",
		"error shape":        `{"jsonrpc":"2.0","id":"argus-raw-1","error":{"code":"1","message":"m"}}` + "\n",
		"trailing data":      `{"jsonrpc":"2.0","id":"argus-raw-1","result":{}} {}` + "\n",
		"no JSON":            `"argus-raw-1` + "\n",
		"across lines":       "{\"jsonrpc\":\"2.0\",\n\"id\":\"argus-raw-1\",\n\"result\":{}}\n",
		"a batch":            `[{"jsonrpc":"2.0","id":"argus-raw-1","result":{}}]` + "\n",
		"longer than looked": long,
		"nested too deep":    deep,
		"no newline at end":  strings.TrimSuffix(result, "\n"),
	} {
		if out, got := filterRun(t, line, true); out != line || len(got) != 0 {
			t.Errorf("%s: the SDK got %d bytes of %d, delivered %v", name, len(out), len(line), got)
		}
	}
	// After a message across lines or a batch, lines and messages no
	// longer pair: answers take the SDK's way from then on.
	for name, first := range map[string]string{
		"across lines": "{\"jsonrpc\":\"2.0\",\n\"method\":\"notifications/initialized\"}\n",
		"a batch":      `[{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","method":"notifications/initialized"}]` + "\n",
	} {
		if out, got := filterRun(t, first+notice+result, true); out != first+notice+result || len(got) != 0 {
			t.Errorf("after a message %s: the SDK got %q, delivered %v", name, out, got)
		}
	}
}
