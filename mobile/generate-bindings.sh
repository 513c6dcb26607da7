#!/usr/bin/env bash
# Regenerates the Kotlin, Swift and Python bindings from the built library (UniFFI
# library mode: the interface is read from the metadata inside the .so, so the
# bindings always match the binary), with the workspace's own uniffi-bindgen.
#
#   mobile/generate-bindings.sh [--release] [OUT_DIR]
#
# OUT_DIR defaults to mobile/bindings (kotlin/, swift/, python/ below it).
# The tests (tests/foreign.rs) do not call this script: they run the same uniffi-bindgen
# directly, in library mode, into a temporary directory, so they always use fresh
# bindings, and compare mobile/bindings/swift with that fresh copy.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn-target}"

profile=debug
cargo_profile=()
if [[ "${1:-}" == "--release" ]]; then
    profile=release
    cargo_profile=(--release)
    shift
fi
out="${1:-$here/bindings}"

cd "$root"
# One build: the cli feature adds the uniffi-bindgen binary next to the library.
cargo build "${cargo_profile[@]}" -p cairn-mobile --features cli --lib --bins >&2
case "$(uname -s)" in
    Darwin) lib="$CARGO_TARGET_DIR/$profile/libcairn_mobile.dylib" ;;
    *) lib="$CARGO_TARGET_DIR/$profile/libcairn_mobile.so" ;;
esac
[[ -f "$lib" ]] || { echo "generate-bindings: $lib was not built" >&2; exit 1; }
bindgen="$CARGO_TARGET_DIR/$profile/uniffi-bindgen"

for lang in kotlin swift python; do
    rm -rf "${out:?}/$lang"
    mkdir -p "$out/$lang"
    "$bindgen" generate --no-format --metadata-no-deps --language "$lang" --out-dir "$out/$lang" "$lib" >&2
done
echo "generate-bindings: wrote $out/{kotlin,swift,python} from $lib" >&2
