server {
  listen = "9000"
}
