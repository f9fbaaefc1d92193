#!/usr/bin/env bash
# Ingest latency as the Redis index grows: p99 of unary Ingest at a fixed rate with 10k articles
# stored, and again after 1M more (the budget and the figures: docs/redis.md). Starts its own
# redis-server and dedupd on free ports; needs a release build (`cargo build --release`). FILL=N for
# another size, RATE=N for another rate.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/dedupd
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
GRPC=127.0.0.1:$(free_port)
DIR=$(mktemp -d)
redis-server --port "$PORT" --save '' --appendonly no --dir "$DIR" --daemonize yes --logfile "$DIR/redis.log"
"$BIN" serve --store "redis://127.0.0.1:$PORT" --listen "$GRPC" > "$DIR/serve.log" 2>&1 &
SERVE=$!
trap 'kill $SERVE 2>/dev/null; redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true' EXIT
sleep 2
measure() {
  redis-cli -p "$PORT" config resetstat > /dev/null
  # Redis's own view of the stalls: commands over 5 ms, and latency events over 5 ms
  redis-cli -p "$PORT" config set slowlog-log-slower-than 5000 > /dev/null
  redis-cli -p "$PORT" config set latency-monitor-threshold 5 > /dev/null
  redis-cli -p "$PORT" slowlog reset > /dev/null
  redis-cli -p "$PORT" latency reset > /dev/null
  "$BIN" bench --server "http://$GRPC" --synthetic 20000 --seed "$1" --id-prefix "m$1" --mode unary \
    --rate "${RATE:-500}" --duration 30s --concurrency 8 2>&1 | tail -2
  echo "stored: $(redis-cli -p "$PORT" get dedupd:n) numbered; $(redis-cli -p "$PORT" info commandstats | grep evalsha)"
  echo "redis commands over 5 ms: $(redis-cli -p "$PORT" slowlog len); latency events: $(redis-cli -p "$PORT" latency latest | tr '\n' ' ')"
}
"$BIN" bench --server "http://$GRPC" --synthetic 10000 --seed 1 --id-prefix fill 2>&1 | tail -1
echo "== 10k stored"; measure 91
"$BIN" bench --server "http://$GRPC" --synthetic "${FILL:-1000000}" --seed 2 --id-prefix big 2>&1 | tail -2
echo "== ${FILL:-1000000} more stored"; measure 92
echo "== again"; measure 93
