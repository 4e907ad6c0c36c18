#!/usr/bin/env bash
# A private redis-server for the tests, on loopback only.
#   scripts/redis.sh install          installs redis-server (apt) if it is missing
#   scripts/redis.sh start DIR [PORT] starts one on 127.0.0.1:PORT (a free port if omitted),
#                                     no persistence; writes DIR/redis.pid and DIR/redis.port
#   scripts/redis.sh stop DIR         stops it
# The Rust tests (tests/redis_*.rs) start their own from `redis-server` on PATH.
set -euo pipefail

install() {
    command -v redis-server >/dev/null && return 0
    echo "installing redis-server (apt)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq redis-server >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && apt-get install -y -qq redis-server >/dev/null; }
    # The package starts a system-wide server on 6379 where an init system runs; the tests
    # never use it.
    command -v redis-server >/dev/null
}

free_port() {
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

case "${1:-}" in
    install) install ;;
    start)
        dir="${2:?usage: redis.sh start DIR [PORT]}"
        install
        mkdir -p "$dir"
        port="${3:-$(free_port)}"
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$dir" --logfile "$dir/redis.log" --daemonize yes --pidfile "$dir/redis.pid"
        echo "$port" > "$dir/redis.port"
        for _ in $(seq 100); do
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && { echo "$port"; exit 0; }
            sleep 0.05
        done
        echo "redis-server did not start on 127.0.0.1:$port (see $dir/redis.log)" >&2
        exit 1 ;;
    stop)
        dir="${2:?usage: redis.sh stop DIR}"
        if [ -f "$dir/redis.pid" ]; then
            pid="$(cat "$dir/redis.pid")"
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
            kill -9 "$pid" 2>/dev/null || true
            rm -f "$dir/redis.pid"
        fi ;;
    *) echo "usage: redis.sh install | start DIR [PORT] | stop DIR" >&2; exit 2 ;;
esac
