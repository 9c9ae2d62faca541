#!/usr/bin/env bash
# Run the Common Test suites with a real bridge running, so pyssl_bridge_SUITE
# (ssl vs pyssl against a live bridge) runs instead of skipping; and with the
# bridge's executable named, so pyssl_port_SUITE (the embedded bridge) runs too.
set -euo pipefail
cd "$(dirname "$0")/.."
cookie="ct$RANDOM$RANDOM"
name="pyssl_ct$$@127.0.0.1"
out=$(mktemp)
# the cookie through the environment: a --cookie argument is visible in ps
PYSSL_BRIDGE_COOKIE="$cookie" .venv/bin/pyssl-bridge --name "$name" > "$out" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 1 100); do
  grep -q ready "$out" && break
  kill -0 $pid 2>/dev/null || { cat "$out"; exit 1; }
  sleep 0.1
done
grep -q ready "$out" || { echo "bridge did not start"; cat "$out"; exit 1; }
if ! PYSSL_BRIDGE_NODE="$name" PYSSL_BRIDGE_COOKIE="$cookie" \
     PYSSL_BRIDGE_EXE="$PWD/.venv/bin/pyssl-bridge" rebar3 ct "$@"; then
  echo "--- last lines of the bridge's output ---"
  tail -n 60 "$out"
  exit 1
fi
