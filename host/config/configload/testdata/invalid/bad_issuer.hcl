auth {
  jwt "idp" {
    issuer    = "idp.example.com/oauth2"
    audiences = ["https://argus.example.com/mcp"]
  }
  jwt "plain-http" {
    issuer    = "http://idp.example.com/"
    audiences = ["https://argus.example.com/mcp"]
  }
}
