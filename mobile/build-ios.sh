#!/usr/bin/env bash
# Builds the iOS library: a static libcairn_mobile.a for devices and for the simulator
# (arm64 + x86_64 in one fat archive), wrapped in CairnFFI.xcframework, plus a Swift
# package whose Cairn target holds the generated Swift bindings.
#
# NOT RUN in this repository's CI: it needs macOS with Xcode (xcodebuild, lipo).
#   - rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios
#
#   mobile/build-ios.sh [OUT_DIR]            (default mobile/dist/ios)
#
# Output (OUT_DIR/Cairn is a Swift package: add it in Xcode, then `import Cairn`):
#   OUT_DIR/Cairn/Package.swift
#   OUT_DIR/Cairn/CairnFFI.xcframework/{ios-arm64,ios-arm64_x86_64-simulator}/libcairn_mobile.a + Headers
#   OUT_DIR/Cairn/Sources/Cairn/Cairn.swift           (generated bindings)
#   OUT_DIR/Cairn/Sources/Cairn/CairnTracker.swift    (the written layer: Cairn, URLSessionUploader, lifecycle)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-$here/dist/ios}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn-target}"
export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-13.0}"

command -v xcodebuild >/dev/null || { echo "build-ios: needs Xcode (xcodebuild)" >&2; exit 1; }

export CARGO_PROFILE_RELEASE_DEBUG=0
export CARGO_PROFILE_RELEASE_STRIP=symbols
export CARGO_PROFILE_RELEASE_LTO=true
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1

cd "$root"
# 1. Static libraries: device, and the two simulator architectures.
for target in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios; do
    cargo build --release -p cairn-mobile --lib --target "$target"
done
rm -rf "$out"
pkg="$out/Cairn"
mkdir -p "$pkg/Sources/Cairn" "$out/sim" "$out/headers"
lipo -create \
    "$CARGO_TARGET_DIR/aarch64-apple-ios-sim/release/libcairn_mobile.a" \
    "$CARGO_TARGET_DIR/x86_64-apple-ios/release/libcairn_mobile.a" \
    -output "$out/sim/libcairn_mobile.a"

# 2. Swift bindings, from the host build of the same crate (library mode reads the
#    interface from the compiled metadata; it is the same on every target).
"$here/generate-bindings.sh" "$out/bindings"
cp "$out/bindings/swift/Cairn.swift" "$pkg/Sources/Cairn/"
cp "$here/swift/CairnTracker.swift" "$pkg/Sources/Cairn/"
cp "$out/bindings/swift/CairnFFI.h" "$out/headers/"
# An XCFramework's headers need the module map under this exact name.
cp "$out/bindings/swift/CairnFFI.modulemap" "$out/headers/module.modulemap"

# 3. The XCFramework: one slice per platform, the same headers for both.
xcodebuild -create-xcframework \
    -library "$CARGO_TARGET_DIR/aarch64-apple-ios/release/libcairn_mobile.a" -headers "$out/headers" \
    -library "$out/sim/libcairn_mobile.a" -headers "$out/headers" \
    -output "$pkg/CairnFFI.xcframework"

cat >"$pkg/Package.swift" <<'SWIFT'
// swift-tools-version:5.9
import PackageDescription

let package = Package(
    name: "Cairn",
    platforms: [.iOS(.v13)],
    products: [.library(name: "Cairn", targets: ["Cairn"])],
    targets: [
        .binaryTarget(name: "CairnFFI", path: "CairnFFI.xcframework"),
        .target(name: "Cairn", dependencies: ["CairnFFI"], path: "Sources/Cairn"),
    ]
)
SWIFT
rm -rf "$out/sim" "$out/headers" "$out/bindings"
echo "build-ios: Swift package at $pkg"
