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
    /// Nucleus bucket of each token.
    buckets: Vec<u16>,
    /// Probability mass per bucket.
    mass: Vec<f64>,
    /// Per-token keyed words, for schemes that read them more than once per step.
    words: Vec<u32>,
}

impl Default for Sampler {
    /// A sampler with [`SamplingConfig::default`] (temperature 1, no truncation).
    fn default() -> Self {
        Sampler {
            config: SamplingConfig::default(),
            cand: Vec::new(),
            words: Vec::new(),
            weights: Vec::new(),
            buckets: Vec::new(),
            mass: Vec::new(),
        }
    }
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
            words: Vec::new(),
            weights: Vec::new(),
            buckets: Vec::new(),
            mass: Vec::new(),
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
        // Size every scratch buffer for the whole vocabulary once (warm-up), so later steps
        // never allocate, whatever the distribution.
        let n = logits.len();
        self.weights.reserve(n.saturating_sub(self.weights.len()));
        self.cand.reserve(n.saturating_sub(self.cand.len()));
        self.buckets.reserve(n.saturating_sub(self.buckets.len()));
        let cfg = self.config;
        if cfg.temperature == 0.0 {
            return Ok(argmax);
        }
        let inv_t = 1.0 / cfg.temperature;
        let filtered = cfg.top_k > 0 && cfg.top_k < logits.len() || cfg.top_p < 1.0;
        if !filtered {
            // Plain softmax sampling: one pass of exponentials, one cumulative pass.
            fill_weights(&mut self.weights, logits, max, inv_t);
            return Ok(inverse_cdf(&self.weights, u)
                .and_then(|i| u32::try_from(i).ok())
                .unwrap_or(argmax));
        }
        if cfg.top_k == 0 || cfg.top_k >= logits.len() {
            return self.sample_top_p(logits, max, inv_t, cfg.top_p, u, argmax);
        }
        select_candidates(&mut self.cand, logits, cfg.top_k, cfg.top_p, inv_t);
        self.weights.clear();
        self.weights
            .extend(self.cand.iter().map(|&(l, _)| weight(l, max, inv_t)));
        let idx = inverse_cdf(&self.weights, u).ok_or(Error::NoCandidates)?;
        self.cand
            .get(idx)
            .map(|&(_, id)| id)
            .ok_or(Error::NoCandidates)
    }

    /// Applies temperature, top-k and top-p to `logits` in place, the way engines prepare the
    /// distribution a distortion-free watermark samples from: every logit is divided by the
    /// temperature and tokens outside the top-k / nucleus set become `-inf`. Returns `false`
    /// (and leaves `logits` untouched) for greedy decoding (temperature 0), which the
    /// distortion-free schemes do not watermark.
    ///
    /// ```
    /// use provmark::sampling::{Sampler, SamplingConfig};
    /// let mut s = Sampler::new(SamplingConfig { temperature: 0.5, top_k: 2, top_p: 1.0 })?;
    /// let mut logits = [1.0f32, 3.0, 2.0];
    /// assert!(s.process(&mut logits)?);
    /// assert_eq!(logits, [f32::NEG_INFINITY, 6.0, 4.0]);
    /// # Ok::<(), provmark::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NonFiniteLogit`] for a NaN or `+inf` logit, [`Error::NoCandidates`] when every
    /// logit is `-inf`.
    pub fn process(&mut self, logits: &mut [f32]) -> Result<bool> {
        if u32::try_from(logits.len()).is_err() {
            return Err(Error::param("logits", "more than 2^32 entries"));
        }
        checked_max(logits)?;
        let cfg = self.config;
        if cfg.temperature == 0.0 {
            return Ok(false);
        }
        if cfg.temperature != 1.0 {
            for l in logits.iter_mut() {
                *l /= cfg.temperature;
            }
        }
        let top_k = cfg.top_k > 0 && cfg.top_k < logits.len();
        if !top_k && cfg.top_p >= 1.0 {
            return Ok(true);
        }
        self.cand
            .reserve(logits.len().saturating_sub(self.cand.len()));
        select_candidates(
            &mut self.cand,
            logits,
            if top_k { cfg.top_k } else { 0 },
            cfg.top_p,
            1.0,
        );
        // Mask everything not kept: walk the kept ids in order.
        self.cand.sort_unstable_by_key(|c| c.1);
        let mut kept = self.cand.iter().map(|c| c.1 as usize).peekable();
        for (i, l) in logits.iter_mut().enumerate() {
            if kept.peek() == Some(&i) {
                kept.next();
            } else {
                *l = f32::NEG_INFINITY;
            }
        }
        Ok(true)
    }

    /// A scratch buffer of `n` words, reused across steps (allocates only when `n` grows).
    pub(crate) fn word_scratch(&mut self, n: usize) -> &mut [u32] {
        if self.words.len() < n {
            self.words.resize(n, 0);
        }
        self.words.get_mut(..n).unwrap_or_default()
    }

    /// Samples from logits already prepared by [`Sampler::process`] (softmax at temperature 1,
    /// no filtering), with the uniform draw `u ∈ [0, 1)`.
    ///
    /// # Errors
    /// As [`Sampler::sample`].
    pub fn sample_processed(&mut self, logits: &[f32], u: f64) -> Result<u32> {
        if !(0.0..1.0).contains(&u) {
            return Err(Error::param("uniform", "must be in [0, 1)"));
        }
        if u32::try_from(logits.len()).is_err() {
            return Err(Error::param("logits", "more than 2^32 entries"));
        }
        let (max, argmax) = checked_max(logits)?;
        self.weights
            .reserve(logits.len().saturating_sub(self.weights.len()));
        fill_weights(&mut self.weights, logits, max, 1.0);
        Ok(inverse_cdf(&self.weights, u)
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or(argmax))
    }

    /// Nucleus sampling over the whole vocabulary in O(V): tokens are bucketed by how far
    /// their scaled logit lies below the maximum, the bucket where the cumulative mass crosses
    /// `top_p` is found, and only that bucket is sorted. The kept set is exactly the smallest
    /// set of most likely tokens (ties broken by lower id) whose mass reaches `top_p`.
    fn sample_top_p(
        &mut self,
        logits: &[f32],
        max: f32,
        inv_t: f32,
        top_p: f32,
        u: f64,
        argmax: u32,
    ) -> Result<u32> {
        fill_weights(&mut self.weights, logits, max, inv_t);
        self.buckets.clear();
        self.buckets
            .extend(logits.iter().map(|&l| bucket_of(l, max, inv_t)));
        self.mass.clear();
        self.mass.resize(BUCKETS, 0.0);
        let mut z = 0.0f64;
        for (&w, &b) in self.weights.iter().zip(&self.buckets) {
            if let Some(m) = self.mass.get_mut(usize::from(b)) {
                *m += f64::from(w);
            }
            z += f64::from(w);
        }
        let target = f64::from(top_p) * z;
        let mut before = 0.0f64;
        let mut boundary = BUCKETS - 1;
        for (b, &m) in self.mass.iter().enumerate() {
            if before + m >= target {
                boundary = b;
                break;
            }
            before += m;
        }
        let boundary = boundary as u16;
        // Sort the boundary bucket and find the last kept token in it.
        self.cand.clear();
        self.cand.extend(
            logits
                .iter()
                .zip(0u32..)
                .zip(&self.buckets)
                .filter(|&(_, &b)| b == boundary)
                .map(|((&l, i), _)| (l, i)),
        );
        self.cand
            .sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut acc = before;
        let mut cutoff = self.cand.last().copied();
        for &(l, i) in &self.cand {
            acc += f64::from(weight(l, max, inv_t));
            if acc >= target {
                cutoff = Some((l, i));
                break;
            }
        }
        // Zero the weights of tokens outside the nucleus, then sample what is left.
        for ((w, (&l, i)), &b) in self
            .weights
            .iter_mut()
            .zip(logits.iter().zip(0u32..))
            .zip(&self.buckets)
        {
            let kept = b < boundary
                || (b == boundary && cutoff.is_some_and(|(cl, ci)| l > cl || (l == cl && i <= ci)));
            if !kept {
                *w = 0.0;
            }
        }
        Ok(inverse_cdf(&self.weights, u)
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or(argmax))
    }
}

