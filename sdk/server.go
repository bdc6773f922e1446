package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/argusmcp/argus/sdk/internal/instance"
	"github.com/argusmcp/argus/sdk/internal/otlpserve"
	"github.com/argusmcp/argus/shared"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// server is the plugin side of one plugin process: PluginService plus the
// services of the plugin's kinds, and the one instance Configure builds.
type server struct {
	pluginv1.UnimplementedPluginServiceServer
	p      *Plugin
	log    hclog.Logger
	broker *plugin.GRPCBroker

	slot instance.Slot // the configured Sink, Exporter or Probe
}

func newServer(p *Plugin, log hclog.Logger) *server {
	return &server{p: p, log: log}
}

// register is called by go-plugin with the gRPC server it created.
func (s *server) register(broker *plugin.GRPCBroker, g *grpc.Server) error {
	s.broker = broker
	pluginv1.RegisterPluginServiceServer(g, s)
	if s.p.sink != nil {
		pluginv1.RegisterAuditSinkServiceServer(g, &sinkService{srv: s})
	}
	if s.p.exporter != nil {
		otlpserve.Register(g, s.exporter)
	}
	if s.p.probe != nil {
		pluginv1.RegisterHealthProbeServiceServer(g, &probeService{srv: s})
	}
	return nil
}

// instance is the configured instance, or a FailedPrecondition error.
func (s *server) instance() (any, error) { return s.slot.Get() }

func (s *server) GetInfo(context.Context, *pluginv1.GetInfoRequest) (*pluginv1.GetInfoResponse, error) {
	return &pluginv1.GetInfoResponse{Name: s.p.name, Version: s.p.version, Kinds: s.p.kinds(), ProtocolVersion: shared.ProtocolVersion}, nil
}

func (s *server) GetSchema(_ context.Context, req *pluginv1.GetSchemaRequest) (*pluginv1.GetSchemaResponse, error) {
	sch, ok := s.p.schema(req.GetKind())
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "plugin %q is not a %s", s.p.name, shared.KindName(req.GetKind()))
	}
	return &pluginv1.GetSchemaResponse{Schema: sch.proto()}, nil
}

func (s *server) Configure(ctx context.Context, req *pluginv1.ConfigureRequest) (*pluginv1.ConfigureResponse, error) {
	kind := req.GetKind()
	schema, ok := s.p.schema(kind)
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "plugin %q is not a %s", s.p.name, shared.KindName(kind))
	}
	log := s.log.With("instance", req.GetInstance())
	cfg, err := newConfig(req.GetInstance(), req.GetConfigJson(), schema, log)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	var validate func(Config) error
	switch kind {
	case shared.KindAuditSink:
		validate = s.p.sink.Validate
	case shared.KindTelemetryExporter:
		validate = s.p.exporter.Validate
	case shared.KindHealthProbe:
		validate = s.p.probe.Validate
	}
	if validate != nil {
		if diags := diagnostics(checked(validate, cfg)); len(diags) > 0 {
			return &pluginv1.ConfigureResponse{Diagnostics: diags}, nil
		}
	}
	if req.GetDryRun() {
		return &pluginv1.ConfigureResponse{}, nil
	}

	var dialErr error
	err = s.slot.Fill(func() (inst any, conn io.Closer, err error) {
		switch kind {
		case shared.KindAuditSink:
			inst, err = construct(ctx, cfg, s.p.sink.New)
		case shared.KindTelemetryExporter:
			inst, err = construct(ctx, cfg, s.p.exporter.New)
		case shared.KindHealthProbe:
			var host Host = noHost{}
			if id := req.GetHostServiceId(); id != 0 && s.broker != nil {
				cc, derr := s.broker.DialWithOptions(id, shared.DialOptions(0)...)
				if derr != nil {
					dialErr = status.Errorf(codes.Unavailable, "connect to the host service: %v", derr)
					return nil, nil, dialErr
				}
				conn, host = cc, newHostClient(cc)
			}
			inst, err = construct(ctx, cfg, func(ctx context.Context, cfg Config) (Probe, error) { return s.p.probe.New(ctx, cfg, host) })
		}
		return inst, conn, err
	})
	switch {
	case err == nil:
	case err == instance.ErrConfigured || err == dialErr:
		return nil, err
	default:
		return &pluginv1.ConfigureResponse{Diagnostics: diagnostics(err)}, nil
	}
	log.Debug("configured", "kind", shared.KindName(kind))
	return &pluginv1.ConfigureResponse{}, nil
}

func (s *server) Shutdown(ctx context.Context, _ *pluginv1.ShutdownRequest) (*pluginv1.ShutdownResponse, error) {
	if err := s.close(ctx); err != nil {
		return nil, status.Errorf(codes.Unavailable, "shutdown: %v", err)
	}
	return &pluginv1.ShutdownResponse{}, nil
}

// close flushes and closes the configured instance, once; later calls
// return the first result.
func (s *server) close(ctx context.Context) error { return s.slot.Close(ctx) }

// checked runs a factory's Validate, turning a misused Config accessor
// into a diagnostic on the attribute.
func checked(validate func(Config) error, cfg Config) (err error) {
	defer recoverConfigError(&err)
	return validate(cfg)
}

// construct runs a factory's New under its contract: an error rejects the
// configuration, and an instance returned along with the error (the part
// New built before failing) is closed, so a failed New leaks nothing it
// handed back. A misused Config accessor becomes a diagnostic on the
// attribute.
func construct[T any](ctx context.Context, cfg Config, build func(context.Context, Config) (T, error)) (inst any, err error) {
	defer recoverConfigError(&err)
	v, err := build(ctx, cfg)
	if err != nil {
		if cerr := instance.ClosePartial(ctx, v); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing what New built: %w", cerr))
		}
		return nil, err
	}
	if instance.IsNil(v) {
		return nil, errors.New("the plugin's New returned no instance")
	}
	return v, nil
}
