backend "a" {
  type = "stdio"
  args = ["-x"]
}