/// Fills `cand` with the (logit, id) pairs of the finite logits and keeps the `top_k` most
/// likely (0: all), then, when `top_p < 1`, the smallest most-likely prefix whose mass at inverse
/// temperature `inv_t` reaches `top_p`. Ties go to the lower id. Used by [`Sampler::sample`]
/// (raw logits) and [`Sampler::process`] (logits already divided by the temperature).
fn select_candidates(
    cand: &mut Vec<(f32, u32)>,
    logits: &[f32],
    top_k: usize,
    top_p: f32,
    inv_t: f32,
) {
    cand.clear();
    cand.extend(
        logits
            .iter()
            .zip(0u32..)
            .filter(|(l, _)| **l > f32::NEG_INFINITY)
            .map(|(&l, i)| (l, i)),
    );
    let by_desc = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if top_k > 0 && top_k < cand.len() {
        cand.select_nth_unstable_by(top_k - 1, by_desc);
        cand.truncate(top_k);
    }
    if top_p < 1.0 {
        cand.sort_unstable_by(by_desc);
        // The most likely kept token is the most likely of all.
        let max = cand.first().map_or(0.0, |c| c.0);
        let z: f64 = cand
            .iter()
            .map(|&(l, _)| f64::from(weight(l, max, inv_t)))
            .sum();
        let target = f64::from(top_p) * z;
        let mut acc = 0.0f64;
        let mut keep = cand.len();
        for (i, &(l, _)) in cand.iter().enumerate() {
            acc += f64::from(weight(l, max, inv_t));
            if acc >= target {
                keep = i + 1;
                break;
            }
        }
        cand.truncate(keep);
    }
}

