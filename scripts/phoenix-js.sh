#!/usr/bin/env bash
# The official `phoenix` JavaScript client (npm, with `ws` as its WebSocket) against
# examples/chat.rs: joins, replies, broadcasts, presence, heartbeat, binary, authToken and a
# server restart; then the same client speaking V1 (vsn 1.0.0). Installs the npm packages if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -d node_modules/phoenix ] && [ -d node_modules/ws ] || npm install --no-audit --no-fund --silent
cargo build --example chat
timeout 180 node tests/js/phoenix_chat.mjs ./target/debug/examples/chat
timeout 180 node tests/js/phoenix_v1.mjs ./target/debug/examples/chat
timeout 180 node tests/js/phoenix_longpoll.mjs ./target/debug/examples/chat
# 20 Presence lists against a storm of 300 joins, updates and leaves in one room.
timeout 180 node tests/js/phoenix_presence_storm.mjs ./target/debug/examples/chat
# Channels over an HTTP/2 stream (Node's http2, extended CONNECT) beside phoenix.js over HTTP/1.1.
timeout 120 node tests/js/phoenix_http2.mjs ./target/debug/examples/chat
