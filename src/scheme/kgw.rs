//! The KGW green-list watermark (Kirchenbauer et al. 2023): sampler side.
//!
//! At each step the `h` preceding tokens and the key select a green list holding a fraction γ of
//! the vocabulary ([`crate::prf`]); the logits of green tokens are raised by δ before sampling.
//! With `h = 0` the green list is fixed per key (the Unigram watermark of Zhao et al. 2023).
//! Positions with fewer than `h` preceding tokens are left untouched (and are not scored).
//!
//! Four entry points for servers, none allocating per step:
//! * [`Kgw::bias`] — bias one step's logits in place;
//! * [`Kgw::sample_step`] — bias and sample (temperature, top-k, top-p) in one call;
//! * [`Kgw::bias_batch`] / [`Kgw::sample_batch`] — `B` sequences with row-major `B × V` logits;
//! * [`StreamState`] — per-request state remembering the last `h` tokens.
//!
//! ```
//! use provmark::{key::SecretKey, scheme::{Kgw, KgwParams}};
//! let kgw = Kgw::new(&SecretKey::from_bytes([3; 32]), KgwParams::default());
//! let mut logits = vec![0.0f32; 1000];
//! kgw.bias(&[17, 42], &mut logits)?;
//! let green = logits.iter().filter(|&&l| l > 0.0).count();
//! assert!((150..350).contains(&green)); // about γ = 25 % of 1000
//! # Ok::<(), provmark::Error>(())
//! ```

use crate::key::SecretKey;
use crate::prf::{MAX_CONTEXT, MAX_VOCAB, POSITION_MASK, Prf, PrfVersion, Seed};
use crate::sampling::Sampler;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Resolution of γ: green lists are drawn from 8-bit uniforms, so γ is a multiple of 1/256.
pub const GAMMA_GRID: u32 = 256;

/// γ, δ and the context width `h` of a KGW watermark. Construct with [`KgwParams::new`], which
/// validates and rounds γ to the 1/256 grid the PRF implements exactly.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawParams", into = "RawParams")]
pub struct KgwParams {
    threshold: u8,
    delta: f32,
    context: u8,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParams {
    gamma: f64,
    delta: f64,
    context: u64,
}

impl TryFrom<RawParams> for KgwParams {
    type Error = Error;
    fn try_from(r: RawParams) -> Result<Self> {
        let context = usize::try_from(r.context).unwrap_or(usize::MAX);
        KgwParams::new(r.gamma, r.delta, context)
    }
}

impl From<KgwParams> for RawParams {
    fn from(p: KgwParams) -> Self {
        RawParams {
            gamma: p.gamma(),
            delta: f64::from(p.delta),
            context: u64::from(p.context),
        }
    }
}

impl Default for KgwParams {
    /// γ = 0.25, δ = 2.0, h = 2.
    fn default() -> Self {
        KgwParams {
            threshold: 64,
            delta: 2.0,
            context: 2,
        }
    }
}

impl KgwParams {
    /// Validates and builds parameters. γ is rounded to the nearest multiple of 1/256 (so 0.3
    /// becomes 77/256 = 0.30078125); [`KgwParams::gamma`] returns the value actually used.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `0 < gamma < 1` with the rounded γ in
    /// `[1/256, 255/256]`, `0 ≤ delta ≤ 1000` (finite), and `context ≤ 8`.
    ///
    /// ```
    /// use provmark::scheme::KgwParams;
    /// assert_eq!(KgwParams::new(0.3, 2.0, 1)?.gamma(), 77.0 / 256.0);
    /// assert!(KgwParams::new(1.0, 2.0, 1).is_err());
    /// # Ok::<(), provmark::Error>(())
    /// ```
    pub fn new(gamma: f64, delta: f64, context: usize) -> Result<Self> {
        if !(gamma > 0.0 && gamma < 1.0) {
            return Err(Error::param("gamma", "must be strictly between 0 and 1"));
        }
        let t = (gamma * f64::from(GAMMA_GRID)).round();
        if !(1.0..=255.0).contains(&t) {
            return Err(Error::param(
                "gamma",
                "must round to a multiple of 1/256 between 1/256 and 255/256",
            ));
        }
        if !(0.0..=1000.0).contains(&delta) {
            return Err(Error::param("delta", "must be finite, between 0 and 1000"));
        }
        if context > MAX_CONTEXT {
            return Err(Error::param(
                "context",
                format!("must be between 0 and {MAX_CONTEXT}"),
            ));
        }
        Ok(KgwParams {
            threshold: t as u8,
            delta: delta as f32,
            context: context as u8,
        })
    }

