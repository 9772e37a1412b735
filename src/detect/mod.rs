//! The detector side: score token ids under a key and test for the watermark.
//!
//! Three tests read the same scores: the fixed-length test over the whole text (here), a
//! windowed scan that finds a watermarked span inside human text ([`window`]), and an
//! anytime-valid sequential test for streams ([`sequential`]).
//!
//! Each position with a full context of `h` preceding tokens yields a *(context, token)* tuple.
//! Under the null hypothesis (text written without the key) each **distinct** tuple is green
//! with probability exactly γ, independently of the others, so the number of green tuples among
//! `n` scored is `Binomial(n, γ)` and the p-value `P[X ≥ green]` is exact
//! ([`crate::stats::binomial_sf_ln`]). Repeated tuples are not independent draws, so by default
//! each is scored once ([`DetectorConfig::dedup`]).
//!
//! ```
//! use provmark::detect::{Detector, DetectorConfig, Verdict};
//! use provmark::key::{KeyFile, SecretKey};
//! use provmark::scheme::{KgwParams, SchemeConfig};
//! let key = KeyFile {
//!     secret: SecretKey::from_bytes([9; 32]),
//!     scheme: SchemeConfig::kgw(KgwParams::default()),
//!     tokenizer: Default::default(),
//!     account: None,
//!     normalization: Default::default(),
//!     validity: Default::default(),
//!     coded: None,
//! };
//! let det = Detector::new(&key, 50_000, DetectorConfig::default())?;
//! let ids: Vec<u32> = (0..300).map(|i| (i * 7919) % 50_000).collect();
//! let report = det.detect(&ids)?;
//! assert_eq!(report.tokens, 300);
//! assert_eq!(report.scored, 298); // h = 2: the first two tokens have no full context
//! assert_ne!(report.verdict, Verdict::Watermarked); // with probability 1 − 1e-6
//! # Ok::<(), provmark::Error>(())
//! ```

use crate::fingerprint::{CONTEXT_DOMAIN, FingerprintSet, TUPLE_DOMAIN, fingerprint};
use crate::key::{KeyFile, KeyId};
use crate::scheme::{ContextRule, DedupKey, Scheme};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub mod rotation;
pub mod sequential;
pub mod window;

pub use rotation::{Rotation, RotationDetection, RotationKey};
pub use sequential::{EProcess, SequentialDetection};
pub use window::{Localization, Span, WindowConfig};

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
    /// The scheme tested for (`"kgw"`, `"vllm-gumbel"`, …).
    pub scheme: String,
    /// Tokens seen.
    pub tokens: usize,
    /// Positions scored (after dedup).
    pub scored: usize,
    /// The test statistic: the sum of the scored positions' scores (the green count for
    /// counting schemes, `Σ −ln(1 − u)` for Gumbel schemes).
    pub score: f64,
    /// Scored positions shown as green: green tokens for counting schemes; for Gumbel schemes,
    /// positions whose score exceeds its null median (a display cue, not the test).
    pub green: usize,
    /// The null probability that a scored position is green (γ; ½ for Gumbel schemes).
    pub gamma: f64,
    /// The standardised statistic `(score − n μ) / sqrt(n σ²)`; secondary to the p-value.
    pub z_score: f64,
    /// `P[S ≥ score]` under the null; 0 when it underflows (see `log10_p_value`).
    pub p_value: f64,
    /// `log10` of the p-value, finite even when `p_value` underflows.
    pub log10_p_value: f64,
    /// `log10` of the exact p-value where `p_value` is not exact: vLLM's dual-key p-value
    /// (α ∉ {0, ½, 1}) is vLLM's moment-matched approximation, reported for compatibility;
    /// this is the exact tail, and the verdict uses it. Absent (`None`) for every other scheme.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact_log10_p_value: Option<f64>,
    /// The decision.
    pub verdict: Verdict,
    /// One flag per token.
    pub flags: Vec<TokenFlag>,
    /// The scored positions in order, with their scores: what the windowed and sequential
    /// tests read. Not serialised (the flags and totals are the report).
    #[serde(skip)]
    pub scored_positions: Vec<ScoredPosition>,
}

/// One scored position of a [`Detection`]: the token's index in the input and its score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoredPosition {
    /// Index of the token in the input sequence.
    pub token: usize,
    /// Its score under the key (0/1 for counting schemes).
    pub score: f64,
}

/// The decision for a log p-value at the configured level.
pub(crate) fn decide(scored: usize, ln_p: f64, config: &DetectorConfig) -> Verdict {
    if scored < config.min_scored {
        Verdict::Insufficient
    } else if ln_p <= config.alpha.ln() {
        Verdict::Watermarked
    } else {
        Verdict::NotWatermarked
    }
}

/// A keyed detector for one vocabulary, for any [`Scheme`]. `Send + Sync`; reuse it across
/// inputs.
#[derive(Clone, Debug)]
pub struct Detector {
    scheme: Arc<dyn Scheme>,
    key_id: KeyId,
    vocab_size: usize,
    config: DetectorConfig,
}

impl Detector {
    /// A detector for the watermark a key file describes (its scheme, parameters, shift and
    /// secret together), accepting token ids below `vocab_size`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a bad config or a vocabulary larger than 2^21.
    pub fn new(key: &KeyFile, vocab_size: usize, config: DetectorConfig) -> Result<Self> {
        Self::shared(key.scheme(), key.key_id(), vocab_size, config)
    }

    /// A detector for a keyed scheme (for example a shifted per-account [`crate::scheme::Kgw`]),
    /// reporting `key_id`.
    ///
    /// # Errors
    /// As [`Detector::new`].
    pub fn for_scheme(
        scheme: impl Scheme + 'static,
        key_id: KeyId,
        vocab_size: usize,
        config: DetectorConfig,
    ) -> Result<Self> {
        Self::shared(Arc::new(scheme), key_id, vocab_size, config)
    }

