#!/usr/bin/env bash
# The main job: the collector on its embedded store, in release mode, with the demo
# shop served at /demo/ (the web tracker is built first if it is not yet). Flags pass
# through to the collector.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn-target}"

# The demo page posts with the write key "demo-key" (or ?writeKey= in its URL); set
# CAIRN_WRITE_KEYS to use your own keys instead.
export CAIRN_WRITE_KEYS="${CAIRN_WRITE_KEYS:-demo-key}"
if [[ ! -f examples/web/pkg/cairn.js ]]; then
    bash scripts/install-test-deps.sh   # the wasm toolchain (idempotent)
    bash wasm/build.sh
fi
args=(--demo-dir examples/web)
exec cargo run --release -p cairn-collector -- "${args[@]}" "$@"
