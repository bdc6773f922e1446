server {
  listen            = "127.0.0.1:9100"
  max_request_bytes = 2097152
  session_timeout   = "10m"
}

log {
  level  = "debug"
  format = "json"
}

plugin_dir = "./my-plugins"

auth {
  token "alice" { value = env("ARGUS_TEST_ALICE_TOKEN") }
  token "bob" { value = "bob-token-0123456789" }
}

management {
  token = file("mgmt.token")
}

backend "demo" {
  type    = "stdio"
  command = "./bin/argus-demo-server"
  args    = ["-name", "demo"]
  env     = { DEMO = "1" }
  tools {
    allow = ["*"]
    deny  = ["delete_*"]
  }
  call_timeout    = "5s"
  connect_retries = 1
}

backend "remote" {
  type    = "streamable-http"
  url     = "http://127.0.0.1:3001/mcp"
  headers = { Authorization = "Bearer ${env("ARGUS_TEST_REMOTE_TOKEN", "fallback-remote-token")}" }
}

backend "legacy" {
  type = "sse"
  url  = "https://legacy.example/sse"
}

conflict_resolution {
  strategy  = "priority"
  separator = "."
  order     = ["remote", "demo"]
}
