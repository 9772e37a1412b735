//! SynthID-Text (Dathathri et al. 2024): a tournament of `m` layers over keyed binary
//! g-values, in its non-distortionary two-leaf form.
//!
//! For each step the `h` preceding tokens and the key give every token `v` a PRF v2 word whose
//! bits `0 … m − 1` are its g-values `g_1(v) … g_m(v)` ∈ {0, 1}. A tournament with two
//! candidates per match, drawn from the processed distribution `p`, keeps the candidate with
//! the larger g-value of the layer (ties at random). Its winner's distribution has a closed form
//! layer by layer, which the sampler computes instead of drawing `2^m` candidates:
//! `p ← p · (1 + g_l − E_p[g_l])`. Averaged over keys this is `p` itself (each layer is
//! unbiased in expectation), so the scheme is distortion-free per step.
//!
//! The detector counts the g-values of each distinct (context, token) tuple: under the null the
//! `n · m` bits are independent fair coins, so their sum is `Binomial(n m, ½)` and the p-value is
//! its exact tail.
//!
//! ```
//! use provmark::{key::SecretKey, scheme::{Scheme, SynthId, SynthIdParams}};
//! let s = SynthId::new(&SecretKey::from_bytes([5; 32]), SynthIdParams::default());
//! let score = s.score(&[1, 2, 3, 4], 77)?; // g-values of token 77 after that context
//! assert!((0.0..=30.0).contains(&score));
//! # Ok::<(), provmark::Error>(())
//! ```

use super::gumbel::{finite_max, keyed_step};
use super::{ContextRule, DedupKey, GenerationRule, NullModel, Scheme, check_context};
use crate::key::SecretKey;
use crate::prf::{MAX_CONTEXT, PrfV2};
use crate::sampling::Sampler;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Context width and tournament depth. In key files:
/// `{"type": "synthid", "prf": "v2", "context": 4, "depth": 30}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawSynthId", into = "RawSynthId")]
pub struct SynthIdParams {
    context: u8,
    depth: u8,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSynthId {
    prf: crate::prf::PrfVersion,
    context: u64,
    depth: u64,
}

impl TryFrom<RawSynthId> for SynthIdParams {
    type Error = Error;
    fn try_from(r: RawSynthId) -> Result<Self> {
        if r.prf != crate::prf::PrfVersion::V2 {
            return Err(Error::param(
                "prf",
                "the synthid scheme is defined on PRF v2",
            ));
        }
        SynthIdParams::new(
            usize::try_from(r.context).unwrap_or(usize::MAX),
            usize::try_from(r.depth).unwrap_or(usize::MAX),
        )
    }
}

impl From<SynthIdParams> for RawSynthId {
    fn from(p: SynthIdParams) -> Self {
        RawSynthId {
            prf: crate::prf::PrfVersion::V2,
            context: u64::from(p.context),
            depth: u64::from(p.depth),
        }
    }
}

impl Default for SynthIdParams {
    /// h = 4, m = 30, as in the public SynthID-Text code.
    fn default() -> Self {
        SynthIdParams {
            context: 4,
            depth: 30,
        }
    }
}

impl SynthIdParams {
    /// Validates.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `1 ≤ context ≤ 8` and `1 ≤ depth ≤ 32` (one 32-bit
    /// PRF word per token holds the g-values).
    pub fn new(context: usize, depth: usize) -> Result<Self> {
        if !(1..=MAX_CONTEXT).contains(&context) {
            return Err(Error::param(
                "context",
                format!("must be between 1 and {MAX_CONTEXT} for synthid"),
            ));
        }
        if !(1..=32).contains(&depth) {
            return Err(Error::param("depth", "must be between 1 and 32"));
        }
        Ok(SynthIdParams {
            context: context as u8,
            depth: depth as u8,
        })
    }

    /// The context width `h`.
    pub fn context(&self) -> usize {
        usize::from(self.context)
    }

    /// The number of tournament layers `m`.
    pub fn depth(&self) -> usize {
        usize::from(self.depth)
    }

