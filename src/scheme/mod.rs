//! Watermarking schemes. Each has a *sampler side* (bias logits or choose the next token under
//! the key) and a *detector side* (score tokens under the key); both sides share the scheme's
//! parameters and its [`crate::prf`] construction.
//!
//! * [`kgw`]: the green-list watermark of Kirchenbauer et al. (2023), with h = 0 giving the
//!   Unigram watermark.
//! * [`gumbel`]: Gumbel-max sampling (Aaronson 2022), distortion-free.
//! * [`synthid`]: the SynthID-Text tournament (Dathathri et al. 2024), distortion-free.
//! * [`selfhash`]: the self-seeded min-hash green list (Kirchenbauer et al. 2024).
//! * [`coded`]: per-account KGW whose green lists are shared classes picked by a codeword, so
//!   a master audits a million accounts in one pass.
//! * [`vllm`]: the watermarks vLLM embeds natively (Gumbel-max, dual-key Gumbel, red-green),
//!   reproduced bit for bit on vLLM's `philox4x32-10-v1` PRF.
//!
//! Every keyed scheme implements [`Scheme`]: how its detector forms contexts and deduplicates
//! them, the per-position score, the exact null distribution of the summed scores
//! ([`NullModel`]), and one sampling step. [`crate::detect::Detector`] works on any
//! `Scheme`.
//!
//! [`SchemeConfig`] is the tagged, versioned description stored in key files.

pub mod coded;
pub mod gumbel;
pub mod kgw;
pub mod selfhash;
pub mod synthid;
pub mod vllm;

use crate::prf::PrfVersion;
use crate::sampling::Sampler;
use crate::{Error, Result, stats};
use serde::{Deserialize, Serialize};

pub use coded::{CodedKeys, CodedKgw};
pub use gumbel::{Gumbel, GumbelParams};
pub use kgw::{Kgw, KgwParams, StreamState};
pub use selfhash::{SelfHash, SelfHashParams};
pub use synthid::{SynthId, SynthIdParams};
pub use vllm::{Vllm, VllmAlgorithm, VllmParams};

/// How a detector forms the context of each position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextRule {
    /// The number of preceding tokens that form a context.
    pub width: usize,
    /// `None`: positions with fewer than `width` preceding tokens are not scored (KGW).
    /// `Some(pad)`: the context is padded on the left with `pad`, so every position is scored
    /// (vLLM, whose padding word is −1).
    pub pad: Option<u32>,
}

/// How a generation loop forms each step's context, and which steps it watermarks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenerationRule {
    /// Width and padding, as for detection.
    pub context: ContextRule,
    /// Whether the prompt's tokens enter contexts (KGW: yes, the context is whatever precedes
    /// the step; vLLM: no, contexts hold generated tokens only, padded).
    pub prompt_in_context: bool,
    /// `Some(h)`: a step whose context already occurred at one of the last `h` generated
    /// positions is sampled without the watermark (vLLM's `single_turn` dedup, h = 8192;
    /// `usize::MAX` for no limit). `None`: every step is watermarked.
    pub skip_repeated: Option<usize>,
}

/// What the detector compares to skip repeated positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DedupKey {
    /// The (context, token) tuple: a repeated tuple is a repeated draw of the same keyed value.
    Tuple,
    /// The context alone (vLLM's detector: the first token after each distinct context counts).
    Context,
    /// The scheme's own keyed input, [`Scheme::keyed_fingerprint`] (SelfHash: the anchor and
    /// the token). Such a set of positions is specific to one key, so audits never share it
    /// between keys.
    Keyed,
}

/// The null distribution of one position's score, and so of the sum over `n` distinct
/// positions of text written without the key.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum NullModel {
    /// Score 1 (green) with probability `p`, else 0; the sum is `Binomial(n, p)`, exact.
    Bernoulli {
        /// The green probability.
        p: f64,
    },
    /// `Exp(1)` scores; the sum is `Gamma(n, 1)`, exact.
    Exponential,
    /// Each score counts `per_token` independent fair bits; the sum is
    /// `Binomial(n · per_token, ½)`, exact (SynthID's g-values).
    FairBits {
        /// Bits per position (the tournament depth).
        per_token: u32,
    },
    /// vLLM's dual-key Gumbel score `(1 − α) E_A + α E_B`, with the p-value vLLM's detector
    /// reports: the exact `Gamma(2n, 1/2)` (α = ½) or `Gamma(n, 1)` (α ∈ {0, 1}) tail, and
    /// otherwise the moment-matched `Gamma(n / v, v)` tail, `v = (1 − α)² + α²` — an
    /// approximation (the exact law is a sum of two gamma variables), kept for compatibility.
    /// It is anti-conservative: up to 2.9 times below the exact tail at 8 standard deviations
    /// (measured in `tests/data/dual_key_exact.json`).
    VllmDualKey {
        /// The weight of key B.
        alpha: f64,
    },
}

