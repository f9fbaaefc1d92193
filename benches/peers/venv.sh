#!/usr/bin/env bash
# The peers' Python environment (datasketch, simhash, redis at pinned versions) in a venv under
# target/, made on first use; prints the path of its python. Used by peers/run.sh and accuracy.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/peers-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
echo "==> peers venv: datasketch, simhash, redis" >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check datasketch==2.0.0 simhash==2.1.2 redis==8.1.0 >&2
echo "$PWD/$venv/bin/python"
