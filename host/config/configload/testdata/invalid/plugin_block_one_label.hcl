audit {
  sink "webhook" {
    url = "https://siem.example/ingest"
  }
}
