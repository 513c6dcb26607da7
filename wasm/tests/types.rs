//! The TypeScript declarations (`js/cairn.d.ts`, with the region cairn-codegen
//! writes) type-check under `tsc --strict`: every generated helper with its samples
//! (`tests/types/samples.ts`), and the refusals in `tests/types/use.ts`
//! (`@ts-expect-error` fails when a line is not an error).
//!
//! Needs `npm ci` in wasm/tests/browser (typescript is one of its packages).
#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;
use std::process::Command;

#[test]
fn declarations_type_check_with_tsc() {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tsc = here.join("tests/browser/node_modules/typescript/bin/tsc");
    assert!(
        tsc.exists(),
        "{} is missing: run `npm ci` in wasm/tests/browser",
        tsc.display()
    );
    let out = Command::new("node")
        .arg(&tsc)
        .args(["--noEmit", "--strict", "--target", "es2022"])
        .args(["--module", "esnext", "--moduleResolution", "bundler"])
        .arg(here.join("tests/types/samples.ts"))
        .arg(here.join("tests/types/use.ts"))
        .output()
        .expect("run node (it is on PATH wherever the browser tests run)");
    assert!(
        out.status.success(),
        "tsc:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