    /// The exact green probability γ = threshold / 256.
    pub fn gamma(&self) -> f64 {
        f64::from(self.threshold) / f64::from(GAMMA_GRID)
    }

    /// The logit bias δ added to green tokens.
    pub fn delta(&self) -> f32 {
        self.delta
    }

    /// Context width `h`: how many preceding tokens seed the green list.
    pub fn context(&self) -> usize {
        usize::from(self.context)
    }

    /// A token is green when its PRF byte is below this threshold.
    pub fn threshold(&self) -> u8 {
        self.threshold
    }
}

/// A keyed KGW watermark: the PRF keyed with a secret, plus parameters. Cheap to clone and
/// `Send + Sync`, so one instance can serve all requests.
#[derive(Clone, Debug)]
pub struct Kgw {
    prf: Prf,
    params: KgwParams,
    shift: u32,
}

impl Kgw {
    /// Keys the scheme on PRF v1.
    pub fn new(key: &SecretKey, params: KgwParams) -> Self {
        Self::with_prf(PrfVersion::V1, key, params, 0)
    }

    /// Keys the scheme on a given PRF version, with a shift (see [`Kgw::with_shift`]).
    pub fn with_prf(version: PrfVersion, key: &SecretKey, params: KgwParams, shift: u32) -> Self {
        Kgw {
            prf: Prf::new(version, key, "kgw"),
            params,
            shift: shift & POSITION_MASK as u32,
        }
    }

    /// The PRF version.
    pub fn prf_version(&self) -> PrfVersion {
        self.prf.version()
    }

    /// Keys the scheme with a cyclic shift of the vocabulary axis: token `v` takes the PRF
    /// byte of position `(v + shift) mod 2^21`. Distinct shifts give independent green lists
    /// under one secret; this is how per-account watermarks share a master key
    /// ([`crate::provenance::accounts`]). `shift` is reduced modulo 2^21.
    pub fn with_shift(key: &SecretKey, params: KgwParams, shift: u32) -> Self {
        Self::with_prf(PrfVersion::V1, key, params, shift)
    }

    /// The cyclic shift (0 for ordinary keys).
    pub fn shift(&self) -> u32 {
        self.shift
    }

    /// Whether `token` is green under `seed` (applies the shift).
    pub fn green_under(&self, seed: &Seed, token: u32) -> bool {
        let pos = (token as usize + self.shift as usize) & POSITION_MASK;
        seed.byte(pos as u32) < self.params.threshold
    }

    /// The parameters.
    pub fn params(&self) -> &KgwParams {
        &self.params
    }

