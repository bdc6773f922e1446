backend "a" {
  type    = "stdio"
  command = "demo"
  tools {
    deny = ["delete_[a-"]
  }
}
