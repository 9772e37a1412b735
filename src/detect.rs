//! The detector side of KGW: score token ids under a key and test for the watermark.
//!
//! Each position with a full context of `h` preceding tokens yields a *(context, token)* tuple.
//! Under the null hypothesis (text written without the key) each **distinct** tuple is green
//! with probability exactly γ, independently of the others, so the number of green tuples among
//! `n` scored is `Binomial(n, γ)` and the p-value `P[X ≥ green]` is exact
//! ([`crate::stats::binomial_sf_ln`]). Repeated tuples are not independent draws, so by default
//! each is scored once ([`DetectorConfig::dedup`]).
//!
//! ```
//! use provmark::{detect::{Detector, DetectorConfig, Verdict}, key::SecretKey, scheme::KgwParams};
//! let det = Detector::new(&SecretKey::from_bytes([9; 32]), KgwParams::default(), 50_000,
//!                         DetectorConfig::default())?;
//! let ids: Vec<u32> = (0..300).map(|i| (i * 7919) % 50_000).collect();
//! let report = det.detect(&ids)?;
//! assert_eq!(report.tokens, 300);
//! assert_eq!(report.scored, 298); // h = 2: the first two tokens have no full context
//! assert_ne!(report.verdict, Verdict::Watermarked); // with probability 1 − 1e-6
//! # Ok::<(), provmark::Error>(())
//! ```

use crate::fingerprint::{FingerprintSet, TUPLE_DOMAIN, fingerprint};
use crate::key::{KeyId, SecretKey};
use crate::scheme::{Kgw, KgwParams};
use crate::stats;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Detection settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectorConfig {
    /// Significance level: the verdict is `watermarked` when `p ≤ alpha`. Default 1e-6.
    pub alpha: f64,
    /// Score each distinct (context, token) tuple once. Default `true`.
    pub dedup: bool,
    /// Fewer scored tuples than this gives the verdict `insufficient`. Default 16.
    pub min_scored: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            alpha: 1e-6,
            dedup: true,
            min_scored: 16,
        }
    }
}

impl DetectorConfig {
    /// Checks that `alpha` is in `(0, 1)`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] otherwise.
    pub fn validate(&self) -> Result<()> {
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(Error::param("alpha", "must be strictly between 0 and 1"));
        }
        Ok(())
    }
}

/// The decision at the configured significance level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// `p ≤ α`: the text carries this key's watermark.
    Watermarked,
    /// `p > α` with enough tokens scored.
    NotWatermarked,
    /// Fewer than [`DetectorConfig::min_scored`] tuples were scored.
    Insufficient,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Watermarked => "watermarked",
            Verdict::NotWatermarked => "not_watermarked",
            Verdict::Insufficient => "insufficient",
        })
    }
}

/// What happened to one token, for visualisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenFlag {
    /// Scored, and in the green list.
    Green,
    /// Scored, and not in the green list.
    Red,
    /// Its (context, token) tuple was already scored; not counted again.
    Repeated,
    /// Fewer than `h` tokens precede it; not scored.
    NoContext,
}

/// The result of a detection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Tokens seen.
    pub tokens: usize,
    /// Tuples scored (after dedup).
    pub scored: usize,
    /// Green among the scored.
    pub green: usize,
    /// The exact green probability under the null.
    pub gamma: f64,
    /// `(green − γ n) / sqrt(n γ (1 − γ))`; secondary to the p-value.
    pub z_score: f64,
    /// `P[X ≥ green]`, `X ~ Binomial(scored, γ)`; 0 when it underflows (see `log10_p_value`).
    pub p_value: f64,
    /// `log10` of the p-value, finite even when `p_value` underflows.
    pub log10_p_value: f64,
    /// The decision.
    pub verdict: Verdict,
    /// One flag per token.
    pub flags: Vec<TokenFlag>,
}

/// Computes the statistics of `green` out of `scored` tuples at green probability `gamma`.
pub(crate) fn summarize(
    scored: usize,
    green: usize,
    gamma: f64,
    config: &DetectorConfig,
) -> Result<(f64, f64, f64, Verdict)> {
    let ln_p = stats::binomial_sf_ln(green as u64, scored as u64, gamma)?;
    let log10_p = ln_p / std::f64::consts::LN_10;
    let z = stats::z_score(green as u64, scored as u64, gamma);
    let verdict = if scored < config.min_scored {
        Verdict::Insufficient
    } else if ln_p <= config.alpha.ln() {
        Verdict::Watermarked
    } else {
        Verdict::NotWatermarked
    };
    Ok((z, ln_p.exp(), log10_p, verdict))
}

/// A keyed detector for one vocabulary. `Send + Sync`; reuse it across inputs.
#[derive(Clone, Debug)]
pub struct Detector {
    kgw: Kgw,
    key_id: KeyId,
    vocab_size: usize,
    config: DetectorConfig,
}

impl Detector {
    /// A detector for `key` and `params`, accepting token ids below `vocab_size`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a bad config or a vocabulary larger than 2^21.
    pub fn new(
        key: &SecretKey,
        params: KgwParams,
        vocab_size: usize,
        config: DetectorConfig,
    ) -> Result<Self> {
        Self::for_scheme(Kgw::new(key, params), key.key_id(), vocab_size, config)
    }

