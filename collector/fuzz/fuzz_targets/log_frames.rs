//! The log's frame decoder and the event / tombstone body decoders.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cairn_collector::store::fuzz::decode_frames(data);
});
