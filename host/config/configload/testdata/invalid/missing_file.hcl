management {
  token = file("does-not-exist.txt")
}
