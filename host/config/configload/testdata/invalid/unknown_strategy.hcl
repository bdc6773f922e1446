backend "a" {
  type    = "stdio"
  command = "demo"
}

conflict_resolution {
  strategy = "last-wins"
}
