backend "a" {
  type    = "stdio"
  command = "demo"
}

conflict_resolution {
  strategy = "priority"
  order    = ["a", "b"]
}
