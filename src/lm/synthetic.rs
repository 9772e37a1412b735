//! A synthetic language model: a stand-in for a neural network in demos, tests and benchmarks.
//!
//! **Synthetic, not a model of any language.** It produces full-vocabulary logits for a context
//! so the watermark runs exactly as it would on a real model, with a realistic *spread of
//! entropies*: each context (its last two tokens) draws a sharpness `s` log-uniformly from
//! [0.3, 5], and the logits of the support are a Zipf prior (favouring low ids, which BPE
//! vocabularies give to frequent pieces) plus `s` times keyed Gumbel noise. Low `s` gives
//! flat, high-entropy steps; high `s` gives nearly deterministic ones. Tokens outside the support
//! get `-inf`.
//!
//! [`SyntheticLm::for_tokenizer`] restricts the support to whole-word tokens (a space followed
//! by 2–9 lowercase ASCII letters), so generated text re-tokenizes to the same ids and
//! detection on text equals detection on ids.
//!
//! The model is deterministic: its "weights" are a fixed 64-bit seed, unrelated to any key.
//!
//! ```
//! use provmark::lm::synthetic::SyntheticLm;
//! let lm = SyntheticLm::new(1000, (10..500).collect())?;
//! let mut logits = vec![0.0f32; 1000];
//! lm.logits(&[12, 40], &mut logits)?;
//! assert_eq!(logits[0], f32::NEG_INFINITY);
//! assert!(logits[10].is_finite());
//! # Ok::<(), provmark::Error>(())
//! ```

use crate::fingerprint::mix;
use crate::text::Tokenizer;
use crate::{Error, Result};

/// Fixed seed standing in for the synthetic model's weights.
const MODEL_SEED: u64 = 0x5EED_5A17_2024_0F0F;
/// Range of the per-context sharpness (log-uniform).
const SHARPNESS: (f32, f32) = (0.3, 5.0);
/// Exponent of the Zipf prior over the support.
const ZIPF: f32 = 1.0;

/// The synthetic model (see the module docs).
#[derive(Clone, Debug)]
pub struct SyntheticLm {
    vocab_size: usize,
    support: Vec<u32>,
    prior: Vec<f32>,
}

impl SyntheticLm {
    /// A model over `vocab_size` ids that emits only the ids in `support`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `support` is empty or holds an id `≥ vocab_size`.
    pub fn new(vocab_size: usize, mut support: Vec<u32>) -> Result<Self> {
        support.sort_unstable();
        support.dedup();
        if support.is_empty() {
            return Err(Error::param("support", "must not be empty"));
        }
        if support.iter().any(|&t| t as usize >= vocab_size) {
            return Err(Error::param(
                "support",
                "ids must be below the vocabulary size",
            ));
        }
        let prior = (0..support.len())
            .map(|r| -ZIPF * ((r + 2) as f32).ln())
            .collect();
        Ok(SyntheticLm {
            vocab_size,
            support,
            prior,
        })
    }

    /// A model whose support is the tokenizer's whole-word tokens (see the module docs).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when the tokenizer has no such tokens; tokenizer errors.
    pub fn for_tokenizer(tok: &dyn Tokenizer) -> Result<Self> {
        let mut support = Vec::new();
        for id in 0..u32::try_from(tok.vocab_size()).unwrap_or(u32::MAX) {
            let Ok(s) = tok.decode(&[id]) else { continue };
            let b = s.as_bytes();
            if (3..=10).contains(&b.len())
                && b.first() == Some(&b' ')
                && b.iter().skip(1).all(u8::is_ascii_lowercase)
            {
                support.push(id);
            }
        }
        SyntheticLm::new(tok.vocab_size(), support)
    }

    /// Vocabulary size (length of the logits).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The ids the model can emit.
    pub fn support(&self) -> &[u32] {
        &self.support
    }

    /// Writes the next-token logits after `history` into `out` (length [`Self::vocab_size`]).
    ///
    /// # Errors
    /// [`Error::LogitsShape`] when `out` has the wrong length.
    pub fn logits(&self, history: &[u32], out: &mut [f32]) -> Result<()> {
        if out.len() != self.vocab_size {
            return Err(Error::LogitsShape {
                expected: self.vocab_size,
                actual: out.len(),
            });
        }
        let n = history.len();
        let a = n.checked_sub(2).and_then(|i| history.get(i)).copied();
        let b = n.checked_sub(1).and_then(|i| history.get(i)).copied();
        let ctx = mix(MODEL_SEED
            ^ mix(u64::from(a.unwrap_or(u32::MAX)))
            ^ mix(u64::from(b.unwrap_or(u32::MAX)) << 32));
        let u = unit(ctx);
        let s = (SHARPNESS.0.ln() + u * (SHARPNESS.1.ln() - SHARPNESS.0.ln())).exp();
        out.fill(f32::NEG_INFINITY);
        for (i, (&id, &p)) in self.support.iter().zip(&self.prior).enumerate() {
            let h = mix(ctx ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
            if let Some(o) = out.get_mut(id as usize) {
                *o = p + s * gumbel(h);
            }
        }
        Ok(())
    }
}

/// A uniform in [0, 1) from the top 24 bits.
fn unit(h: u64) -> f32 {
    (h >> 40) as f32 / (1u64 << 24) as f32
}

/// A standard Gumbel value from 64 random bits: `-ln(-ln u)`, `u` in (0, 1).
fn gumbel(h: u64) -> f32 {
    // 53 random bits in f64, offset by half a step: strictly inside (0, 1), so finite.
    let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    -(-u.ln()).ln() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_spread_is_wide() {
        let lm = SyntheticLm::new(5000, (0..5000).collect()).unwrap();
        let mut logits = vec![0.0; 5000];
        let mut ents = Vec::new();
        for c in 0..200u32 {
            lm.logits(&[c, c * 3 + 1], &mut logits).unwrap();
            let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let z: f64 = logits.iter().map(|&l| f64::from(l - m).exp()).sum();
            let ent: f64 = logits
                .iter()
                .map(|&l| {
                    let p = f64::from(l - m).exp() / z;
                    if p > 0.0 { -p * p.ln() } else { 0.0 }
                })
                .sum();
            ents.push(ent);
        }
        ents.sort_by(f64::total_cmp);
        // Deterministic model: these hold exactly for this fixed set of contexts.
        eprintln!(
            "entropy quantiles {:?}",
            [ents[10], ents[50], ents[100], ents[150], ents[190]]
        );
        assert!(ents[10] < 1.0, "low-entropy steps exist: {}", ents[10]);
        assert!(ents[190] > 5.0, "high-entropy steps exist: {}", ents[190]);
        // Gumbel mean is the Euler–Mascheroni constant 0.5772.
        let g: Vec<f32> = (0..10_000u64).map(|i| gumbel(mix(i))).collect();
        let mean = g.iter().sum::<f32>() / g.len() as f32;
        assert!((mean - 0.5772).abs() < 0.05, "{mean}");
    }
}
