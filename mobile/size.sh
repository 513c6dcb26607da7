#!/usr/bin/env bash
# Prints the stripped size of libcairn_mobile.so for x86_64 Linux, built the way
# build-android.sh / build-ios.sh build it (release, LTO, codegen-units 1, no debug
# info, symbols stripped), in its own target dir so the profile does not rebuild the
# workspace's.
#
#   mobile/size.sh          this checkout
#   mobile/size.sh REV      the commit REV (exported with git archive under the target
#                           dir), e.g. `mobile/size.sh b0be53e`: the library before issue 13
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
target="${CAIRN_SIZE_TARGET_DIR:-$HOME/.cache/cairn-size-target}"
src="$root"
if [[ -n "${1:-}" ]]; then
    src="$target/worktree-$1"
    if [[ ! -d "$src" ]]; then
        mkdir -p "$src"
        git -C "$root" archive "$1" | tar -x -C "$src"
    fi
fi
export CARGO_TARGET_DIR="$target"
export CARGO_PROFILE_RELEASE_DEBUG=0
export CARGO_PROFILE_RELEASE_STRIP=symbols
export CARGO_PROFILE_RELEASE_LTO=true
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
(cd "$src" && cargo build --release -p cairn-mobile --lib >&2)
lib="$target/release/libcairn_mobile.so"
strip "$lib"
bytes="$(stat -c %s "$lib")"
echo "libcairn_mobile.so (x86_64 Linux, stripped, LTO) at ${1:-the checkout}: $bytes bytes ($(gzip -9c "$lib" | wc -c) gzipped)"
