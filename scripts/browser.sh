#!/usr/bin/env bash
# The chat page in a real browser: headless Chromium (apt) driven by chromedriver (apt) with
# WebDriver HTTP calls from Node (tests/browser/chat.mjs). Two tabs, two users; saves
# target/screenshots/chat.png. Installs chromium, chromium-driver and the npm packages if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    echo "installing chromium and chromium-driver (apt)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && apt-get install -y -qq chromium chromium-driver >/dev/null; }
fi
[ -d node_modules/phoenix ] || npm install --no-audit --no-fund --silent
cargo build --example chat
timeout 150 node tests/browser/chat.mjs ./target/debug/examples/chat "$(command -v chromium)" "$(command -v chromedriver)"
# Again with the page on LongPoll only, as when WebSockets are blocked.
CHAT_TRANSPORTS=longpoll timeout 150 node tests/browser/chat.mjs ./target/debug/examples/chat "$(command -v chromium)" "$(command -v chromedriver)"
# Again with permessage-deflate on for the socket (the page checks `ws.extensions`).
CHAT_DEFLATE=1 timeout 150 node tests/browser/chat.mjs ./target/debug/examples/chat "$(command -v chromium)" "$(command -v chromedriver)"
