backend "a" {
  type    = "stdio"
  command = "demo"
  comand  = "typo"
}