    /// As [`Detector::for_scheme`], for a scheme shared with other detectors or samplers.
    ///
    /// # Errors
    /// As [`Detector::new`].
    pub fn shared(
        scheme: Arc<dyn Scheme>,
        key_id: KeyId,
        vocab_size: usize,
        config: DetectorConfig,
    ) -> Result<Self> {
        config.validate()?;
        if vocab_size == 0 || vocab_size > crate::prf::MAX_VOCAB {
            return Err(Error::param("vocab_size", "must be between 1 and 2^21"));
        }
        Ok(Detector {
            scheme,
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

    /// The keyed scheme.
    pub fn scheme(&self) -> &dyn Scheme {
        self.scheme.as_ref()
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
        let rule = self.scheme.context_rule();
        let mut window = Vec::with_capacity(rule.width + 1);
        if let Some(pad) = rule.pad {
            window.resize(rule.width, pad);
        }
        Scorer {
            det: self,
            rule,
            dedup_key: self.scheme.dedup_key(),
            green_above: self.scheme.null().green_above(),
            window,
            seen: FingerprintSet::default(),
            tokens: 0,
            scored: 0,
            score: 0.0,
            green: 0,
            flags: Vec::new(),
            scored_positions: Vec::new(),
        }
    }
}

/// Incremental scoring state of one text (see [`Detector::scorer`]).
#[derive(Debug)]
pub struct Scorer<'d> {
    det: &'d Detector,
    rule: ContextRule,
    dedup_key: DedupKey,
    green_above: f64,
    /// The last `width` tokens (padded at the start when the rule pads).
    window: Vec<u32>,
    seen: FingerprintSet,
    tokens: usize,
    scored: usize,
    score: f64,
    green: usize,
    flags: Vec<TokenFlag>,
    scored_positions: Vec<ScoredPosition>,
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
        let scheme = self.det.scheme.as_ref();
        let width = self.rule.width;
        self.flags.reserve(tokens.len());
        self.scored_positions.reserve(tokens.len());
        if self.det.config.dedup {
            // One growth for the whole chunk instead of a rehash at every doubling.
            self.seen.reserve(tokens.len());
        }
        for &tok in tokens {
            let flag = if self.window.len() < width {
                TokenFlag::NoContext
            } else {
                let ctx = self.window.as_slice();
                // Dedup on the tokens themselves, before any keyed work.
                let fresh = !self.det.config.dedup
                    || match self.dedup_key {
                        DedupKey::Tuple => {
                            self.seen.insert(fingerprint(TUPLE_DOMAIN, ctx, Some(tok)))
                        }
                        DedupKey::Context => {
                            self.seen.insert(fingerprint(CONTEXT_DOMAIN, ctx, None))
                        }
                        DedupKey::Keyed => self.seen.insert(scheme.keyed_fingerprint(ctx, tok)?),
                    };
                if fresh {
                    let s = scheme.score(ctx, tok)?;
                    self.scored_positions.push(ScoredPosition {
                        token: self.tokens,
                        score: s,
                    });
                    self.scored += 1;
                    self.score += s;
                    if s > self.green_above {
                        self.green += 1;
                        TokenFlag::Green
                    } else {
                        TokenFlag::Red
                    }
                } else {
                    TokenFlag::Repeated
                }
            };
            self.flags.push(flag);
            if width > 0 {
                if self.window.len() == width {
                    self.window.remove(0);
                }
                self.window.push(tok);
            }
            self.tokens += 1;
        }
        Ok(())
    }

    /// The positions scored so far, in order.
    pub fn scored_positions(&self) -> &[ScoredPosition] {
        &self.scored_positions
    }

    /// Running counts: `(tokens seen, positions scored, green)`.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.tokens, self.scored, self.green)
    }

    /// The result so far.
    ///
    /// # Errors
    /// [`Error::Numerical`] if the tail computation fails (not observed in practice).
    pub fn finish(self) -> Result<Detection> {
        let null = self.det.scheme.null();
        let ln_p = null.tail_ln(self.scored, self.score)?;
        let exact_ln_p = null.exact_tail_ln(self.scored, self.score)?;
        Ok(Detection {
            scheme: self.det.scheme.name().to_string(),
            tokens: self.tokens,
            scored: self.scored,
            score: self.score,
            green: self.green,
            gamma: null.green_probability(),
            z_score: null.z_score(self.scored, self.score),
            p_value: ln_p.exp(),
            log10_p_value: ln_p / std::f64::consts::LN_10,
            exact_log10_p_value: (!null.is_exact()).then_some(exact_ln_p / std::f64::consts::LN_10),
            verdict: decide(self.scored, exact_ln_p, &self.det.config),
            flags: self.flags,
            scored_positions: self.scored_positions,
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

/// A p-value from its log10, readable at any magnitude (`3.20e-45`), with a mantissa in
/// `[1, 10)` after rounding.
///
/// ```
/// use provmark::detect::format_p;
/// assert_eq!(format_p(-44.49485), "3.20e-45");
/// assert_eq!(format_p(-16.000000001), "1.00e-16"); // not "10.00e-17"
/// assert_eq!(format_p(-1000.0), "1.00e-1000");
/// assert_eq!(format_p(-0.30103), "0.5000");
/// ```
pub fn format_p(log10_p: f64) -> String {
    if log10_p > -4.0 {
        format!("{:.4}", 10f64.powf(log10_p))
    } else {
        let mut e = log10_p.floor();
        let mut m = 10f64.powf(log10_p - e);
        if m >= 9.995 {
            m /= 10.0;
            e += 1.0;
        }
        format!("{m:.2}e{e}")
    }
}
