#!/usr/bin/env bash
# Python `websockets` and Node `ws` against the echo example: clients we did not write must
# agree with us. Installs both if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -c 'import websockets' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check 'websockets>=13'
[ -d node_modules/ws ] || npm install --no-audit --no-fund --silent

cargo build --example echo
source scripts/lib/start-example.sh
start_example ./target/debug/examples/echo

timeout 60 python3 tests/clients/echo_client.py "ws://$addr/ws/echo"
# permessage-deflate: websockets offers it by default; the client checks it was negotiated.
timeout 60 python3 tests/clients/echo_client.py "ws://$addr/ws/echo/deflate"
timeout 60 node tests/clients/echo_client.mjs "ws://$addr/ws/echo"
