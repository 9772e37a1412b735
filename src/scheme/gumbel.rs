//! The Gumbel-max watermark (Aaronson 2022): distortion-free sampling driven by keyed uniforms.
//!
//! At each step the `h` preceding tokens and the key give every token `v` a uniform
//! `u_v ∈ (0, 1)` (PRF v2 word lanes, [`crate::prf::PrfV2`]); the sampler emits
//! `argmax_v u_v^(1/p_v)` over the processed distribution `p` (after temperature, top-k,
//! top-p), which is exactly a draw from `p` — the watermark changes no output distribution,
//! only couples the choice to the key. The detector scores each distinct (context, token)
//! tuple `−ln(1 − u)`: `Exp(1)` under the null (to within the 2^-32 resolution of `u`), so the
//! sum of `n` scores is `Gamma(n, 1)` and the p-value is its exact tail. Watermarked tokens
//! have large `u`, so the sum grows faster than `n`.
//!
//! Because the choice is a deterministic function of the context and the distribution, a
//! repeated context would repeat text; generation leaves steps whose context already occurred
//! unwatermarked (ordinary sampling), and detection scores each tuple once.
//!
//! ```
//! use provmark::{key::SecretKey, sampling::*, scheme::{Gumbel, GumbelParams, Scheme}};
//! let g = Gumbel::new(&SecretKey::from_bytes([3; 32]), GumbelParams::new(2)?);
//! let mut sampler = Sampler::new(SamplingConfig::default())?;
//! let mut logits = vec![0.0f32; 1000];
//! let t = g.sample(&[17, 42], &mut logits, &mut sampler, 0.5)?;
//! // The same context and distribution always give the same token.
//! let mut again = vec![0.0f32; 1000];
//! assert_eq!(g.sample(&[17, 42], &mut again, &mut sampler, 0.9)?, t);
//! # Ok::<(), provmark::Error>(())
//! ```

use super::{ContextRule, DedupKey, GenerationRule, NullModel, Scheme, check_context};
use crate::key::SecretKey;
use crate::prf::{MAX_CONTEXT, PrfV2, Seed};
use crate::sampling::Sampler;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The context width of a Gumbel watermark. In key files:
/// `{"type": "gumbel", "prf": "v2", "context": 2}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawGumbel", into = "RawGumbel")]
pub struct GumbelParams {
    context: u8,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGumbel {
    prf: crate::prf::PrfVersion,
    context: u64,
}

impl TryFrom<RawGumbel> for GumbelParams {
    type Error = Error;
    fn try_from(r: RawGumbel) -> Result<Self> {
        if r.prf != crate::prf::PrfVersion::V2 {
            return Err(Error::param(
                "prf",
                "the gumbel scheme is defined on PRF v2",
            ));
        }
        GumbelParams::new(usize::try_from(r.context).unwrap_or(usize::MAX))
    }
}

impl From<GumbelParams> for RawGumbel {
    fn from(p: GumbelParams) -> Self {
        RawGumbel {
            prf: crate::prf::PrfVersion::V2,
            context: u64::from(p.context),
        }
    }
}

impl Default for GumbelParams {
    /// h = 2.
    fn default() -> Self {
        GumbelParams { context: 2 }
    }
}

impl GumbelParams {
    /// Validates the context width.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `1 ≤ context ≤ 8` (h = 0 would give every step the
    /// same uniforms, so the sampler would always pick the same tokens for the same
    /// distribution).
    pub fn new(context: usize) -> Result<Self> {
        if !(1..=MAX_CONTEXT).contains(&context) {
            return Err(Error::param(
                "context",
                format!("must be between 1 and {MAX_CONTEXT} for gumbel"),
            ));
        }
        Ok(GumbelParams {
            context: context as u8,
        })
    }

