backend "a" {
  type         = "stdio"
  command      = "demo"
  call_timeout = "ten seconds"
}
