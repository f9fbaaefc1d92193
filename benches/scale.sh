#!/usr/bin/env bash
# The scale run: fills a store with synthetic articles through a `dedupd serve` and measures it at
# checkpoints of the number stored (memory per article, ingest rate, unary p99, open time), then prints
# a table and plots the figures (docs/performance.md has the results).
#
#   benches/scale.sh                 # embedded store, 100k, 1M, 10M (about an hour on 2 cores)
#   benches/scale.sh redis           # its own redis-server on a free port, 20k, 100k, 1M
#   CHECKPOINTS=20000,100000 benches/scale.sh embedded    # other checkpoints
#
# Writes target/scale/scale-STORE.{json,png} and the server's log (OUT=DIR for another place). Needs
# python3 and, for the Redis run, redis-server; matplotlib goes into a venv under target/.
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:-embedded}
case $store in
    embedded) checkpoints=${CHECKPOINTS:-100000,1000000,10000000} ;;
    redis) checkpoints=${CHECKPOINTS:-20000,100000,1000000} ;;
    *) echo "usage: $0 [embedded|redis]" >&2; exit 2 ;;
esac
out=${OUT:-target/scale}
mkdir -p "$out"
cargo build --release --quiet --bin dedupd
venv=target/scale-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check matplotlib==3.10.7 >&2
exec "$venv/bin/python" benches/scale.py --dedupd target/release/dedupd --store "$store" \
    --checkpoints "$checkpoints" --out "$out"
