//! Sequential detection: a test that may be checked after every token and stopped at any time.
//!
//! Checking the fixed-length p-value after every token and stopping at the first `p ≤ α`
//! inflates the false-alarm rate far above α. An *e-process* does not: [`EProcess`] is a
//! nonnegative test martingale `M_t` on the scored positions with `M_0 = 1` and
//! `E[M_t | past] = M_{t−1}` under the null, so by Ville's inequality
//! `P[M_t ≥ 1/α for some t] ≤ α` — however long the stream runs and whenever it is read.
//!
//! **Construction.** Every scheme's per-position score `s` is nonnegative with a known null mean
//! `μ` ([`NullModel::moments`]), and under the null each distinct scored tuple's score is
//! independent of the past. For a bet `λ ∈ [0, 1)` the factor `1 + λ (s/μ − 1)` is positive and
//! has null mean 1, so the running product is a test martingale. The e-process is the average
//! of such products over a fixed grid of bets ([`BETS`]); an average of test martingales is one,
//! and it grows nearly as fast as the best bet in hindsight (it loses at most `ln |BETS|` in
//! `ln M`). Repeated tuples are skipped, as in the fixed-length test.
//!
//! ```
//! use provmark::detect::EProcess;
//! use provmark::scheme::NullModel;
//! let mut e = EProcess::new(NullModel::Bernoulli { p: 0.25 }, 1e-6)?;
//! // Every position green: the wealth multiplies by up to 1 + 3 λ per position.
//! let mut crossed = None;
//! for t in 0..100 {
//!     if e.update(1.0) {
//!         crossed = Some(t);
//!         break;
//!     }
//! }
//! assert!(crossed.unwrap() < 20);
//! # Ok::<(), provmark::Error>(())
//! ```

use super::{Detector, ScoredPosition, Scorer};
use crate::scheme::NullModel;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The bets `λ` the e-process mixes, uniformly weighted: small bets for weak watermarks over
/// long streams, large ones for strong watermarks crossing in a few dozen tokens.
pub const BETS: [f64; 8] = [0.02, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8];

/// An anytime-valid test on a stream of per-position scores (see the module documentation).
#[derive(Clone, Debug)]
pub struct EProcess {
    mean: f64,
    ln_threshold: f64,
    /// `ln` of each bet's running product.
    ln_wealth: [f64; BETS.len()],
    updates: usize,
    crossed_after: Option<usize>,
}

impl EProcess {
    /// An e-process for scores with this null, rejecting when the e-value reaches `1/alpha`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `alpha` is not in `(0, 1)` or the null mean is not
    /// positive.
    pub fn new(null: NullModel, alpha: f64) -> Result<Self> {
        if !(alpha > 0.0 && alpha < 1.0) {
            return Err(Error::param("alpha", "must be strictly between 0 and 1"));
        }
        let (mean, _) = null.moments();
        if !(mean > 0.0 && mean.is_finite()) {
            return Err(Error::param("null", "needs a positive mean score"));
        }
        Ok(EProcess {
            mean,
            ln_threshold: -alpha.ln(),
            ln_wealth: [0.0; BETS.len()],
            updates: 0,
            crossed_after: None,
        })
    }

    /// Adds one scored position; returns whether the e-value has reached `1/alpha` (now or
    /// before). Scores below 0 (impossible for every scheme) count as 0.
    pub fn update(&mut self, score: f64) -> bool {
        let ratio = score.max(0.0) / self.mean - 1.0;
        for (w, &lambda) in self.ln_wealth.iter_mut().zip(&BETS) {
            *w += (lambda * ratio).ln_1p();
        }
        self.updates += 1;
        if self.crossed_after.is_none() && self.ln_e_value() >= self.ln_threshold {
            self.crossed_after = Some(self.updates);
        }
        self.crossed_after.is_some()
    }

    /// Adds scored positions in order; returns the index of the token at which the e-value
    /// first reached `1/alpha`, if that happened during this call.
    pub fn update_positions(&mut self, positions: &[ScoredPosition]) -> Option<usize> {
        let before = self.crossed_after.is_some();
        let mut at = None;
        for p in positions {
            if self.update(p.score) && !before && at.is_none() {
                at = Some(p.token);
            }
        }
        at
    }

    /// `ln` of the current e-value (the mixture's wealth); 0 before any update.
    pub fn ln_e_value(&self) -> f64 {
        let max = self
            .ln_wealth
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = self.ln_wealth.iter().map(|w| (w - max).exp()).sum();
        max + (sum / BETS.len() as f64).ln()
    }

