health {
  probe "ping" "default" {}
  probe "http" "default" {
    url = "http://127.0.0.1:8080/healthz"
  }
}
