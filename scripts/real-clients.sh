#!/usr/bin/env bash
# Python `websockets` and Node `ws` against the echo example: clients we did not write must
# agree with us. Installs both if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -c 'import websockets' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check 'websockets>=13'
[ -d node_modules/ws ] || npm install --no-audit --no-fund --silent

cargo build --example echo
log=$(mktemp)
WEBSOCK_ADDR=127.0.0.1:0 ./target/debug/examples/echo >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$log" && break
  sleep 0.1
done
addr=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$log" | head -1)
[ -n "$addr" ] || { cat "$log"; echo "echo example did not start" >&2; exit 1; }

timeout 60 python3 tests/clients/echo_client.py "ws://$addr/ws/echo"
timeout 60 node tests/clients/echo_client.mjs "ws://$addr/ws/echo"
