# shellcheck shell=bash
# The reporting preamble of the integration tests that evaluate every
# assertion and list the failures at the end: fails_init TAG sets T_ALL and
# FAILS; say MSG prints "[TAG Ns] MSG" (seconds since fails_init); nfail MSG
# records a failed assertion and goes on.
fails_init() {
  FAILS__TAG=$1
  T_ALL=$(date +%s%N)
  FAILS=()
}
say() { printf '[%s %4ss] %s\n' "$FAILS__TAG" "$(( ($(date +%s%N) - T_ALL) / 1000000000 ))" "$*"; }
nfail() { # nfail MSG: record a failed assertion and go on
  FAILS+=("$*")
  say "FAIL: $*"
}