    /// The number of scored positions after which the e-value first reached `1/alpha`.
    pub fn crossed_after(&self) -> Option<usize> {
        self.crossed_after
    }

    /// Scored positions seen.
    pub fn updates(&self) -> usize {
        self.updates
    }

    /// `log10` of an anytime-valid p-value: `min(1, 1 / max_t M_t)` is one, and so is
    /// `min(1, 1/M_t)` at any stopping time. This is the current one.
    pub fn log10_p_value(&self) -> f64 {
        (-self.ln_e_value()).min(0.0) / std::f64::consts::LN_10
    }
}

/// Where a stream stands under the sequential test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SequentialDetection {
    /// Tokens seen.
    pub tokens: usize,
    /// Positions scored.
    pub scored: usize,
    /// `log10` of the current e-value.
    pub log10_e_value: f64,
    /// The index of the token at which the e-value first reached `1/alpha`, if it has.
    pub crossed_at_token: Option<usize>,
    /// Scored positions up to and including that token.
    pub crossed_after_scored: Option<usize>,
}

/// A [`Scorer`] with an [`EProcess`] on its scores: feed a stream in chunks and read after every
/// chunk whether the watermark is established, at level α for the whole stream.
#[derive(Debug)]
pub struct SequentialScorer<'d> {
    scorer: Scorer<'d>,
    eprocess: EProcess,
    crossed_at_token: Option<usize>,
}

impl Detector {
    /// A sequential scorer at the detector's α (see [`sequential`](crate::detect::sequential)).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when the scheme's null has no positive mean (none does).
    pub fn sequential(&self) -> Result<SequentialScorer<'_>> {
        Ok(SequentialScorer {
            scorer: self.scorer(),
            eprocess: EProcess::new(self.scheme().null(), self.config().alpha)?,
            crossed_at_token: None,
        })
    }
}

impl SequentialScorer<'_> {
    /// Scores the next tokens and updates the e-process; returns whether it has crossed.
    ///
    /// # Errors
    /// As [`Scorer::feed`].
    pub fn feed(&mut self, tokens: &[u32]) -> Result<bool> {
        let before = self.scorer.scored_positions().len();
        self.scorer.feed(tokens)?;
        let fresh = &self.scorer.scored_positions()[before..];
        if let Some(t) = self.eprocess.update_positions(fresh) {
            self.crossed_at_token = Some(t);
        }
        Ok(self.crossed_at_token.is_some())
    }

    /// The e-process.
    pub fn eprocess(&self) -> &EProcess {
        &self.eprocess
    }

    /// The state so far.
    pub fn state(&self) -> SequentialDetection {
        let (tokens, scored, _) = self.scorer.counts();
        SequentialDetection {
            tokens,
            scored,
            log10_e_value: self.eprocess.ln_e_value() / std::f64::consts::LN_10,
            crossed_at_token: self.crossed_at_token,
            crossed_after_scored: self.eprocess.crossed_after(),
        }
    }

    /// The fixed-length detection of everything fed (the sequential state is in
    /// [`SequentialScorer::state`]).
    ///
    /// # Errors
    /// As [`Scorer::finish`].
    pub fn finish(self) -> Result<super::Detection> {
        self.scorer.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each factor has null mean exactly 1, for every null and bet.
    #[test]
    fn factors_have_mean_one() {
        for (null, support) in [
            (
                NullModel::Bernoulli { p: 0.25 },
                vec![(0.0, 0.75), (1.0, 0.25)],
            ),
            (
                NullModel::Bernoulli { p: 0.5 },
                vec![(0.0, 0.5), (1.0, 0.5)],
            ),
            (
                NullModel::FairBits { per_token: 2 },
                vec![(0.0, 0.25), (1.0, 0.5), (2.0, 0.25)],
            ),
        ] {
            let (mu, _) = null.moments();
            for &lambda in &BETS {
                let m: f64 = support
                    .iter()
                    .map(|&(s, p)| p * (1.0 + lambda * (s / mu - 1.0)))
                    .sum();
                assert!((m - 1.0).abs() < 1e-15);
            }
        }
    }

    #[test]
    fn alpha_is_checked() {
        for a in [0.0, 1.0, -1.0, f64::NAN] {
            assert!(EProcess::new(NullModel::Exponential, a).is_err());
        }
    }
}
