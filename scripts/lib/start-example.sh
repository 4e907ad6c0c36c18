# Sourced by the scripts that test an example binary: `start_example PATH` starts it on a free
# loopback port, stops it when the script exits, and sets `addr` to what it printed after
# `listening on`.
start_example() {
  local binary=$1
  example_log=$(mktemp)
  WEBSOCK_ADDR=127.0.0.1:0 "$binary" >"$example_log" 2>&1 &
  example_pid=$!
  trap 'kill $example_pid 2>/dev/null || true; rm -f "$example_log"' EXIT
  for _ in $(seq 1 100); do
    grep -q "listening on" "$example_log" && break
    sleep 0.1
  done
  addr=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$example_log" | head -1)
  [ -n "$addr" ] || { cat "$example_log"; echo "$binary did not start" >&2; exit 1; }
}
