//! The candidate sampler: the KGW bias applied to an array of `{id, logit, p}` candidates (the
//! layout of llama.cpp's `llama_token_data`), which may be the whole vocabulary in any order,
//! or a truncated, sorted subset.

use provmark::prf::MAX_VOCAB;
use provmark::scheme::{Kgw, StreamState};
use provmark::{Error, Result};

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

/// The sampler state of one sequence: the key's scheme, the recent history (at most 8 tokens,
/// enough for any context width), and a buffer of per-token bias values reused across steps.
///
/// ```
/// use provmark::key::SecretKey;
/// use provmark::scheme::{Kgw, KgwParams};
/// use provmark_c::{CandidateSampler, TokenData};
///
/// let kgw = Kgw::new(&SecretKey::from_bytes([7; 32]), KgwParams::default());
/// let mut s = CandidateSampler::new(kgw);
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
    kgw: Kgw,
    history: StreamState,
    adds: Vec<f32>,
}

impl CandidateSampler {
    /// A sampler with an empty history.
    pub fn new(kgw: Kgw) -> Self {
        CandidateSampler {
            kgw,
            history: StreamState::default(),
            adds: Vec::new(),
        }
    }

    /// Records a token of the sequence (a sampled one, or a prompt token to use as context).
    ///
    /// # Errors
    /// [`Error::TokenOutOfRange`] for a negative id or one at or above 2^21.
    pub fn accept(&mut self, token: i32) -> Result<()> {
        self.history.push(check_id(token, 0)?);
        Ok(())
    }

    /// Forgets the history (a new sequence).
    pub fn reset(&mut self) {
        self.history = StreamState::default();
    }

    /// The remembered tokens, oldest first.
    pub fn history(&self) -> &[u32] {
        self.history.history()
    }

    /// Adds δ to the logits of the green candidates of the next step, exactly as
    /// [`Kgw::bias`] does on a full logits vector. Nothing changes while fewer than `h` tokens
    /// have been accepted. The order of `candidates` is kept.
    ///
    /// # Errors
    /// [`Error::TokenOutOfRange`] for a negative id or one at or above 2^21; nothing is changed.
    pub fn apply(&mut self, candidates: &mut [TokenData]) -> Result<()> {
        let history = self.history.history();
        if self.kgw.context_of(history).is_none() {
            return Ok(());
        }
        // One pass the compiler can vectorise: the id range, and whether the array is the
        // identity layout (data[i].id == i, as llama.cpp builds it before any sampler runs).
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
        let bound = (hi + 1) as usize;
        if candidates.len().saturating_mul(SPARSE_RATIO) < bound {
            if let Some(seed) = self.kgw.seed(history)? {
                let delta = self.kgw.params().delta();
                for c in candidates.iter_mut() {
                    if self.kgw.green_under(&seed, c.id as u32) {
                        c.logit += delta;
                    }
                }
            }
            return Ok(());
        }
        // Dense: the core's own branch-free bias runs over a vector of -0.0 (the exact identity
        // of IEEE addition), so green entries become δ and red ones stay -0.0; each candidate
        // then adds its entry, and red logits keep their exact bits (also -0.0, ±inf, NaN).
        // A per-candidate green test would be a branch on a coin flip, which costs ~5x more.
        if self.adds.len() < bound {
            // Grows once to the vocabulary size, then is reused: no allocation per step.
            self.adds.resize(bound, -0.0);
        }
        let adds = self.adds.get_mut(..bound).unwrap_or_default();
        adds.fill(-0.0);
        self.kgw.bias(history, adds)?;
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

            let mut s = CandidateSampler::new(k.clone());
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
        let mut s = CandidateSampler::new(kgw(0));
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
        assert!(s.history().is_empty());
    }
}
