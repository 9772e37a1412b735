//! Localised detection: find a watermarked span inside long human text.
//!
//! The whole-text test averages a short watermarked passage away: 100 watermarked tokens pasted
//! into 900 human ones move the green fraction by a few points. This scan tests windows of the
//! scored positions instead and reports the most significant one, with a p-value corrected for
//! every window it tried.
//!
//! **Method.** Window lengths form a geometric grid from [`WindowConfig::min_len`] scored
//! positions up to all of them (ratio √2); windows of length `L` start every `⌈L/4⌉` positions,
//! and the last one of each length ends at the last position, so every span of at least
//! `min_len` positions overlaps some window of comparable length by at least three quarters.
//! Each window's p-value is the scheme's exact tail ([`NullModel::exact_tail_ln`]) for the
//! positions inside it; the scan reports `min(1, W · p_min)` for the `W` windows tried
//! (Bonferroni). Under the null each window's p-value is exact, so by the union bound the
//! corrected p-value is conservative whatever the dependence between overlapping windows:
//! `P[corrected p ≤ α] ≤ α`. The cost of this guarantee is a factor `W` (a few hundred for a
//! 1 000-token text, about `3 ln 10 ≈ 7` in `−ln p` per decade of length).
//!
//! ```
//! use provmark::detect::{Detector, DetectorConfig, WindowConfig};
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
//! let ids: Vec<u32> = (0..1_000u32).map(|i| (i * 7919) % 50_000).collect();
//! let found = det.localize(&det.detect(&ids)?, &WindowConfig::default())?;
//! assert!(found.windows > 100);
//! let span = found.span.expect("a 1 000-token text has windows");
//! assert!(span.log10_p_corrected >= span.log10_p_window);
//! # Ok::<(), provmark::Error>(())
//! ```

use super::{Detection, Detector, ScoredPosition, Verdict, decide};
use crate::scheme::NullModel;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Settings of the windowed scan.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowConfig {
    /// The shortest window, in scored positions. Default 32.
    pub min_len: usize,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig { min_len: 32 }
    }
}

/// The most significant window of a scan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// Index of the first token of the window in the input.
    pub start_token: usize,
    /// One past the index of its last token.
    pub end_token: usize,
    /// Positions scored inside it.
    pub scored: usize,
    /// Its statistic (the green count for counting schemes).
    pub score: f64,
    /// `log10` of the window's own exact p-value, before correction (not a valid p-value for
    /// the text: it was chosen as the smallest of many).
    pub log10_p_window: f64,
    /// `log10 min(1, W · p_window)`: the p-value corrected for all `W` windows tried.
    pub log10_p_corrected: f64,
    /// The decision on the corrected p-value at the detector's level.
    pub verdict: Verdict,
}

/// The result of a windowed scan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Localization {
    /// Windows tested (the Bonferroni factor).
    pub windows: usize,
    /// The window with the smallest p-value; `None` when fewer positions were scored than the
    /// shortest window.
    pub span: Option<Span>,
}

/// The windows the scan tries over `n` scored positions, as `(start, len)`.
fn windows(n: usize, min_len: usize) -> impl Iterator<Item = (usize, usize)> {
    let mut lengths = Vec::new();
    if n >= min_len {
        let mut l = min_len as f64;
        while (l.round() as usize) < n {
            let len = l.round() as usize;
            if lengths.last() != Some(&len) {
                lengths.push(len);
            }
            l *= std::f64::consts::SQRT_2;
        }
        lengths.push(n);
    }
    lengths.into_iter().flat_map(move |len| {
        let stride = len.div_ceil(4);
        let last = n - len;
        (0..=last / stride)
            .map(move |i| i * stride)
            .chain((last % stride != 0).then_some(last))
            .map(move |start| (start, len))
    })
}

/// A window of the scan: `start` and `len` in scored positions, its score sum and `ln p`.
#[derive(Clone, Copy, Debug)]
struct Window {
    start: usize,
    len: usize,
    sum: f64,
    ln_p: f64,
}

