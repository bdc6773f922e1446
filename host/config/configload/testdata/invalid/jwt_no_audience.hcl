auth {
  jwt "idp" {
    issuer = "https://idp.example.com/"
  }
}
