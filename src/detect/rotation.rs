//! Keys rotated per request, and the "exactly one key fires" test that makes stolen green
//! lists useless for spoofing.
//!
//! An account holds `R` keys; the server watermarks each answer under one of them, chosen at
//! random per request ([`Rotation::choose`]). An attacker who estimates green lists from the
//! account's answers (Jovanović et al. 2024) then counts a mixture of `R` green lists, and
//! text biased toward that mixture raises every key a little and none clearly. Genuine text
//! raises exactly one. The test ([`Rotation::detect`]):
//!
//! * each key's exact p-value `p_r`, as [`Detector::detect`] computes it;
//! * **watermarked** when exactly one key has `p_r ≤ α / R` (Bonferroni over the keys) and
//!   every other key has `p_r > quiet` (default 1e-3).
//!
//! Under the null (text written without any of the keys) the false-positive rate is at most
//! α: some key must reach `α / R`. On genuine text of key `r`, the other keys are independent
//! of it, so each is above `quiet` except with probability at most `quiet`: the rule costs at
//! most `(R − 1) · quiet` of power against a single-key test at `α / R`. Measured against the
//! stealing attacker in `provmark eval --stealing` (README, "Stealing and spoofing").
//!
//! ```
//! use provmark::detect::{DetectorConfig, Rotation, Verdict};
//! use provmark::key::{KeyFile, SecretKey};
//! use provmark::scheme::{KgwParams, SchemeConfig};
//! let keys: Vec<KeyFile> = (1..=4u8)
//!     .map(|b| KeyFile {
//!         secret: SecretKey::from_bytes([b; 32]),
//!         scheme: SchemeConfig::kgw(KgwParams::default()),
//!         tokenizer: Default::default(),
//!         account: None,
//!         normalization: Default::default(),
//!         validity: Default::default(),
//!         coded: None,
//!     })
//!     .collect();
//! let rotation = Rotation::new(&keys, 50_000, DetectorConfig::default())?;
//! // The server picks one key per request from a uniform draw.
//! assert!(rotation.choose(0.7) < 4);
//! let ids: Vec<u32> = (0..300).map(|i| (i * 7919) % 50_000).collect();
//! let d = rotation.detect(&ids)?;
//! assert_eq!(d.keys.len(), 4);
//! assert_ne!(d.verdict, Verdict::Watermarked); // unwatermarked: with probability ≥ 1 − 1e-6
//! # Ok::<(), provmark::Error>(())
//! ```

use super::{Detection, Detector, DetectorConfig, Verdict};
use crate::key::{KeyFile, KeyId};
use crate::{Error, Result};
use serde::Serialize;

/// The default `quiet` level: every key but the one that fires must have a p-value above it.
pub const DEFAULT_QUIET: f64 = 1e-3;

/// The keys of one rotation, and the test over them (see the module docs).
#[derive(Clone, Debug)]
pub struct Rotation {
    detectors: Vec<Detector>,
    alpha: f64,
    quiet: f64,
}

/// One key's result within a [`RotationDetection`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RotationKey {
    /// The key's id.
    pub key_id: KeyId,
    /// Its exact log10 p-value on the text.
    pub log10_p_value: f64,
}

/// The result of [`Rotation::detect`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RotationDetection {
    /// Every key's p-value, in the rotation's order.
    pub keys: Vec<RotationKey>,
    /// The index of the key that fired (the only one at `α / R`, every other above `quiet`).
    pub fired: Option<usize>,
    /// The index of the strongest key (smallest p-value).
    pub strongest: usize,
    /// The strongest key's log10 p-value, Bonferroni-corrected over the `R` keys.
    pub corrected_log10_p_value: f64,
    /// Keys at `α / R`.
    pub significant: usize,
    /// Keys at or below `quiet` (the firing one included).
    pub not_quiet: usize,
    /// `watermarked` when a key fired; `insufficient` when too few positions were scored;
    /// `not_watermarked` otherwise.
    pub verdict: Verdict,
    /// The strongest key's full detection (scores, flags).
    pub detection: Detection,
}

