#![doc = include_str!("../README.md")]
//!
//! ## Modules
//!
//! Data flows one way through the modules:
//!
//! ```text
//! key ──► prf ──► scheme (green list) ──► bias logits / sample        (server side)
//! text ──► text (tokenizer) ──► detect (scores) ──► stats (exact tail) (detector side)
//! corpus ──► provenance::audit (pooled scores per key / account) ──► stats (audits)
//! ```
//!
//! * [`key`]: secrets, key ids, subkey derivation, key files.
//! * [`prf`]: the versioned pseudorandom function (context → seed → per-token uniform bytes).
//! * [`scheme`]: watermarking schemes; [`scheme::kgw`] is the green-list watermark.
//! * [`sampling`]: temperature / top-k / top-p sampling without per-step allocation.
//! * [`detect`]: scoring token ids and deciding, with per-token flags.
//! * [`stats`]: exact binomial and gamma tails in log space, z-scores, Holm–Bonferroni.
//! * [`text`]: tokenizers (built-in tiktoken encodings, Hugging Face files) and corpora.
//! * [`provenance`]: corpus audits, per-account keys, emission ledgers.
//! * [`lm`]: language models for demos and evaluation (n-gram, synthetic).
//! * [`eval`]: the demo and the evaluation on real text; [`report`]: HTML reports.
//! * [`fuzzing`]: entry points shared by the fuzz targets and the corpus-replay tests.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![warn(missing_docs)]

pub mod detect;
mod error;
pub mod eval;
mod fingerprint;
pub mod fuzzing;
pub mod key;
pub mod lm;
pub mod prf;
pub mod provenance;
pub mod report;
pub mod sampling;
pub mod scheme;
pub mod stats;
pub mod text;

pub(crate) use error::check_token_ids;
pub use error::{Error, Result};
