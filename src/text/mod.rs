//! The tokenizer interface and the tokenizer a key file records.
//!
//! A watermark lives on token ids, so the detector must tokenize suspect text exactly as the
//! generator did. A key file records a [`TokenizerSpec`]; the implementations (built-in
//! tiktoken encodings, Hugging Face files, GGUF metadata) live in the `provmark-text` crate,
//! whose `load` turns a spec into a [`Tokenizer`]. The core itself only ever sees token ids.
//!
//! ```
//! use provmark::text::TokenizerSpec;
//! assert_eq!(TokenizerSpec::parse("cl100k_base").to_string(), "cl100k_base");
//! assert!(matches!(TokenizerSpec::parse("model.gguf"), TokenizerSpec::Gguf { .. }));
//! ```

use crate::Result;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Text ↔ token ids.
pub trait Tokenizer: Send + Sync {
    /// Encodes text. Special-token strings (`<|im_start|>`, …) are plain text for the built-in
    /// tiktoken encodings; Hugging Face and GGUF tokenizers match them as their own added
    /// tokens, as Hugging Face's `encode(text, add_special_tokens=False)` does.
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
    /// The tokenizer stored in a GGUF model file's metadata (`tokenizer.ggml.*`), so text is
    /// tokenized exactly as the model that produced it.
    Gguf {
        /// Path to the `.gguf` file.
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
            TokenizerSpec::Huggingface { path } | TokenizerSpec::Gguf { path } => {
                write!(f, "{}", path.display())
            }
        }
    }
}

/// How text is normalised before it is tokenized, at generation (the prompt) and at detection
/// (the suspect text), as recorded in a key file. Versioned: a version's output never changes
/// (docs/FORMAT.md, "Text normalisation"); `provmark-text` implements them.
///
/// ```
/// use provmark::text::Normalization;
/// assert_eq!(Normalization::default(), Normalization::None);
/// assert_eq!(serde_json::to_string(&Normalization::V1).unwrap(), "\"v1\"");
/// for n in [Normalization::None, Normalization::V1] {
///     assert_eq!(serde_json::to_string(&n).unwrap(), format!("\"{}\"", n.name()));
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Normalization {
    /// Text is tokenized as it is (key files written before normalisation existed).
    #[default]
    None,
    /// Version 1: line endings, invisible and bidi-control characters removed, NFC, full-width
    /// forms and space separators folded, Cyrillic/Greek/other look-alikes of Latin letters
    /// folded, runs of spaces inside a line collapsed.
    V1,
}

impl Normalization {
    /// The newest version: what new keys record.
    pub const LATEST: Normalization = Normalization::V1;

    /// The name key files use: `"none"` or `"v1"`.
    pub fn name(self) -> &'static str {
        match self {
            Normalization::None => "none",
            Normalization::V1 => "v1",
        }
    }
}

/// Names of the built-in encodings.
pub const BUILTIN: &[&str] = &["o200k_base", "cl100k_base"];

impl TokenizerSpec {
    /// A built-in encoding name; otherwise a path, read as a GGUF model when it ends in
    /// `.gguf` and as a Hugging Face `tokenizer.json` otherwise.
    pub fn parse(s: &str) -> Self {
        if BUILTIN.contains(&s) {
            TokenizerSpec::Tiktoken { name: s.into() }
        } else if s.to_ascii_lowercase().ends_with(".gguf") {
            TokenizerSpec::Gguf { path: s.into() }
        } else {
            TokenizerSpec::Huggingface { path: s.into() }
        }
    }
}
