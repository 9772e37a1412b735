#![no_main]
//! Fuzz target: see `provmark::fuzzing::audit_jsonl`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| provmark::fuzzing::audit_jsonl(data));
