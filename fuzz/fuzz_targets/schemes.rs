#![no_main]
//! Fuzz target: see `provmark::fuzzing::schemes`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| provmark::fuzzing::schemes(data));
