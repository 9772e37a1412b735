#![no_main]
//! Fuzz target: see `provmark::fuzzing::key_file`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| provmark::fuzzing::key_file(data));
