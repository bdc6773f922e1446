health {
  probe "ping" "default" {
    host { ack_before_reply = true }
  }
}
