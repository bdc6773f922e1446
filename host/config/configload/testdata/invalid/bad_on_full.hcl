audit {
  sink "jsonl" "primary" {
    host {
      on_full    = "overflow"
      queue_size = 0
    }
  }
}
