policy "sre-only" {
  effect    = "allow"
  tools     = ["*_delete_*"]
  condition = "\"sre\" in group && claims.tenant == \"acme\""
}
