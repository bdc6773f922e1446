auth {
  token "carol" { value = "carol-live-token-0123456789" }
  token "carol" { value = "carol-other-token-9876543210" }
}
