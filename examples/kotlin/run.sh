#!/usr/bin/env bash
# Runs the Kotlin example on a real JVM against a local collector.
#
#   examples/kotlin/run.sh [demo|bench] [n]
#
# Builds the release libcairn_mobile.so and its Kotlin bindings (mobile/generate-bindings.sh),
# compiles them with the Kotlin layer (mobile/kotlin) and Main.kt with kotlinc against JNA,
# then runs it. With CAIRN_ENDPOINT (and
# CAIRN_WRITE_KEY) set it talks to that collector; otherwise it starts a release collector
# on a free loopback port with a throwaway data dir and stops it afterwards.
# Tools: scripts/install-test-deps.sh installs kotlinc (npm kotlin-compiler) and JNA.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn-target}"
mode="${1:-demo}"
n="${2:-10000}"

kotlinc="${CAIRN_KOTLINC:-$HOME/.cache/cairn/kotlin/node_modules/kotlin-compiler/bin/kotlinc}"
jna="${CAIRN_JNA_JAR:-/usr/share/java/jna.jar}"
for f in "$kotlinc" "$jna"; do
    [[ -e "$f" ]] || { echo "run.sh: $f is missing: run scripts/install-test-deps.sh" >&2; exit 1; }
done
klib="$(cd "$(dirname "$kotlinc")/../lib" && pwd)"

work="$CARGO_TARGET_DIR/cairn-kotlin-example"
mkdir -p "$work"
"$root/mobile/generate-bindings.sh" --release "$work/bindings"
lib_dir="$CARGO_TARGET_DIR/release"

echo "run.sh: kotlinc (slow: ~20 s)" >&2
"$kotlinc" -nowarn "$work/bindings/kotlin/dev/cairn/cairn_mobile.kt" "$root"/mobile/kotlin/dev/cairn/*.kt "$here/Main.kt" \
    -cp "$jna:$klib/kotlinx-coroutines-core-jvm.jar" -d "$work/example.jar"

collector_pid=""
cleanup() {
    if [[ -n "$collector_pid" ]]; then kill "$collector_pid" 2>/dev/null || true; fi
    rm -rf "$work/collector-data" "$work/device-data"
}
trap cleanup EXIT
rm -rf "$work/collector-data" "$work/device-data"

if [[ -n "${CAIRN_ENDPOINT:-}" ]]; then
    endpoint="$CAIRN_ENDPOINT"
    write_key="${CAIRN_WRITE_KEY:?set CAIRN_WRITE_KEY with CAIRN_ENDPOINT}"
else
    (cd "$root" && cargo build --release -p cairn-collector >&2)
    write_key="example-write-key"
    log="$work/collector.log"
    : >"$log" # exists before the loop below reads it (the collector's own redirect races it)
    "$CARGO_TARGET_DIR/release/cairn-collector" --listen 127.0.0.1:0 \
        --data-dir "$work/collector-data" --write-key "$write_key" \
        --read-key example-read-key --admin-key example-admin-key \
        --hash-secret example-hash-secret >"$log" 2>&1 &
    collector_pid=$!
    endpoint=""
    for _ in $(seq 100); do
        endpoint="$(sed -n 's/^cairn-collector listening on //p' "$log" | head -1)"
        [[ -n "$endpoint" ]] && break
        sleep 0.1
    done
    [[ -n "$endpoint" ]] || { echo "run.sh: the collector did not start:" >&2; cat "$log" >&2; exit 1; }
    echo "run.sh: collector at $endpoint" >&2
fi

java -Djna.library.path="$lib_dir" \
    -cp "$work/example.jar:$jna:$klib/kotlinx-coroutines-core-jvm.jar:$klib/kotlin-stdlib.jar" \
    MainKt "$mode" "$endpoint" "$write_key" "$work/device-data" "$n"

if [[ -z "${CAIRN_ENDPOINT:-}" && "$mode" == "demo" ]]; then
    echo "run.sh: the collector's feed now holds:" >&2
    curl -s -H "Authorization: Bearer example-read-key" "$endpoint/v1/feed?after=0" |
        python3 -c 'import json,sys
for l in sys.stdin:
    v = json.loads(l)["value"]
    print(" ", v["type"], v.get("event") or v.get("name") or "", "userId=" + str(v.get("userId", ""))[:16] + "...")'
fi
