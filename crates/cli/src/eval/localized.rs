//! The localised and sequential tests, measured: a 10 % watermarked span inside 1 000-token
//! human documents (found by the windowed scan vs the whole-text test), the scan's false
//! positives on human documents, and the tokens the anytime-valid sequential test needs.

use provmark::detect::{Detector, DetectorConfig, EProcess, Verdict, WindowConfig};
use provmark::key::SecretKey;
use provmark::scheme::{Kgw, KgwParams};
use provmark::{Result, stats};
use rand::{RngExt, SeedableRng};
use serde::Serialize;

/// What the section measures.
#[derive(Clone, Debug, Serialize)]
pub struct LocalizedResults {
    /// Tokens per document.
    pub doc_len: usize,
    /// Watermarked tokens pasted into each positive document.
    pub span_len: usize,
    /// Positive documents.
    pub documents: usize,
    /// Fraction whose corrected scan p-value is ≤ 1e-6.
    pub scan_found_1e6: f64,
    /// Fraction the whole-text test flags at 1e-6.
    pub whole_found_1e6: f64,
    /// Fraction the whole-text test flags at 1e-3.
    pub whole_found_1e3: f64,
    /// Median corrected log10 p of the scan.
    pub scan_median_log10_p: f64,
    /// Mean fraction of the reported window inside the true span, over found documents.
    pub window_precision: f64,
    /// Mean fraction of the true span inside the reported window, over found documents.
    pub window_recall: f64,
    /// Windows per document (the Bonferroni factor).
    pub windows: usize,
    /// Human (document, key) tests.
    pub null_tests: usize,
    /// Human documents used (each tested under several keys).
    pub null_documents: usize,
    /// Of those, flagged by the corrected scan at 1e-3.
    pub null_scan_flagged_1e3: usize,
    /// Of those, whose sequential test ever crossed at 1e-3 within the document.
    pub null_sequential_crossed_1e3: usize,
    /// Watermarked generations followed by the sequential test at 1e-6.
    pub sequential_streams: usize,
    /// Their length.
    pub sequential_len: usize,
    /// Fraction that crossed within that length.
    pub sequential_crossed: f64,
    /// Median tokens to the crossing (over those that crossed).
    pub sequential_median_tokens: f64,
    /// Median of the first length at which the fixed-length p-value is ≤ 1e-6: a bound no valid
    /// test can beat with peeking (checking the fixed test after every token is not valid).
    pub fixed_first_median_tokens: f64,
}

