//! The one error type of the library.
//!
//! Every fallible function returns [`Result`]. Errors caused by untrusted input (a malformed key
//! file, token ids outside the vocabulary, NaN logits) are kept apart from misuse of the API (a
//! γ outside (0, 1)), and none of them ever carries key material.

use std::path::PathBuf;

/// Shorthand for `std::result::Result<T, provmark::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in provmark.
///
/// The enum is `#[non_exhaustive]`: match on the variants you handle and keep a fallback arm.
/// No variant holds secret material; messages are safe to log and show to users.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A watermark parameter is out of its documented range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter's name as the user knows it (`gamma`, `delta`, `context`, ...).
        name: &'static str,
        /// What is wrong with the value.
        reason: String,
    },
    /// A token id is not in the vocabulary the key was made for.
    #[error("token id {id} at position {position} is outside the vocabulary (size {vocab_size})")]
    TokenOutOfRange {
        /// The offending id.
        id: u32,
        /// Its position in the input.
        position: usize,
        /// The vocabulary size it was checked against.
        vocab_size: usize,
    },
    /// A logit is NaN or +∞, so no distribution can be formed.
    #[error("logit at index {index} is not a number or is +infinity")]
    NonFiniteLogit {
        /// Index of the first bad logit.
        index: usize,
    },
    /// Every candidate was masked out (all logits −∞, or filters left nothing).
    #[error("no token can be sampled: every logit is -infinity")]
    NoCandidates,
    /// A logits buffer has the wrong length.
    #[error("logits buffer has length {actual}, expected {expected}")]
    LogitsShape {
        /// Length the call needed.
        expected: usize,
        /// Length it got.
        actual: usize,
    },
    /// A key, key file or master-secret file is malformed.
    #[error("invalid key file: {0}")]
    KeyFormat(String),
    /// A field of a key or master file does not match its integrity tag: the file was edited
    /// or corrupted. `field` names the class of fields (`scheme`, `tokenizer`, `account`, …).
    #[error(
        "{}field `{field}` does not match its integrity tag (the file was edited or corrupted)",
        .file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default()
    )]
    KeyTampered {
        /// The class of fields whose tag failed.
        field: &'static str,
        /// The file, when read from one.
        file: Option<PathBuf>,
    },
    /// A key file would overwrite an existing file.
    #[error("refusing to overwrite existing file {}", .0.display())]
    WouldOverwrite(PathBuf),
    /// A saved language-model file is malformed, truncated or of an unknown version.
    #[error("invalid model file: {0}")]
    ModelFormat(String),
    /// A token-id list or other structured input could not be parsed.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// An inference engine (candle, llama.cpp, ...) failed to load a model or to compute logits.
    /// The message is the engine's own.
    #[error("inference engine: {0}")]
    Engine(String),
    /// The tokenizer failed or is unknown.
    #[error("tokenizer error: {0}")]
    Tokenizer(String),
    /// A numerical routine did not converge (reported instead of returning a wrong number).
    #[error("numerical routine did not converge: {0}")]
    Numerical(&'static str),
    /// An I/O error, with the path it concerns.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// An [`Error::InvalidParameter`] naming the parameter `name`.
    pub fn param(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Checks that every id is below `vocab_size` (for adapters and front-ends that take token ids
/// from outside); the error reports the first offending id at its
/// position plus `offset` (the ids' place in a longer input).
pub fn check_token_ids(ids: &[u32], vocab_size: usize, offset: usize) -> Result<()> {
    match ids.iter().position(|&id| id as usize >= vocab_size) {
        Some(i) => Err(Error::TokenOutOfRange {
            id: ids.get(i).copied().unwrap_or_default(),
            position: offset + i,
            vocab_size,
        }),
        None => Ok(()),
    }
}
