// Package shared is the wire contract between the Argus host and its
// plugins: the go-plugin handshake, the protocol versions, the plugin set
// and the gRPC settings both sides use. The services themselves are the
// protobuf definitions under shared/proto (generated Go code committed;
// `make generate` reproduces it).
//
// Plugins are served with HashiCorp go-plugin over gRPC only, with
// automatic mutual TLS. One plugin process serves one configured instance.
//
// This package never imports the host.
package shared

import (
	"context"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/argusmcp/argus/shared/healthstatus"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// ProtocolVersion is the plugin protocol version this code speaks. It is
// negotiated by go-plugin (VersionedPlugins) and repeated in GetInfo.
const ProtocolVersion = 1

// Handshake is the go-plugin handshake. The magic cookie is not a security
// measure: it lets a plugin binary tell that it was started by Argus and
// print a friendly message otherwise.
var Handshake = plugin.HandshakeConfig{
	MagicCookieKey:   "ARGUS_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "b4c5e0f3d1a2476e9c8f0a1b2c3d4e5f-argus-plugin",
}

// PluginName is the only entry of the go-plugin plugin set.
const PluginName = "argus"

// MaxMessageSize caps one gRPC message in both directions on every plugin
// connection (host and plugin set it explicitly; go-plugin's defaults
// differ per side). Audit batches and OTLP exports must stay below it.
const MaxMessageSize = 16 << 20

// EnvLogLevel tells a plugin the host's log level (trace, debug, info,
// warn, error, off) so it does not produce lines the host would drop.
const EnvLogLevel = "ARGUS_PLUGIN_LOG_LEVEL"

// Kinds, as the protocol names them.
const (
	KindAuditSink         = pluginv1.Kind_KIND_AUDIT_SINK
	KindTelemetryExporter = pluginv1.Kind_KIND_TELEMETRY_EXPORTER
	KindHealthProbe       = pluginv1.Kind_KIND_HEALTH_PROBE
)

// KindName is the user-facing name of a kind: "audit_sink",
// "telemetry_exporter" or "health_probe".
func KindName(k pluginv1.Kind) string {
	switch k {
	case KindAuditSink:
		return "audit_sink"
	case KindTelemetryExporter:
		return "telemetry_exporter"
	case KindHealthProbe:
		return "health_probe"
	}
	return k.String()
}

// KindBlock is the configuration block type that configures an instance of
// a kind: "sink", "exporter" or "probe".
func KindBlock(k pluginv1.Kind) string {
	switch k {
	case KindAuditSink:
		return "sink"
	case KindTelemetryExporter:
		return "exporter"
	case KindHealthProbe:
		return "probe"
	}
	return k.String()
}

// GRPCPlugin is the go-plugin glue. On the plugin side Register installs
// the plugin's services on the gRPC server go-plugin created; on the host
// side GRPCClient hands out the connection as a *Conn.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Register is called by go-plugin in the plugin process. Nil on the
	// host side.
	Register func(broker *plugin.GRPCBroker, s *grpc.Server) error
}

// Conn is what the host gets from dispensing PluginName: the plugin's
// connection, its broker, and a context that is done once the plugin
// process has exited.
type Conn struct {
	GRPC   *grpc.ClientConn
	Broker *plugin.GRPCBroker
	Exited context.Context
}

// GRPCServer implements plugin.GRPCPlugin.
func (p *GRPCPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Register == nil {
		return nil
	}
	return p.Register(broker, s)
}

// GRPCClient implements plugin.GRPCPlugin.
func (p *GRPCPlugin) GRPCClient(ctx context.Context, broker *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return &Conn{GRPC: cc, Broker: broker, Exited: ctx}, nil
}

// PluginSets is the VersionedPlugins map for both sides: protocol version 1
// only. register is nil on the host side.
func PluginSets(register func(*plugin.GRPCBroker, *grpc.Server) error) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &GRPCPlugin{Register: register}},
	}
}

// ServerOptions are the options of every gRPC server on a plugin
// connection: the plugin's own and the host's broker services.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
	}
}

// DialOptions are the options of every gRPC client on a plugin connection.
// Unary calls whose context has no deadline get callTimeout, so no call
// between host and plugin can hang forever; streams (go-plugin's broker and
// stdio streams live as long as the connection) are left alone.
func DialOptions(callTimeout time.Duration) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageSize),
			grpc.MaxCallSendMsgSize(MaxMessageSize),
		),
		grpc.WithChainUnaryInterceptor(DeadlineInterceptor(callTimeout)),
	}
}

// DeadlineInterceptor gives unary calls without a deadline one of d.
func DeadlineInterceptor(d time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, ok := ctx.Deadline(); !ok && d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// HealthStatus is the status a probe's CheckResponse carries, as the
// shared health vocabulary; false for a value outside the protocol.
func HealthStatus(s pluginv1.HealthStatus) (healthstatus.Status, bool) {
	switch s {
	case pluginv1.HealthStatus_HEALTH_STATUS_HEALTHY:
		return healthstatus.Healthy, true
	case pluginv1.HealthStatus_HEALTH_STATUS_DEGRADED:
		return healthstatus.Degraded, true
	case pluginv1.HealthStatus_HEALTH_STATUS_UNHEALTHY:
		return healthstatus.Unhealthy, true
	}
	return healthstatus.Unknown, false
}
