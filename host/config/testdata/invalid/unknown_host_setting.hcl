audit {
  sink "jsonl" "primary" {
    file = "logs/audit.jsonl"
    host {
      required   = true
      queue_size = 1000
    }
  }
}
