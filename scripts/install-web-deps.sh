#!/usr/bin/env bash
# What building the web tracker (wasm/build.sh) needs beyond the Rust toolchain and
# Node.js: the wasm32 target, binaryen's wasm-opt, and clang with llvm-ar (ring's C code
# for wasm32). No wasm-bindgen CLI: the tracker's JS boundary is written by hand (see
# wasm/README.md). Nothing else: the demo (scripts/run.sh) needs only this. Idempotent
# and quiet when everything is present.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
step() { printf 'install-web-deps: %s\n' "$*" >&2; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    step "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown >/dev/null
fi
missing=()
command -v wasm-opt >/dev/null || missing+=(binaryen)
command -v clang >/dev/null || missing+=(clang)
command -v llvm-ar >/dev/null || missing+=(llvm)
if (( ${#missing[@]} )); then
    step "apt-get install ${missing[*]}"
    sudo_=()
    [[ $(id -u) -ne 0 ]] && sudo_=(sudo)
    "${sudo_[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
