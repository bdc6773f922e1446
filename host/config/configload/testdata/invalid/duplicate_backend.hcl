backend "a" {
  type    = "stdio"
  command = "demo"
}

backend "a" {
  type = "streamable-http"
  url  = "http://127.0.0.1:3001/mcp"
}
