#![no_main]
//! Fuzz target: see `provmark_text::fuzzing::audit_jsonl`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| provmark_text::fuzzing::audit_jsonl(data));