impl NullModel {
    /// `ln P[S ≥ score]` for the sum `S` of `n` scores under the null.
    ///
    /// # Errors
    /// [`Error::Numerical`] if a tail computation fails to converge.
    ///
    /// ```
    /// use provmark::scheme::NullModel;
    /// // Sum of 2 Exp(1) scores ≥ 3: (1 + 3) e^-3.
    /// let ln_p = NullModel::Exponential.tail_ln(2, 3.0)?;
    /// assert!((ln_p - (4f64.ln() - 3.0)).abs() < 1e-12);
    /// # Ok::<(), provmark::Error>(())
    /// ```
    pub fn tail_ln(&self, n: usize, score: f64) -> Result<f64> {
        if n == 0 {
            return Ok(0.0);
        }
        match *self {
            NullModel::Bernoulli { p } => {
                let k = score.round();
                if k <= 0.0 {
                    return Ok(0.0);
                }
                stats::binomial_sf_ln(k as u64, n as u64, p)
            }
            NullModel::Exponential => {
                if score <= 0.0 {
                    return Ok(0.0);
                }
                stats::gamma_sf_ln(n as f64, score)
            }
            NullModel::FairBits { per_token } => {
                let k = score.round();
                if k <= 0.0 {
                    return Ok(0.0);
                }
                stats::binomial_sf_ln(k as u64, n as u64 * u64::from(per_token), 0.5)
            }
            NullModel::VllmDualKey { alpha } => {
                let v = (1.0 - alpha).powi(2) + alpha.powi(2);
                if score <= 0.0 {
                    return Ok(0.0);
                }
                let shape = n as f64 / v;
                // vLLM rounds the shape to an integer (Python's round: ties to even) where the
                // law is exactly gamma.
                let shape = if alpha == 0.0 || alpha == 0.5 || alpha == 1.0 {
                    shape.round_ties_even()
                } else {
                    shape
                };
                if shape <= 0.0 {
                    return Ok(0.0);
                }
                stats::gamma_sf_ln(shape, score / v)
            }
        }
    }

    /// `ln P[S ≥ score]` under the exact null law: [`NullModel::tail_ln`] for every model but
    /// vLLM's dual-key score with α ∉ {0, ½, 1}, whose exact tail (the law of a weighted sum
    /// of two gamma variables, [`stats::weighted_gamma_pair_sf_ln`]) replaces vLLM's
    /// moment-matched approximation. Verdicts and audits use this one.
    ///
    /// # Errors
    /// As [`NullModel::tail_ln`].
    ///
    /// ```
    /// use provmark::scheme::NullModel;
    /// let m = NullModel::VllmDualKey { alpha: 0.1 };
    /// // vLLM's approximation is anti-conservative here: its p is below the exact one.
    /// assert!(m.tail_ln(16, 45.0)? < m.exact_tail_ln(16, 45.0)?);
    /// # Ok::<(), provmark::Error>(())
    /// ```
    pub fn exact_tail_ln(&self, n: usize, score: f64) -> Result<f64> {
        match *self {
            NullModel::VllmDualKey { alpha } if !self.is_exact() => {
                if n == 0 {
                    return Ok(0.0);
                }
                stats::weighted_gamma_pair_sf_ln(n as f64, 1.0 - alpha, alpha, score)
            }
            _ => self.tail_ln(n, score),
        }
    }

    /// Whether [`NullModel::tail_ln`] is the exact tail (false only for vLLM's dual-key p-value
    /// with α ∉ {0, ½, 1}, a moment-matched approximation).
    pub fn is_exact(&self) -> bool {
        match *self {
            NullModel::VllmDualKey { alpha } => alpha == 0.0 || alpha == 0.5 || alpha == 1.0,
            _ => true,
        }
    }

    /// The null mean and variance of one score.
    pub fn moments(&self) -> (f64, f64) {
        match *self {
            NullModel::Bernoulli { p } => (p, p * (1.0 - p)),
            NullModel::Exponential => (1.0, 1.0),
            NullModel::FairBits { per_token } => {
                let m = f64::from(per_token);
                (m / 2.0, m / 4.0)
            }
            NullModel::VllmDualKey { alpha } => (1.0, (1.0 - alpha).powi(2) + alpha.powi(2)),
        }
    }

