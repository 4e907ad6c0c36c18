#!/usr/bin/env bash
# examples/chat_app against issue 14's contract with the official `phoenix` client (npm, `ws`):
# one node (tests/js/chat_app.mjs: login, 403s, rooms, history, presence, rate limit, user and
# game channels, /metrics, a restart), then two nodes over a private Redis
# (tests/js/chat_app_redis.mjs). The Chromium test of its page runs from scripts/browser.sh.
# Installs the npm packages and redis-server if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -d node_modules/phoenix ] && [ -d node_modules/ws ] || npm install --no-audit --no-fund --silent
bash scripts/redis.sh install
cargo build --example chat_app
timeout 120 node tests/js/chat_app.mjs ./target/debug/examples/chat_app
timeout 120 node tests/js/chat_app_redis.mjs ./target/debug/examples/chat_app