impl Rotation {
    /// Detectors for every key, over a vocabulary of `vocab_size`. The test's level is
    /// `config.alpha` for the whole rotation.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] without keys, with a repeated key, or with keys of
    /// different tokenizers or normalisations (one text cannot be tested under both); as
    /// [`Detector::new`] otherwise.
    pub fn new(keys: &[KeyFile], vocab_size: usize, config: DetectorConfig) -> Result<Self> {
        let Some(first) = keys.first() else {
            return Err(Error::param("keys", "a rotation needs at least one key"));
        };
        let mut ids = std::collections::HashSet::new();
        for k in keys {
            if k.tokenizer != first.tokenizer || k.normalization != first.normalization {
                return Err(Error::param(
                    "keys",
                    "every key of a rotation must use the same tokenizer and normalisation",
                ));
            }
            if !ids.insert(k.key_id()) {
                return Err(Error::param("keys", "a key is listed twice"));
            }
        }
        let detectors = keys
            .iter()
            .map(|k| Detector::new(k, vocab_size, config))
            .collect::<Result<Vec<_>>>()?;
        Self::from_detectors(detectors, config.alpha)
    }

    /// A rotation over existing detectors (schemes built elsewhere), tested at `alpha`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] without detectors or with `alpha` outside (0, 1).
    pub fn from_detectors(detectors: Vec<Detector>, alpha: f64) -> Result<Self> {
        if detectors.is_empty() {
            return Err(Error::param("keys", "a rotation needs at least one key"));
        }
        if !(alpha > 0.0 && alpha < 1.0) {
            return Err(Error::param("alpha", "must be in (0, 1)"));
        }
        Ok(Rotation {
            detectors,
            alpha,
            quiet: DEFAULT_QUIET,
        })
    }

    /// Sets the level every key but the firing one must stay above (default
    /// [`DEFAULT_QUIET`]). A higher level resists spoofing more and costs more power.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `quiet` is in (0, 1).
    pub fn with_quiet(mut self, quiet: f64) -> Result<Self> {
        if !(quiet > 0.0 && quiet < 1.0) {
            return Err(Error::param("quiet", "must be in (0, 1)"));
        }
        self.quiet = quiet;
        Ok(self)
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.detectors.len()
    }

    /// Always `false`: a rotation has at least one key.
    pub fn is_empty(&self) -> bool {
        self.detectors.is_empty()
    }

    /// The detectors, in order.
    pub fn detectors(&self) -> &[Detector] {
        &self.detectors
    }

    /// The key to watermark a request with, from a uniform draw `u` in [0, 1) (from the
    /// server's random generator, fresh per request: a draw the requester can influence would
    /// let them pick the key).
    pub fn choose(&self, u: f64) -> usize {
        let r = self.detectors.len();
        ((u.clamp(0.0, 1.0) * r as f64) as usize).min(r.saturating_sub(1))
    }

    /// Tests `tokens` under every key with the "exactly one key fires" rule.
    ///
    /// # Errors
    /// As [`Detector::detect`].
    pub fn detect(&self, tokens: &[u32]) -> Result<RotationDetection> {
        let mut all = self
            .detectors
            .iter()
            .map(|d| d.detect(tokens))
            .collect::<Result<Vec<Detection>>>()?;
        // The exact tail decides (vLLM's dual-key approximation is only displayed).
        let l10 = |d: &Detection| d.exact_log10_p_value.unwrap_or(d.log10_p_value);
        let keys: Vec<RotationKey> = self
            .detectors
            .iter()
            .zip(&all)
            .map(|(det, d)| RotationKey {
                key_id: det.key_id().clone(),
                log10_p_value: l10(d),
            })
            .collect();
        let strongest = keys
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.log10_p_value.total_cmp(&b.1.log10_p_value))
            .map_or(0, |x| x.0);
        let r = keys.len() as f64;
        let cut = self.alpha.log10() - r.log10();
        let quiet = self.quiet.log10();
        let significant = keys.iter().filter(|k| k.log10_p_value <= cut).count();
        let not_quiet = keys.iter().filter(|k| k.log10_p_value <= quiet).count();
        let fired = (significant == 1 && not_quiet == 1).then_some(strongest);
        let detection = all.swap_remove(strongest.min(all.len().saturating_sub(1)));
        let verdict = if fired.is_some() {
            Verdict::Watermarked
        } else if detection.scored < self.detectors.first().map_or(0, |d| d.config().min_scored) {
            Verdict::Insufficient
        } else {
            Verdict::NotWatermarked
        };
        let corrected = keys
            .get(strongest)
            .map_or(0.0, |k| (k.log10_p_value + r.log10()).min(0.0));
        Ok(RotationDetection {
            keys,
            fired,
            strongest,
            corrected_log10_p_value: corrected,
            significant,
            not_quiet,
            verdict,
            detection,
        })
    }
}
