package transport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"testing"
)

// generalSniff is what the handler does with a body sniffPlain does not
// take: checkMessages, then json.Unmarshal into sniffed.
func generalSniff(body []byte) (msg sniffed, ok bool, checkErr error) {
	checkErr = checkMessages(body)
	ok = json.Unmarshal(body, &msg) == nil
	return msg, ok, checkErr
}

// sniffAgrees checks sniffPlain against the general path on one valid
// JSON body; plain reports whether sniffPlain took it.
func sniffAgrees(body []byte) (plain bool, err error) {
	var msg sniffed
	ok, plain := sniffPlain(body, &msg)
	if !plain {
		return false, nil
	}
	want, wantOK, wantErr := generalSniff(body)
	gotErr := checkPlain(&msg)
	switch {
	case fmt.Sprint(gotErr) != fmt.Sprint(wantErr):
		return true, fmt.Errorf("%s: check %v, general path %v", body, gotErr, wantErr)
	case wantErr != nil:
		return true, nil // refused either way; the sniffed fields go unused
	case ok != wantOK:
		return true, fmt.Errorf("%s: sniffed ok %v, json.Unmarshal ok %v", body, ok, wantOK)
	case !bytes.Equal(msg.ID, want.ID) || msg.Method != want.Method || !bytes.Equal(msg.Params, want.Params):
		return true, fmt.Errorf("%s: sniffed id %s method %q params %s, json.Unmarshal id %s method %q params %s",
			body, msg.ID, msg.Method, msg.Params, want.ID, want.Method, want.Params)
	}
	return true, nil
}

// TestSniffPlain: what clients send takes the allocation-free path and
// reads as json.Unmarshal reads it; what it must leave to the general path
// (batches, escapes, duplicates, other members, non-objects) is not taken.
func TestSniffPlain(t *testing.T) {
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"a \"}\" b"}}}`,
		`{"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}},"jsonrpc":"2.0","id":0}`,
		` { "jsonrpc" : "2.0" , "method" : "notifications/initialized" } `,
		`{"jsonrpc":"2.0","id":"abc","result":{}}`,
		`{"jsonrpc":"2.0","id":-9007199254740991,"error":{"code":-1,"message":"x"}}`,
		`{"jsonrpc":"2.0","id":9007199254740992,"method":"ping"}`,
		`{"jsonrpc":"2.0","id":1.5,"method":"ping"}`,
		`{"jsonrpc":"2.0","id":-0,"method":"ping"}`,
		`{"jsonrpc":"2.0","id":null,"method":"ping","params":null}`,
		`{"jsonrpc":"2.0","id":[1],"method":"ping","params":[1,"]",{"a":[]}]}`,
		`{"jsonrpc":"2.0","id":1}`,
		`{}`,
		`{"method":"é"}`,
	} {
		plain, err := sniffAgrees([]byte(body))
		if err != nil {
			t.Error(err)
		}
		if !plain {
			t.Errorf("not taken by the plain path: %s", body)
		}
	}
	for _, body := range []string{
		`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`,
		`{"jsonrpc":"2.0","id":1,"method":"tools\/call"}`,
		`{"jsonrpc":"2.0","i\u0064":1,"method":"ping"}`,
		`{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}`,
		`{"jsonrpc":"2.0","ID":1,"method":"ping"}`,
		`{"jsonrpc":"2.0","id":1,"method":"ping","extra":1}`,
		`{"jsonrpc":"2.0","id":1,"method":7}`,
		`{"jsonrpc":"2.0","id":1,"method":null}`,
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}",
		`null`,
		`"x"`,
	} {
		var msg sniffed
		if _, plain := sniffPlain([]byte(body), &msg); plain {
			t.Errorf("taken by the plain path: %s", body)
		}
	}
}

// FuzzSniffPlain: on any valid JSON body, sniffPlain either declines it or
// agrees with checkMessages and json.Unmarshal.
func FuzzSniffPlain(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":"x","result":{"a":[1,2,{"b":"\"}"}]}}`))
	f.Add([]byte(`{ "id" : 12 , "method" : "a" }`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		if _, err := sniffAgrees(body); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCheckID: the ids the SDK answers unchanged pass, others do not.
func TestCheckID(t *testing.T) {
	for id, want := range map[string]bool{
		`null`: true, `"x"`: true, `0`: true, `-1`: true, `9007199254740991`: true, `-9007199254740991`: true,
		`9007199254740992`: false, `-9007199254740992`: false, `99999999999999999999999`: false,
		`-0`: false, `1.5`: false, `1e3`: false, `01`: false, `true`: false, `{}`: false,
		`1000000000000000`: true, `9999999999999999`: false, `-01`: false, `-`: false, ``: false,
		`--1`: false, `+1`: false, `1-`: false, `0x1`: false, `-00`: false,
	} {
		if got := checkID(json.RawMessage(id)) == nil; got != want {
			t.Errorf("checkID(%s) accepts %v, want %v", id, got, want)
		}
	}
	// Every short string of the characters numbers are written with,
	// against the rule stated plainly: the grammar, then the range.
	plain := regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)
	reference := func(id string) bool {
		if !plain.MatchString(id) || id == "-0" {
			return false
		}
		n, err := strconv.ParseInt(id, 10, 64)
		return err == nil && n >= -(1<<53-1) && n <= 1<<53-1
	}
	const alphabet = "-019.e+"
	var walk func(prefix string)
	walk = func(prefix string) {
		if got, want := plainSafeInteger([]byte(prefix)), reference(prefix); got != want {
			t.Errorf("plainSafeInteger(%q) = %v, want %v", prefix, got, want)
		}
		if len(prefix) == 4 {
			return
		}
		for _, c := range alphabet {
			walk(prefix + string(c))
		}
	}
	walk("")
}
