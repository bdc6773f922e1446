server {
  listen = "300.1.2.3:9000"
}
