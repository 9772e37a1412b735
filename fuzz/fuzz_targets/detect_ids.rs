#![no_main]
//! Fuzz target: see `provmark::fuzzing::detect_ids`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| provmark::fuzzing::detect_ids(data));
