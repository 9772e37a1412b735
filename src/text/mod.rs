//! Text front-end: tokenizers turning text into token ids and back.
//!
//! A watermark lives on token ids, so the detector must tokenize suspect text exactly as the
//! generator did. The key file records a [`TokenizerSpec`]; [`TokenizerSpec::load`] gives the
//! tokenizer.
//!
//! * Built in, offline: `o200k_base` and `cl100k_base` (feature `tiktoken`, on by default).
//! * A Hugging Face `tokenizer.json` file (feature `hf`).
//!
//! [`corpus`] reads text collections (files, directories, JSON Lines, HTML).
//!
//! ```
//! # #[cfg(feature = "tiktoken")] {
//! use provmark::text::TokenizerSpec;
//! let tok = TokenizerSpec::parse("cl100k_base").load()?;
//! let ids = tok.encode("Hello world")?;
//! assert_eq!(tok.decode(&ids)?, "Hello world");
//! # }
//! # Ok::<(), provmark::Error>(())
//! ```

pub mod corpus;
#[cfg(feature = "hf")]
mod hf;
#[cfg(feature = "tiktoken")]
mod tiktoken;

use crate::Result;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Text ↔ token ids.
pub trait Tokenizer: Send + Sync {
    /// Encodes text as ordinary tokens (special-token strings are treated as plain text).
    ///
    /// # Errors
    /// [`crate::Error::Tokenizer`] if the tokenizer fails.
    fn encode(&self, text: &str) -> Result<Vec<u32>>;

    /// Decodes ids to text; byte sequences that are not valid UTF-8 become U+FFFD.
    ///
    /// # Errors
    /// [`crate::Error::TokenOutOfRange`] for an unknown id.
    fn decode(&self, ids: &[u32]) -> Result<String>;

    /// Token ids are below this bound.
    fn vocab_size(&self) -> usize;

    /// How to load this tokenizer again (recorded in key files).
    fn spec(&self) -> TokenizerSpec;
}

/// Which tokenizer, as recorded in a key file: `{"type": "tiktoken", "name": "o200k_base"}` or
/// `{"type": "huggingface", "path": "/models/x/tokenizer.json"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum TokenizerSpec {
    /// A built-in BPE encoding: `o200k_base` or `cl100k_base`.
    Tiktoken {
        /// Encoding name.
        name: String,
    },
    /// A Hugging Face `tokenizer.json` file.
    Huggingface {
        /// Path to the file.
        path: PathBuf,
    },
}

impl Default for TokenizerSpec {
    /// `o200k_base`.
    fn default() -> Self {
        TokenizerSpec::Tiktoken {
            name: "o200k_base".into(),
        }
    }
}

impl std::fmt::Display for TokenizerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenizerSpec::Tiktoken { name } => f.write_str(name),
            TokenizerSpec::Huggingface { path } => write!(f, "{}", path.display()),
        }
    }
}

/// Names of the built-in encodings.
pub const BUILTIN: &[&str] = &["o200k_base", "cl100k_base"];

impl TokenizerSpec {
    /// A built-in encoding name, or otherwise a path to a `tokenizer.json`.
    pub fn parse(s: &str) -> Self {
        if BUILTIN.contains(&s) {
            TokenizerSpec::Tiktoken { name: s.into() }
        } else {
            TokenizerSpec::Huggingface { path: s.into() }
        }
    }

    /// Loads the tokenizer.
    ///
    /// # Errors
    /// [`crate::Error::Tokenizer`] when the encoding is unknown, its feature is not compiled in, or the
    /// file cannot be read.
    pub fn load(&self) -> Result<Box<dyn Tokenizer>> {
        match self {
            #[cfg(feature = "tiktoken")]
            TokenizerSpec::Tiktoken { name } => Ok(Box::new(tiktoken::Tiktoken::load(name)?)),
            #[cfg(not(feature = "tiktoken"))]
            TokenizerSpec::Tiktoken { name } => Err(crate::Error::Tokenizer(format!(
                "built-in encoding {name} needs the `tiktoken` feature"
            ))),
            #[cfg(feature = "hf")]
            TokenizerSpec::Huggingface { path } => Ok(Box::new(hf::HfTokenizer::load(path)?)),
            #[cfg(not(feature = "hf"))]
            TokenizerSpec::Huggingface { path } => Err(crate::Error::Tokenizer(format!(
                "{}: not a built-in encoding ({}); loading tokenizer.json files needs the `hf` feature",
                path.display(),
                BUILTIN.join(", ")
            ))),
        }
    }
}
