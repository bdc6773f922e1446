policy "ops-tools" {
  effect = "allow"
  tools  = ["ops_*"]
  groups = ["ops"]
}

policy "no-ops-tools" {
  effect = "deny"
  groups = ["ops"]
  tools  = ["ops_*"]
}