/// Number of buckets for nucleus sampling; they cover scaled logits down to
/// `BUCKETS / BUCKET_SCALE` = 32 nats below the maximum (relative weight 1e-14); anything
/// lower shares the last bucket.
const BUCKETS: usize = 4096;
/// Buckets per nat.
const BUCKET_SCALE: f32 = 128.0;

fn bucket_of(l: f32, max: f32, inv_t: f32) -> u16 {
    let d = (max - l) * inv_t * BUCKET_SCALE;
    if d.is_nan() || d >= (BUCKETS - 1) as f32 {
        (BUCKETS - 1) as u16
    } else {
        d.max(0.0) as u16
    }
}

/// The unnormalised probability `exp((l − max) / T)` of a logit, with `inv_t = 1 / T`.
#[inline(always)]
fn weight(l: f32, max: f32, inv_t: f32) -> f32 {
    exp_nonpositive((l - max) * inv_t)
}

/// `e^x` for `x ≤ 0` in `f32`, branch-free so whole-vocabulary passes vectorise: Cody–Waite
/// range reduction `x = k ln 2 + r`, `|r| ≤ ln 2 / 2`, and the degree-6 Taylor polynomial of
/// `e^r` (truncation error below 1.3e-7 relative, about one ulp). Below −87 (and for −∞) the
/// result is 0, as masked tokens need.
#[inline(always)]
pub(crate) fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in a part exact in f32 and a correction.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5 · 2^23 rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let masked = x < -87.0 || x.is_nan();
    let xc = if masked { 0.0 } else { x };
    let k = (xc * LOG2E + ROUND) - ROUND;
    let r = xc - k * LN2_HI - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits(((k as i32 + 127) as u32) << 23);
    if masked { 0.0 } else { scale * p }
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

/// Writes the unnormalised probability of every logit into `out` (resized, reused).
fn fill_weights(out: &mut Vec<f32>, logits: &[f32], max: f32, inv_t: f32) {
    out.clear();
    out.resize(logits.len(), 0.0);
    for (w, &l) in out.iter_mut().zip(logits) {
        *w = weight(l, max, inv_t);
    }
}

/// Weights per block of the two-level inverse-CDF search.
const BLOCK: usize = 256;

/// Sum of a block in `f64` with eight independent accumulators (vectorisable); the fixed order
/// makes the result deterministic.
fn block_sum(ws: &[f32]) -> f64 {
    let mut acc = [0.0f64; 8];
    let mut chunks = ws.chunks_exact(8);
    for c in &mut chunks {
        for (a, &w) in acc.iter_mut().zip(c) {
            *a += f64::from(w);
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|&w| f64::from(w)).sum();
    acc.iter().sum::<f64>() + tail
}

/// Index `i` with `cum[i-1] ≤ u·total < cum[i]`, skipping zero weights: block sums first,
/// then a scan inside the block that holds the target.
fn inverse_cdf(weights: &[f32], u: f64) -> Option<usize> {
    let total: f64 = weights.chunks(BLOCK).map(block_sum).sum();
    if total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let target = u * total;
    let mut acc = 0.0f64;
    let mut last = None;
    for (bi, block) in weights.chunks(BLOCK).enumerate() {
        let s = block_sum(block);
        if s <= 0.0 {
            continue;
        }
        if acc + s <= target {
            acc += s;
            last = block.iter().rposition(|&w| w > 0.0).map(|j| bi * BLOCK + j);
            continue;
        }
        for (j, &w) in block.iter().enumerate() {
            if w > 0.0 {
                acc += f64::from(w);
                last = Some(bi * BLOCK + j);
                if acc > target {
                    return last;
                }
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
    fn fast_exp_is_accurate() {
        let mut worst = 0.0f64;
        let mut x = 0.0f32;
        while x > -87.0 {
            let got = f64::from(exp_nonpositive(x));
            let want = f64::from(x).exp();
            worst = worst.max((got - want).abs() / want);
            x -= 0.000_37;
        }
        assert!(worst < 3e-7, "relative error {worst}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpositive(-100.0), 0.0);
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
