#!/usr/bin/env bash
# Builds the Android library: libcairn_mobile.so for the four Android ABIs with cargo-ndk,
# the Kotlin bindings, and an .aar laid out as Android Gradle expects.
#
# NOT RUN in this repository's CI: the build machines have no Android NDK. Written to be
# run on a developer machine with:
#   - ANDROID_NDK_HOME pointing at NDK r26+ (r27+ aligns to 16 KB pages by itself)
#   - cargo install cargo-ndk
#   - rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android i686-linux-android
#   - kotlinc and JNA (scripts/install-test-deps.sh), only to compile classes.jar
#
#   mobile/build-android.sh [OUT_DIR]        (default mobile/dist/android)
#   mobile/build-android.sh --package-only JNILIBS_DIR [OUT_DIR]
#       steps 2 and 3 only (bindings, classes.jar, .aar) around libraries built elsewhere
#       (JNILIBS_DIR/<abi>/libcairn_mobile.so); needs no NDK. The test suite runs this
#       mode with the host library (tests/foreign.rs, android_aar_packaging_...), so the
#       packaging stays in step with the crate layout; step 1 is not run there.
# Environment: UNIFFI_BINDGEN (a built uniffi-bindgen; default: build it), CAIRN_KOTLINC,
#   CAIRN_JNA_JAR, ANDROID_MIN_SDK (24).
#
# Output:
#   OUT_DIR/jniLibs/{arm64-v8a,armeabi-v7a,x86_64,x86}/libcairn_mobile.so  (for a Gradle module's src/main/jniLibs)
#   OUT_DIR/kotlin/dev/cairn/{cairn_mobile.kt,Cairn.kt,CairnJson.kt,HttpUrlUploader.kt,SeedEventChecks.kt}
#                                     (generated bindings + the written layer, for a Gradle module's src/main/kotlin)
#   OUT_DIR/cairn-mobile-<version>.aar                                   (the same, prebuilt):
#       AndroidManifest.xml  classes.jar  R.txt  jni/<abi>/libcairn_mobile.so
# An app using the .aar also needs JNA's Android build and coroutines:
#   implementation("net.java.dev.jna:jna:5.13.0@aar")
#   implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.8.1")
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
prebuilt=""
if [[ "${1:-}" == "--package-only" ]]; then
    prebuilt="${2:?--package-only needs JNILIBS_DIR}"
    prebuilt="$(cd "$prebuilt" && pwd)"
    shift 2
fi
out="${1:-$here/dist/android}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn-target}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)"
min_sdk="${ANDROID_MIN_SDK:-24}"

if [[ -z "$prebuilt" ]]; then
    : "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to an Android NDK (r26 or later)}"
    command -v cargo-ndk >/dev/null || { echo "build-android: cargo install cargo-ndk" >&2; exit 1; }
fi

# Release without debug info, symbols stripped, size over speed where it is free.
export CARGO_PROFILE_RELEASE_DEBUG=0
export CARGO_PROFILE_RELEASE_STRIP=symbols
export CARGO_PROFILE_RELEASE_LTO=true
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
# Android 15 devices may use 16 KB pages: align the 64-bit libraries for them.
export CARGO_TARGET_AARCH64_LINUX_ANDROID_RUSTFLAGS="-C link-arg=-Wl,-z,max-page-size=16384"
export CARGO_TARGET_X86_64_LINUX_ANDROID_RUSTFLAGS="-C link-arg=-Wl,-z,max-page-size=16384"

rm -rf "$out"
mkdir -p "$out/jniLibs"
cd "$root"
# 1. The four ABIs (cargo-ndk picks the NDK clang and sysroot for each).
if [[ -z "$prebuilt" ]]; then
    cargo ndk --platform "$min_sdk" \
        -t arm64-v8a -t armeabi-v7a -t x86_64 -t x86 \
        -o "$out/jniLibs" \
        build --release -p cairn-mobile --lib
else
    cp -rL "$prebuilt/." "$out/jniLibs/"
fi
libs=("$out"/jniLibs/*/libcairn_mobile.so)
[[ -f "${libs[0]}" ]] || { echo "build-android: no jniLibs/<abi>/libcairn_mobile.so" >&2; exit 1; }

# 2. Kotlin bindings, read from the metadata inside one of the libraries (library mode;
#    the interface is the same in every ABI, arm64 when built here), and the layer
#    beside them: every file of kotlin/dev/cairn (Cairn, the map encoder, the
#    HttpURLConnection uploader, the generated SeedEvent range checks).
lib="$out/jniLibs/arm64-v8a/libcairn_mobile.so"
[[ -f "$lib" ]] || lib="${libs[0]}"
bindgen="${UNIFFI_BINDGEN:-}"
if [[ -z "$bindgen" ]]; then
    cargo build -p cairn-mobile --features cli --bin uniffi-bindgen
    bindgen="$CARGO_TARGET_DIR/debug/uniffi-bindgen"
fi
"$bindgen" generate --no-format --metadata-no-deps \
    --language kotlin --out-dir "$out/kotlin" "$lib"
cp "$here"/kotlin/dev/cairn/*.kt "$out/kotlin/dev/cairn/"

# 3. The .aar: a zip with the manifest, the compiled bindings and the libraries.
kotlinc="${CAIRN_KOTLINC:-$HOME/.cache/cairn/kotlin/node_modules/kotlin-compiler/bin/kotlinc}"
jna="${CAIRN_JNA_JAR:-/usr/share/java/jna.jar}"
klib="$(cd "$(dirname "$kotlinc")/../lib" && pwd)"
aar="$out/aar"
mkdir -p "$aar/jni"
"$kotlinc" -nowarn -jvm-target 1.8 "$out"/kotlin/dev/cairn/*.kt \
    -cp "$jna:$klib/kotlinx-coroutines-core-jvm.jar" -d "$aar/classes-dir"
(cd "$aar/classes-dir" && jar cf ../classes.jar .)
rm -rf "$aar/classes-dir"
cp -r "$out/jniLibs/." "$aar/jni/"
cat >"$aar/AndroidManifest.xml" <<MANIFEST
<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="dev.cairn">
    <uses-sdk android:minSdkVersion="$min_sdk" />
    <uses-permission android:name="android.permission.INTERNET" />
</manifest>
MANIFEST
: >"$aar/R.txt"
(cd "$aar" && rm -f "../cairn-mobile-$version.aar" && zip -qr "../cairn-mobile-$version.aar" .)
rm -rf "$aar"
ls -l "$out"/jniLibs/*/libcairn_mobile.so "$out/cairn-mobile-$version.aar"
