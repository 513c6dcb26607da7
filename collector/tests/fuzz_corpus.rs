//! Replays the fuzz corpus kept in `collector/fuzz/corpus/` (seeds and every input the
//! fuzzers found interesting, crashes included once fixed) through the same entry points
//! the harnesses call, on the stable toolchain: none may panic.

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    files
}

#[test]
fn ingest_corpus() {
    for file in inputs("ingest") {
        cairn_collector::ingest::fuzz::parse(&std::fs::read(&file).unwrap());
    }
}

#[test]
fn log_frames_corpus() {
    for file in inputs("log_frames") {
        cairn_collector::store::fuzz::decode_frames(&std::fs::read(&file).unwrap());
    }
}

#[test]
fn log_recovery_corpus() {
    let dir = cairn_testkit::temp_dir("fuzz-recovery-replay");
    for file in inputs("log_recovery") {
        cairn_collector::store::fuzz::recover_segment(
            &dir.join("log"),
            &std::fs::read(&file).unwrap(),
        );
    }
}
