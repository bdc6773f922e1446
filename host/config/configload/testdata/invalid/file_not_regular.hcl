management {
  token = file("/dev/zero")
}