    fn mask(&self) -> u32 {
        if self.depth >= 32 {
            u32::MAX
        } else {
            (1u32 << self.depth) - 1
        }
    }
}

/// `Σ p` (`layer` None) or `Σ p g_layer`, in f32 blocks of 256 summed in f64.
fn block_sum(p: &[f32], words: &[u32], layer: Option<usize>) -> f64 {
    p.chunks(256)
        .zip(words.chunks(256))
        .map(|(ps, ws)| {
            let part: f32 = match layer {
                None => ps.iter().sum(),
                Some(l) => ps
                    .iter()
                    .zip(ws)
                    .map(|(&p, &w)| p * ((w >> l) & 1) as f32)
                    .sum(),
            };
            f64::from(part)
        })
        .sum()
}

/// A keyed SynthID-Text watermark. `Debug` never shows the key.
#[derive(Clone, Debug)]
pub struct SynthId {
    prf: PrfV2,
    params: SynthIdParams,
}

impl SynthId {
    /// Keys the scheme (PRF v2, subkey `prf-v2/synthid`).
    pub fn new(key: &SecretKey, params: SynthIdParams) -> Self {
        SynthId {
            prf: PrfV2::new(key, "synthid"),
            params,
        }
    }

    /// The parameters.
    pub fn params(&self) -> &SynthIdParams {
        &self.params
    }
}

impl Scheme for SynthId {
    fn name(&self) -> &'static str {
        "synthid"
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
        NullModel::FairBits {
            per_token: self.params.depth() as u32,
        }
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
        let w = self.prf.seed(context)?.word(token) & self.params.mask();
        Ok(f64::from(w.count_ones()))
    }

    /// The tournament's winner distribution is computed in place of `logits` (which end up
    /// holding unnormalised probabilities), then sampled with `uniform`.
    fn sample(
        &self,
        context: &[u32],
        logits: &mut [f32],
        sampler: &mut Sampler,
        uniform: f64,
    ) -> Result<u32> {
        if !(0.0..1.0).contains(&uniform) {
            return Err(Error::param("uniform", "must be in [0, 1)"));
        }
        let Some(seed) = keyed_step(&self.prf, self.params.context(), context, logits, sampler)?
        else {
            return sampler.sample(logits, uniform);
        };
        let (_, max) = finite_max(logits).ok_or(Error::NoCandidates)?;
        // Probabilities, unnormalised (the layer update only needs E_p[g], a ratio).
        for l in logits.iter_mut() {
            *l = if *l > f32::NEG_INFINITY {
                (*l - max).exp()
            } else {
                0.0
            };
        }
        let words = sampler.word_scratch(logits.len());
        seed.for_each_word(logits.len(), |t, w| {
            if let Some(slot) = words.get_mut(t) {
                *slot = w;
            }
        });
        // The total mass is invariant under the layer update (Σ p (1 + g − E) = Σ p), so only
        // E_p[g_l] = Σ p g_l / Σ p is needed per layer; each pass updates layer l and sums the
        // mass of layer l + 1's g-values at once. Sums run in f32 over blocks of 256, then f64.
        let z = block_sum(logits, words, None);
        if z <= 0.0 {
            return Err(Error::NoCandidates);
        }
        let depth = self.params.depth();
        let mut on = block_sum(logits, words, Some(0));
        for layer in 0..depth {
            let e = (on / z) as f32;
            let next = layer + 1;
            let mut acc = 0.0f64;
            for (ps, ws) in logits.chunks_mut(256).zip(words.chunks(256)) {
                let mut part = 0.0f32;
                for (p, &w) in ps.iter_mut().zip(ws) {
                    let g = ((w >> layer) & 1) as f32;
                    *p *= 1.0 + g - e;
                    part += *p * ((w >> (next & 31)) & 1) as f32;
                }
                acc += f64::from(part);
            }
            on = acc;
        }
        let total: f64 = logits.iter().map(|&p| f64::from(p)).sum();
        let target = uniform * total;
        let mut acc = 0.0f64;
        let mut last = None;
        for (i, &p) in logits.iter().enumerate() {
            if p > 0.0 {
                acc += f64::from(p);
                last = Some(i);
                if acc > target {
                    return Ok(i as u32);
                }
            }
        }
        last.map(|i| i as u32).ok_or(Error::NoCandidates)
    }
}
