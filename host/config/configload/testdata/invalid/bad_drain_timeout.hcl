server {
  listen        = "127.0.0.1:9000"
  drain_timeout = "-5s"
}
