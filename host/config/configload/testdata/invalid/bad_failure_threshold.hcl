health {
  interval          = "5s"
  failure_threshold = 0
}
