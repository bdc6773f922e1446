server {
  listen = "127.0.0.1:9000"

backend "a" {
  type = "stdio"
