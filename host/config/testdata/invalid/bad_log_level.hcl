log {
  level = "verbose"
}
