#!/usr/bin/env bash
# Runs the Autobahn|Testsuite (sections 1-10; 12-13 are compression, not implemented) against
# examples/echo.rs and fails on any FAILED case. Usage: scripts/autobahn.sh [extra autobahn args]
set -euo pipefail
cd "$(dirname "$0")/.."

# shared/ sits beside the checkout (on developer machines and in CI).
tool=$(cd .. && pwd)/shared/tools/autobahn
[ -f "$tool" ] || { echo "autobahn: $tool not found (shared/ must sit beside the checkout)" >&2; exit 1; }

cargo build --release --example echo
source scripts/lib/start-example.sh
start_example ./target/release/examples/echo
bash "$tool" "ws://$addr/ws/echo" --out target/autobahn-reports "$@"
