#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, on a fresh machine.
# Idempotent: every step checks first and is skipped quickly when already done.
# Called by the README's test command (and so by .ci/run).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${HOME}/.cache/cairn"
mkdir -p "$cache"

step() { printf 'install-test-deps: %s\n' "$*" >&2; }

# `npm ci` in $1 unless node_modules was installed from this very package-lock.json
# (a copy of it is kept in node_modules as the stamp).
npm_ci_if_changed() {
    local dir="$1"
    if ! cmp -s "${dir}/package-lock.json" "${dir}/node_modules/.cairn-installed-lock"; then
        step "npm ci in ${dir}"
        (cd "$dir" && npm ci --no-audit --no-fund --update-notifier=false --loglevel=error)
        cp "${dir}/package-lock.json" "${dir}/node_modules/.cairn-installed-lock"
    fi
}

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

# --- Segment's Node library and RudderStack's browser SDK ----------------------------
# (collector/tests/segment_client.rs, collector/tests/rudderstack_browser.rs, which also
# needs playwright-core and Debian's chromium, installed below.) Pinned in
# collector/tests/clients/package.json and package-lock.json.
npm_ci_if_changed "${root}/collector/tests/clients"

# --- Kotlin on a JVM for the mobile bindings (mobile/tests/foreign.rs, examples/kotlin) --
# JNA from Debian's libjna-java (and a JDK if the machine has none); apt-get update
# only when something is missing.
apt_missing=()
[[ -f /usr/share/java/jna.jar ]] || apt_missing+=(libjna-java)
command -v java >/dev/null 2>&1 || apt_missing+=(default-jdk-headless)
# openssl makes the test CA of the mobile HTTPS tests (keytool comes with the JDK).
command -v openssl >/dev/null 2>&1 || apt_missing+=(openssl)
if (( ${#apt_missing[@]} )); then
    step "apt-get install ${apt_missing[*]}"
    sudo_cmd=()
    [[ "$(id -u)" == 0 ]] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${apt_missing[@]}"
fi
# kotlinc (with kotlinx-coroutines-core-jvm.jar in its lib/) from the npm package
# kotlin-compiler, pinned, into $HOME/.cache/cairn/kotlin.
kotlin_dir="${cache}/kotlin"
kotlin_pkg="${kotlin_dir}/node_modules/kotlin-compiler"
if [[ ! -x "${kotlin_pkg}/bin/kotlinc" || ! -f "${kotlin_pkg}/lib/kotlinx-coroutines-core-jvm.jar" ]]; then
    step "npm install kotlin-compiler into ${kotlin_dir}"
    mkdir -p "$kotlin_dir"
    npm install --prefix "$kotlin_dir" --no-audit --no-fund --update-notifier=false \
        --loglevel=error kotlin-compiler@2.4.20
fi

# --- Web tracker (wasm/build.sh and wasm/tests/browser.rs) ---------------------------
# The build toolchain (scripts/install-web-deps.sh: wasm32 target, wasm-opt, the
# wasm-bindgen CLI); then clang + llvm-ar (ring's C code for the mobile and native
# builds), Debian's chromium (the browser tests never download one) and playwright-core.
bash "${root}/scripts/install-web-deps.sh"
missing=()
command -v clang >/dev/null || missing+=(clang)
command -v llvm-ar >/dev/null || missing+=(llvm)
command -v chromium >/dev/null || missing+=(chromium)
if (( ${#missing[@]} )); then
    step "apt-get install ${missing[*]}"
    sudo_=""
    [[ $(id -u) -ne 0 ]] && sudo_="sudo"
    $sudo_ apt-get update -qq
    $sudo_ apt-get install -y -qq "${missing[@]}"
fi
npm_ci_if_changed "${root}/wasm/tests/browser"
# tree-sitter-swift, pinned, in the project venv: the Swift bindings are parsed with it
# (no Swift compiler exists on this machine kind).
if ! "${venv}/bin/python" -c 'import tree_sitter, tree_sitter_swift' 2>/dev/null; then
    step "pip install tree-sitter tree-sitter-swift"
    "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check \
        "tree-sitter==0.26.1" "tree-sitter-swift==0.7.4"
fi

# --- tansu, the Kafka-compatible broker (collector/tests/kafka*.rs) ------------------
# Built from crates.io into $HOME/.cache/cairn/tansu, outside the checkout (about 25-35
# minutes on 2 cores the first time), with its PostgreSQL engine (kafka_restart.rs);
# the tests find it at .../tansu/bin/tansu (or $CAIRN_TANSU) and fail with this command
# when it is missing. An install without the postgres feature is rebuilt once.
tansu_root="${cache}/tansu"
if [[ ! -x "${tansu_root}/bin/tansu" ]] || ! grep -q '"postgres"' "${tansu_root}/.crates2.json" 2>/dev/null; then
    # --locked: tansu's own Cargo.lock; resolved afresh, deadpool-postgres 0.14.2 (on
    # deadpool 0.13) no longer fits tansu-storage's deadpool 0.12 and the build fails.
    step "cargo install tansu 0.6.0 --locked --features dynostore,postgres (about 30 minutes the first time)"
    cargo install tansu --version 0.6.0 --locked --features dynostore,postgres --root "$tansu_root"
fi
# Debian's PostgreSQL 15 (the storage of the broker that keeps its data across a
# SIGKILL; the test runs its own cluster, never the system service), the system
# OpenSSL headers with pkg-config for the Kafka sink's TLS (rdkafka's `ssl` feature).
kafka_missing=()
[[ -x /usr/lib/postgresql/15/bin/initdb ]] || kafka_missing+=(postgresql-15)
[[ -x /usr/lib/postgresql/15/bin/psql ]] || kafka_missing+=(postgresql-client-15)
pkg-config --exists openssl 2>/dev/null || kafka_missing+=(libssl-dev pkg-config)
# nginx as the documented front of two collectors (collector/tests/kafka_nginx.rs runs
# its own instance from a config in its temp dir; the package's service is not used).
[[ -x /usr/sbin/nginx ]] || kafka_missing+=(nginx-light)
if (( ${#kafka_missing[@]} )); then
    step "apt-get install ${kafka_missing[*]}"
    sudo_=""
    [[ $(id -u) -ne 0 ]] && sudo_="sudo"
    $sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "${kafka_missing[@]}"
fi
