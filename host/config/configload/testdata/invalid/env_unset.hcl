auth {
  token "alice" { value = env("ARGUS_TEST_SURELY_UNSET_VARIABLE") }
}
