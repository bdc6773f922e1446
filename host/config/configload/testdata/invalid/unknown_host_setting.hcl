audit {
  sink "jsonl" "primary" {
    file = "logs/audit.jsonl"
    host {
      required   = true
      retries    = 1000
    }
  }
}
