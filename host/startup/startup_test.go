package startup_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/argusmcp/argus/host/catalog"
	"github.com/argusmcp/argus/host/startup"
)

type backends struct {
	done chan struct{}
	err  error
}

func (b *backends) StartupDone() <-chan struct{} { return b.done }
func (b *backends) StartupErr() error            { return b.err }

func verdict(t *testing.T, c <-chan error) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no verdict")
		return nil
	}
}

// TestWatch: plugin diagnostics come first and are reported, warnings
// included; errors among them decide the verdict without waiting for the
// backends; otherwise the backends' start-up error is the verdict.
func TestWatch(t *testing.T) {
	warning := hcl.Diagnostics{{Severity: hcl.DiagWarning, Summary: "w"}}
	failure := hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "e"}}
	conflict := &catalog.ConflictError{}
	for _, tc := range []struct {
		name     string
		diags    hcl.Diagnostics
		backends error
		want     error
		fault    bool
	}{
		{"all well", nil, nil, nil, false},
		{"plugin warning", warning, nil, nil, false},
		{"plugin error", failure, nil, startup.ErrPluginConfig, true},
		{"conflict", nil, conflict, conflict, true},
		{"other backend error", warning, errors.New("boom"), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plugins := make(chan hcl.Diagnostics, 1)
			b := &backends{done: make(chan struct{}), err: tc.backends}
			var reported hcl.Diagnostics
			c := startup.Watch(plugins, b, func(d hcl.Diagnostics) { reported = append(reported, d...) })
			plugins <- tc.diags
			if !tc.diags.HasErrors() {
				select {
				case err := <-c:
					t.Fatalf("verdict %v before the backends started", err)
				case <-time.After(20 * time.Millisecond):
				}
				close(b.done)
			}
			err := verdict(t, c)
			if tc.want != nil && !errors.Is(err, tc.want) || tc.want == nil && (err == nil) != (tc.backends == nil) {
				t.Fatalf("verdict %v, want %v", err, tc.want)
			}
			if len(reported) != len(tc.diags) {
				t.Errorf("reported %v, want %v", reported, tc.diags)
			}
			if startup.ConfigFault(err) != tc.fault {
				t.Errorf("ConfigFault(%v) = %v, want %v", err, !tc.fault, tc.fault)
			}
		})
	}
}
