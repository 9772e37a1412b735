//! The watermarks vLLM embeds natively, on its `philox4x32-10-v1` PRF ([`crate::prf::philox`]):
//! detection bit for bit as vLLM's detectors compute it, and generation that vLLM's detectors
//! recognise.
//!
//! * **Gumbel-max**: token = argmax over the processed logits plus keyed Gumbel noise;
//!   score `−ln(1 − u)` per scored position, p-value the exact `Gamma(n, 1)` tail.
//! * **Dual-key Gumbel** (what vLLM's speculative decoding uses): keys A and B derived from the
//!   key by SHA-256; each step routes to key B with probability α; the score is
//!   `(1 − α) s_A + α s_B` and the p-value vLLM's (see [`NullModel::VllmDualKey`]).
//! * **Red-green**: green iff `u < γ` compared in `f32`; δ is added to green logits after
//!   temperature and top-k / top-p; the p-value is the exact `Binomial(n, γ)` tail.
//!
//! Detection follows vLLM's detector: the context of each position is the `w` tokens before
//! it, padded with −1 before the first token (every position is scored), and with
//! deduplication on (the default) only the first position after each distinct context is
//! scored. The context never includes the prompt: detect the generated tokens alone.
//!
//! ```
//! use provmark::scheme::{Scheme, Vllm, VllmAlgorithm, VllmParams};
//! let scheme = Vllm::new(42, VllmParams::new(VllmAlgorithm::Gumbel, 2)?);
//! let pad = provmark::prf::philox::PAD;
//! // vLLM's score of token 5 as the first generated token (context [-1, -1]).
//! assert!((scheme.score(&[pad, pad], 5)? - 0.16046288570259387).abs() < 1e-15);
//! # Ok::<(), provmark::Error>(())
//! ```

use super::{ContextRule, DedupKey, GenerationRule, NullModel, Scheme, check_context};
use crate::prf::philox::{
    ContextState, DualKey, PAD, VllmPrf, derive_dual_key, gumbel_noise, gumbel_score, uniform,
};
use crate::sampling::Sampler;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// vLLM's default `deduplicate_contexts_max_history`: a generation step is left unwatermarked
/// when its context occurred at one of the last 8192 generated positions.
pub const VLLM_MAX_HISTORY: usize = 8192;

/// The widest context accepted (vLLM warns above 16).
pub const MAX_VLLM_CONTEXT: usize = 64;

/// Which of vLLM's watermarks.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum VllmAlgorithm {
    /// Gumbel-max (vLLM's default, `"gumbel"`).
    Gumbel,
    /// Dual-key Gumbel (`"dual_key_gumbel"`).
    DualKeyGumbel {
        /// Probability of routing a step to key B, and key B's weight in the score; in [0, 1].
        alpha: f64,
    },
    /// Red-green (`"red_green"`).
    RedGreen {
        /// Green fraction, strictly between 0 and 1 (compared in `f32`).
        gamma: f64,
        /// Logit bias of green tokens, added after temperature.
        delta: f32,
    },
}

impl VllmAlgorithm {
    /// provmark's name for the scheme (`"vllm-gumbel"`, `"vllm-dual-key-gumbel"`,
    /// `"vllm-red-green"`).
    pub fn name(&self) -> &'static str {
        match self {
            VllmAlgorithm::Gumbel => "vllm-gumbel",
            VllmAlgorithm::DualKeyGumbel { .. } => "vllm-dual-key-gumbel",
            VllmAlgorithm::RedGreen { .. } => "vllm-red-green",
        }
    }
}

