management {
  token = "changeme-changeme-123"
}
