//! Replays every committed fuzz seed-corpus file through the same entry points as the fuzz
//! targets, so plain `cargo test` on stable exercises them.

use std::path::Path;

fn replay(target: &str, f: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        f(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n > 0, "no corpus files in {}", dir.display());
}

#[test]
fn key_file_corpus() {
    replay("key_file", provmark::fuzzing::key_file);
}

#[test]
fn detect_ids_corpus() {
    replay("detect_ids", provmark::fuzzing::detect_ids);
}

#[test]
#[cfg(feature = "tiktoken")]
fn detect_text_corpus() {
    replay("detect_text", provmark_text::fuzzing::detect_text);
}

#[test]
fn params_corpus() {
    replay("params", provmark::fuzzing::params);
}

#[test]
fn schemes_corpus() {
    replay("schemes", provmark::fuzzing::schemes);
}

#[test]
fn audit_jsonl_corpus() {
    replay("audit_jsonl", provmark_text::fuzzing::audit_jsonl);
}

#[test]
fn normalize_text_corpus() {
    replay("normalize_text", provmark_text::fuzzing::normalize_text);
}
