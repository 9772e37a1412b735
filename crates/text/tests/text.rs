//! Tokenizers: built-in encodings and Hugging Face files.

use provmark::text::TokenizerSpec;

#[cfg(feature = "tiktoken")]
#[test]
fn builtin_encodings_round_trip_and_bound_ids() {
    for name in ["o200k_base", "cl100k_base"] {
        let tok = provmark_text::load(&TokenizerSpec::parse(name)).unwrap();
        let text = "The quick brown fox — naïve café, 漢字, emoji 😀.\n";
        let ids = tok.encode(text).unwrap();
        assert_eq!(tok.decode(&ids).unwrap(), text);
        assert!(ids.iter().all(|&i| (i as usize) < tok.vocab_size()));
        assert!(matches!(
            tok.decode(&[tok.vocab_size() as u32]),
            Err(provmark::Error::TokenOutOfRange { .. })
        ));
        assert_eq!(tok.spec(), TokenizerSpec::parse(name));
    }
}

#[test]
fn unknown_tokenizer_is_a_typed_error() {
    let err = provmark_text::load(&TokenizerSpec::parse("/nonexistent/tokenizer.json"))
        .err()
        .unwrap();
    assert!(matches!(err, provmark::Error::Tokenizer(_)), "{err}");
    let err = provmark_text::load(&TokenizerSpec::Tiktoken {
        name: "p99k".into(),
    })
    .err()
    .unwrap();
    assert!(matches!(err, provmark::Error::Tokenizer(_)), "{err}");
}

#[cfg(feature = "hf")]
#[test]
fn huggingface_tokenizer_json_loads() {
    let dir = std::env::temp_dir().join(format!("provmark-hf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tokenizer.json");
    let json = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "hello": 1, "world": 2, "again": 3}, "unk_token": "[UNK]"}
    });
    std::fs::write(&path, json.to_string()).unwrap();
    let tok = provmark_text::load(&TokenizerSpec::parse(path.to_str().unwrap())).unwrap();
    assert_eq!(tok.vocab_size(), 4);
    assert_eq!(
        tok.encode("hello world again zebra").unwrap(),
        vec![1, 2, 3, 0]
    );
    assert_eq!(tok.decode(&[1, 2]).unwrap(), "hello world");
    assert!(tok.decode(&[4]).is_err());
    std::fs::write(&path, "{not json").unwrap();
    assert!(provmark_text::load(&TokenizerSpec::parse(path.to_str().unwrap())).is_err());
}

/// SmolLM2's tokenizer from the GGUF metadata follows its `smollm` pre-tokenizer: digits one
/// by one, byte-level BPE without a prefix space, ChatML control tokens as single ids, and a
/// lossless round trip on digits, spaces and Unicode.
#[cfg(feature = "gguf")]
#[test]
fn gguf_tokenizer_follows_smollm_pre_tokenizer() {
    let Some(path) = provmark_text::smollm2_or_skip().unwrap() else {
        return;
    };
    let tok = provmark_text::load(&TokenizerSpec::parse(path.to_str().unwrap())).unwrap();
    assert_eq!(tok.vocab_size(), 49_152);
    assert_eq!(tok.spec(), TokenizerSpec::Gguf { path: path.clone() });
    // Digits are split individually: five digits, five tokens, each a digit.
    let digits = tok.encode("12345").unwrap();
    assert_eq!(digits.len(), 5);
    for (i, id) in digits.iter().enumerate() {
        assert_eq!(tok.decode(&[*id]).unwrap(), (i + 1).to_string());
    }
    // No prefix space: "Hello" at the start is not the id of " Hello".
    let hello = tok.encode("Hello").unwrap();
    let space_hello = tok.encode(" Hello").unwrap();
    assert_eq!(hello.len(), 1);
    assert_eq!(space_hello.len(), 1);
    assert_ne!(hello, space_hello);
    // ChatML control tokens are single ids (BOS/`<|im_start|>` 1, EOS/`<|im_end|>` 2).
    assert_eq!(tok.encode("<|im_start|>").unwrap(), vec![1]);
    assert_eq!(tok.encode("<|im_end|>").unwrap(), vec![2]);
    for text in [
        "The year 2026 had 365 days;  two  spaces,\ttabs\nand new lines.",
        "naïve café — 漢字 and emoji 😀, 3.14159 × 10^-7",
        "   leading spaces and trailing   ",
    ] {
        let ids = tok.encode(text).unwrap();
        assert!(ids.iter().all(|&i| (i as usize) < tok.vocab_size()));
        assert_eq!(tok.decode(&ids).unwrap(), text);
    }
}

#[cfg(feature = "gguf")]
#[test]
fn gguf_tokenizer_rejects_non_gguf_files() {
    let dir = std::env::temp_dir().join(format!("provmark-gguf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("not-a-model.gguf");
    std::fs::write(&path, b"GGUF but truncated").unwrap();
    let err = provmark_text::load(&TokenizerSpec::parse(path.to_str().unwrap()))
        .err()
        .unwrap();
    assert!(matches!(err, provmark::Error::Tokenizer(_)), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// provmark's GGUF tokenizer gives SmolLM2 the ids that llama.cpp's own, independent
/// implementation gives, on 44 texts with digits, spaces, code, many scripts, emoji and
/// invisible characters. The vectors were written by `bindings/c/tests/c/llama_tokenize.c`
/// (llama.cpp from llama-cpp-python 0.3.36) from `data/smollm2-texts.jsonl`; CI regenerates them
/// and compares (scripts/llama-cpp.sh tokenize).
#[cfg(feature = "gguf")]
#[test]
fn gguf_tokenizer_matches_llama_cpp_vectors() {
    let Some(path) = provmark_text::smollm2_or_skip().unwrap() else {
        return;
    };
    let tok = provmark_text::load(&TokenizerSpec::parse(path.to_str().unwrap())).unwrap();
    let vectors = include_str!("data/smollm2-llama-cpp.jsonl");
    let mut n = 0;
    for line in vectors.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = v["text"].as_str().unwrap();
        let want: Vec<u32> = v["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(tok.encode(text).unwrap(), want, "text {text:?}");
        n += 1;
    }
    assert_eq!(n, 44);
}
