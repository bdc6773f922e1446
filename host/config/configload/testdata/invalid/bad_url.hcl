backend "remote" {
  type = "streamable-http"
  url  = "127.0.0.1:3001/mcp"
}
