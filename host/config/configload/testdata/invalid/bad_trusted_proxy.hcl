server {
  trusted_proxies = ["10.0.0.0/8", "proxy.internal"]
}
