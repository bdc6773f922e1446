backend "my backend" {
  type    = "stdio"
  command = "demo"
}
