package revision

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestCheckParamHeaders(t *testing.T) {
	tool := &mcp.Tool{Name: "t", InputSchema: json.RawMessage(`{"type":"object","properties":{
		"region":{"type":"string","x-mcp-header":"Region"},
		"n":{"type":"integer","x-mcp-header":"N"},
		"flag":{"type":"boolean","x-mcp-header":"Flag"},
		"opts":{"type":"object","properties":{"zone":{"type":"string","x-mcp-header":"Zone"}}},
		"free":{"type":"string"}}}`)}
	ok := map[string]string{"Mcp-Param-Region": "eu-west", "Mcp-Param-N": "42", "Mcp-Param-Flag": "true", "Mcp-Param-Zone": "=?base64?w6l0w6k=?="}
	args := `{"region":"eu-west","n":42,"flag":true,"opts":{"zone":"été"},"free":"x"}`
	with := func(change map[string]string) http.Header {
		h := http.Header{}
		for k, v := range ok {
			h.Set(k, v)
		}
		for k, v := range change {
			if v == "" {
				h.Del(k)
			} else {
				h.Set(k, v)
			}
		}
		return h
	}
	for _, tc := range []struct {
		name    string
		header  http.Header
		args    string
		wantErr bool
	}{
		{"all match", with(nil), args, false},
		{"number as float", with(map[string]string{"Mcp-Param-N": "42.0"}), args, false},
		{"mismatch", with(map[string]string{"Mcp-Param-Region": "us-east"}), args, true},
		{"missing header", with(map[string]string{"Mcp-Param-N": ""}), args, true},
		{"header for absent argument", with(nil), `{"region":"eu-west","n":42,"flag":true}`, true},
		{"raw non-ASCII", with(map[string]string{"Mcp-Param-Zone": "été"}), args, true},
		{"bad base64", with(map[string]string{"Mcp-Param-Zone": "=?base64?***?="}), args, true},
		{"bool mismatch", with(map[string]string{"Mcp-Param-Flag": "false"}), args, true},
	} {
		err := CheckParamHeaders(tc.header, tool, json.RawMessage(tc.args))
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err = %v, want error %v", tc.name, err, tc.wantErr)
		}
		if err != nil && !errors.Is(err, ErrHeaderMismatch) {
			t.Errorf("%s: %v does not wrap ErrHeaderMismatch", tc.name, err)
		}
	}
	// A tool without annotations needs no headers.
	plain := &mcp.Tool{Name: "p", InputSchema: map[string]any{"type": "object"}}
	if err := CheckParamHeaders(http.Header{}, plain, json.RawMessage(`{"a":1}`)); err != nil {
		t.Errorf("plain tool: %v", err)
	}
}
