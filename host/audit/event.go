// Package audit records every MCP operation as a structured audit event
// (NIST SP 800-53 AU-3: who, what, when, where, outcome, duration) and
// delivers the events to every configured audit sink without loss:
// a bounded queue per sink, batched writes, acknowledgements, and replay of
// everything unacknowledged when a sink plugin restarts.
package audit

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/argusmcp/argus/host/request"
)

// Event types (README, "Audit trail"). mcp_operation is the one event
// per audited call; mcp_request (opt-in,
// record_requests) is written before execution with the same event_id;
// management_operation records a management API mutation.
const (
	TypeOperation  = "mcp_operation"
	TypeRequest    = "mcp_request"
	TypeManagement = "management_operation"
)

// Audited reports whether method is one whose calls are audited
// (request.AuditedName).
func Audited(method string) bool { _, ok := request.AuditedName(method); return ok }

// targetMethod is method's name in target.method.
func targetMethod(method string) string { name, _ := request.AuditedName(method); return name }

// Event is one audit record, in the format README's "Audit trail" section
// documents (an example line and every field). Field names,
// nesting and types are a contract with SIEM parsers: never rename or
// remove; extend through Metadata or documented new keys.
type Event struct {
	Timestamp string         `json:"timestamp"`
	EventType string         `json:"event_type"`
	EventID   string         `json:"event_id"`
	Source    Source         `json:"source"`
	Target    Target         `json:"target"`
	Outcome   Outcome        `json:"outcome"`
	Metadata  map[string]any `json:"metadata"`
}

// Source is who made the request and from where.
type Source struct {
	SessionID *string `json:"session_id"`
	ClientIP  *string `json:"client_ip"`
	UserID    *string `json:"user_id"`
}

// Target is what the request was for.
type Target struct {
	Backend        *string `json:"backend"`
	Method         string  `json:"method"`
	CapabilityName string  `json:"capability_name"`
	OriginalName   *string `json:"original_name"`
}

// Outcome is how it ended.
type Outcome struct {
	Status    string  `json:"status"` // "success" or "error"
	LatencyMS float64 `json:"latency_ms"`
	Error     *string `json:"error"`
	ErrorType *string `json:"error_type"`
}

// Timestamp formats t like Python's datetime.isoformat() in UTC:
// microseconds and an explicit +00:00 offset (timestampLayout).
func Timestamp(t time.Time) string { return string(appendTimestamp(nil, t)) }

// timestampLayout is Timestamp's format as a time layout.
const timestampLayout = "2006-01-02T15:04:05.000000+00:00"

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Bounds of what a record keeps of a value the client chose, or its
// token carried: a name, an id, an error quoting them. A longer value is
// cut (request.Clip: at a character boundary, ending in "…") and the
// record lists it under metadata.truncated, so that no client can make
// records of any size (a 3 MB tool name used to make a 3 MB record, and
// a few hundred of them rotated every earlier record out of the files).
const (
	maxNameBytes  = 2048 // target.capability_name (a tool, a prompt, a URI), target.original_name
	maxErrorBytes = 4096 // outcome.error
	maxTextBytes  = 256  // source.session_id, client_ip, user_id; each of metadata.groups; a string metadata.jsonrpc_id
	maxGroups     = 64   // metadata.groups
)

// Field names in metadata.truncated, in the order a record lists them.
const (
	cutSessionID    = "source.session_id"
	cutClientIP     = "source.client_ip"
	cutUserID       = "source.user_id"
	cutCapability   = "target.capability_name"
	cutOriginalName = "target.original_name"
	cutError        = "outcome.error"
	cutGroups       = "metadata.groups"
	cutRPCID        = "metadata.jsonrpc_id"
)

// clip is s cut to n bytes (request.Clip), with field added to *cut if
// it was.
func clip(s string, n int, field string, cut *[]string) string {
	if len(s) <= n {
		return s
	}
	*cut = append(*cut, field)
	return request.Clip(s, n)
}

// clipGroups is groups bounded in number and each in length.
func clipGroups(groups []string, cut *[]string) []string {
	over := len(groups) > maxGroups
	for _, g := range groups {
		over = over || len(g) > maxTextBytes
	}
	if !over {
		return groups
	}
	*cut = append(*cut, cutGroups)
	out := make([]string, 0, min(len(groups), maxGroups))
	for _, g := range groups[:min(len(groups), maxGroups)] {
		out = append(out, request.Clip(g, maxTextBytes))
	}
	return out
}

// clipID is a JSON-RPC id (RPCID) with a string id bounded.
func clipID(id any, cut *[]string) any {
	if s, ok := id.(string); ok {
		return clip(s, maxTextBytes, cutRPCID, cut)
	}
	return id
}

