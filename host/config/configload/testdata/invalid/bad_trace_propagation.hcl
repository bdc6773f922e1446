backend "a" {
  type              = "stdio"
  command           = "demo"
  trace_propagation = "baggage"
}
