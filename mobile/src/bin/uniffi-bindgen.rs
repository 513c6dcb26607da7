//! The workspace's own uniffi-bindgen (same version as the `uniffi` the library links),
//! so generated bindings always match the scaffolding. Used by `mobile/generate-bindings.sh`:
//! `cargo run -p cairn-mobile --features cli --bin uniffi-bindgen -- generate --library <lib> --language kotlin --out-dir <dir>`.
fn main() {
    uniffi::uniffi_bindgen_main()
}
