package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/argusmcp/argus/host/manage"
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
	st, err := manage.GetStatus(base, token)
	if ue := (*manage.UnavailableError)(nil); errors.As(err, &ue) {
		return errUser{err}
	} else if err != nil {
		return err
	}
	st.Write(stdout)
	return nil
}
