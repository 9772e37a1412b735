//! The candidate sampler: a key's watermark over an array of `{id, logit, p}` candidates (the
//! layout of llama.cpp's `llama_token_data`), which may be the whole vocabulary in any order,
//! or a truncated, sorted subset.
//!
//! Two modes, for the two kinds of scheme:
//! * [`CandidateSampler::apply`] — logit-bias schemes (kgw, selfhash): add the bias, leave the
//!   choice to the engine's own sampler;
//! * [`CandidateSampler::select`] — every scheme: choose the next token from the candidates'
//!   current logits (after the engine's temperature, top-k, top-p), as the scheme's own
//!   sampler does; distortion-free schemes (gumbel, synthid, vllm-*) need this mode.

use provmark::lm::GenerationContexts;
use provmark::prf::MAX_VOCAB;
use provmark::sampling::Sampler;
use provmark::scheme::{Kgw, Scheme};
use provmark::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// One candidate token, laid out as llama.cpp's `llama_token_data`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TokenData {
    /// The token id.
    pub id: i32,
    /// Its logit; green candidates get `+δ`.
    pub logit: f32,
    /// Its probability (left untouched: the engine recomputes it from the logits).
    pub p: f32,
}

/// A lone green test costs one ChaCha8 block (64 keystream bytes); with fewer than one candidate
/// per 64 vocabulary entries (a top-k array), per-candidate tests beat biasing the whole range.
const SPARSE_RATIO: usize = 64;

/// The sampler state of one sequence: the key's scheme, the contexts of its steps (the
/// accepted tokens, and which contexts already occurred), a buffer of per-token values reused
/// across steps, and the generator of the sampling draws of [`CandidateSampler::select`].
///
/// ```
/// use provmark::key::SecretKey;
/// use provmark::scheme::{Kgw, KgwParams};
/// use provmark_c::{CandidateSampler, TokenData};
///
/// let kgw = Kgw::new(&SecretKey::from_bytes([7; 32]), KgwParams::default());
/// let mut s = CandidateSampler::for_kgw(kgw);
/// s.accept(17)?;
/// s.accept(4)?;
/// let mut cands: Vec<TokenData> =
///     (0..100).map(|id| TokenData { id, logit: 0.0, p: 0.0 }).collect();
/// s.apply(&mut cands)?;
/// let green = cands.iter().filter(|c| c.logit == 2.0).count();
/// assert!(green > 5 && green < 50); // about γ = 1/4 of them
/// # Ok::<(), provmark::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct CandidateSampler {
    scheme: Arc<dyn Scheme>,
    /// The KGW view, for the sparse path of `apply`.
    kgw: Option<Kgw>,
    biases: bool,
    steps: GenerationContexts,
    values: Vec<f32>,
    sampler: Sampler,
    rng: ChaCha8Rng,
}

impl CandidateSampler {
    /// A sampler with an empty history for any scheme. `biases` says whether the scheme
    /// watermarks by a logit bias ([`provmark::scheme::SchemeConfig::is_logit_bias`]), so
    /// that [`CandidateSampler::apply`] applies. Sampling draws come from a generator seeded
    /// by the operating system (see [`CandidateSampler::seed`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the operating system's generator fails.
    pub fn new(scheme: Arc<dyn Scheme>, kgw: Option<Kgw>, biases: bool) -> Result<Self> {
        let seed = getrandom::u64()
            .map_err(|e| Error::InvalidInput(format!("operating system RNG: {e}")))?;
        Ok(Self::with_seed(scheme, kgw, biases, seed))
    }

    /// As [`CandidateSampler::new`], for a KGW scheme, with sampling seed 0.
    pub fn for_kgw(kgw: Kgw) -> Self {
        Self::with_seed(Arc::new(kgw.clone()), Some(kgw), true, 0)
    }

