#!/usr/bin/env bash
# Runs the Autobahn|Testsuite (sections 1-10; 12-13 are compression, not implemented) against
# examples/echo.rs and fails on any FAILED case. Usage: scripts/autobahn.sh [extra autobahn args]
set -euo pipefail
cd "$(dirname "$0")/.."

# shared/ sits beside the checkout (on developer machines and in CI).
tool=$(cd .. && pwd)/shared/tools/autobahn
[ -f "$tool" ] || { echo "autobahn: $tool not found (shared/ must sit beside the checkout)" >&2; exit 1; }

cargo build --release --example echo
log=$(mktemp)
WEBSOCK_ADDR=127.0.0.1:0 ./target/release/examples/echo >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$log" && break
  sleep 0.1
done
addr=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$log" | head -1)
[ -n "$addr" ] || { cat "$log"; echo "echo example did not start" >&2; exit 1; }
bash "$tool" "ws://$addr/ws/echo" --out target/autobahn-reports "$@"
