#![no_main]
//! Fuzz target: see `provmark_text::fuzzing::normalize_text`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| provmark_text::fuzzing::normalize_text(data));
