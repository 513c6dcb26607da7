//! Entry points for the fuzz harnesses (`collector/fuzz`) and for the stable-toolchain
//! test that replays their corpus (`collector/tests/fuzz_corpus.rs`). Each must return
//! for any input without panicking; what they check beyond that is asserted here.

use std::{ops::ControlFlow, path::Path};

use super::{
    frame::{self, Decoded},
    log::Log,
};

/// Decodes every frame in `data` as a segment scan would, and every event and tombstone
/// body it finds; a decoded frame's length must lie within the input.
pub fn decode_frames(data: &[u8]) {
    let mut at = 0;
    while at < data.len() {
        let rest = &data[at..];
        let len = match frame::decode(rest) {
            Decoded::Frame { frame, len } => {
                let _ = frame::decode_event_body(frame.body);
                let _ = frame::decode_tombstone_body(frame.body);
                let _ = frame::feed_record(&frame);
                len
            }
            Decoded::Corrupt { len } => len,
            Decoded::Incomplete => break,
        };
        assert!(
            len > 0 && len <= rest.len(),
            "frame length {len} of {}",
            rest.len()
        );
        at += len;
    }
    let _ = frame::declared_len(data);
}

/// Writes `data` as the only segment of a log in `dir` (emptied first), opens it (the
/// recovery: torn tails cut, zeroed frames skipped), and reads everything back. Recovery
/// must leave a log that opens again to the same frames.
pub fn recover_segment(dir: &Path, data: &[u8]) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("fuzz dir");
    std::fs::write(dir.join(format!("{:020}.log", 1)), data).expect("segment");
    let mut first = Vec::new();
    let Ok(log) = Log::open(dir, |f| first.push(f.seq)) else {
        return;
    };
    let mut read = Vec::new();
    log.read_after(0, |f, _| {
        read.push(f.seq);
        ControlFlow::Continue(())
    })
    .expect("read recovered log");
    drop(log);
    let mut again = Vec::new();
    Log::open(dir, |f| again.push(f.seq)).expect("a recovered log opens again");
    assert_eq!(first, again, "recovery is stable");
}
