#!/usr/bin/env bash
# Every test of the project, as CI runs it (.ci/run calls exactly this).
# Installs what the suites need first (idempotent, quick when present), then runs the
# format and lint gates and the whole workspace's tests in one cargo invocation, so all
# suites share one build in one target dir.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# Outside the checkout, so a fresh clone (CI) reuses the last build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

bash scripts/install-test-deps.sh

step() { printf '\n== %s\n' "$*" >&2; }

step "web tracker: wasm/build.sh (the browser tests load wasm/pkg)"
bash wasm/build.sh

step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings
step "build binaries (end-to-end tests run them as child processes)"
cargo build --workspace --bins --all-features
step "cargo test"
cargo test --workspace --all-features
