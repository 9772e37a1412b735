#![no_main]
//! Fuzz target: see `provmark::fuzzing::params`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| provmark::fuzzing::params(data));