    /// `(score − n μ) / sqrt(n σ²)`: the standardised sum; 0 for `n = 0`. Secondary to the
    /// exact p-value.
    pub fn z_score(&self, n: usize, score: f64) -> f64 {
        if n == 0 {
            return 0.0;
        }
        let (mu, var) = self.moments();
        let n = n as f64;
        (score - n * mu) / (n * var).sqrt()
    }

    /// Whether each score is a 0/1 green indicator, so the statistic is a count.
    pub fn is_count(&self) -> bool {
        matches!(self, NullModel::Bernoulli { .. })
    }

    /// A per-position score is shown as "green" when it exceeds this value; under the null that
    /// happens with probability [`NullModel::green_probability`].
    pub fn green_above(&self) -> f64 {
        match self {
            NullModel::Bernoulli { .. } => 0.5,
            NullModel::FairBits { per_token } => f64::from(*per_token) / 2.0,
            // The median of Exp(1); used for the dual-key score as a display cue only.
            NullModel::Exponential | NullModel::VllmDualKey { .. } => std::f64::consts::LN_2,
        }
    }

    /// The null probability that a position is shown as green (γ for counting schemes, ½ for
    /// Gumbel scores).
    pub fn green_probability(&self) -> f64 {
        match *self {
            NullModel::Bernoulli { p } => p,
            NullModel::FairBits { per_token } => {
                stats::binomial_sf(u64::from(per_token / 2 + 1), u64::from(per_token), 0.5)
                    .unwrap_or(0.5)
            }
            NullModel::Exponential | NullModel::VllmDualKey { .. } => 0.5,
        }
    }
}

/// A keyed watermarking scheme: what [`crate::detect::Detector`] and the generation loop need.
///
/// `Send + Sync`, so one instance serves every request. Implementations hold their keys and
/// never print them.
pub trait Scheme: Send + Sync + std::fmt::Debug {
    /// The scheme's short name as reported by detectors (`"kgw"`, `"vllm-gumbel"`).
    fn name(&self) -> &'static str;

    /// How the detector forms contexts.
    fn context_rule(&self) -> ContextRule;

    /// What repeated positions are recognised by.
    fn dedup_key(&self) -> DedupKey;

    /// The null distribution of the scores.
    fn null(&self) -> NullModel;

    /// The fingerprint of what a position's keyed value depends on, for [`DedupKey::Keyed`]
    /// schemes: two positions with the same fingerprint are one draw. By default the
    /// (context, token) tuple, as [`DedupKey::Tuple`] compares.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a context of the wrong length.
    fn keyed_fingerprint(&self, context: &[u32], token: u32) -> Result<u64> {
        Ok(crate::fingerprint::fingerprint(
            crate::fingerprint::TUPLE_DOMAIN,
            context,
            Some(token),
        ))
    }

    /// How generation forms contexts; by default as detection does, prompt included, every
    /// step watermarked.
    fn generation_rule(&self) -> GenerationRule {
        GenerationRule {
            context: self.context_rule(),
            prompt_in_context: true,
            skip_repeated: None,
        }
    }

    /// The score of `token` after `context` (exactly [`ContextRule::width`] words, padding
    /// included).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a context of the wrong length.
    fn score(&self, context: &[u32], token: u32) -> Result<f64>;

    /// The logit-bias form of the scheme, for engines that sample themselves: schemes that
    /// watermark by raising green logits (KGW, SelfHash) add their bias to one step's raw
    /// logits (before temperature) after `context` (the sequence so far; only its last
    /// [`ContextRule::width`] tokens are read, and with fewer nothing changes) and return
    /// `true`. Schemes that choose the token themselves return `false` and leave the logits
    /// untouched: use [`Scheme::sample`].
    ///
    /// # Errors
    /// [`Error::LogitsShape`] for a vocabulary beyond the PRF's range.
    fn bias_logits(&self, context: &[u32], logits: &mut [f32]) -> Result<bool> {
        let _ = (context, logits);
        Ok(false)
    }

    /// One watermarked sampling step. `context` is the last [`ContextRule::width`] tokens
    /// (padded as the rule says; without padding it may be shorter at the start, and then the
    /// step is not watermarked). `logits` are the model's raw logits; the scheme may modify
    /// them. `uniform` in `[0, 1)` is the step's random draw.
    ///
    /// # Errors
    /// The sampler's errors, or [`Error::LogitsShape`] for a vocabulary beyond the PRF's range.
    fn sample(
        &self,
        context: &[u32],
        logits: &mut [f32],
        sampler: &mut Sampler,
        uniform: f64,
    ) -> Result<u32>;

