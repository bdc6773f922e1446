auth {
  resource = "https://argus.example.com/mcp"
  jwt "idp" {
    issuer     = "https://idp.example.com/"
    algorithms = ["RS256", "HS256", "none"]
  }
}