    /// A detector for a keyed scheme (for example a shifted per-account [`Kgw`]), reporting
    /// `key_id`.
    ///
    /// # Errors
    /// As [`Detector::new`].
    pub fn for_scheme(
        kgw: Kgw,
        key_id: KeyId,
        vocab_size: usize,
        config: DetectorConfig,
    ) -> Result<Self> {
        config.validate()?;
        if vocab_size == 0 || vocab_size > crate::prf::MAX_VOCAB {
            return Err(Error::param("vocab_size", "must be between 1 and 2^21"));
        }
        Ok(Detector {
            kgw,
            key_id,
            vocab_size,
            config,
        })
    }

    /// The public id of the key this detector tests for.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The settings.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// The scheme's parameters.
    pub fn params(&self) -> &KgwParams {
        self.kgw.params()
    }

    /// Scores a whole token sequence.
    ///
    /// # Errors
    /// [`Error::TokenOutOfRange`] for an id at or above the vocabulary size (nothing is scored).
    pub fn detect(&self, tokens: &[u32]) -> Result<Detection> {
        let mut s = self.scorer();
        s.feed(tokens)?;
        s.finish()
    }

    /// An incremental scorer: feed tokens in any chunks, read the result at the end. Feeding in
    /// chunks gives exactly the same result as one call to [`Detector::detect`].
    pub fn scorer(&self) -> Scorer<'_> {
        Scorer {
            det: self,
            history: crate::scheme::StreamState::default(),
            seen: FingerprintSet::default(),
            tokens: 0,
            scored: 0,
            green: 0,
            flags: Vec::new(),
        }
    }
}

/// Incremental scoring state of one text (see [`Detector::scorer`]).
#[derive(Debug)]
pub struct Scorer<'d> {
    det: &'d Detector,
    history: crate::scheme::StreamState,
    seen: FingerprintSet,
    tokens: usize,
    scored: usize,
    green: usize,
    flags: Vec<TokenFlag>,
}

impl Scorer<'_> {
    /// Scores the next tokens. On error nothing of this chunk is consumed.
    ///
    /// # Errors
    /// [`Error::TokenOutOfRange`] for an id outside the vocabulary (position counted from the
    /// start of the whole input).
    pub fn feed(&mut self, tokens: &[u32]) -> Result<()> {
        let vocab = self.det.vocab_size;
        crate::check_token_ids(tokens, vocab, self.tokens)?;
        let kgw = &self.det.kgw;
        self.flags.reserve(tokens.len());
        for &tok in tokens {
            let flag = match kgw.context_of(self.history.history()) {
                None => TokenFlag::NoContext,
                // Dedup on the tokens themselves, before any keyed work.
                Some(ctx)
                    if self.det.config.dedup
                        && !self.seen.insert(fingerprint(TUPLE_DOMAIN, ctx, Some(tok))) =>
                {
                    TokenFlag::Repeated
                }
                Some(ctx) => {
                    self.scored += 1;
                    let seed = kgw.prf_seed(ctx)?;
                    if kgw.green_under(&seed, tok) {
                        self.green += 1;
                        TokenFlag::Green
                    } else {
                        TokenFlag::Red
                    }
                }
            };
            self.flags.push(flag);
            self.history.push(tok);
            self.tokens += 1;
        }
        Ok(())
    }

    /// Running counts: `(tokens seen, tuples scored, green)`.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.tokens, self.scored, self.green)
    }

    /// The result so far.
    ///
    /// # Errors
    /// [`Error::Numerical`] if the tail computation fails (not observed in practice).
    pub fn finish(self) -> Result<Detection> {
        let gamma = self.det.params().gamma();
        let (z_score, p_value, log10_p_value, verdict) =
            summarize(self.scored, self.green, gamma, &self.det.config)?;
        Ok(Detection {
            tokens: self.tokens,
            scored: self.scored,
            green: self.green,
            gamma,
            z_score,
            p_value,
            log10_p_value,
            verdict,
            flags: self.flags,
        })
    }
}

/// Parses a JSON array of token ids, e.g. `[464, 3290, 318]`.
///
/// # Errors
/// [`Error::InvalidInput`] when the text is not a JSON array of integers in `0 ..= 2^32 − 1`.
///
/// ```
/// assert_eq!(provmark::detect::parse_token_ids("[1, 2, 3]")?, vec![1, 2, 3]);
/// assert!(provmark::detect::parse_token_ids("[1, -2]").is_err());
/// # Ok::<(), provmark::Error>(())
/// ```
pub fn parse_token_ids(text: &str) -> Result<Vec<u32>> {
    serde_json::from_str::<Vec<u32>>(text).map_err(|e| {
        Error::InvalidInput(format!(
            "expected a JSON array of token ids (integers 0 to 4294967295): {e}"
        ))
    })
}

/// A p-value from its log10, readable at any magnitude (`3.2e-45`).
pub fn format_p(log10_p: f64) -> String {
    if log10_p > -4.0 {
        format!("{:.4}", 10f64.powf(log10_p))
    } else {
        let e = log10_p.floor();
        format!("{:.2}e{}", 10f64.powf(log10_p - e), e)
    }
}
