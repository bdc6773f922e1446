backend "a" {
  type = "websocket"
  url  = "ws://127.0.0.1:3001"
}
