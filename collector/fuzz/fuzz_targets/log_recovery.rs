//! The log's recovery at open: any bytes as the last segment, opened twice.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("cairn-fuzz-recovery-{}", std::process::id()));
    cairn_collector::store::fuzz::recover_segment(&dir, data);
});
