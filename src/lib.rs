#![doc = include_str!("../README.md")]
//!
//! ## Modules
//!
//! This crate is the core that inference servers link: token ids in, evidence out, no CLI, no
//! engine, no text front-end. Data flows one way through its modules:
//!
//! ```text
//! key ──► prf ──► scheme (green list) ──► bias logits / sample        (server side)
//! token ids ──► detect (scores) ──► stats (exact tail) ──► verdict     (detector side)
//! corpus ids ──► provenance::audit (pooled scores per key / account) ──► stats (audits)
//! ```
//!
//! * [`key`]: secrets, key ids, subkey derivation, key files.
//! * [`prf`]: the versioned pseudorandom function (context → seed → per-token uniform bytes).
//! * [`scheme`]: watermarking schemes behind one trait: KGW, Gumbel, SynthID, SelfHash and
//!   vLLM's; [`scheme::kgw`] is the green-list watermark.
//! * [`sampling`]: temperature / top-k / top-p sampling without per-step allocation.
//! * [`lm`]: the interface a language model (an engine adapter) implements, and the generation
//!   loop over it; [`lm::synthetic`] is a stand-in model for tests.
//! * [`detect`]: scoring token ids and deciding, with per-token flags.
//! * [`stats`]: exact binomial and gamma tails in log space, z-scores, Holm–Bonferroni.
//! * [`text`]: the tokenizer interface and the tokenizer a key file records.
//! * [`provenance`]: corpus audits, per-account keys, emission ledgers.
//! * [`fuzzing`]: entry points shared by the fuzz targets and the corpus-replay tests.
//!
//! The other crates of the workspace build on this one: `provmark-text` (tokenizers, corpora),
//! `provmark-candle` (GGUF models in candle), `provmark-cli` (the `provmark` binary, demo,
//! evaluation, n-gram model, reports) and `provmark-c` (the C ABI and llama.cpp sampler).
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![warn(missing_docs)]

pub mod detect;
mod error;
#[doc(hidden)]
pub mod fingerprint;
pub mod fuzzing;
pub mod key;
pub mod lm;
pub mod prf;
pub mod provenance;
pub mod sampling;
pub mod scheme;
pub mod stats;
pub mod text;

pub use error::{Error, Result, check_token_ids};
