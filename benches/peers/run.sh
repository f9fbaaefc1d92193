#!/usr/bin/env bash
# dedupd and its peers side by side, on the same articles and in the same run: throughput (articles/s),
# how many times faster dedupd is, and F1 on a labelled set (scored as `dedupd eval` scores it).
#
#   benches/peers/run.sh DIR        # DIR: a labelled set in the `dedupd eval` format (we use dev)
#
# Rows: dedupd in process (`dedupd eval`, memory store, one thread); `dedupd serve` on the embedded
# store and on Redis, loaded by `dedupd bench --mode stream` (F1 through the server with `eval
# --server`, on a fresh store); datasketch MinHashLSH in memory and on Redis; the `simhash` package's
# SimhashIndex (k = 3). Every row is scored by `dedupd eval` (the peers' placements with
# `--score-placements`); benches/accuracy.sh has the accuracy tables on several sets. The peers are installed into a venv under target/. Redis is a redis-server
# this script starts on a free port and stops at the end; a Redis on 6379 is never touched.
# BENCH_CONCURRENCY (default 4) sets the bench clients.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ $# -ne 1 ]; then
    echo "usage: benches/peers/run.sh DIR   (DIR: a labelled set in the dedupd eval format)" >&2
    exit 2
fi
dev=$1
if [ ! -f "$dev/articles.jsonl" ]; then
    echo "peers: $dev/articles.jsonl not found" >&2
    exit 1
fi
concurrency=${BENCH_CONCURRENCY:-4}

echo "==> cargo build --release" >&2
cargo build --release --quiet
dedupd=target/release/dedupd

python=$(benches/peers/venv.sh)

work=$(mktemp -d "$PWD/target/peers.XXXXXX")
pids=()
source benches/lib.sh

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --daemonize no \
    >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$redis_port" ping >/dev/null

results="$work/results.jsonl"

# starts `dedupd serve` on a store; sets $server_url and $server_pid
start_server() {
    local data
    data=$(mktemp -d "$work/data.XXXXXX")
    start_dedupd "$dedupd" "$data.log" --store "$1" --data-dir "$data"
    pids+=("$server_pid")
}

stop_server() {
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
}

echo "==> dedupd in process" >&2
"$dedupd" eval "$dev" --json | "$python" -c '
import json, sys
r = json.load(sys.stdin)
print(json.dumps({"system": "dedupd in process (memory)", "articles_per_second": r["articles"] / r["seconds"],
                  "f1": r["f1"], "precision": r["precision"], "recall": r["recall"]}))' >>"$results"

for store in embedded redis; do
    case $store in
        embedded) url="embedded://" ;;
        redis) url="redis://127.0.0.1:$redis_port" ;;
    esac
    echo "==> dedupd serve, $store: F1 through the server" >&2
    redis-cli -p "$redis_port" flushall >/dev/null
    start_server "$url"
    "$dedupd" eval "$dev" --server "$server_url" --json >"$work/eval-$store.json"
    stop_server
    echo "==> dedupd serve, $store: dedupd bench --mode stream --concurrency $concurrency" >&2
    redis-cli -p "$redis_port" flushall >/dev/null
    start_server "$url"
    "$dedupd" bench --file "$dev/articles.jsonl" --mode stream --concurrency "$concurrency" \
        --server "$server_url" --json >"$work/bench-$store.json"
    stop_server
    "$python" -c '
import json, sys
e, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(json.dumps({"system": "dedupd serve, " + sys.argv[3], "articles_per_second": b["articles_per_second"],
                  "f1": e["f1"], "precision": e["precision"], "recall": e["recall"],
                  "p99_ms": b["latency_us"]["p99"] / 1000}))' \
        "$work/eval-$store.json" "$work/bench-$store.json" "$store" >>"$results"
done

for peer in minhash-w5-t0.5 minhash-w5-t0.5-redis simhash-k3; do
    echo "==> $peer" >&2
    redis-cli -p "$redis_port" flushall >/dev/null
    "$python" benches/peers/peers.py run "$peer" "$dev" --placements "$work/placements.jsonl" \
        --redis-port "$redis_port" >"$work/peer.json"
    "$dedupd" eval "$dev" --score-placements "$work/placements.jsonl" --json >"$work/peer-scores.json"
    "$python" -c '
import json, sys
p, s = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(json.dumps({"system": p["peer"], "articles_per_second": p["articles_per_second"],
                  "f1": s["f1"], "precision": s["precision"], "recall": s["recall"]}))' \
        "$work/peer.json" "$work/peer-scores.json" >>"$results"
done

echo
echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(wc -l <"$dev/articles.jsonl") articles of $dev"
"$python" - "$results" <<'TABLE'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
by_system = {row["system"]: row for row in rows}
# the dedupd row each peer is held against: the same kind of storage
reference = {"minhash-w5-t0.5": "dedupd in process (memory)", "simhash-k3": "dedupd in process (memory)",
             "minhash-w5-t0.5-redis": "dedupd serve, redis"}
print(f"{'system':<42} {'articles/s':>11} {'dedupd ÷ it':>12} {'F1':>7} {'precision':>9} {'recall':>7}")
for row in rows:
    ref = by_system.get(reference.get(row["system"], ""))
    ratio = f"{ref['articles_per_second'] / row['articles_per_second']:.1f}×" if ref else "–"
    print(f"{row['system']:<42} {row['articles_per_second']:>11.0f} {ratio:>12} {row['f1']:>7.3f}"
          f" {row['precision']:>9.3f} {row['recall']:>7.3f}")
TABLE
