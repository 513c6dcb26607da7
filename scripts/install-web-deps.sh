#!/usr/bin/env bash
# What building the web tracker (wasm/build.sh) needs beyond the Rust toolchain: the
# wasm32 target, binaryen's wasm-opt, and the wasm-bindgen CLI at the exact version of
# the wasm-bindgen crate in Cargo.lock. Nothing else: the demo (scripts/run.sh) needs
# only this. Idempotent and quiet when everything is present.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
step() { printf 'install-web-deps: %s\n' "$*" >&2; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    step "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown >/dev/null
fi
if ! command -v wasm-opt >/dev/null; then
    step "apt-get install binaryen"
    sudo_=()
    [[ $(id -u) -ne 0 ]] && sudo_=(sudo)
    "${sudo_[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_[@]}" apt-get install -y -qq binaryen >/dev/null
fi
wb_want="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' "${root}/Cargo.lock")"
wb_have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
if [[ -n "$wb_want" && "$wb_have" != "$wb_want" ]]; then
    step "cargo install wasm-bindgen-cli --version ${wb_want} (a few minutes, once)"
    cargo install --quiet wasm-bindgen-cli --version "$wb_want"
fi
