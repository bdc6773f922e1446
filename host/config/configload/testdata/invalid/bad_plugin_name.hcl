telemetry {
  exporter "otlp.grpc" "main" {}
}
