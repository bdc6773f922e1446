// Package testserve connects package sdk to package sdktest without sdk
// exporting go-plugin or hclog types: sdk sets Serve in its init, and
// sdktest, which imports sdk, calls it. Being internal to sdk/, nothing
// outside the SDK can reach it.
package testserve

import (
	"context"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// Serve serves plugin (an *sdk.Plugin) in this process in go-plugin's test
// mode until ctx is done. It returns the configuration a go-plugin client
// reattaches with, and a channel closed once serving has stopped and the
// configured instance is closed. Package sdk sets it; it is never nil
// once sdk is linked in.
var Serve func(ctx context.Context, plugin any, log hclog.Logger) (*plugin.ReattachConfig, <-chan struct{}, error)
