#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, on a fresh machine.
# Idempotent: every step checks first and is skipped quickly when already done.
# Called by the README's test command (and so by .ci/run).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${HOME}/.cache/cairn"
mkdir -p "$cache"

step() { printf 'install-test-deps: %s\n' "$*" >&2; }

# --- Segment's Python library (collector/tests/segment_client.rs) --------------------
# A venv of its own at $HOME/.cache/cairn/venv (the test's default CAIRN_PYTHON).
venv="${cache}/venv"
if [[ ! -x "${venv}/bin/python" ]]; then
    step "creating ${venv}"
    python3 -m venv "$venv"
fi
if ! "${venv}/bin/python" -c 'import segment.analytics' 2>/dev/null; then
    step "pip install segment-analytics-python"
    "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check segment-analytics-python
fi

# --- Segment's Node library (collector/tests/segment_client.rs) ----------------------
# Pinned in collector/tests/clients/package.json and package-lock.json.
clients="${root}/collector/tests/clients"
if [[ ! -d "${clients}/node_modules/@segment/analytics-node" ]]; then
    step "npm ci in ${clients}"
    (cd "$clients" && npm ci --no-audit --no-fund --update-notifier=false --loglevel=error)
fi
