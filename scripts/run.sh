#!/usr/bin/env bash
# The main job: the collector on its embedded store, in release mode, with the demo
# shop at /demo/, and the recommender and profile backend (examples/recommender) that
# follows its feed. Builds only what the demo needs (the web tracker when its sources
# changed, the two binaries), quietly, then prints one banner. Flags pass through to
# the collector (`bash scripts/run.sh --help`).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn-target}"
cache="$HOME/.cache/cairn"
mkdir -p "$cache"
build_log="$cache/run-build.log"
: >"$build_log"

# The demo page posts with the write key "demo-key" (source "demo-shop") and hashes
# identifiers with the project hash key "demo-hash-key"; set these to use your own.
export CAIRN_WRITE_KEYS="${CAIRN_WRITE_KEYS:-demo-key:source=demo-shop}"
export CAIRN_PROJECT_HASH_KEY="${CAIRN_PROJECT_HASH_KEY:-demo-hash-key}"
export CAIRN_DATA_DIR="${CAIRN_DATA_DIR:-./cairn-data}"
export CAIRN_LOG="${CAIRN_LOG:-warn}"
export CAIRN_RECO_LISTEN="${CAIRN_RECO_LISTEN:-127.0.0.1:8081}"
export CAIRN_RECO_DATA_DIR="${CAIRN_RECO_DATA_DIR:-./cairn-reco-data}"

# Runs a build step with its output in the build log, shown only if it fails.
quiet() {
    if ! "$@" >>"$build_log" 2>&1; then
        echo "run.sh: '$*' failed; the end of $build_log:" >&2
        tail -n 40 "$build_log" >&2
        exit 1
    fi
}

pkg=examples/web/pkg/cairn.js
if [[ ! -f "$pkg" ]] || [[ -n "$(find wasm/src wasm/js sdk/src protocol/src wasm/Cargo.toml \
        sdk/Cargo.toml -newer "$pkg" -print -quit)" ]]; then
    echo "run.sh: building the web tracker (the first time installs its toolchain: a few minutes)"
    quiet bash scripts/install-web-deps.sh
    quiet bash wasm/build.sh
fi
# CAIRN_PROFILE=dev reuses a debug build (the test of this script does).
profile="${CAIRN_PROFILE:-release}"
echo "run.sh: building the collector and the recommender ($profile)"
quiet cargo build --profile "$profile" -p cairn-collector -p cairn-recommender
bin_dir="$CARGO_TARGET_DIR/$([[ "$profile" == dev ]] && echo debug || echo "$profile")"
bin="$bin_dir/cairn-collector"

out="$cache/run-collector.out"
: >"$out"
"$bin" --demo-dir examples/web "$@" > >(tee "$out") 2>&1 &
pid=$!
reco_pid=""
trap 'kill -TERM $pid $reco_pid 2>/dev/null; wait; exit' INT TERM

# Prints the address once program `$1` (pid `$3`) has written "$1 listening on
# http://..." to file `$2` (both print it only when ready); nothing if it exits first
# or takes over 30 s.
listening() {
    local address=""
    for _ in $(seq 1 300); do
        address="$(sed -n "s/^$1 listening on \(http:[^ ]*\).*/\1/p" "$2" | head -n 1)"
        [[ -n "$address" ]] || ! kill -0 "$3" 2>/dev/null && break
        sleep 0.1
    done
    echo "$address"
}

address="$(listening cairn-collector "$out" "$pid")"
if [[ -z "$address" ]]; then
    kill -0 "$pid" 2>/dev/null || { wait "$pid"; exit $?; }
    echo "run.sh: the collector did not start; see above" >&2
    exit 1
fi

# The recommender follows the collector's feed with the collector's keys.json (read
# key, hash secret, project hash key).
reco_out="$cache/run-recommender.out"
"$bin_dir/cairn-recommender" --collector "$address" --collector-keys "$CAIRN_DATA_DIR/keys.json" \
    --project-hash-key "$CAIRN_PROJECT_HASH_KEY" >"$reco_out" 2>&1 &
reco_pid=$!
reco="$(listening cairn-recommender "$reco_out" "$reco_pid")"
[[ -n "$reco" ]] || { echo "run.sh: the recommender did not start:" >&2; cat "$reco_out" >&2; }

read_key="${CAIRN_READ_KEY:-$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("readKey") or "")' \
    "$CAIRN_DATA_DIR/keys.json" 2>/dev/null || true)}"
cat <<BANNER

  Cairn is running
    demo shop  $address/demo/
    recommend  ${reco:-not running (see $reco_out)}/api/recommendations?anonId=...   dashboard ${reco:-?}/dashboard
    feed       curl -H 'authorization: Bearer ${read_key:-<read key>}' '$address/v1/feed?after=0&wait=10'
    read key   ${read_key:-see readKey in $CAIRN_DATA_DIR/keys.json}   (kept in $CAIRN_DATA_DIR/keys.json)
    write key  ${CAIRN_WRITE_KEYS%%[:,]*}   data  $CAIRN_DATA_DIR
    stop       Ctrl-C   (logs: $out, $reco_out)

BANNER
wait "$pid"
kill -TERM "$reco_pid" 2>/dev/null || true
wait