/// Inputs of the section.
pub struct LocalizedInputs<'a> {
    /// Held-out human token stream.
    pub held: &'a [u32],
    /// Watermarked generations of the headline setting, with their keys.
    pub generations: Vec<(&'a [u32], SecretKey)>,
    /// The headline parameters.
    pub params: KgwParams,
    /// Vocabulary size.
    pub vocab: usize,
    /// Human-text tests wanted (documents × keys).
    pub null_tests: usize,
    /// Master seed.
    pub seed: u64,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs the section.
///
/// # Errors
/// Detection errors; [`provmark::Error::InvalidInput`] when the held-out text has no 1 000-token
/// document.
pub fn run(inp: &LocalizedInputs<'_>) -> Result<LocalizedResults> {
    const DOC: usize = 1_000;
    let span_len = DOC / 10;
    let docs: Vec<&[u32]> = inp.held.chunks_exact(DOC).collect();
    if docs.is_empty() {
        return Err(provmark::Error::InvalidInput(
            "the held-out text holds no 1 000-token document".into(),
        ));
    }
    let det_for = |key: &SecretKey, alpha: f64| {
        Detector::for_scheme(
            Kgw::new(key, inp.params),
            key.key_id(),
            inp.vocab,
            DetectorConfig {
                alpha,
                ..DetectorConfig::default()
            },
        )
    };
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(inp.seed);
    // Positives: 100 watermarked tokens at a random place among 900 human ones.
    let (mut scan_found, mut whole6, mut whole3) = (0, 0, 0);
    let (mut precision, mut recall) = (0.0, 0.0);
    let mut scan_ps = Vec::new();
    let mut windows = 0;
    let mut positives = 0;
    for (i, (generated, key)) in inp.generations.iter().enumerate() {
        let Some(marked) = generated.get(..span_len) else {
            continue;
        };
        let human = docs[i % docs.len()];
        let at = rng.random_range(0..=DOC - span_len);
        let mut doc = Vec::with_capacity(DOC);
        doc.extend_from_slice(&human[..at]);
        doc.extend_from_slice(marked);
        doc.extend_from_slice(&human[at..DOC - span_len]);
        let det = det_for(key, 1e-6)?;
        let d = det.detect(&doc)?;
        whole6 += usize::from(d.log10_p_value <= -6.0);
        whole3 += usize::from(d.log10_p_value <= -3.0);
        let found = det.localize(&d, &WindowConfig::default())?;
        windows = found.windows;
        positives += 1;
        if let Some(s) = found.span {
            scan_ps.push(s.log10_p_corrected);
            if s.verdict == Verdict::Watermarked {
                scan_found += 1;
                let inside = s
                    .end_token
                    .min(at + span_len)
                    .saturating_sub(s.start_token.max(at));
                precision += inside as f64 / (s.end_token - s.start_token) as f64;
                recall += inside as f64 / span_len as f64;
            }
        }
    }
    // Human documents under several keys, at 1e-3: the scan and the sequential test.
    let keys_per_doc = inp.null_tests.div_ceil(docs.len()).max(1);
    let (mut null_tests, mut null_scan, mut null_seq) = (0, 0, 0);
    for (di, doc) in docs.iter().enumerate() {
        for k in 0..keys_per_doc {
            if null_tests >= inp.null_tests {
                break;
            }
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&inp.seed.to_le_bytes());
            bytes[8..16].copy_from_slice(&(di as u64).to_le_bytes());
            bytes[16..24].copy_from_slice(&(k as u64).to_le_bytes());
            bytes[24] = 0x10;
            let key = SecretKey::from_bytes(bytes);
            let det = det_for(&key, 1e-3)?;
            let d = det.detect(doc)?;
            let found = det.localize(&d, &WindowConfig::default())?;
            null_scan += usize::from(
                found
                    .span
                    .is_some_and(|s| s.verdict == Verdict::Watermarked),
            );
            let mut e = EProcess::new(det.scheme().null(), 1e-3)?;
            let crossed = e.update_positions(&d.scored_positions).is_some();
            null_seq += usize::from(crossed);
            null_tests += 1;
        }
    }
    // The sequential test on whole generations, against the fixed test's first crossing.
    let (mut crossed, mut seq_tokens, mut fixed_first) = (0, Vec::new(), Vec::new());
    let mut seq_len = 0;
    for (generated, key) in &inp.generations {
        seq_len = seq_len.max(generated.len());
        let det = det_for(key, 1e-6)?;
        let d = det.detect(generated)?;
        let mut e = EProcess::new(det.scheme().null(), 1e-6)?;
        let mut green = 0u64;
        let mut first_fixed = None;
        for (j, p) in d.scored_positions.iter().enumerate() {
            if e.update(p.score) && e.crossed_after() == Some(j + 1) {
                crossed += 1;
                seq_tokens.push((p.token + 1) as f64);
            }
            green += u64::from(p.score > 0.5);
            if first_fixed.is_none() {
                let ln_p = stats::binomial_sf_ln(green, j as u64 + 1, inp.params.gamma())?;
                if ln_p <= 1e-6f64.ln() {
                    first_fixed = Some((p.token + 1) as f64);
                }
            }
        }
        fixed_first.extend(first_fixed);
    }
    let n = positives.max(1) as f64;
    let found = scan_found.max(1) as f64;
    Ok(LocalizedResults {
        doc_len: DOC,
        span_len,
        documents: positives,
        scan_found_1e6: scan_found as f64 / n,
        whole_found_1e6: whole6 as f64 / n,
        whole_found_1e3: whole3 as f64 / n,
        scan_median_log10_p: median(scan_ps),
        window_precision: precision / found,
        window_recall: recall / found,
        windows,
        null_tests,
        null_documents: docs.len(),
        null_scan_flagged_1e3: null_scan,
        null_sequential_crossed_1e3: null_seq,
        sequential_streams: inp.generations.len(),
        sequential_len: seq_len,
        sequential_crossed: crossed as f64 / inp.generations.len().max(1) as f64,
        sequential_median_tokens: median(seq_tokens),
        fixed_first_median_tokens: median(fixed_first),
    })
}
