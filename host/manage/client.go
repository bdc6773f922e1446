package manage

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/supervisor"
)

// UnavailableError is what GetStatus returns when the management API
// cannot be asked: unreachable, or an answer other than 200 OK. `argus
// status` reports it as a user error.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// StatusReport is GET /status as `argus status` reads it.
type StatusReport struct {
	Health    Health                     `json:"health"`
	Backends  []supervisor.BackendStatus `json:"backends"`
	Catalogue map[string]int             `json:"catalogue"`
	Sessions  int                        `json:"sessions"`
	// StatelessRequests are the requests of stateless clients being
	// served, which are no sessions.
	StatelessRequests int              `json:"stateless_requests"`
	Plugins           []map[string]any `json:"plugins"`
	// Telemetry is what became of each span exporter's spans; none
	// with telemetry off.
	Telemetry []ExporterSpans `json:"telemetry"`
}

// ExporterSpans is one span exporter's entry of GET /status "telemetry".
type ExporterSpans struct {
	Exporter string `json:"exporter"`
	Exported uint64 `json:"spans_exported"`
	Dropped  uint64 `json:"spans_dropped"` // the exporter fell behind: its queue was full
	Lost     uint64 `json:"spans_lost"`    // in, or queued behind, an export that failed
}

// GetStatus reads a running gateway's status from the API at base (e.g.
// "http://127.0.0.1:8080/manage/v1") with the management token. It gives
// up after 10 seconds.
func GetStatus(base, token string) (StatusReport, error) {
	var st StatusReport
	url := base + "/status"
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return st, &UnavailableError{err}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return st, &UnavailableError{fmt.Errorf("cannot reach the management API at %s: %w", url, err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		return st, &UnavailableError{fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))}
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("%s: unexpected answer: %w", url, err)
	}
	return st, nil
}

// Write prints the report for people: the gateway's line, a table of
// backends and, if any, one of plugin instances and one of span
// exporters.
func (st StatusReport) Write(w io.Writer) {
	fmt.Fprintf(w, "Gateway  %s   version %s   up %s   sessions %d   stateless requests %d   tools %d  resources %d  prompts %d\n\n",
		strings.ToUpper(string(st.Health.Status)), st.Health.Version,
		(time.Duration(st.Health.UptimeSeconds) * time.Second).String(), st.Sessions, st.StatelessRequests,
		st.Catalogue["tools"], st.Catalogue["resources"], st.Catalogue["prompts"])
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tTYPE\tPHASE\tHEALTH\tLATENCY\tFAILURES\tTOOLS\tERROR")
	for _, b := range st.Backends {
		lat := "-"
		if b.Health.LastCheck != nil {
			lat = fmt.Sprintf("%.1fms", b.Health.LatencyMS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", b.Name, b.Type, b.Phase, b.Health.Status, lat,
			b.Health.ConsecutiveFailures, b.Capabilities.Tools, b.Error)
	}
	tw.Flush()
	if len(st.Plugins) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PLUGIN INSTANCE\tKIND\tPLUGIN\tPHASE\tPID\tRESTARTS\tLAST ERROR")
		for _, p := range st.Plugins {
			fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%v\t%v\n", p["instance"], p["kind"], p["plugin"], p["phase"], p["pid"], p["restarts"], p["last_error"])
		}
		tw.Flush()
	}
	if len(st.Telemetry) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SPAN EXPORTER\tEXPORTED\tDROPPED (QUEUE FULL)\tLOST (EXPORT FAILED)")
		for _, e := range st.Telemetry {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", e.Exporter, e.Exported, e.Dropped, e.Lost)
		}
		tw.Flush()
	}
}

// StatusTarget is where `argus status` asks: base (default: the API on
// cfg's listen address) and the management token, which must be set.
func StatusTarget(cfg *config.Config, base string) (url, token string, err error) {
	if base == "" {
		base = "http://" + cfg.Server.Listen + Prefix
	}
	token, _, err = ResolveToken(cfg.Management.Token)
	if err == nil && token == "" {
		err = fmt.Errorf("no management token: set management.token or $%s", TokenEnv)
	}
	return base, token, err
}

// LogToken logs whether the management API has a token, and so serves
// more than health and readiness; source tells where the token came from.
// admins says whether admin JWTs (auth.admin_groups) are admitted, which
// open the whole API without a token.
func LogToken(log hclog.Logger, token, source string, admins bool) {
	switch {
	case token == "" && admins:
		log.Info("no management token: the management API admits the JWTs of auth.admin_groups only", "set", "management.token or $"+TokenEnv)
	case token == "":
		log.Warn("no management token: only "+Prefix+"/health and "+Prefix+"/ready are served", "set", "management.token or $"+TokenEnv)
	default:
		log.Debug("management token configured", "source", source)
	}
}
