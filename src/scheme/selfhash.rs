//! SelfHash: the self-seeded min-hash green list of Kirchenbauer et al. (2024, "On the
//! reliability of watermarks"), on PRF v2.
//!
//! KGW seeds a step's green list with the `h` preceding tokens, so one edited token changes the
//! green lists of the next `h` steps, and an observer who sees many texts can learn each
//! context's green list. SelfHash makes the green test of a candidate `v` depend on the
//! candidate itself and on a single *anchor* token chosen by keyed min-hash:
//!
//! * every token `t` has a keyed rank `π(t)` (a PRF v2 word, subkey `prf-v2/selfhash-anchor`);
//! * the anchor of the window `(c_1, …, c_h, v)` — the `h` preceding tokens and the candidate —
//!   is its token of least `(π(t), t)`;
//! * `v` is green when its PRF v2 byte (subkey `prf-v2/selfhash`) is below `γ · 256`, in the
//!   keystream of the context `[a]` when the anchor `a` is a preceding token, or of the empty
//!   context when the anchor is `v` itself.
//!
//! An edit that does not touch the anchor leaves the green test unchanged, and the green list
//! an observer could estimate for a context depends on every candidate, not on the context.
//! Green logits are raised by δ before sampling, as in KGW.
//!
//! The green decision is a keyed function of the pair `(anchor, v)` alone, so the detector
//! deduplicates pairs, not (context, token) tuples ([`DedupKey::Keyed`]): two positions with
//! the same pair are one draw. Under the null (text written without the key) the ranks and the
//! green bytes come from independent subkeys, so given the ranks every distinct pair is green
//! with probability exactly γ, independently: the count is `Binomial(n, γ)` and the p-value is
//! exact.
//!
//! ```
//! use provmark::{key::SecretKey, scheme::{Scheme, SelfHash, SelfHashParams}};
//! let s = SelfHash::new(&SecretKey::from_bytes([5; 32]), SelfHashParams::default());
//! let green = s.score(&[10, 11, 12], 13)?; // h = 3
//! assert!(green == 0.0 || green == 1.0);
//! # Ok::<(), provmark::Error>(())
//! ```

use super::kgw::check_logits_len;
use super::{ContextRule, DedupKey, KgwParams, NullModel, Scheme, check_context};
use crate::fingerprint::{TUPLE_DOMAIN, fingerprint};
use crate::key::SecretKey;
use crate::prf::{MAX_CONTEXT, PrfV2, Seed};
use crate::sampling::Sampler;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// γ, δ and the number `h` of preceding tokens in the min-hash window. In key files:
/// `{"type": "selfhash", "prf": "v2", "gamma": 0.25, "delta": 2.0, "context": 3}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawSelfHash", into = "RawSelfHash")]
pub struct SelfHashParams {
    kgw: KgwParams,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSelfHash {
    prf: crate::prf::PrfVersion,
    gamma: f64,
    delta: f64,
    context: u64,
}

impl TryFrom<RawSelfHash> for SelfHashParams {
    type Error = Error;
    fn try_from(r: RawSelfHash) -> Result<Self> {
        if r.prf != crate::prf::PrfVersion::V2 {
            return Err(Error::param(
                "prf",
                "the selfhash scheme is defined on PRF v2",
            ));
        }
        let context = usize::try_from(r.context).unwrap_or(usize::MAX);
        SelfHashParams::new(r.gamma, r.delta, context)
    }
}

impl From<SelfHashParams> for RawSelfHash {
    fn from(p: SelfHashParams) -> Self {
        RawSelfHash {
            prf: crate::prf::PrfVersion::V2,
            gamma: p.gamma(),
            delta: f64::from(p.delta()),
            context: p.context() as u64,
        }
    }
}

impl Default for SelfHashParams {
    /// γ = 0.25, δ = 2.0, h = 3 (a window of four tokens with the candidate, as in the
    /// reference "selfhash" setting).
    fn default() -> Self {
        SelfHashParams {
            kgw: KgwParams::new(0.25, 2.0, 3).unwrap_or_default(),
        }
    }
}

impl SelfHashParams {
    /// Validates and builds parameters; γ is rounded to the 1/256 grid as for
    /// [`KgwParams::new`].
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for γ or δ out of range (as [`KgwParams::new`]) or unless
    /// `1 ≤ context ≤ 8` (with no preceding token the anchor is always the candidate: that is
    /// the Unigram watermark, KGW with h = 0).
    ///
    /// ```
    /// use provmark::scheme::SelfHashParams;
    /// assert_eq!(SelfHashParams::new(0.25, 2.0, 3)?.context(), 3);
    /// assert!(SelfHashParams::new(0.25, 2.0, 0).is_err());
    /// # Ok::<(), provmark::Error>(())
    /// ```
    pub fn new(gamma: f64, delta: f64, context: usize) -> Result<Self> {
        if !(1..=MAX_CONTEXT).contains(&context) {
            return Err(Error::param(
                "context",
                format!("must be between 1 and {MAX_CONTEXT} for selfhash"),
            ));
        }
        Ok(SelfHashParams {
            kgw: KgwParams::new(gamma, delta, context)?,
        })
    }