/// A vLLM watermark's parameters: the algorithm and the context width `w`. In key files:
/// `{"type": "vllm", "algorithm": "dual_key_gumbel", "context": 4, "alpha": 0.1}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawVllm", into = "RawVllm")]
pub struct VllmParams {
    /// The algorithm and its parameters.
    pub algorithm: VllmAlgorithm,
    context: usize,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVllm {
    algorithm: String,
    context: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alpha: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gamma: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delta: Option<f64>,
}

impl TryFrom<RawVllm> for VllmParams {
    type Error = Error;
    fn try_from(r: RawVllm) -> Result<Self> {
        let extra = |name: &str, present: bool| {
            if present {
                Err(Error::param(
                    "scheme",
                    format!("{name} does not apply to {}", r.algorithm),
                ))
            } else {
                Ok(())
            }
        };
        let algorithm = match r.algorithm.as_str() {
            "gumbel" => {
                extra("alpha", r.alpha.is_some())?;
                extra("gamma/delta", r.gamma.is_some() || r.delta.is_some())?;
                VllmAlgorithm::Gumbel
            }
            "dual_key_gumbel" => {
                extra("gamma/delta", r.gamma.is_some() || r.delta.is_some())?;
                VllmAlgorithm::DualKeyGumbel {
                    alpha: r.alpha.unwrap_or(0.1),
                }
            }
            "red_green" => {
                extra("alpha", r.alpha.is_some())?;
                VllmAlgorithm::RedGreen {
                    gamma: r.gamma.unwrap_or(0.25),
                    delta: r.delta.unwrap_or(2.0) as f32,
                }
            }
            other => {
                return Err(Error::param(
                    "algorithm",
                    format!("{other:?} is not gumbel, dual_key_gumbel or red_green"),
                ));
            }
        };
        VllmParams::new(algorithm, usize::try_from(r.context).unwrap_or(usize::MAX))
    }
}

impl From<VllmParams> for RawVllm {
    fn from(p: VllmParams) -> Self {
        let (algorithm, alpha, gamma, delta) = match p.algorithm {
            VllmAlgorithm::Gumbel => ("gumbel", None, None, None),
            VllmAlgorithm::DualKeyGumbel { alpha } => ("dual_key_gumbel", Some(alpha), None, None),
            VllmAlgorithm::RedGreen { gamma, delta } => {
                ("red_green", None, Some(gamma), Some(f64::from(delta)))
            }
        };
        RawVllm {
            algorithm: algorithm.into(),
            context: p.context as u64,
            alpha,
            gamma,
            delta,
        }
    }
}

impl VllmParams {
    /// Validates parameters as vLLM's `WatermarkConfig` does.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `1 ≤ context ≤ 64`, α in [0, 1], γ strictly between 0
    /// and 1, and δ finite and positive (at most 1000).
    pub fn new(algorithm: VllmAlgorithm, context: usize) -> Result<Self> {
        if !(1..=MAX_VLLM_CONTEXT).contains(&context) {
            return Err(Error::param(
                "context",
                format!("must be between 1 and {MAX_VLLM_CONTEXT} for vLLM schemes"),
            ));
        }
        match algorithm {
            VllmAlgorithm::Gumbel => {}
            VllmAlgorithm::DualKeyGumbel { alpha } => {
                if !(0.0..=1.0).contains(&alpha) {
                    return Err(Error::param("alpha", "must be between 0 and 1"));
                }
            }
            VllmAlgorithm::RedGreen { gamma, delta } => {
                if !(gamma > 0.0 && gamma < 1.0) {
                    return Err(Error::param("gamma", "must be strictly between 0 and 1"));
                }
                if !(delta > 0.0 && delta <= 1000.0) {
                    return Err(Error::param(
                        "delta",
                        "must be finite, above 0, at most 1000",
                    ));
                }
            }
        }
        Ok(VllmParams { algorithm, context })
    }

    /// The context width `w`.
    pub fn context(&self) -> usize {
        self.context
    }
}

/// A keyed vLLM watermark. `Debug` never shows the key.
#[derive(Clone, Debug)]
pub struct Vllm {
    params: VllmParams,
    /// The key (Gumbel, red-green) or key A (dual-key).
    a: VllmPrf,
    /// Key B (dual-key only).
    b: Option<VllmPrf>,
}

impl Vllm {
    /// Keys the scheme with vLLM's integer key (`WatermarkConfig.key`); the dual-key scheme
    /// derives its keys A and B from it as vLLM does.
    pub fn new(key: u64, params: VllmParams) -> Self {
        match params.algorithm {
            VllmAlgorithm::DualKeyGumbel { .. } => Vllm {
                params,
                a: VllmPrf::new(derive_dual_key(key, DualKey::A)),
                b: Some(VllmPrf::new(derive_dual_key(key, DualKey::B))),
            },
            _ => Vllm {
                params,
                a: VllmPrf::new(key),
                b: None,
            },
        }
    }

    /// The parameters.
    pub fn params(&self) -> &VllmParams {
        &self.params
    }