    /// The context width `h`.
    pub fn context(&self) -> usize {
        usize::from(self.context)
    }
}

/// A word's uniform: `(w + ½) / 2^32`, strictly inside (0, 1).
#[inline]
pub(crate) fn word_uniform(w: u32) -> f64 {
    (f64::from(w) + 0.5) * (1.0 / 4_294_967_296.0)
}

/// The Gumbel noise `−ln(−ln u)` of a word.
#[inline]
fn noise(w: u32) -> f64 {
    -(-word_uniform(w).ln()).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bound holds for every word class (checked at the edges and on a dense sample).
    #[test]
    fn noise_bound_bounds_noise() {
        let mut w = 0u32;
        let check = |w: u32| {
            assert!(
                noise(w) <= noise_bound(w),
                "{w}: {} > {}",
                noise(w),
                noise_bound(w)
            )
        };
        for edge in [
            0,
            1,
            u32::MAX,
            u32::MAX - 1,
            1 << 31,
            (1 << 31) - 1,
            3 << 30,
        ] {
            check(edge);
        }
        for _ in 0..1_000_000 {
            w = w.wrapping_mul(2_654_435_761).wrapping_add(12_345);
            check(w);
        }
    }
}

/// An upper bound on `noise(w)` from two integer operations: with `u = (w + ½) / 2^32`,
/// `−ln u ≥ 1 − u`, so `noise ≤ −ln(1 − u)`, and `1 − u = (!w + ½) / 2^32 = m 2^e` with
/// `m ∈ [1, 2)` and `−e = lz(!w) + 1`, so `−ln(1 − u) ≤ −e ln 2`.
#[inline(always)]
fn noise_bound(w: u32) -> f64 {
    std::f64::consts::LN_2 * f64::from((!w).leading_zeros() + 1) + 1e-9
}

/// `argmax_v (logits[v] + noise(word_v))` over finite logits, ties to the lower id, computing
/// the noise (two logarithms) only for tokens that can still win: a token is skipped, exactly,
/// when its logit plus [`noise_bound`] falls below the best score so far.
pub(crate) fn gumbel_argmax(seed: &Seed, logits: &[f32], first: (usize, f32)) -> u32 {
    let (imax, lmax) = first;
    let mut best = f64::from(lmax) + noise(seed.word(imax as u32));
    let mut arg = imax;
    seed.for_each_word(logits.len(), |t, w| {
        let Some(&l) = logits.get(t) else { return };
        let l = f64::from(l);
        if l == f64::NEG_INFINITY || l + noise_bound(w) < best || t == imax {
            return;
        }
        let v = l + noise(w);
        if v > best || (v == best && t < arg) {
            best = v;
            arg = t;
        }
    });
    arg as u32
}

/// The common start of a distortion-free step on PRF v2: checks the vocabulary, processes the
/// logits (temperature, top-k, top-p) and returns the keystream of the last `h` tokens of
/// `context` — or `None` when the step is sampled without the key (fewer than `h` tokens of
/// context, or greedy decoding; `logits` are then untouched).
pub(crate) fn keyed_step(
    prf: &PrfV2,
    h: usize,
    context: &[u32],
    logits: &mut [f32],
    sampler: &mut Sampler,
) -> Result<Option<Seed>> {
    crate::scheme::kgw::check_logits_len(logits.len())?;
    if context.len() < h || !sampler.process(logits)? {
        return Ok(None);
    }
    let ctx = context.get(context.len() - h..).unwrap_or_default();
    prf.seed(ctx).map(Some)
}

/// The finite maximum logit and its (lowest) index.
pub(crate) fn finite_max(logits: &[f32]) -> Option<(usize, f32)> {
    logits
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, l)| *l > f32::NEG_INFINITY)
        .fold(None, |best, (i, l)| match best {
            Some((_, b)) if b >= l => best,
            _ => Some((i, l)),
        })
}

/// A keyed Gumbel watermark. `Debug` never shows the key.
#[derive(Clone, Debug)]
pub struct Gumbel {
    prf: PrfV2,
    params: GumbelParams,
}

impl Gumbel {
    /// Keys the scheme (PRF v2, subkey `prf-v2/gumbel`).
    pub fn new(key: &SecretKey, params: GumbelParams) -> Self {
        Gumbel {
            prf: PrfV2::new(key, "gumbel"),
            params,
        }
    }

    /// The parameters.
    pub fn params(&self) -> &GumbelParams {
        &self.params
    }
}

impl Scheme for Gumbel {
    fn name(&self) -> &'static str {
        "gumbel"
    }

    fn context_rule(&self) -> ContextRule {
        ContextRule {
            width: self.params.context(),
            pad: None,
        }
    }

    fn dedup_key(&self) -> DedupKey {
        DedupKey::Tuple
    }

    fn null(&self) -> NullModel {
        NullModel::Exponential
    }

    fn generation_rule(&self) -> GenerationRule {
        GenerationRule {
            context: self.context_rule(),
            prompt_in_context: true,
            skip_repeated: Some(usize::MAX),
        }
    }

    fn score(&self, context: &[u32], token: u32) -> Result<f64> {
        check_context(context, self.params.context())?;
        let u = word_uniform(self.prf.seed(context)?.word(token));
        Ok(-(-u).ln_1p())
    }

    fn sample(
        &self,
        context: &[u32],
        logits: &mut [f32],
        sampler: &mut Sampler,
        uniform: f64,
    ) -> Result<u32> {
        let Some(seed) = keyed_step(&self.prf, self.params.context(), context, logits, sampler)?
        else {
            return sampler.sample(logits, uniform);
        };
        let first = finite_max(logits).ok_or(Error::NoCandidates)?;
        Ok(gumbel_argmax(&seed, logits, first))
    }
}