    /// The last `h` tokens of `history`, or `None` when it is shorter than `h`.
    pub fn context_of<'a>(&self, history: &'a [u32]) -> Option<&'a [u32]> {
        let h = self.params.context();
        history.len().checked_sub(h).and_then(|s| history.get(s..))
    }

    /// The PRF seed of a step whose preceding tokens are `history` (only the last `h` are used).
    /// `None` when fewer than `h` tokens precede the step.
    ///
    /// # Errors
    /// Never for histories of any length; the `Result` guards the PRF's own contract.
    pub fn seed(&self, history: &[u32]) -> Result<Option<Seed>> {
        match self.context_of(history) {
            Some(ctx) => self.prf.seed(ctx).map(Some),
            None => Ok(None),
        }
    }

    /// The PRF seed of exactly this context (its length must be `h`; see [`Kgw::context_of`]).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when the context is longer than 8 tokens.
    pub fn prf_seed(&self, context: &[u32]) -> Result<Seed> {
        self.prf.seed(context)
    }

    /// Whether `token` is green after `history`. `None` when the context is incomplete.
    ///
    /// # Errors
    /// As [`Kgw::seed`].
    pub fn is_green(&self, history: &[u32], token: u32) -> Result<Option<bool>> {
        Ok(self.seed(history)?.map(|s| self.green_under(&s, token)))
    }

    /// Adds δ to the logits of the green tokens of the step after `history`, in place. Red
    /// logits are not touched; with fewer than `h` tokens of history nothing is changed.
    ///
    /// # Errors
    /// [`Error::LogitsShape`] when `logits` is longer than 2^21.
    pub fn bias(&self, history: &[u32], logits: &mut [f32]) -> Result<()> {
        check_logits_len(logits.len())?;
        if let Some(seed) = self.seed(history)? {
            self.apply(&seed, logits);
        }
        Ok(())
    }

    fn apply(&self, seed: &Seed, logits: &mut [f32]) {
        let t = self.params.threshold;
        let delta = self.params.delta;
        seed.for_each_chunk(self.shift, logits.len(), |start, bytes| {
            if let Some(chunk) = logits.get_mut(start..start + bytes.len()) {
                for (l, &b) in chunk.iter_mut().zip(bytes) {
                    select_bias(l, b, t, delta);
                }
            }
        });
    }

    /// Biases then samples one step. Returns the sampled token id; `logits` is left biased.
    ///
    /// # Errors
    /// As [`Kgw::bias`] and [`Sampler::sample`].
    pub fn sample_step(
        &self,
        history: &[u32],
        logits: &mut [f32],
        sampler: &mut Sampler,
        uniform: f64,
    ) -> Result<u32> {
        self.bias(history, logits)?;
        sampler.sample(logits, uniform)
    }

    /// Biases `B = histories.len()` rows of row-major `B × vocab` logits.
    ///
    /// # Errors
    /// [`Error::LogitsShape`] when `logits.len() != B × vocab` or `vocab > 2^21`.
    pub fn bias_batch(&self, histories: &[&[u32]], logits: &mut [f32], vocab: usize) -> Result<()> {
        check_batch(histories.len(), logits.len(), vocab)?;
        for (history, row) in histories.iter().zip(logits.chunks_exact_mut(vocab)) {
            if let Some(seed) = self.seed(history)? {
                self.apply(&seed, row);
            }
        }
        Ok(())
    }

    /// Biases and samples `B` rows; `uniforms[i]` drives row `i`, the token goes to `out[i]`.
    ///
    /// # Errors
    /// As [`Kgw::bias_batch`], plus [`Error::InvalidInput`] when `uniforms` or `out` do not have
    /// `B` entries, and the sampler's errors.
    pub fn sample_batch(
        &self,
        histories: &[&[u32]],
        logits: &mut [f32],
        vocab: usize,
        sampler: &mut Sampler,
        uniforms: &[f64],
        out: &mut [u32],
    ) -> Result<()> {
        check_batch(histories.len(), logits.len(), vocab)?;
        // The per-row loop is the trait's; `Scheme::sample` is `sample_step`.
        super::Scheme::sample_batch(self, histories, logits, vocab, sampler, uniforms, out)
    }
}

impl super::Scheme for Kgw {
    fn name(&self) -> &'static str {
        "kgw"
    }

    fn context_rule(&self) -> super::ContextRule {
        super::ContextRule {
            width: self.params.context(),
            pad: None,
        }
    }

    fn dedup_key(&self) -> super::DedupKey {
        super::DedupKey::Tuple
    }

    fn null(&self) -> super::NullModel {
        super::NullModel::Bernoulli {
            p: self.params.gamma(),
        }
    }

    fn bias_logits(&self, context: &[u32], logits: &mut [f32]) -> Result<bool> {
        self.bias(context, logits)?;
        Ok(true)
    }

    fn score(&self, context: &[u32], token: u32) -> Result<f64> {
        super::check_context(context, self.params.context())?;
        let seed = self.prf_seed(context)?;
        Ok(f64::from(u8::from(self.green_under(&seed, token))))
    }

    fn sample(
        &self,
        context: &[u32],
        logits: &mut [f32],
        sampler: &mut Sampler,
        uniform: f64,
    ) -> Result<u32> {
        self.sample_step(context, logits, sampler, uniform)
    }
}

