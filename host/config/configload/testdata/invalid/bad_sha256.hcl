audit {
  sink "webhook" "siem" {
    url = "https://siem.example/ingest"
    host {
      sha256 = "deadbeef"
    }
  }
}
