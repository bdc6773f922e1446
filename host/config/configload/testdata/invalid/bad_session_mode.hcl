backend "a" {
  type         = "stdio"
  command      = "demo"
  session_mode = "exclusive"
}
