//! The text front-end of provmark: tokenizers that turn text into the token ids the core
//! scores, and readers for text collections.
//!
//! A watermark lives on token ids, so the detector must tokenize suspect text exactly as the
//! generator did. A key file records a [`TokenizerSpec`]; [`load`] gives the tokenizer:
//!
//! * built in, offline: `o200k_base` and `cl100k_base` (feature `tiktoken`, on by default);
//! * a Hugging Face `tokenizer.json` file (feature `hf`);
//! * the tokenizer in a GGUF model's metadata (feature `gguf`), so a key made for a model
//!   tokenizes exactly as that model does (see [`gguf`]).
//!
//! [`corpus`] reads text collections (files, directories, JSON Lines, HTML).
//! [`normalize`] undoes invisible and look-alike character edits before tokenizing.
//!
//! ```
//! # #[cfg(feature = "tiktoken")] {
//! use provmark::text::TokenizerSpec;
//! let tok = provmark_text::load(&TokenizerSpec::parse("cl100k_base"))?;
//! let ids = tok.encode("Hello world")?;
//! assert_eq!(tok.decode(&ids)?, "Hello world");
//! # }
//! # Ok::<(), provmark::Error>(())
//! ```
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![warn(missing_docs)]

pub mod corpus;
pub mod fuzzing;
#[cfg(feature = "gguf")]
pub mod gguf;
#[cfg(any(feature = "hf", feature = "gguf"))]
mod hf;
pub mod normalize;
#[cfg(feature = "tiktoken")]
mod tiktoken;

pub use provmark::text::{BUILTIN, Normalization, Tokenizer, TokenizerSpec};
use provmark::{Error, Result};
use std::path::PathBuf;

/// File name of the reference model that `scripts/fetch-model.sh` fetches and verifies
/// (SmolLM2-135M-Instruct, Q4_1, Apache-2.0).
pub const SMOLLM2_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Where the reference model is on this machine, if it has been fetched: `$PROVMARK_MODEL`
/// when set, else [`SMOLLM2_FILE`] under `$PROVMARK_CACHE/models` (default
/// `~/.cache/provmark/models`), the fetch script's cache. `None` when that file does not exist.
pub fn smollm2_path() -> Option<PathBuf> {
    let path = match std::env::var_os("PROVMARK_MODEL") {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("PROVMARK_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/provmark")))?
            .join("models")
            .join(SMOLLM2_FILE),
    };
    path.is_file().then_some(path)
}

/// [`smollm2_path`] for test suites and benches that need the reference model: `Ok(None)`
/// (after saying on stderr that the caller is skipped) when it is not fetched, and an error
/// instead when `PROVMARK_REQUIRE_MODEL` is set, as CI sets it, so a missing model fails there.
///
/// # Errors
/// [`Error::InvalidInput`] when the model is required and missing.
pub fn smollm2_or_skip() -> Result<Option<PathBuf>> {
    let path = smollm2_path();
    if path.is_none() {
        if std::env::var_os("PROVMARK_REQUIRE_MODEL").is_some() {
            return Err(Error::InvalidInput(
                "the reference model is missing (run scripts/fetch-model.sh)".into(),
            ));
        }
        eprintln!("skipped: the reference model is not fetched (scripts/fetch-model.sh)");
    }
    Ok(path)
}

/// Normalises `text` as `n` says ([`normalize`]), then encodes it: what generation (for the
/// prompt) and detection (for suspect text) both do with a key's normalisation and tokenizer.
///
/// # Errors
/// As [`Tokenizer::encode`].
///
/// ```
/// # #[cfg(feature = "tiktoken")] {
/// use provmark::text::{Normalization, TokenizerSpec};
/// let tok = provmark_text::load(&TokenizerSpec::parse("cl100k_base"))?;
/// let clean = tok.encode("hello world")?;
/// let attacked = "hello\u{200B} w\u{043E}rld"; // a zero-width space and a Cyrillic o
/// assert_ne!(tok.encode(attacked)?, clean);
/// assert_eq!(provmark_text::encode_normalized(tok.as_ref(), Normalization::V1, attacked)?, clean);
/// # }
/// # Ok::<(), provmark::Error>(())
/// ```
pub fn encode_normalized(tok: &dyn Tokenizer, n: Normalization, text: &str) -> Result<Vec<u32>> {
    tok.encode(&normalize::normalize(text, n))
}

/// Loads the tokenizer a spec names.
///
/// # Errors
/// [`Error::Tokenizer`] when the encoding is unknown, its feature is not compiled in, or the
/// file cannot be read or holds no usable tokenizer.
pub fn load(spec: &TokenizerSpec) -> Result<Box<dyn Tokenizer>> {
    match spec {
        #[cfg(feature = "tiktoken")]
        TokenizerSpec::Tiktoken { name } => Ok(Box::new(tiktoken::Tiktoken::load(name)?)),
        #[cfg(not(feature = "tiktoken"))]
        TokenizerSpec::Tiktoken { name } => Err(Error::Tokenizer(format!(
            "built-in encoding {name} needs the `tiktoken` feature of provmark-text"
        ))),
        #[cfg(feature = "hf")]
        TokenizerSpec::Huggingface { path } => Ok(Box::new(hf::HfTokenizer::load(path)?)),
        #[cfg(not(feature = "hf"))]
        TokenizerSpec::Huggingface { path } => Err(Error::Tokenizer(format!(
            "{}: not a built-in encoding ({}); loading tokenizer.json files needs the `hf` feature of provmark-text",
            path.display(),
            BUILTIN.join(", ")
        ))),
        #[cfg(feature = "gguf")]
        TokenizerSpec::Gguf { path } => gguf::load(path),
        #[cfg(not(feature = "gguf"))]
        TokenizerSpec::Gguf { path } => Err(Error::Tokenizer(format!(
            "{}: reading a GGUF model's tokenizer needs the `gguf` feature of provmark-text",
            path.display()
        ))),
        other => Err(Error::Tokenizer(format!("unsupported tokenizer {other}"))),
    }
}
