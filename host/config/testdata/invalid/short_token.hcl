auth {
  token "alice" { value = "short" }
}