/// Green (`b < t`): `l + δ`; red: `l` unchanged bit for bit (`+ 0.0` would turn -0.0 into
/// +0.0). Branch-free, so it compiles to SIMD blends.
#[inline(always)]
fn select_bias(l: &mut f32, b: u8, t: u8, delta: f32) {
    let mask = u32::from(b < t).wrapping_neg();
    let biased = (*l + delta).to_bits();
    *l = f32::from_bits((biased & mask) | (l.to_bits() & !mask));
}

pub(crate) fn check_logits_len(vocab: usize) -> Result<()> {
    if vocab > MAX_VOCAB {
        return Err(Error::LogitsShape {
            expected: MAX_VOCAB,
            actual: vocab,
        });
    }
    Ok(())
}

fn check_batch(rows: usize, len: usize, vocab: usize) -> Result<()> {
    check_logits_len(vocab)?;
    let expected = rows.saturating_mul(vocab);
    if len != expected || vocab == 0 {
        return Err(Error::LogitsShape {
            expected,
            actual: len,
        });
    }
    Ok(())
}

/// Per-request streaming state: remembers the last `h` tokens so a server can feed tokens as
/// they are produced. Fixed size, no heap.
///
/// ```
/// use provmark::{key::SecretKey, scheme::{Kgw, KgwParams, StreamState}};
/// let kgw = Kgw::new(&SecretKey::from_bytes([3; 32]), KgwParams::default());
/// let mut state = StreamState::new(&[101, 102, 103]); // the prompt's tokens
/// let mut logits = vec![0.0f32; 500];
/// state.bias(&kgw, &mut logits)?;          // h = 2: the context is [102, 103]
/// state.push(7);                            // the token the server emitted
/// assert_eq!(state.history(), &[101, 102, 103, 7]); // the last 8 tokens are kept
/// # Ok::<(), provmark::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamState {
    window: [u32; MAX_CONTEXT],
    len: usize,
}

impl StreamState {
    /// Starts a stream after `prompt` (only its last 8 tokens are kept).
    pub fn new(prompt: &[u32]) -> Self {
        let mut s = StreamState::default();
        for &t in prompt.iter().rev().take(MAX_CONTEXT).rev() {
            s.push(t);
        }
        s
    }

    /// Records an emitted token.
    pub fn push(&mut self, token: u32) {
        if self.len < MAX_CONTEXT {
            if let Some(slot) = self.window.get_mut(self.len) {
                *slot = token;
            }
            self.len += 1;
        } else {
            self.window.rotate_left(1);
            if let Some(last) = self.window.last_mut() {
                *last = token;
            }
        }
    }

    /// The remembered tokens, oldest first (at most 8).
    pub fn history(&self) -> &[u32] {
        self.window.get(..self.len).unwrap_or_default()
    }

    /// Biases the next step's logits (see [`Kgw::bias`]).
    ///
    /// # Errors
    /// As [`Kgw::bias`].
    pub fn bias(&self, kgw: &Kgw, logits: &mut [f32]) -> Result<()> {
        kgw.bias(self.history(), logits)
    }

    /// Biases, samples and records the next token (see [`Kgw::sample_step`]).
    ///
    /// # Errors
    /// As [`Kgw::sample_step`].
    pub fn sample(
        &mut self,
        kgw: &Kgw,
        logits: &mut [f32],
        sampler: &mut Sampler,
        uniform: f64,
    ) -> Result<u32> {
        let tok = kgw.sample_step(self.history(), logits, sampler, uniform)?;
        self.push(tok);
        Ok(tok)
    }
}
