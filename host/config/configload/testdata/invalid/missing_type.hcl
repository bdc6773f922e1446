backend "a" {
  command = "demo"
}