/// Scans scored positions for the most significant window under `null` (see the module
/// documentation). Returns the number of windows and the best.
fn scan(
    null: &NullModel,
    scores: &[ScoredPosition],
    min_len: usize,
) -> Result<(usize, Option<Window>)> {
    let mut prefix = Vec::with_capacity(scores.len() + 1);
    let mut acc = 0.0;
    prefix.push(0.0);
    for p in scores {
        acc += p.score;
        prefix.push(acc);
    }
    let (mu, _) = null.moments();
    let mut count = 0;
    let mut best: Option<Window> = None;
    for (start, len) in windows(scores.len(), min_len) {
        count += 1;
        let sum = prefix[start + len] - prefix[start];
        // A window at or below its null mean has p ≥ about ½: it still counts in W, but its
        // tail need not be computed unless nothing better has been seen.
        if best.is_some() && sum <= mu * len as f64 {
            continue;
        }
        let ln_p = null.exact_tail_ln(len, sum)?;
        if best.is_none_or(|b| ln_p < b.ln_p) {
            best = Some(Window {
                start,
                len,
                sum,
                ln_p,
            });
        }
    }
    Ok((count, best))
}

impl Detector {
    /// Scans a detection of this detector for its most significant window (see [`window`]
    /// (self) for the method and its guarantee).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `min_len` is 0; [`Error::Numerical`] if a tail fails.
    ///
    /// [`window`]: crate::detect::window
    pub fn localize(&self, detection: &Detection, config: &WindowConfig) -> Result<Localization> {
        if config.min_len == 0 {
            return Err(Error::param("min_len", "must be at least 1"));
        }
        let scores = &detection.scored_positions;
        let (windows, best) = scan(&self.scheme().null(), scores, config.min_len)?;
        let span = best.map(|w| {
            let Window {
                start,
                len,
                sum: score,
                ln_p,
            } = w;
            let corrected = (ln_p + (windows as f64).ln()).min(0.0);
            Span {
                start_token: scores[start].token,
                end_token: scores[start + len - 1].token + 1,
                scored: len,
                score,
                log10_p_window: ln_p / std::f64::consts::LN_10,
                log10_p_corrected: corrected / std::f64::consts::LN_10,
                verdict: decide(len, corrected, self.config()),
            }
        });
        Ok(Localization { windows, span })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_covers_the_last_position_and_counts_match() {
        for n in [0, 1, 31, 32, 33, 100, 1_000, 4_097] {
            let all: Vec<_> = windows(n, 32).collect();
            for &(start, len) in &all {
                assert!(
                    len >= 32 && start + len <= n,
                    "n {n}: window ({start}, {len})"
                );
            }
            if n >= 32 {
                assert!(all.contains(&(0, n)), "n {n}: the whole text is a window");
                let mut lens: Vec<_> = all.iter().map(|w| w.1).collect();
                lens.dedup();
                for len in lens {
                    assert!(
                        all.contains(&(n - len, len)),
                        "n {n}: len {len} reaches the end"
                    );
                }
            } else {
                assert!(all.is_empty());
            }
        }
        // A 1 000-position text: a few hundred windows.
        let w = windows(1_000, 32).count();
        assert!((300..500).contains(&w), "{w}");
    }

    #[test]
    fn a_dense_span_is_found_where_it_is() {
        let null = NullModel::Bernoulli { p: 0.25 };
        // Positions 400..500 all green, the rest alternate green 1 in 4.
        let scores: Vec<_> = (0..1_000)
            .map(|i| ScoredPosition {
                token: i + 2,
                score: if (400..500).contains(&i) || i % 4 == 0 {
                    1.0
                } else {
                    0.0
                },
            })
            .collect();
        let (w, best) = scan(&null, &scores, 32).unwrap();
        let Window {
            start,
            len,
            sum,
            ln_p,
        } = best.unwrap();
        assert!(start >= 390 && start + len <= 510, "({start}, {len})");
        assert!(len >= 64 && sum >= 0.9 * len as f64);
        assert!(ln_p + (w as f64).ln() < -40.0);
    }
}
