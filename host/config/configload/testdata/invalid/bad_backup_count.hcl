audit {
  file         = "logs/audit.jsonl"
  backup_count = -1
}
