//! Turning logits into a token id: temperature, top-k, top-p (nucleus), inverse-CDF sampling.
//!
//! The [`Sampler`] owns its scratch space, so after the first step at a given vocabulary size it
//! never allocates. Randomness comes from the caller as one uniform number in `[0, 1)` per step,
//! which keeps this crate independent of any RNG crate's version (draw it with
//! `rng.random::<f64>()` or your framework's equivalent).
//!
//! ```
//! use provmark::sampling::{Sampler, SamplingConfig};
//! let mut sampler = Sampler::new(SamplingConfig { temperature: 1.0, top_k: 2, top_p: 1.0 })?;
//! let logits = [0.0f32, 5.0, 4.0, -1.0];
//! let tok = sampler.sample(&logits, 0.99)?;
//! assert!(tok == 1 || tok == 2);
//! # Ok::<(), provmark::Error>(())
//! ```

use crate::{Error, Result};

/// Sampling settings. `temperature = 0` is greedy decoding; `top_k = 0` disables top-k;
/// `top_p = 1` disables nucleus filtering.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SamplingConfig {
    /// Softmax temperature, `≥ 0`.
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens (0 = all).
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose mass reaches `top_p`, in `(0, 1]`.
    pub top_p: f32,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
        }
    }
}

impl SamplingConfig {
    /// Checks the ranges documented on the fields.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(Error::param("temperature", "must be finite and >= 0"));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::param("top_p", "must be in (0, 1]"));
        }
        Ok(())
    }
}

/// A reusable sampler: configuration plus scratch buffers.
#[derive(Clone, Debug)]
pub struct Sampler {
    config: SamplingConfig,
    /// Candidate (logit, id) pairs for top-k / top-p.
    cand: Vec<(f32, u32)>,
    /// Unnormalised probabilities.
    weights: Vec<f32>,
}

