# Shell helpers the bench scripts share (source it): a free port, and a `dedupd serve` that answers.

# A free TCP port on 127.0.0.1, never 6379 (where a developer's own Redis may run).
free_port() {
    python3 -c 'import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if p != 6379: print(p); break'
}

# start_dedupd DEDUPD LOG ARGS...: runs `DEDUPD serve --listen 127.0.0.1:PORT ARGS...` on a free port,
# its output in LOG, and waits until its health service answers; sets $server_url and $server_pid.
start_dedupd() {
    local dedupd=$1 log=$2 port
    shift 2
    port=$(free_port)
    "$dedupd" serve --listen "127.0.0.1:$port" "$@" >"$log" 2>&1 &
    server_pid=$!
    server_url="http://127.0.0.1:$port"
    for _ in $(seq 200); do
        if "$dedupd" health --server "$server_url" >/dev/null 2>&1; then return; fi
        if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "error: dedupd serve did not start (see $log)" >&2
    exit 1
}

# Stops every process in $pids and removes $work when the script exits (set both before sourcing).
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
