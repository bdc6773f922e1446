backend "a" {
  type = "sse"
}
