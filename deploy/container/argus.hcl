# Argus in a container: the image reads /etc/argus/argus.hcl. This example
# fronts the demo backend mounted at /opt/demo (README "Deploying").
server {
  listen           = "0.0.0.0:9000"
  shutdown_timeout = "10s"
}

log {
  format = "json"
}

management {
  token = env("ARGUS_MGMT_TOKEN")
}

backend "demo" {
  type    = "stdio"
  command = "/opt/demo/argus-demo-server"
  args    = ["-name", "demo"]
}

# Audit files go to the volume at /var/lib/argus.
audit {
  file = "/var/lib/argus/audit.jsonl"
}
