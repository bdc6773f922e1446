package main

import (
	"context"
	"errors"
	"io"

	"github.com/argusmcp/argus/host/manage"
)

// cmdStatus prints the gateway's health, backends and plugins as read from
// a running gateway's management API.
func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", stderr)
	path, explicit := configFlag(fs, "configuration file, for the listen address and management token")
	addr := fs.String("addr", "", "management API base URL (default: from the configuration, http://LISTEN/manage/v1)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, _, err := loadConfig(ctx, *path, explicit(), stderr)
	if err != nil {
		return err
	}
	base, token, err := manage.StatusTarget(cfg, *addr)
	if err != nil {
		return errUser{err}
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