    /// [`Scheme::sample`] for `B = contexts.len()` rows of row-major `B × vocab` logits;
    /// `uniforms[i]` drives row `i` and its token goes to `out[i]`. Equal, row by row, to `B`
    /// calls of [`Scheme::sample`]; no allocation.
    ///
    /// # Errors
    /// [`Error::LogitsShape`] when `logits.len() != B × vocab` or `vocab` is 0,
    /// [`Error::InvalidInput`] when `uniforms` or `out` do not have `B` entries, and the
    /// per-row errors.
    fn sample_batch(
        &self,
        contexts: &[&[u32]],
        logits: &mut [f32],
        vocab: usize,
        sampler: &mut Sampler,
        uniforms: &[f64],
        out: &mut [u32],
    ) -> Result<()> {
        let rows = contexts.len();
        if vocab == 0 || logits.len() != rows.saturating_mul(vocab) {
            return Err(Error::LogitsShape {
                expected: rows.saturating_mul(vocab),
                actual: logits.len(),
            });
        }
        if uniforms.len() != rows || out.len() != rows {
            return Err(Error::InvalidInput(
                "uniforms and out must have one entry per sequence".into(),
            ));
        }
        for (((ctx, row), &u), o) in contexts
            .iter()
            .zip(logits.chunks_exact_mut(vocab))
            .zip(uniforms)
            .zip(out.iter_mut())
        {
            *o = self.sample(ctx, row, sampler, u)?;
        }
        Ok(())
    }
}

/// A scheme and its parameters, as written in key files:
/// `{"type": "kgw", "prf": "v1", "gamma": 0.25, "delta": 2.0, "context": 2}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum SchemeConfig {
    /// Green-list watermark.
    #[serde(rename = "kgw")]
    Kgw {
        /// Version of the pseudorandom function.
        prf: PrfVersion,
        /// γ, δ and context width.
        #[serde(flatten)]
        params: KgwParams,
        /// Cyclic shift of the vocabulary axis (per-account keys under a master secret);
        /// absent in files means 0.
        #[serde(default, skip_serializing_if = "is_zero")]
        shift: u32,
    },
    /// Gumbel-max (Aaronson), on PRF v2.
    #[serde(rename = "gumbel")]
    Gumbel(GumbelParams),
    /// SynthID-Text tournament, on PRF v2.
    #[serde(rename = "synthid")]
    SynthId(SynthIdParams),
    /// SelfHash (self-seeded min-hash green lists), on PRF v2.
    #[serde(rename = "selfhash")]
    SelfHash(SelfHashParams),
    /// A coded account key (accounts version 2): KGW on PRF v2 whose green list is one of 16
    /// shared classes per context position; the key file holds the account's class keys.
    #[serde(rename = "kgw-coded")]
    KgwCoded(KgwParams),
    /// A watermark as vLLM embeds it; the key file's secret holds vLLM's 64-bit key.
    #[serde(rename = "vllm")]
    Vllm(VllmParams),
}

fn is_zero(x: &u32) -> bool {
    *x == 0
}

impl SchemeConfig {
    /// The default KGW scheme with the given parameters and PRF v1, no shift.
    pub fn kgw(params: KgwParams) -> Self {
        SchemeConfig::Kgw {
            prf: PrfVersion::V1,
            params,
            shift: 0,
        }
    }

    /// Whether the scheme watermarks by a logit bias an engine can apply before its own
    /// sampling ([`Scheme::bias_logits`] returns `true`): KGW and SelfHash.
    pub fn is_logit_bias(&self) -> bool {
        matches!(
            self,
            SchemeConfig::Kgw { .. } | SchemeConfig::KgwCoded(_) | SchemeConfig::SelfHash(_)
        )
    }

    /// The scheme's short name, as reported by the detector (`"kgw"`, `"vllm-gumbel"`).
    pub fn name(&self) -> &'static str {
        match self {
            SchemeConfig::Kgw { .. } => "kgw",
            SchemeConfig::KgwCoded(_) => "kgw-coded",
            SchemeConfig::Gumbel(_) => "gumbel",
            SchemeConfig::SynthId(_) => "synthid",
            SchemeConfig::SelfHash(_) => "selfhash",
            SchemeConfig::Vllm(p) => p.algorithm.name(),
        }
    }
}

/// Checks that a context passed to [`Scheme::score`] has the rule's width.
pub(crate) fn check_context(context: &[u32], width: usize) -> Result<()> {
    if context.len() != width {
        return Err(Error::param(
            "context",
            format!("expected {width} tokens, got {}", context.len()),
        ));
    }
    Ok(())
}
