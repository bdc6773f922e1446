auth {
  token "alice" { value = "Zq8x-tiny" }
}
