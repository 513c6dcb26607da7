//! The ingest parser: body, envelope, event validation, enrichment, pseudonymisation.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cairn_collector::ingest::fuzz::parse(data);
});