impl Sampler {
    /// A sampler with the given settings.
    ///
    /// # Errors
    /// As [`SamplingConfig::validate`].
    pub fn new(config: SamplingConfig) -> Result<Self> {
        config.validate()?;
        Ok(Sampler {
            config,
            cand: Vec::new(),
            weights: Vec::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &SamplingConfig {
        &self.config
    }

    /// Samples one token id from `logits` using the uniform draw `u ∈ [0, 1)`.
    ///
    /// `-inf` logits mark tokens that may not be sampled.
    ///
    /// # Errors
    /// [`Error::NonFiniteLogit`] for a NaN or `+inf` logit; [`Error::NoCandidates`] when every
    /// logit is `-inf`; [`Error::InvalidParameter`] when `u` is outside `[0, 1)` or there are
    /// more than 2^32 logits.
    pub fn sample(&mut self, logits: &[f32], u: f64) -> Result<u32> {
        if !(0.0..1.0).contains(&u) {
            return Err(Error::param("uniform", "must be in [0, 1)"));
        }
        if u32::try_from(logits.len()).is_err() {
            return Err(Error::param("logits", "more than 2^32 entries"));
        }
        let (max, argmax) = checked_max(logits)?;
        let cfg = self.config;
        if cfg.temperature == 0.0 {
            return Ok(argmax);
        }
        let inv_t = 1.0 / cfg.temperature;
        let filtered = cfg.top_k > 0 && cfg.top_k < logits.len() || cfg.top_p < 1.0;
        if !filtered {
            // Plain softmax sampling: one pass of exponentials, one cumulative pass.
            self.weights.clear();
            self.weights
                .extend(logits.iter().map(|&l| ((l - max) * inv_t).exp()));
            return Ok(inverse_cdf(&self.weights, u)
                .and_then(|i| u32::try_from(i).ok())
                .unwrap_or(argmax));
        }
        self.cand.clear();
        self.cand.extend(
            logits
                .iter()
                .zip(0u32..)
                .filter(|(l, _)| **l > f32::NEG_INFINITY)
                .map(|(&l, i)| (l, i)),
        );
        let by_desc = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        let mut keep = self.cand.len();
        if cfg.top_k > 0 && cfg.top_k < keep {
            self.cand.select_nth_unstable_by(cfg.top_k - 1, by_desc);
            keep = cfg.top_k;
            self.cand.truncate(keep);
        }
        if cfg.top_p < 1.0 {
            let z: f64 = self
                .cand
                .iter()
                .map(|&(l, _)| f64::from(((l - max) * inv_t).exp()))
                .sum();
            let target = f64::from(cfg.top_p) * z;
            // Grow a sorted prefix until it holds `top_p` of the mass: O(V) per round and
            // usually one round, instead of sorting the whole vocabulary.
            let mut k = 64.min(self.cand.len());
            loop {
                if k < self.cand.len() {
                    self.cand.select_nth_unstable_by(k - 1, by_desc);
                }
                let prefix = self.cand.get_mut(..k).unwrap_or_default();
                prefix.sort_unstable_by(by_desc);
                let mut acc = 0.0f64;
                let mut cut = None;
                for (i, &(l, _)) in prefix.iter().enumerate() {
                    acc += f64::from(((l - max) * inv_t).exp());
                    if acc >= target {
                        cut = Some(i + 1);
                        break;
                    }
                }
                match cut {
                    Some(c) => {
                        keep = c;
                        break;
                    }
                    None if k >= self.cand.len() => {
                        keep = k;
                        break;
                    }
                    None => k = (k * 4).min(self.cand.len()),
                }
            }
            self.cand.truncate(keep);
        }
        self.weights.clear();
        self.weights
            .extend(self.cand.iter().map(|&(l, _)| ((l - max) * inv_t).exp()));
        let idx = inverse_cdf(&self.weights, u).ok_or(Error::NoCandidates)?;
        self.cand
            .get(idx)
            .map(|&(_, id)| id)
            .ok_or(Error::NoCandidates)
    }
}

/// Finds the maximum logit and its index, rejecting NaN and `+inf`.
fn checked_max(logits: &[f32]) -> Result<(f32, u32)> {
    let mut max = f32::NEG_INFINITY;
    let mut arg = None;
    for (i, &l) in logits.iter().enumerate() {
        if l.is_nan() || l == f32::INFINITY {
            return Err(Error::NonFiniteLogit { index: i });
        }
        if l > max {
            max = l;
            arg = Some(i);
        }
    }
    let arg = arg.ok_or(Error::NoCandidates)?;
    Ok((max, u32::try_from(arg).map_err(|_| Error::NoCandidates)?))
}

/// Index `i` with `cum[i-1] ≤ u·total < cum[i]`, skipping zero weights.
fn inverse_cdf(weights: &[f32], u: f64) -> Option<usize> {
    let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
    if total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let target = u * total;
    let mut acc = 0.0f64;
    let mut last = None;
    for (i, &w) in weights.iter().enumerate() {
        if w > 0.0 {
            acc += f64::from(w);
            last = Some(i);
            if acc > target {
                return Some(i);
            }
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(temperature: f32, top_k: usize, top_p: f32) -> Sampler {
        Sampler::new(SamplingConfig {
            temperature,
            top_k,
            top_p,
        })
        .unwrap()
    }

    #[test]
    fn greedy_and_errors() {
        let mut s = cfg(0.0, 0, 1.0);
        assert_eq!(s.sample(&[1.0, 3.0, 2.0], 0.5).unwrap(), 1);
        assert!(matches!(
            s.sample(&[1.0, f32::NAN], 0.5),
            Err(Error::NonFiniteLogit { index: 1 })
        ));
        assert!(matches!(
            s.sample(&[f32::NEG_INFINITY; 3], 0.5),
            Err(Error::NoCandidates)
        ));
        assert!(s.sample(&[], 0.5).is_err());
        assert!(s.sample(&[1.0], 1.0).is_err());
        assert!(
            Sampler::new(SamplingConfig {
                temperature: -1.0,
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            Sampler::new(SamplingConfig {
                top_p: 0.0,
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn inverse_cdf_matches_softmax() {
        // logits ln(1), ln(3): probabilities 1/4, 3/4.
        let l = [0.0f32, 3f32.ln()];
        let mut s = cfg(1.0, 0, 1.0);
        assert_eq!(s.sample(&l, 0.2).unwrap(), 0);
        assert_eq!(s.sample(&l, 0.3).unwrap(), 1);
    }

    #[test]
    fn top_k_and_top_p_restrict_support() {
        let l: Vec<f32> = (0..1000).map(|i| -(i as f32) * 0.01).collect();
        let mut s = cfg(1.0, 5, 1.0);
        for j in 0..100 {
            assert!(s.sample(&l, j as f64 / 100.0).unwrap() < 5);
        }
        // Sharp distribution: token 0 has > 90% of the mass, so top_p = 0.9 keeps only it.
        let mut l2 = vec![0.0f32; 300];
        l2[7] = 12.0;
        let mut s = cfg(1.0, 0, 0.9);
        for j in 0..50 {
            assert_eq!(s.sample(&l2, j as f64 / 50.0).unwrap(), 7);
        }
        // Flat distribution: top_p = 0.5 keeps about half the tokens, lowest ids on ties.
        let flat = vec![0.0f32; 1000];
        let mut s = cfg(1.0, 0, 0.5);
        assert!(s.sample(&flat, 0.999).unwrap() < 501);
    }
}
