// Package pluginserve serves a plugin's gRPC services over go-plugin: to
// the host that started the process (Run), or in this process in
// go-plugin's test mode for sdk/sdktest (Test). Package sdk registers the
// services; this package holds the go-plugin and hclog glue, so none of it
// shows in sdk's API.
package pluginserve

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/argusmcp/argus/shared"
	"github.com/argusmcp/argus/shared/rawproto"
)

// Register registers the plugin's services on the gRPC server go-plugin
// created for the connection.
type Register func(broker *plugin.GRPCBroker, g *grpc.Server) error

// ErrStopped: test-mode serving ended before go-plugin handed out the
// configuration to reattach with.
var ErrStopped = errors.New("stopped before serving")

// Run serves to the Argus host that started this process and returns once
// the host closed the connection (go-plugin exits the process itself when
// it could not start).
func Run(register Register, log hclog.Logger) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  shared.Handshake,
		VersionedPlugins: shared.PluginSets(register),
		GRPCServer:       newGRPCServer,
		Logger:           log,
	})
}

// Test serves in this process in go-plugin's test mode until ctx is done.
// It returns the configuration a go-plugin client reattaches with, and a
// channel closed once serving has stopped and closeInstance (bounded by
// 5s) has returned.
func Test(ctx context.Context, register Register, closeInstance func(context.Context) error, log hclog.Logger) (*plugin.ReattachConfig, <-chan struct{}, error) {
	reattach := make(chan *plugin.ReattachConfig, 1)
	served := make(chan struct{})
	done := make(chan struct{})
	go plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  shared.Handshake,
		VersionedPlugins: shared.PluginSets(register),
		GRPCServer:       newGRPCServer,
		Logger:           log,
		Test:             &plugin.ServeTestConfig{Context: ctx, ReattachConfigCh: reattach, CloseCh: served},
	})
	go func() {
		<-served
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		closeInstance(cctx)
		cancel()
		close(done)
	}()
	select {
	case rc := <-reattach:
		return rc, done, nil
	case <-done:
		return nil, done, ErrStopped
	}
}

// newGRPCServer is the plugin's gRPC server. Its codec is gRPC's protobuf
// codec, which also lets a handler take a request undecoded (rawproto; a
// RawTraceExporter's trace requests).
func newGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts, shared.ServerOptions()...)
	return grpc.NewServer(append(opts, grpc.ForceServerCodecV2(rawproto.Codec()))...)
}

// Logger is the plugin's logger: JSON lines on w, which go-plugin's host
// side parses and re-emits at their level. Unnamed, because the host names
// the lines after the plugin instance. The level comes from the host
// ($ARGUS_PLUGIN_LOG_LEVEL, see shared.EnvLogLevel); the default is info.
func Logger(w io.Writer) hclog.Logger {
	level := hclog.LevelFromString(strings.TrimSpace(os.Getenv(shared.EnvLogLevel)))
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{Output: w, JSONFormat: true, Level: level})
}
