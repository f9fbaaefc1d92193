#!/usr/bin/env bash
# Measures the figures of deploy/README.md's capacity planning on this machine: for the embedded store
# and for Redis, a server pinned to one core (taskset -c 0) takes `dedupd bench --synthetic N` from a
# client on another core, and the script reports articles/s, the server's resident memory per article,
# Redis's used_memory per article, and the bytes on disk per article (the redb file; Redis's
# append-only file after a rewrite).
#
# Usage: deploy/capacity.sh [N]   (default 100000; from the repository root, after
#        `cargo build --release`; needs redis-server and redis-cli, and starts its own on a free port)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
dedupd=target/release/dedupd
work=$(mktemp -d)
pids=()
source benches/lib.sh
rss_bytes() { awk '/^VmRSS/ { print $2 * 1024 }' "/proc/$1/status"; }
field() { python3 -c "import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }
errors() { python3 -c "import json, sys; print(sum(json.load(open(sys.argv[1]))['errors'].values()))" "$1"; }

# measure NAME STORE_URL: prints one line of figures for a server on that store
measure() {
    local name=$1 url=$2 port pid before after rate
    port=$(free_port)
    taskset -c 0 "$dedupd" serve --listen "127.0.0.1:$port" --store "$url" --data-dir "$work/$name-data" \
        --warm-up-articles 0 2> "$work/$name.log" &
    pid=$!
    pids+=("$pid")
    until "$dedupd" health --server "http://127.0.0.1:$port" > /dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || { echo "error: dedupd serve exited (see $work/$name.log)" >&2; exit 1; }
        sleep 0.2
    done
    before=$(rss_bytes "$pid")
    taskset -c 1 "$dedupd" bench --server "http://127.0.0.1:$port" --synthetic "$n" --concurrency 4 --json \
        > "$work/$name.json"
    after=$(rss_bytes "$pid")
    rate=$(field "$work/$name.json" articles_per_second)
    printf '%s: %s articles, %.0f articles/s, %s errors, server RSS %d -> %d MiB (%d bytes/article)\n' \
        "$name" "$(field "$work/$name.json" ok)" "$rate" "$(errors "$work/$name.json")" \
        $((before >> 20)) $((after >> 20)) $(((after - before) / n))
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

measure embedded "embedded://"
printf 'embedded: redb file %d bytes/article\n' $(($(du -sb "$work/embedded-data" | cut -f1) / n))

redis_port=$(free_port)
mkdir -p "$work/redis"
taskset -c 1 redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly yes \
    --appendfsync everysec --dir "$work/redis" --daemonize no > "$work/redis.log" &
pids+=($!)
until redis-cli -p "$redis_port" ping > /dev/null 2>&1; do sleep 0.1; done
used() { redis-cli -p "$redis_port" info memory | awk -F: '/^used_memory:/ { print $2 + 0 }'; }
base=$(used)
measure redis "redis://127.0.0.1:$redis_port"
printf 'redis: used_memory %d bytes/article\n' $((($(used) - base) / n))
redis-cli -p "$redis_port" bgrewriteaof > /dev/null
while redis-cli -p "$redis_port" info persistence | grep -q '^aof_rewrite_in_progress:1'; do sleep 0.5; done
sleep 1
printf 'redis: append-only file after a rewrite %d bytes/article\n' $(($(du -sb "$work/redis" | cut -f1) / n))
