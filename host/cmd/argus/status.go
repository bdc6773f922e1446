package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"

	"strings"
	"text/tabwriter"
	"time"

	"github.com/argusmcp/argus/host/manage"
	"github.com/argusmcp/argus/host/supervisor"
)

// cmdStatus prints the gateway's health, backends and plugins as read from
// a running gateway's management API.
func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", stderr)
	path := fs.String("config", "argus.hcl", "configuration file, for the listen address and management token")
	addr := fs.String("addr", "", "management API base URL (default: from the configuration, http://LISTEN/manage/v1)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })
	cfg, err := loadConfig(ctx, *path, explicit, stderr)
	if err != nil {
		return err
	}
	base := *addr
	if base == "" {
		base = "http://" + cfg.Server.Listen + manage.Prefix
	}
	token, _, err := manage.ResolveToken(cfg.Management.Token)
	if err != nil {
		return errUser{err}
	}
	if token == "" {
		return errUser{fmt.Errorf("no management token: set management.token or $%s", manage.TokenEnv)}
	}
	var st struct {
		Health    manage.Health              `json:"health"`
		Backends  []supervisor.BackendStatus `json:"backends"`
		Catalogue map[string]int             `json:"catalogue"`
		Sessions  int                        `json:"sessions"`
		Plugins   []map[string]any           `json:"plugins"`
	}
	if err := getJSON(base+"/status", token, &st); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Gateway  %s   version %s   up %s   sessions %d   tools %d  resources %d  prompts %d\n\n",
		strings.ToUpper(st.Health.Status), st.Health.Version,
		(time.Duration(st.Health.UptimeSeconds) * time.Second).String(), st.Sessions,
		st.Catalogue["tools"], st.Catalogue["resources"], st.Catalogue["prompts"])
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
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
		fmt.Fprintln(stdout)
		tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PLUGIN INSTANCE\tKIND\tPLUGIN\tPHASE\tPID\tRESTARTS\tLAST ERROR")
		for _, p := range st.Plugins {
			fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%v\t%v\n", p["instance"], p["kind"], p["plugin"], p["phase"], p["pid"], p["restarts"], p["last_error"])
		}
		tw.Flush()
	}
	return nil
}

func getJSON(url, token string, v any) error {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return errUser{err}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return errUser{fmt.Errorf("cannot reach the management API at %s: %w", url, err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		return errUser{fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: unexpected answer: %w", url, err)
	}
	return nil
}