// FromCall builds the mcp_operation event of a finished call. eventID
// links it to an earlier mcp_request record; "" makes a new one.
func FromCall(c *request.Call, eventID string) Event {
	if eventID == "" {
		eventID = uuid.NewString()
	}
	var cut []string
	e := Event{
		Timestamp: Timestamp(c.Start.Add(c.Duration)),
		EventType: TypeOperation,
		EventID:   eventID,
		Source:    source(c, &cut),
		Target: Target{
			Backend: strPtr(c.Backend), Method: targetMethod(c.Method),
			CapabilityName: clip(c.Capability, maxNameBytes, cutCapability, &cut),
			OriginalName:   strPtr(clip(c.OriginalName, maxNameBytes, cutOriginalName, &cut)),
		},
		Outcome: Outcome{Status: "success", LatencyMS: float64(c.Duration.Microseconds()) / 1000},
	}
	if e.Target.Method == "" {
		e.Target.Method = c.Method
	}
	if c.Outcome != request.OutcomeSuccess {
		e.Outcome.Status = "error"
		e.Outcome.ErrorType = strPtr(c.Outcome.String())
		e.Outcome.Error = strPtr(clip(errorMessage(c), maxErrorBytes, cutError, &cut))
	}
	e.Metadata = metadata(c, &cut)
	return e
}

// RequestRecord is the mcp_request event written before a call runs.
func RequestRecord(c *request.Call, eventID string) Event {
	var cut []string
	e := Event{
		Timestamp: Timestamp(c.Start),
		EventType: TypeRequest,
		EventID:   eventID,
		Source:    source(c, &cut),
		Target:    Target{Method: targetMethod(c.Method), CapabilityName: clip(c.Capability, maxNameBytes, cutCapability, &cut)},
		Outcome:   Outcome{Status: "pending"},
	}
	e.Metadata = metadata(c, &cut)
	return e
}

// source is who made call c, each field bounded.
func source(c *request.Call, cut *[]string) Source {
	return Source{
		SessionID: strPtr(clip(c.SessionID, maxTextBytes, cutSessionID, cut)),
		ClientIP:  strPtr(clip(c.ClientIP, maxTextBytes, cutClientIP, cut)),
		UserID:    strPtr(clip(c.UserID, maxTextBytes, cutUserID, cut)),
	}
}

// metadata is an event's metadata; cut lists the fields bounded so far,
// and its own. The mcp_operation event of a call is
// encoded by appendOperation, which writes these keys itself: a key added
// here goes there too, in its sorted place, and into the calls
// TestAppendOperationMatchesEvent generates.
func metadata(c *request.Call, cut *[]string) map[string]any {
	m := map[string]any{"request_id": c.ID, "transport": c.Transport}
	if len(c.Groups) > 0 {
		// A user authenticated by a JWT: their groups (source.user_id is
		// the user claim).
		m["groups"] = clipGroups(c.Groups, cut)
	}
	if id, ok := c.RPCID(); ok {
		m["jsonrpc_id"] = clipID(id, cut)
	}
	if c.ProtocolVersion != "" {
		m["protocol_version"] = c.ProtocolVersion
	}
	// Who vouched for a JWT's user.
	if c.Issuer != "" {
		m["issuer"] = c.Issuer
	}
	if c.Policy != "" {
		m["policy"] = c.Policy // the deciding policy, or quota:NAME
	}
	if c.Rounds > 0 {
		// A multi-round-trip call (SEP-2322): how many InputRequiredResults
		// came before this final answer, and the request that began it.
		m["rounds"] = c.Rounds
		m["logical_request_id"] = c.LogicalID
	}
	if len(*cut) > 0 {
		m["truncated"] = *cut
	}
	return m
}

func errorMessage(c *request.Call) string {
	if c.Outcome == request.OutcomeToolError {
		// The tool's own message: the text content of the isError result.
		return toolErrorText(c.Result)
	}
	if c.Err == nil {
		return c.Outcome.String()
	}
	var re *request.Error
	if asRequestError(c.Err, &re) {
		return re.Wire.Message // what the client saw; causes stay in the host log
	}
	return c.Err.Error()
}

// Marshal encodes e as one compact JSON object (invalid UTF-8 becomes
// U+FFFD, as encoding/json does), without reflection (appendEvent).
func (e Event) Marshal() []byte {
	if b, ok := appendEvent(make([]byte, 0, 512), &e); ok {
		return b
	}
	// Only a Metadata value that cannot be encoded gets here; keep the
	// record and say so rather than lose it.
	_, err := json.Marshal(e.Metadata)
	if err == nil {
		_, err = json.Marshal(e)
	}
	if err == nil {
		err = errors.New("cannot encode")
	}
	e.Metadata = map[string]any{"metadata_error": err.Error()}
	b, _ := json.Marshal(e)
	return b
}
