#!/usr/bin/env bash
# Accuracy of dedupd and its peers on every set given, in one run: one markdown table per set, ready
# to paste into docs/accuracy.md.
#
#   benches/accuracy.sh SET...
#
# SET: a labelled directory in the `dedupd eval` format (articles.jsonl, labels.jsonl,
# ambiguous_pairs.jsonl), or a JSONL file of articles (unlabelled: cluster sizes only).
# Rows of each table:
# - dedupd in process: `dedupd eval SET` (memory store, one thread);
# - dedupd through a server: `dedupd serve` on a fresh embedded store on a free port, then
#   `dedupd eval SET --server URL` (one stream);
# - the peers (benches/peers/peers.py, in a venv under target/), each writing its placements, scored
#   by `dedupd eval SET --score-placements FILE`, so every row is scored by the same code.
# articles/s: dedupd's is the whole eval run (ingest, then read every placement back); a peer's is its
# ingest loop alone. ACCURACY_PEERS picks the peers (default: the four below; empty for none).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -eq 0 ]; then
    echo "usage: benches/accuracy.sh SET...   (SET: a labelled directory or a JSONL file of articles)" >&2
    exit 2
fi
for set in "$@"; do
    if [ ! -f "$set/articles.jsonl" ] && [ ! -f "$set" ]; then
        echo "accuracy: $set is neither a labelled directory nor a JSONL file" >&2
        exit 1
    fi
done
peers=${ACCURACY_PEERS-minhash-w5-t0.5 minhash-w3-t0.3 simhash-k3 simhash-k10}

echo "==> cargo build --release" >&2
cargo build --release --quiet
dedupd=target/release/dedupd
commit=$(git rev-parse --short HEAD)
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then commit="$commit (modified)"; fi

python=python3
if [ -n "$peers" ]; then
    python=$(benches/peers/venv.sh)
fi

work=$(mktemp -d "$PWD/target/accuracy.XXXXXX")
pids=()
source benches/lib.sh

# starts `dedupd serve` on a fresh embedded store; sets $server_url and $server_pid
start_server() {
    local data
    data=$(mktemp -d "$work/data.XXXXXX")
    start_dedupd "$dedupd" "$data.log" --store embedded:// --data-dir "$data"
    pids+=("$server_pid")
}

stop_server() {
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
}

results="$work/results.jsonl"
# appends one row: set path, system name, the scores' JSON file, seconds (empty: take them from the scores)
add_row() {
    python3 -c '
import json, sys
path, system, scores_file, seconds = sys.argv[1:5]
scores = json.load(open(scores_file))
name = path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".jsonl")
row = {"set": name, "path": path, "system": system, "scores": scores,
       "seconds": float(seconds) if seconds else scores.get("seconds")}
print(json.dumps(row))' "$@" >>"$results"
}

for set in "$@"; do
    echo "==> $set: dedupd in process" >&2
    "$dedupd" eval "$set" --json >"$work/in-process.json"
    add_row "$set" "dedupd, in process" "$work/in-process.json" ""

    echo "==> $set: dedupd serve, embedded store" >&2
    start_server
    "$dedupd" eval "$set" --server "$server_url" --json >"$work/server.json"
    stop_server
    add_row "$set" "dedupd serve (embedded store)" "$work/server.json" ""

    for peer in $peers; do
        echo "==> $set: $peer" >&2
        "$python" benches/peers/peers.py run "$peer" "$set" --placements "$work/placements.jsonl" >"$work/peer.json"
        "$dedupd" eval "$set" --score-placements "$work/placements.jsonl" --json >"$work/peer-scores.json"
        add_row "$set" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["system"])' "$work/peer.json")" \
            "$work/peer-scores.json" \
            "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$work/peer.json")"
    done
done

python3 benches/accuracy_table.py "$results" "$commit"
