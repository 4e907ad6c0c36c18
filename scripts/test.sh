#!/usr/bin/env bash
# The whole test suite: unit, integration (real servers on 127.0.0.1:0, real clients), trybuild
# compile-fail cases and doc tests. Installs what the suites need on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

# npm packages (ws, phoenix, ...) for the JS suites and the chat page the Rust tests fetch.
[ -d node_modules/phoenix ] && [ -d node_modules/ws ] || npm install --no-audit --no-fund --silent

# The Redis adapter tests (tests/redis_*.rs) start private redis-servers on loopback ports.
bash scripts/redis.sh install

# Some tests run the example binaries as a user would (they read `listening on` from them).
cargo build --workspace --examples
cargo test --workspace --all-targets
cargo test --workspace --doc
# The benchmark harness, a few seconds per scenario, so it never rots (figures: BENCHMARKS.md).
bash scripts/bench-smoke.sh

# Clients we did not write, against the echo example.
bash scripts/real-clients.sh
# RFC 6455 conformance: Autobahn|Testsuite sections 1-10 against the echo example.
bash scripts/autobahn.sh
bash scripts/phoenix-js.sh
# Two chat nodes sharing a private Redis, phoenix.js clients on each: broadcast across nodes,
# one presence list, a node killed with SIGKILL, Redis restarted (tests/js/phoenix_redis.mjs).
timeout 180 node tests/js/phoenix_redis.mjs ./target/debug/examples/chat
# examples/chat_app against issue 14's contract: one node, then two over Redis (phoenix.js).
bash scripts/chat-app.sh
# The chat page in headless Chromium: two tabs, two users; screenshot in target/screenshots/chat.png.
bash scripts/browser.sh