    /// The exact green probability γ (a multiple of 1/256).
    pub fn gamma(&self) -> f64 {
        self.kgw.gamma()
    }

    /// The logit bias δ of green tokens.
    pub fn delta(&self) -> f32 {
        self.kgw.delta()
    }

    /// The number `h` of preceding tokens in the window.
    pub fn context(&self) -> usize {
        self.kgw.context()
    }
}

/// Tokens per chunk of the sampler's vocabulary pass (stack buffers of 4 · 512 + 2 · 512 bytes).
const CHUNK: usize = 512;

/// A keyed SelfHash watermark. `Debug` never shows the key.
#[derive(Clone, Debug)]
pub struct SelfHash {
    green: PrfV2,
    /// Keystream of the token ranks `π` (word lanes of the empty context).
    ranks: Seed,
    /// Keystream of the green bytes of self-anchored candidates (the empty context).
    own: Seed,
    params: SelfHashParams,
}

impl SelfHash {
    /// Keys the scheme (PRF v2, subkeys `prf-v2/selfhash` and `prf-v2/selfhash-anchor`).
    pub fn new(key: &SecretKey, params: SelfHashParams) -> Self {
        let green = PrfV2::new(key, "selfhash");
        let anchor = PrfV2::new(key, "selfhash-anchor");
        SelfHash {
            ranks: anchor.seed_empty(),
            own: green.seed_empty(),
            green,
            params,
        }
    }

    /// The parameters.
    pub fn params(&self) -> &SelfHashParams {
        &self.params
    }

    /// The keyed rank of a token: lower ranks win the min-hash.
    fn rank(&self, token: u32) -> (u32, u32) {
        (self.ranks.word(token), token)
    }

    /// The anchor of a window: its token of least rank.
    fn anchor_of(&self, tokens: impl IntoIterator<Item = u32>) -> Option<(u32, u32)> {
        tokens.into_iter().map(|t| self.rank(t)).min()
    }

    /// The anchor of the window `context ++ [token]` (`context` exactly `h` tokens).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a context of the wrong length.
    pub fn anchor(&self, context: &[u32], token: u32) -> Result<u32> {
        check_context(context, self.params.context())?;
        let (_, a) = self
            .anchor_of(context.iter().copied().chain([token]))
            .unwrap_or((0, token));
        Ok(a)
    }

    /// The green-byte keystream of a pair: the anchor's context, or the empty one for a
    /// self-anchored candidate.
    fn green_seed(&self, anchor: u32, token: u32) -> Result<Seed> {
        if anchor == token {
            Ok(self.own.clone())
        } else {
            self.green.seed(&[anchor])
        }
    }

