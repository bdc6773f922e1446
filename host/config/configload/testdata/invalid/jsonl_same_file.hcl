audit {
  sink "jsonl" "main" { file = "logs/trail.jsonl" }
  sink "jsonl" "copy" {
    file = "./logs/../logs/trail.jsonl"
  }
}
