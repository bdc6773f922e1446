package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestE2ELeanAnswersAsTheSDK sends odd tools/call, resources/read and
// prompts/get requests on one session
// twice: as a plain message, which the lean path may take, and with an
// extra member, which makes it no plain message, so the SDK's path serves
// it as before the lean path existed. Both forms must get the same
// JSON-RPC answer (same result, or same error code and message) and the
// same audit records; none may hang or break the session.
func TestE2ELeanAnswersAsTheSDK(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	url, _ := startArgus(t, fmt.Sprintf(`audit {
  sink "jsonl" "primary" {
    file = %q
  }
}
`, file)+demoStdio(t, "alpha"))
	c := openLeanSession(t, url, `{}`)
	deep := strings.Repeat(`{"a":`, 1100) + `1` + strings.Repeat(`}`, 1100)
	// A `_meta` member nested so that the whole message is d deep (the
	// envelope, params and _meta are three levels): 1000 is the most the
	// SDK takes, and the most a backend's SDK takes of what Argus sends on.
	metaDeep := func(d int) string {
		return `"_meta":{"k":` + strings.Repeat(`[`, d-3) + strings.Repeat(`]`, d-3) + `}`
	}
	// The backend's process: a message it cannot take would end it.
	pid := func() string {
		t.Helper()
		resp := c.post(`{"jsonrpc":"2.0","id":"pid","method":"tools/call","params":{"name":"alpha_pid","arguments":{}}}`, nil)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := rpcMessage(t, string(b))
		r, _ := json.Marshal(m["result"])
		if m["result"] == nil {
			t.Fatalf("alpha_pid: %s", b)
		}
		return string(r)
	}
	backendPID := pid()
	cases := map[string]string{
		"no params":          ``,
		"null params":        `,"params":null`,
		"empty params":       `,"params":{}`,
		"array params":       `,"params":[]`,
		"string params":      `,"params":"x"`,
		"name number":        `,"params":{"name":7}`,
		"name null":          `,"params":{"name":null,"arguments":{}}`,
		"arguments string":   `,"params":{"name":"alpha_echo","arguments":"hi"}`,
		"arguments array":    `,"params":{"name":"alpha_echo","arguments":[1]}`,
		"arguments null":     `,"params":{"name":"alpha_echo","arguments":null}`,
		"arguments absent":   `,"params":{"name":"alpha_echo"}`,
		"wrong-type message": `,"params":{"name":"alpha_echo","arguments":{"message":5}}`,
		"meta not an object": `,"params":{"name":"alpha_echo","arguments":{"message":"m"},"_meta":7}`,
		"deep meta":          `,"params":{"name":"alpha_echo","arguments":{"message":"m"},"_meta":` + deep + `}`,
		"big meta":           `,"params":{"name":"alpha_echo","arguments":{"message":"m"},"_meta":{"k":"` + strings.Repeat("x", 200000) + `"}}`,
		"escaped name":       `,"params":{"name":"alpha_\u0065cho","arguments":{"message":"\u00e9\ud83d\ude00"}}`,
		"case of members":    `,"params":{"Name":"alpha_echo","Arguments":{"message":"m"}}`,
		"duplicate members":  `,"params":{"name":"nope","name":"alpha_echo","arguments":{"message":"m"}}`,
		"progress token obj": `,"params":{"name":"alpha_echo","arguments":{"message":"m"},"_meta":{"progressToken":{}}}`,
		"unknown tool":       `,"params":{"name":"alpha_nope","arguments":{}}`,
		"meta depth 1000":    `,"params":{"name":"alpha_echo","arguments":{"message":"m"},` + metaDeep(1000) + `}`,
		"meta depth 1001":    `,"params":{"name":"alpha_echo","arguments":{"message":"m"},` + metaDeep(1001) + `}`,
		"arguments depth 1001": `,"params":{"name":"alpha_echo","arguments":{"message":"m","x":` +
			strings.Repeat(`[`, 998) + strings.Repeat(`]`, 998) + `}}`,
	}
	readCases := map[string]string{
		"no params":       ``,
		"null params":     `,"params":null`,
		"empty params":    `,"params":{}`,
		"array params":    `,"params":[]`,
		"uri number":      `,"params":{"uri":7}`,
		"uri null":        `,"params":{"uri":null}`,
		"readme":          `,"params":{"uri":"demo://alpha/readme"}`,
		"template":        `,"params":{"uri":"demo://alpha/items/5"}`,
		"escaped uri":     `,"params":{"uri":"demo://alpha/\u0072eadme"}`,
		"unknown":         `,"params":{"uri":"demo://alpha/nope"}`,
		"case of members": `,"params":{"URI":"demo://alpha/readme"}`,
		"other member":    `,"params":{"uri":"demo://alpha/readme","x":1}`,
		"meta not object": `,"params":{"uri":"demo://alpha/readme","_meta":[]}`,
		"deep meta":       `,"params":{"uri":"demo://alpha/readme","_meta":` + deep + `}`,
		"long uri":        `,"params":{"uri":"demo://alpha/items/` + strings.Repeat("x", 9000) + `"}`,
		"meta depth 1000": `,"params":{"uri":"demo://alpha/readme",` + metaDeep(1000) + `}`,
		"meta depth 1001": `,"params":{"uri":"demo://alpha/readme",` + metaDeep(1001) + `}`,
	}
	promptCases := map[string]string{
		"no params":         ``,
		"null params":       `,"params":null`,
		"empty params":      `,"params":{}`,
		"name number":       `,"params":{"name":7}`,
		"greet":             `,"params":{"name":"alpha_greet"}`,
		"greet Ada":         `,"params":{"name":"alpha_greet","arguments":{"name":"Ada"}}`,
		"argument number":   `,"params":{"name":"alpha_greet","arguments":{"name":5}}`,
		"arguments array":   `,"params":{"name":"alpha_greet","arguments":["Ada"]}`,
		"arguments null":    `,"params":{"name":"alpha_greet","arguments":null}`,
		"unknown prompt":    `,"params":{"name":"alpha_nope"}`,
		"case of members":   `,"params":{"Name":"alpha_greet"}`,
		"duplicate members": `,"params":{"name":"nope","name":"alpha_greet"}`,
		"deep meta":         `,"params":{"name":"alpha_greet","_meta":` + deep + `}`,
		"meta depth 1000":   `,"params":{"name":"alpha_greet","arguments":{"name":"Ada"},` + metaDeep(1000) + `}`,
		"meta depth 1001":   `,"params":{"name":"alpha_greet","arguments":{"name":"Ada"},` + metaDeep(1001) + `}`,
	}
	listCases := map[string]string{
		"no params":       ``,
		"null params":     `,"params":null`,
		"empty params":    `,"params":{}`,
		"array params":    `,"params":[]`,
		"cursor":          `,"params":{"cursor":"x"}`,
		"cursor number":   `,"params":{"cursor":7}`,
		"empty cursor":    `,"params":{"cursor":""}`,
		"meta":            `,"params":{"_meta":{"progressToken":"p","k":[1,{"a":null}]}}`,
		"meta not object": `,"params":{"_meta":7}`,
		"other member":    `,"params":{"x":1}`,
		"case of members": `,"params":{"Cursor":"x"}`,
		"deep meta":       `,"params":{"_meta":` + deep + `}`,
		"meta depth 1000": `,"params":{` + metaDeep(1000) + `}`,
		"meta depth 1001": `,"params":{` + metaDeep(1001) + `}`,
	}
	completeCases := map[string]string{
		"no params":        ``,
		"null params":      `,"params":null`,
		"empty params":     `,"params":{}`,
		"prompt argument":  `,"params":{"ref":{"type":"ref/prompt","name":"alpha_greet"},"argument":{"name":"style","value":"s"}}`,
		"resource":         `,"params":{"ref":{"type":"ref/resource","uri":"demo://alpha/items/{id}"},"argument":{"name":"id","value":"1"}}`,
		"unknown prompt":   `,"params":{"ref":{"type":"ref/prompt","name":"alpha_nope"},"argument":{"name":"style","value":"s"}}`,
		"unknown ref type": `,"params":{"ref":{"type":"ref/other","name":"x"},"argument":{"name":"a","value":"b"}}`,
		"ref null":         `,"params":{"ref":null,"argument":{"name":"a","value":"b"}}`,
		"argument absent":  `,"params":{"ref":{"type":"ref/prompt","name":"alpha_greet"}}`,
		"value number":     `,"params":{"ref":{"type":"ref/prompt","name":"alpha_greet"},"argument":{"name":"style","value":5}}`,
		"context":          `,"params":{"ref":{"type":"ref/prompt","name":"alpha_greet"},"argument":{"name":"style","value":"s"},"context":{"arguments":{"name":"x"}}}`,
		"meta depth 1001":  `,"params":{"ref":{"type":"ref/prompt","name":"alpha_greet"},"argument":{"name":"style","value":"s"},` + metaDeep(1001) + `}`,
	}
	served := map[string]bool{"tools/call escaped name": true, "completion/complete prompt argument": true, "resources/read readme": true, "resources/read template": true,
		"prompts/get greet Ada": true, "prompts/get unknown prompt": true,
		"tools/call meta depth 1000": true, "resources/read meta depth 1000": true, "prompts/get meta depth 1000": true}
	for _, m := range []string{"tools/list", "prompts/list", "resources/list", "resources/templates/list"} {
		served[m+" empty params"], served[m+" meta"], served[m+" empty cursor"] = true, true, true
	}
	n := 0
	for _, m := range []struct {
		method string
		cases  map[string]string
	}{{"tools/call", cases}, {"resources/read", readCases}, {"prompts/get", promptCases},
		{"tools/list", listCases}, {"prompts/list", listCases}, {"resources/list", listCases}, {"resources/templates/list", listCases},
		{"completion/complete", completeCases}} {
		for name, params := range m.cases {
			name := m.method + " " + name
			n++
			var answers [2]map[string]any
			for i, extra := range []string{``, `,"x-odd":1`} {
				id := fmt.Sprintf(`"%s-%d"`, []string{"lean", "sdk"}[i], n)
				resp := c.post(`{"jsonrpc":"2.0","id":`+id+`,"method":"`+m.method+`"`+params+extra+`}`, nil)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				m := rpcMessage(t, string(b))
				if m["id"] != strings.Trim(id, `"`) {
					t.Errorf("%s (form %d): HTTP %d, answer %s", name, i, resp.StatusCode, b)
				}
				// Served requests show which path took them: the lean
				// path answers application/json, the SDK's an SSE stream.
				if served[name] {
					if ct, want := resp.Header.Get("Content-Type"), []string{"application/json", "text/event-stream"}[i]; ct != want {
						t.Errorf("%s (form %d): Content-Type %q, want %q", name, i, ct, want)
					}
				}
				delete(m, "id")
				answers[i] = m
			}
			if !reflect.DeepEqual(answers[0], answers[1]) {
				a, _ := json.Marshal(answers[0])
				b, _ := json.Marshal(answers[1])
				t.Errorf("%s:\nlean form: %.400s\nSDK form:  %.400s", name, a, b)
			}
		}
	}
	// Ids of every kind the SDK answers with unchanged come back the same.
	for _, id := range []string{`0`, `-5`, `9007199254740991`, `-9007199254740991`, `""`, `"\u00e9\"x"`} {
		var answers [2]map[string]any
		for i, extra := range []string{``, `,"x-odd":1`} {
			resp := c.post(`{"jsonrpc":"2.0","id":`+id+`,"method":"tools/call","params":{"name":"alpha_echo","arguments":{"message":"m"}}`+extra+`}`, nil)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			answers[i] = rpcMessage(t, string(b))
		}
		var want any
		json.Unmarshal([]byte(id), &want)
		if !reflect.DeepEqual(answers[0], answers[1]) || answers[0]["id"] != want {
			t.Errorf("id %s: lean form %v, SDK form %v", id, answers[0], answers[1])
		}
	}
	// An id with a lone surrogate escaped: both forms answer with the
	// same bytes (the SDK's U+FFFD; the lean path used to echo the
	// escape).
	var ids [2]string
	for i, extra := range []string{``, `,"x-odd":1`} {
		resp := c.post(`{"jsonrpc":"2.0","id":"a\ud800b","method":"tools/call","params":{"name":"alpha_echo","arguments":{"message":"m"}}`+extra+`}`, nil)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		_, after, _ := strings.Cut(string(b), `"id":`)
		ids[i], _, _ = strings.Cut(after, ",")
	}
	if ids[0] != ids[1] {
		t.Errorf("id with a lone surrogate: lean form answered with id %s, SDK form with %s", ids[0], ids[1])
	}
	// An id with a byte that is not UTF-8: the SDK answers with it
	// replaced (U+FFFD); the lean path used to echo it, making an answer
	// that is not UTF-8.
	for i, extra := range []string{``, `,"x-odd":1`} {
		resp := c.post(`{"jsonrpc":"2.0","id":"a`+"\xff"+`b","method":"tools/call","params":{"name":"alpha_echo","arguments":{"message":"m"}}`+extra+`}`, nil)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !utf8.Valid(b) || rpcMessage(t, string(b))["id"] != "a\ufffdb" {
			t.Errorf("id with a byte that is not UTF-8 (form %d): %q", i, b)
		}
	}
	resp := c.post(`{"jsonrpc":"2.0","id":"long","method":"resources/read","params":{"uri":"demo://alpha/items/`+strings.Repeat("x", 9000)+`"}}`, nil)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if e, _ := rpcMessage(t, string(b))["error"].(map[string]any); e == nil || e["code"] != float64(-32002) ||
		!strings.Contains(fmt.Sprint(e["message"]), "not against templates (at most 8192 bytes)") {
		t.Errorf("resources/read of a 9,015-byte URI: %.300s", b)
	}
	if now := pid(); now != backendPID {
		t.Errorf("the backend's process changed from %s to %s: a request ended it", backendPID, now)
	}
	// Every call that reached the chain is audited, in both forms alike.
	// The records are written in order: once a last call's is there, all
	// are.
	resp = c.post(`{"jsonrpc":"2.0","id":"end","method":"tools/call","params":{"name":"alpha_echo","arguments":{"message":"end"}}}`, nil)
	resp.Body.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		counts, end := map[string]int{}, false
		for _, r := range readAudit(t, file) {
			id, _ := r.Metadata["jsonrpc_id"].(string)
			end = end || id == "end"
			counts[id]++
		}
		if end {
			for i := 1; i <= n; i++ {
				if l, s := counts[fmt.Sprintf("lean-%d", i)], counts[fmt.Sprintf("sdk-%d", i)]; l != s {
					t.Errorf("call %d audited %d times in the lean form, %d in the SDK form", i, l, s)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the last call's audit record did not appear within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