    fn with_seed(scheme: Arc<dyn Scheme>, kgw: Option<Kgw>, biases: bool, seed: u64) -> Self {
        CandidateSampler {
            steps: GenerationContexts::new(scheme.as_ref(), &[], 0),
            scheme,
            kgw,
            biases,
            values: Vec::new(),
            // Temperature 1, no truncation: the engine's samplers did that to the candidates.
            sampler: Sampler::default(),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Reseeds the generator of the sampling draws (for reproducible runs).
    pub fn seed(&mut self, seed: u64) {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
    }

    /// Records a token of the sequence (a sampled one, or a prompt token to use as context;
    /// for vllm-* keys, whose contexts hold generated tokens only, accept only those).
    ///
    /// # Errors
    /// [`Error::TokenOutOfRange`] for a negative id or one at or above 2^21.
    pub fn accept(&mut self, token: i32) -> Result<()> {
        self.steps.push(check_id(token, 0)?);
        Ok(())
    }

    /// Forgets the history (a new sequence).
    pub fn reset(&mut self) {
        self.steps = GenerationContexts::new(self.scheme.as_ref(), &[], 0);
    }

    /// The id range of the candidates (checked) and whether they are in identity layout
    /// (`data[i].id == i`, as llama.cpp builds the array before any sampler runs).
    fn scan(candidates: &[TokenData]) -> Result<(usize, bool)> {
        // One pass the compiler can vectorise.
        let (lo, hi, identity) = candidates
            .iter()
            .zip(0i32..)
            .fold((i32::MAX, -1i32, true), |(lo, hi, id), (c, i)| {
                (lo.min(c.id), hi.max(c.id), id & (c.id == i))
            });
        if lo < 0 || hi as usize >= MAX_VOCAB {
            for (i, c) in candidates.iter().enumerate() {
                check_id(c.id, i)?;
            }
        }
        Ok(((hi + 1) as usize, identity))
    }

    /// Adds the bias of a logit-bias scheme to the green candidates of the next step, exactly
    /// as [`Scheme::bias_logits`] does on a full logits vector. Nothing changes while the
    /// context is incomplete. The order of `candidates` is kept.
    ///
    /// # Errors
    /// [`Error::TokenOutOfRange`] for a negative id or one at or above 2^21, and
    /// [`Error::InvalidParameter`] for a scheme that chooses the token itself (use
    /// [`CandidateSampler::select`]); nothing is changed.
    pub fn apply(&mut self, candidates: &mut [TokenData]) -> Result<()> {
        if !self.biases {
            return Err(Error::param(
                "scheme",
                format!(
                    "a {} key chooses the token itself: select with it instead of biasing",
                    self.scheme.name()
                ),
            ));
        }
        let (bound, identity) = Self::scan(candidates)?;
        let Some(context) = self.steps.next_step() else {
            return Ok(());
        };
        if context.len() < self.scheme.context_rule().width {
            return Ok(());
        }
        if let Some(kgw) = &self.kgw {
            if candidates.len().saturating_mul(SPARSE_RATIO) < bound {
                if let Some(seed) = kgw.seed(context)? {
                    let delta = kgw.params().delta();
                    for c in candidates.iter_mut() {
                        if kgw.green_under(&seed, c.id as u32) {
                            c.logit += delta;
                        }
                    }
                }
                return Ok(());
            }
        }
        // Dense: the core's bias runs over a vector of -0.0 (the exact identity of IEEE
        // addition), so green entries become δ and red ones stay -0.0; each candidate then adds
        // its entry, and red logits keep their exact bits (also -0.0, ±inf, NaN).
        if self.values.len() < bound {
            // Grows once to the vocabulary size, then is reused: no allocation per step.
            self.values.resize(bound, -0.0);
        }
        let adds = self.values.get_mut(..bound).unwrap_or_default();
        adds.fill(-0.0);
        self.scheme.bias_logits(context, adds)?;
        if identity {
            for (c, a) in candidates.iter_mut().zip(adds.iter()) {
                c.logit += a;
            }
        } else {
            for c in candidates.iter_mut() {
                c.logit += adds.get(c.id as usize).copied().unwrap_or(-0.0);
            }
        }
        Ok(())
    }

    /// Chooses the next token among `candidates` by their current logits (the engine's
    /// temperature, top-k and top-p already applied; no further processing) with the key's
    /// scheme, and returns its index in `candidates`. Steps the scheme leaves unwatermarked
    /// (an incomplete context; a repeated context under gumbel and the vllm-* schemes) are
    /// ordinary draws. The draw comes from the sampler's own generator. The chosen token is
    /// not recorded: [`CandidateSampler::accept`] it, as llama.cpp does after selecting.
    /// A logit-bias key (kgw, selfhash) selects too, but its δ then lands after the engine's
    /// temperature: the same green lists, a different strength; such keys belong first in the
    /// chain, with [`CandidateSampler::apply`].
    ///
    /// # Errors
    /// [`Error::TokenOutOfRange`] for an id outside `[0, 2^21)`, [`Error::NonFiniteLogit`] for a
    /// NaN or `+inf` logit, [`Error::NoCandidates`] when no candidate has a finite logit.
    pub fn select(&mut self, candidates: &[TokenData]) -> Result<usize> {
        let (bound, _) = Self::scan(candidates)?;
        if candidates.is_empty() {
            return Err(Error::NoCandidates);
        }
        if self.values.len() < bound {
            self.values.resize(bound, f32::NEG_INFINITY);
        }
        let logits = self.values.get_mut(..bound).unwrap_or_default();
        logits.fill(f32::NEG_INFINITY);
        for c in candidates {
            if let Some(l) = logits.get_mut(c.id as usize) {
                // A repeated id keeps its largest logit.
                *l = l.max(c.logit);
            }
            if c.logit.is_nan() || c.logit == f32::INFINITY {
                return Err(Error::NonFiniteLogit {
                    index: c.id as usize,
                });
            }
        }
        let u: f64 = self.rng.random();
        let width = self.scheme.context_rule().width;
        let token = match self.steps.next_step() {
            Some(context) if context.len() >= width => {
                let context = context.get(context.len() - width..).unwrap_or_default();
                self.scheme.sample(context, logits, &mut self.sampler, u)?
            }
            _ => self.sampler.sample(logits, u)?,
        };
        candidates
            .iter()
            .position(|c| c.id as u32 == token)
            .ok_or(Error::NoCandidates)
    }
}

fn check_id(id: i32, position: usize) -> Result<u32> {
    match u32::try_from(id) {
        Ok(v) if (v as usize) < MAX_VOCAB => Ok(v),
        _ => Err(Error::TokenOutOfRange {
            id: id as u32,
            position,
            vocab_size: MAX_VOCAB,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provmark::key::SecretKey;
    use provmark::scheme::KgwParams;

    fn kgw(shift: u32) -> Kgw {
        Kgw::with_shift(&SecretKey::from_bytes([3; 32]), KgwParams::default(), shift)
    }

    /// The candidate path (dense and sparse, any order, truncated) gives the logits the core's
    /// full-vector bias gives, bit for bit, with and without an account shift.
    #[test]
    fn candidates_match_full_vector_bias() {
        for shift in [0, 12_345, (1 << 21) - 3] {
            let k = kgw(shift);
            let history = [5u32, 900, 31];
            let vocab = 49_152usize;
            let mut full: Vec<f32> = (0..vocab).map(|i| (i % 97) as f32 * 0.1 - 3.0).collect();
            let base = full.clone();
            k.bias(&history, &mut full).unwrap();

            let mut s = CandidateSampler::for_kgw(k.clone());
            for &t in &history {
                s.accept(t as i32).unwrap();
            }
            // Dense, in id order (llama.cpp's layout before any sampler runs).
            let mut ordered: Vec<TokenData> = (0..vocab as i32)
                .map(|id| TokenData {
                    id,
                    logit: base[id as usize],
                    p: 0.5,
                })
                .collect();
            s.apply(&mut ordered).unwrap();
            for c in &ordered {
                assert_eq!(c.logit.to_bits(), full[c.id as usize].to_bits());
            }
            // Dense, reversed order.
            let mut dense: Vec<TokenData> = (0..vocab as i32)
                .rev()
                .map(|id| TokenData {
                    id,
                    logit: base[id as usize],
                    p: 0.5,
                })
                .collect();
            s.apply(&mut dense).unwrap();
            for c in &dense {
                assert_eq!(c.logit.to_bits(), full[c.id as usize].to_bits());
                assert_eq!(c.p, 0.5);
            }
            // Sparse: 40 scattered candidates (a top-k 40 array).
            let mut sparse: Vec<TokenData> = (0..40)
                .map(|i| {
                    let id = (i * 1_229 + 7) % vocab as i32;
                    TokenData {
                        id,
                        logit: base[id as usize],
                        p: 0.0,
                    }
                })
                .collect();
            s.apply(&mut sparse).unwrap();
            for c in &sparse {
                assert_eq!(c.logit.to_bits(), full[c.id as usize].to_bits());
            }
        }
    }

    #[test]
    fn short_history_and_bad_ids() {
        let mut s = CandidateSampler::for_kgw(kgw(0));
        let mut c = vec![TokenData {
            id: 3,
            logit: 1.0,
            p: 0.0,
        }];
        s.accept(1).unwrap();
        s.apply(&mut c).unwrap();
        assert_eq!(
            c[0].logit, 1.0,
            "h = 2: one token of history biases nothing"
        );
        assert!(s.accept(-1).is_err());
        assert!(s.accept(1 << 21).is_err());
        s.accept(2).unwrap();
        let mut bad = vec![
            TokenData {
                id: 3,
                logit: 1.0,
                p: 0.0,
            },
            TokenData {
                id: -5,
                logit: 1.0,
                p: 0.0,
            },
        ];
        let before = bad.clone();
        assert!(matches!(
            s.apply(&mut bad),
            Err(Error::TokenOutOfRange { position: 1, .. })
        ));
        assert_eq!(bad, before, "nothing changes on error");
        s.reset();
        let mut after = vec![TokenData {
            id: 3,
            logit: 1.0,
            p: 0.0,
        }];
        s.apply(&mut after).unwrap();
        assert_eq!(after[0].logit, 1.0, "reset forgets the history");
    }
}
