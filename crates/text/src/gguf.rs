//! The tokenizer stored in a GGUF model file (feature `gguf`).
//!
//! A GGUF file carries its tokenizer in metadata: `tokenizer.ggml.model` (the algorithm),
//! `tokenizer.ggml.pre` (the pre-tokenizer, by name), `tokenizer.ggml.tokens`,
//! `tokenizer.ggml.merges` and `tokenizer.ggml.token_type`. This module rebuilds from it the
//! tokenizer that Hugging Face's `tokenizer.json` for the same model describes, and runs it with
//! the `tokenizers` crate, so that text is tokenized exactly as the model was trained.
//!
//! Only combinations whose Hugging Face equivalent is known exactly are accepted; anything else
//! is an [`Error::Tokenizer`] naming what is missing, never a silently different tokenization
//! (which would make every detection on that model meaningless):
//!
//! | `model` | `pre` | pre-tokenizer |
//! |---|---|---|
//! | `gpt2` | `smollm` | digits split one by one, then byte-level without a prefix space (SmolLM, SmolLM2) |
//! | `gpt2` | `gpt-2`, `default` | byte-level without a prefix space (GPT-2) |
//!
//! Control and user-defined tokens (`<|im_start|>`, `<|im_end|>`, …) become added tokens, matched
//! in text as Hugging Face matches them.

use crate::hf::HfTokenizer;
use candle_core::quantized::gguf_file::{Content, Value};
use provmark::text::{Tokenizer, TokenizerSpec};
use provmark::{Error, Result};
use std::collections::HashMap;
use std::path::Path;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, PreTokenizerWrapper};

/// GGUF token types (llama.cpp's `llama_token_type`) that become added tokens.
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// Loads the tokenizer of the GGUF model at `path`.
///
/// # Errors
/// [`Error::Tokenizer`] when the file cannot be read, is not GGUF, or holds a tokenizer this
/// module does not reproduce exactly (see the module docs).
pub fn load(path: &Path) -> Result<Box<dyn Tokenizer>> {
    let fail = |what: String| Error::Tokenizer(format!("{}: {what}", path.display()));
    let mut file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let content = Content::read(&mut file).map_err(|e| fail(format!("not a GGUF file: {e}")))?;
    let spec = TokenizerSpec::Gguf {
        path: path.to_path_buf(),
    };
    from_metadata(&content.metadata, spec).map_err(fail)
}

/// Builds the tokenizer from GGUF metadata; errors are descriptions without the path.
fn from_metadata(
    meta: &HashMap<String, Value>,
    spec: TokenizerSpec,
) -> std::result::Result<Box<dyn Tokenizer>, String> {
    let string = |key: &str| -> std::result::Result<&String, String> {
        meta.get(key)
            .ok_or_else(|| format!("metadata has no `{key}`"))?
            .to_string()
            .map_err(|e| format!("`{key}`: {e}"))
    };
    let array = |key: &str| -> std::result::Result<&Vec<Value>, String> {
        meta.get(key)
            .ok_or_else(|| format!("metadata has no `{key}`"))?
            .to_vec()
            .map_err(|e| format!("`{key}`: {e}"))
    };
    let model = string("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(format!(
            "tokenizer model `{model}` is not supported (only byte-level BPE, `gpt2`)"
        ));
    }
    let pre = meta
        .get("tokenizer.ggml.pre")
        .and_then(|v| v.to_string().ok())
        .map_or("default", String::as_str);
    let byte_level = ByteLevel::new(false, true, true);
    let pre_tokenizer: PreTokenizerWrapper = match pre {
        "smollm" => Sequence::new(vec![Digits::new(true).into(), byte_level.into()]).into(),
        "gpt-2" | "default" => byte_level.into(),
        other => {
            return Err(format!(
                "pre-tokenizer `{other}` is not supported (known: smollm, gpt-2, default); \
                 use the model's tokenizer.json instead"
            ));
        }
    };

    let tokens = array("tokenizer.ggml.tokens")?
        .iter()
        .map(|v| v.to_string().cloned().map_err(|e| format!("token: {e}")))
        .collect::<std::result::Result<Vec<String>, String>>()?;
    if tokens.is_empty() || tokens.len() > provmark::prf::MAX_VOCAB {
        return Err(format!("vocabulary of {} tokens", tokens.len()));
    }
    let merges = array("tokenizer.ggml.merges")?
        .iter()
        .map(|v| {
            let m = v.to_string().map_err(|e| format!("merge: {e}"))?;
            let (a, b) = m
                .split_once(' ')
                .ok_or_else(|| format!("merge {m:?} is not two tokens"))?;
            Ok((a.to_string(), b.to_string()))
        })
        .collect::<std::result::Result<Vec<(String, String)>, String>>()?;
    let types: Vec<i32> = match meta.get("tokenizer.ggml.token_type") {
        Some(v) => v
            .to_vec()
            .map_err(|e| format!("`tokenizer.ggml.token_type`: {e}"))?
            .iter()
            .map(|t| t.to_i32().map_err(|e| format!("token type: {e}")))
            .collect::<std::result::Result<_, _>>()?,
        None => Vec::new(),
    };

    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), u32::try_from(i).unwrap_or(u32::MAX)))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| format!("BPE: {e}"))?;
    let mut inner = tokenizers::Tokenizer::new(bpe);
    inner.with_pre_tokenizer(Some(pre_tokenizer));
    inner.with_decoder(Some(ByteLevel::default()));
    let added = |kind: i32, special: bool| -> Vec<AddedToken> {
        tokens
            .iter()
            .zip(&types)
            .filter(|(_, t)| **t == kind)
            .map(|(tok, _)| AddedToken::from(tok.clone(), special).normalized(false))
            .collect()
    };
    inner
        .add_special_tokens(added(TOKEN_TYPE_CONTROL, true))
        .map_err(|e| format!("control tokens: {e}"))?;
    inner
        .add_tokens(added(TOKEN_TYPE_USER_DEFINED, false))
        .map_err(|e| format!("user-defined tokens: {e}"))?;
    Ok(Box::new(HfTokenizer::new(inner, spec)))
}
