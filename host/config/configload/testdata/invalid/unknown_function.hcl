auth {
  token "alice" { value = vault("secret/alice") }
}
