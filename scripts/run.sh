#!/usr/bin/env bash
# The main job: the collector on its embedded store, in release mode, with the demo
# shop served at /demo/ when it has been built. Flags pass through to the collector.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn-target}"

args=()
if [[ -d examples/web ]]; then
    args+=(--demo-dir examples/web)
fi
exec cargo run --release -p cairn-collector -- "${args[@]}" "$@"
