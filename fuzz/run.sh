#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60): `fuzz/run.sh [SECONDS]`. Installs cargo-fuzz
# when missing. Each target keeps its corpus in fuzz/corpus/TARGET (not committed), so a later run
# starts where the last one stopped; a crash leaves its input in fuzz/artifacts/TARGET and fails the
# script. The findings of the longest run: docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
fi
# cargo fuzz passes nightly-only flags (-Z sanitizer=address, …); the stable compiler accepts them
# with RUSTC_BOOTSTRAP=1
export RUSTC_BOOTSTRAP=1
echo "==> cargo fuzz build -O"
cargo fuzz build -O
for target in $(cargo fuzz list); do
    mkdir -p "corpus/$target"
    echo "==> fuzz $target for ${seconds}s"
    # -rss_limit_mb: a decoder that allocates what a length field claims is a finding, not a pass
    cargo fuzz run -O "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=1024 -max_len=65536 -print_final_stats=1 2>&1 |
        grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE|==[0-9]+==|SUMMARY|Done)' || true
    # grep ate the exit status; a crash leaves an artifact
    if compgen -G "artifacts/$target/*" >/dev/null; then
        echo "fuzz $target: crash inputs in fuzz/artifacts/$target" >&2
        exit 1
    fi
done
echo "fuzz: every target ran ${seconds}s without a crash"
