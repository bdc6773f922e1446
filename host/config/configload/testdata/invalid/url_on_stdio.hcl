backend "a" {
  type    = "stdio"
  command = "demo"
  url     = "http://127.0.0.1:3001/mcp"
}
