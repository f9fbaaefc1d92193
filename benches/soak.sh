#!/usr/bin/env bash
# The soak (not in CI): `benches/soak.sh MINUTES` (default 30) runs a mixed load (ingest, check, get,
# delete; retention sweeping every 20 s with a 4-minute window) against a release dedupd on its own
# redis-server, reached through the fault-injecting proxy (examples/fault_proxy.rs). Every minute, at
# its 30th second, one fault for 10 s, in turn: blackhole, dropped connections, 300 ms delay, resets
# after 600 bytes; then 10 s of recovery. Prints a table by minute (calls, errors by the fault at the
# time, acknowledged articles lost, the server's RSS) from examples/soak.rs. Only 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-30}
cargo build --release --quiet --bin dedupd --example fault_proxy --example soak
bin=target/release
work=$(mktemp -d)
pids=()
source benches/lib.sh

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
    --logfile "$work/redis.log" &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

proxy_port=$(free_port)
mkfifo "$work/faults"
"$bin/examples/fault_proxy" "$proxy_port" "$redis_port" <"$work/faults" >"$work/proxy.log" 2>&1 &
pids+=($!)
exec 3>"$work/faults"    # held open: the proxy runs until the script ends
echo pass >"$work/fault"

start_dedupd "$bin/dedupd" "$work/serve.log" --store "redis://127.0.0.1:$proxy_port" \
    --retention 4m --retention-sweep 20s --warm-up-articles 0
pids+=("$server_pid")

# faults: one every minute, each for 10 s, then 10 s marked as recovery
(
    faults=("blackhole" "drop" "delay 300" "reset 600")
    for minute in $(seq 0 $((minutes - 1))); do
        sleep 30
        fault=${faults[$((minute % ${#faults[@]}))]}
        echo "$fault" >&3; echo "${fault%% *}" >"$work/fault"
        sleep 10
        echo pass >&3; echo recovering >"$work/fault"
        sleep 10
        echo pass >"$work/fault"
        sleep 10
    done
) &
pids+=($!)

echo "soak: $minutes min, dedupd $(git rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ), redis $(redis-server --version | cut -d' ' -f3)"
"$bin/examples/soak" "$server_url" "$minutes" "$server_pid" "$work/fault"
echo "redis keys: $(redis-cli -p "$redis_port" dbsize); server warnings: $(grep -c WARN "$work/serve.log" || true)"
