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
# Again over https with a self-signed certificate (openssl, apt): the page comes over HTTP/2,
# so Chromium opens its WebSockets on that connection with RFC 8441's extended CONNECT.
command -v openssl >/dev/null || apt-get install -y -qq openssl >/dev/null
tls_dir=$(mktemp -d)
trap 'rm -rf "$tls_dir"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$tls_dir/key.pem" -out "$tls_dir/cert.pem" 2>/dev/null
spki=$(openssl x509 -in "$tls_dir/cert.pem" -pubkey -noout | openssl pkey -pubin -outform der \
    | openssl dgst -sha256 -binary | base64)
WEBSOCK_TLS_CERT="$tls_dir/cert.pem" WEBSOCK_TLS_KEY="$tls_dir/key.pem" CHAT_TLS_SPKI="$spki" \
    timeout 150 node tests/browser/chat.mjs ./target/debug/examples/chat "$(command -v chromium)" "$(command -v chromedriver)"
# Again with permessage-deflate on for the socket (the page checks `ws.extensions`).
CHAT_DEFLATE=1 timeout 150 node tests/browser/chat.mjs ./target/debug/examples/chat "$(command -v chromium)" "$(command -v chromedriver)"
# examples/chat_app's page: Alice and Bob in two tabs (login, messages both ways, typing, status,
# reload shows the history); screenshot in target/screenshots/chat_app.png.
cargo build --example chat_app
timeout 120 node tests/browser/chat_app.mjs ./target/debug/examples/chat_app "$(command -v chromium)" "$(command -v chromedriver)"
