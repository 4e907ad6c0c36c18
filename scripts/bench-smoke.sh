#!/usr/bin/env bash
# CI's smoke pass of the benchmark harness, so it never rots: every scenario against every
# server once, with tiny sizes and about half a second per scenario. The figures of a debug
# build mean nothing; the point is that the servers, the load generator and the driver still
# work together. The full run is `cargo run --release -p websock-bench -- all` (BENCHMARKS.md).
#
# It builds the harness as `cargo test --workspace --all-targets` does (same profile, same
# features), so after the test suite the build is a no-op.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

start=$(date +%s)
cargo test --workspace --all-targets --no-run --quiet
# The presence scenario runs phoenix.js (node) clients; the two-node one a private Redis.
[ -d node_modules/phoenix ] && [ -d node_modules/ws ] || npm install --no-audit --no-fund --silent
bash scripts/redis.sh install
bench="${CARGO_TARGET_DIR:-target}/debug/websock-bench"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
timeout 150 "$bench" all --smoke \
    --only throughput,latency,memory,connrate,fanout,http2,fanout-channels,presence,presence-cluster \
    | tee "$out"
# Every row of the table is there, with a figure for websock.
for row in "throughput 20 B" "throughput 1 KiB" "throughput 64 KiB" "latency p99" \
    "memory per idle conn" "connection rate" "fan-out" "echo 20 B over HTTP/2" \
    "echo 20 B over HTTP/1.1" "channel fan-out to 50" "presence: 50 join one room, server CPU" \
    "presence: RSS per member" "presence: 50 presences on 2 nodes"; do
    if ! grep -q "^| $row" "$out"; then
        echo "bench-smoke: no \"$row\" row in the table" >&2
        exit 1
    fi
done
# The channel scenarios' checks (every member got every broadcast, every presence list ended
# equal) are notes under the table: none may be there.
if grep -E "^note: (channel fan-out|presence)" "$out"; then
    echo "bench-smoke: a channel scenario did not end as it should (see the notes above)" >&2
    exit 1
fi
echo "bench-smoke: ok in $(($(date +%s) - start)) s"