    /// Adds δ to the logits of green candidates, in place, after the last `h` tokens of
    /// `history` (nothing when fewer precede the step). No heap allocation: three keystreams
    /// (ranks, the context anchor's green bytes, the self-anchored green bytes) are streamed
    /// through stack buffers.
    ///
    /// # Errors
    /// [`Error::LogitsShape`] when `logits` is longer than 2^21.
    pub fn bias(&self, history: &[u32], logits: &mut [f32]) -> Result<()> {
        check_logits_len(logits.len())?;
        let h = self.params.context();
        let Some(ctx) = history.get(history.len().saturating_sub(h)..) else {
            return Ok(());
        };
        if ctx.len() < h {
            return Ok(());
        }
        let Some(anchor) = self.anchor_of(ctx.iter().copied()) else {
            return Ok(());
        };
        let by_anchor = self.green.seed(&[anchor.1])?;
        let t = self.params.kgw.threshold();
        let delta = self.params.delta();
        let mut ranks = [0u8; 4 * CHUNK];
        let mut anchored = [0u8; CHUNK];
        let mut own = [0u8; CHUNK];
        for (c, chunk) in logits.chunks_mut(CHUNK).enumerate() {
            let first = (c * CHUNK) as u32;
            let n = chunk.len();
            let (Some(r), Some(a), Some(o)) = (
                ranks.get_mut(..4 * n),
                anchored.get_mut(..n),
                own.get_mut(..n),
            ) else {
                continue;
            };
            self.ranks.fill_bytes(4 * first, r);
            by_anchor.fill_bytes(first, a);
            self.own.fill_bytes(first, o);
            for (i, l) in chunk.iter_mut().enumerate() {
                let (Some(w), Some(&ba), Some(&bo)) = (r.get(4 * i..4 * i + 4), a.get(i), o.get(i))
                else {
                    continue;
                };
                let v = first + i as u32;
                let rank = (u32::from_le_bytes([w[0], w[1], w[2], w[3]]), v);
                // `rank == anchor` is the anchor token itself: a pair (v, v), self-anchored.
                let b = if rank <= anchor { bo } else { ba };
                if b < t {
                    *l += delta;
                }
            }
        }
        Ok(())
    }
}

impl Scheme for SelfHash {
    fn name(&self) -> &'static str {
        "selfhash"
    }

    fn context_rule(&self) -> ContextRule {
        ContextRule {
            width: self.params.context(),
            pad: None,
        }
    }

    fn dedup_key(&self) -> DedupKey {
        DedupKey::Keyed
    }

    fn keyed_fingerprint(&self, context: &[u32], token: u32) -> Result<u64> {
        let a = self.anchor(context, token)?;
        Ok(if a == token {
            fingerprint(TUPLE_DOMAIN, &[], Some(token))
        } else {
            fingerprint(TUPLE_DOMAIN, &[a], Some(token))
        })
    }

    fn null(&self) -> NullModel {
        NullModel::Bernoulli {
            p: self.params.gamma(),
        }
    }

    fn bias_logits(&self, context: &[u32], logits: &mut [f32]) -> Result<bool> {
        self.bias(context, logits)?;
        Ok(true)
    }

    fn score(&self, context: &[u32], token: u32) -> Result<f64> {
        let a = self.anchor(context, token)?;
        let b = self.green_seed(a, token)?.byte(token);
        Ok(f64::from(u8::from(b < self.params.kgw.threshold())))
    }

    fn sample(
        &self,
        context: &[u32],
        logits: &mut [f32],
        sampler: &mut Sampler,
        uniform: f64,
    ) -> Result<u32> {
        self.bias(context, logits)?;
        sampler.sample(logits, uniform)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheme() -> SelfHash {
        SelfHash::new(&SecretKey::from_bytes([11; 32]), SelfHashParams::default())
    }

    /// The vocabulary pass and the per-token score agree on every token, including the
    /// self-anchored ones (deterministic: no statistics).
    #[test]
    fn bias_marks_exactly_the_green_tokens() {
        let s = scheme();
        let ctx = [901, 17, 4242];
        let mut logits = vec![0.0f32; 3 * CHUNK + 77];
        s.bias(&ctx, &mut logits).unwrap();
        let mut own = 0;
        for (v, &l) in logits.iter().enumerate() {
            let green = s.score(&ctx, v as u32).unwrap() == 1.0;
            assert_eq!(l == 2.0, green, "token {v}");
            own += usize::from(s.anchor(&ctx, v as u32).unwrap() == v as u32);
        }
        // About a quarter of the candidates outrank the least of three context ranks.
        assert!(own > 0 && own < logits.len());
    }

    /// Changing a context token other than the anchor keeps every green decision.
    #[test]
    fn edits_away_from_the_anchor_keep_the_green_test() {
        let s = scheme();
        let ctx = [5u32, 6, 7];
        let (_, a) = s.anchor_of(ctx.iter().copied()).unwrap();
        let pos = ctx.iter().position(|&t| t != a).unwrap();
        let mut edited = ctx;
        // Find a replacement that does not outrank the anchor.
        let repl = (100u32..).find(|&r| s.rank(r) > s.rank(a)).unwrap();
        edited[pos] = repl;
        for v in 0..2000u32 {
            assert_eq!(s.score(&ctx, v).unwrap(), s.score(&edited, v).unwrap());
        }
    }
}
