health {
  probe "ping" "default" {
    host { required = true }
  }
}
telemetry {
  enabled = true
  exporter "otlp" "default" {
    host { required = false }
  }
}
