backend "a" {
  type    = "stdio"
  command = "demo"
  args    = "--flag"
}
