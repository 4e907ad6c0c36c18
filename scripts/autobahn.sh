#!/usr/bin/env bash
# Runs the Autobahn|Testsuite against examples/echo.rs: sections 1-10 against /ws/echo, then
# 12-13 (permessage-deflate) against /ws/echo/deflate (up to an hour on a busy 2-core machine); fails
# on any FAILED case.
# Usage: scripts/autobahn.sh [extra autobahn args, passed to both runs]
set -euo pipefail
cd "$(dirname "$0")/.."

# shared/ sits beside the checkout (on developer machines and in CI).
tool=$(cd .. && pwd)/shared/tools/autobahn
[ -f "$tool" ] || { echo "autobahn: $tool not found (shared/ must sit beside the checkout)" >&2; exit 1; }

cargo build --release --example echo
source scripts/lib/start-example.sh
start_example ./target/release/examples/echo
bash "$tool" "ws://$addr/ws/echo" --out target/autobahn-reports "$@"
bash "$tool" "ws://$addr/ws/echo/deflate" --cases '12.*,13.*' --exclude '' --timeout 3600 \
    --out target/autobahn-reports-deflate "$@"