    fn gumbel_argmax(prf: &VllmPrf, state: &ContextState, logits: &[f32]) -> Option<u32> {
        let mut best = f32::NEG_INFINITY;
        let mut arg = None;
        prf.for_each_word(state, logits.len(), |t, w| {
            if let Some(&l) = logits.get(t) {
                // Masked tokens stay out; a token that cannot reach the best score is skipped
                // before its two logarithms (exactly: see `noise_bound`); ties go to the lowest
                // id (strict comparison).
                if l == f32::NEG_INFINITY || (arg.is_some() && l + noise_bound(w) < best) {
                    return;
                }
                let v = l + gumbel_noise(uniform(w));
                if arg.is_none() || v > best {
                    best = v;
                    arg = Some(t as u32);
                }
            }
        });
        arg
    }
}

/// An upper bound on vLLM's f32 Gumbel noise of a word: with `m = w >> 8` and `d = 2^24 − 1 − m`,
/// `1 − u ≥ max(d, 1) / 2^25` (the f32 rounding of `u` included), and `noise ≤ −ln(1 − u)`
/// (as `−ln u ≥ 1 − u`), so `noise ≤ ln 2 · (25 − floor(log2 max(d, 1)))`, plus a margin for
/// the f32 logarithms.
#[inline(always)]
fn noise_bound(w: u32) -> f32 {
    let d = (0x00FF_FFFF - (w >> 8)).max(1);
    std::f32::consts::LN_2 * (d.leading_zeros() as f32 - 6.0) + 1e-3
}

impl Scheme for Vllm {
    fn name(&self) -> &'static str {
        self.params.algorithm.name()
    }

    fn context_rule(&self) -> ContextRule {
        ContextRule {
            width: self.params.context,
            pad: Some(PAD),
        }
    }

    fn dedup_key(&self) -> DedupKey {
        DedupKey::Context
    }

    fn generation_rule(&self) -> GenerationRule {
        GenerationRule {
            context: self.context_rule(),
            prompt_in_context: false,
            skip_repeated: Some(VLLM_MAX_HISTORY),
        }
    }

    fn null(&self) -> NullModel {
        match self.params.algorithm {
            VllmAlgorithm::Gumbel => NullModel::Exponential,
            VllmAlgorithm::DualKeyGumbel { alpha } => NullModel::VllmDualKey { alpha },
            VllmAlgorithm::RedGreen { gamma, .. } => NullModel::Bernoulli { p: gamma },
        }
    }

    fn score(&self, context: &[u32], token: u32) -> Result<f64> {
        check_context(context, self.params.context)?;
        let sa = || gumbel_score(uniform(self.a.word(&self.a.absorb(context), token)));
        Ok(match (self.params.algorithm, &self.b) {
            (VllmAlgorithm::Gumbel, _) => sa(),
            (VllmAlgorithm::DualKeyGumbel { alpha }, Some(b)) => {
                let sb = gumbel_score(uniform(b.word(&b.absorb(context), token)));
                (1.0 - alpha) * sa() + alpha * sb
            }
            (VllmAlgorithm::DualKeyGumbel { .. }, None) => sa(),
            (VllmAlgorithm::RedGreen { gamma, .. }, _) => {
                let u = uniform(self.a.word(&self.a.absorb(context), token));
                f64::from(u8::from(u < gamma as f32))
            }
        })
    }

    fn sample(
        &self,
        context: &[u32],
        logits: &mut [f32],
        sampler: &mut Sampler,
        uniform_draw: f64,
    ) -> Result<u32> {
        if !(0.0..1.0).contains(&uniform_draw) {
            return Err(Error::param("uniform", "must be in [0, 1)"));
        }
        if !sampler.process(logits)? {
            // Greedy decoding: vLLM leaves it unwatermarked.
            return sampler.sample(logits, uniform_draw);
        }
        match (self.params.algorithm, &self.b) {
            (VllmAlgorithm::RedGreen { gamma, delta }, _) => {
                let g = gamma as f32;
                let state = self.a.absorb(context);
                let len = logits.len();
                self.a.for_each_word(&state, len, |t, w| {
                    if let Some(l) = logits.get_mut(t) {
                        if uniform(w) < g {
                            *l += delta;
                        }
                    }
                });
                sampler.sample_processed(logits, uniform_draw)
            }
            (VllmAlgorithm::DualKeyGumbel { alpha }, Some(b)) if uniform_draw < alpha => {
                Self::gumbel_argmax(b, &b.absorb(context), logits).ok_or(Error::NoCandidates)
            }
            _ => Self::gumbel_argmax(&self.a, &self.a.absorb(context), logits)
                .ok_or(Error::NoCandidates),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pruning bound holds for every 24-bit mantissa.
    #[test]
    fn noise_bound_bounds_vllm_noise() {
        for m in 0..(1u32 << 24) {
            let w = m << 8;
            assert!(gumbel_noise(uniform(w)) <= noise_bound(w), "mantissa {m}");
        }
    }
}
