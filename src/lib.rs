//! # provmark
//!
//! Keyed watermarks for the text language models serve, exact detection, and corpus-level
//! provenance tests.
//!
//! Data flows one way through the modules:
//!
//! ```text
//! key ──► prf ──► scheme (green list) ──► bias logits / sample        (server side)
//! text ──► text (tokenizer) ──► detect (scores) ──► stats (exact tail) (detector side)
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
//! * [`eval`]: the demo and the evaluation on real text; [`report`]: HTML reports.
//! * [`lm`]: language models for demos and evaluation (synthetic, n-gram).
//!
//! ## Server side
//! ```
//! use provmark::{key::SecretKey, sampling::{Sampler, SamplingConfig}, scheme::{Kgw, KgwParams, StreamState}};
//! let key = SecretKey::generate()?;
//! let kgw = Kgw::new(&key, KgwParams::default());
//! let mut sampler = Sampler::new(SamplingConfig::default())?;
//! let mut state = StreamState::new(&[1, 2, 3]);           // prompt tokens
//! let mut logits = vec![0.0f32; 32_000];                  // from your model
//! let token = state.sample(&kgw, &mut logits, &mut sampler, 0.42)?; // 0.42: your RNG's draw
//! assert!(token < 32_000);
//! # Ok::<(), provmark::Error>(())
//! ```
//!
//! ## Detector side
//! ```
//! use provmark::{detect::{Detector, DetectorConfig}, key::SecretKey, scheme::KgwParams};
//! let key = SecretKey::from_bytes([1; 32]);
//! let det = Detector::new(&key, KgwParams::default(), 32_000, DetectorConfig::default())?;
//! let report = det.detect(&[5, 17, 99, 1024, 7, 7, 7])?;
//! println!("{} green of {} scored, log10 p = {:.1}", report.green, report.scored, report.log10_p_value);
//! # Ok::<(), provmark::Error>(())
//! ```
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![warn(missing_docs)]

pub mod detect;
mod error;
pub mod eval;
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

pub use error::{Error, Result};
