//! The windowed scan and the sequential test: calibrated under the null for every scheme, and
//! finding what the whole-text test misses.

use crate::conformance::schemes;
use crate::detection::generate;
use provmark::detect::{Detector, DetectorConfig, Verdict, WindowConfig};
use provmark::key::SecretKey;
use provmark::lm::synthetic::SyntheticLm;
use provmark::scheme::{Kgw, KgwParams};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Random token ids: under the null for every key (the PRF makes each distinct tuple's score an
/// independent draw from the scheme's null).
fn random_ids(rng: &mut ChaCha20Rng, vocab: u32, n: usize) -> Vec<u32> {
    (0..n).map(|_| rng.random_range(0..vocab)).collect()
}

/// The calibration: at α = 1e-3 the corrected windowed scan flags at most α of 10 000
/// null documents of 1 000 tokens (default KGW). If the scan's false-positive rate were exactly
/// 1e-3, more than 25 of 10 000 would be flagged with probability 3e-5 (Binomial(10 000, 1e-3)
/// tail); Bonferroni is conservative, so the expected count is below 10. The same holds at
/// α = 1e-2 on 1 000 documents for every other scheme (more than 25 flagged: 1e-5 at an exact
/// 1e-2). Fixed seed.
#[test]
fn windowed_scan_is_calibrated_for_every_scheme() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    for (i, key) in schemes(5).iter().enumerate() {
        let (docs, alpha) = if i == 0 {
            (10_000, 1e-3)
        } else {
            (1_000, 1e-2)
        };
        let config = DetectorConfig {
            alpha,
            ..DetectorConfig::default()
        };
        let det = Detector::new(key, 4_000, config).unwrap();
        let mut flagged = 0;
        let mut windows = 0;
        for _ in 0..docs {
            let d = det.detect(&random_ids(&mut rng, 4_000, 1_000)).unwrap();
            let found = det.localize(&d, &WindowConfig::default()).unwrap();
            windows = found.windows;
            let span = found.span.unwrap();
            assert!(span.log10_p_corrected <= 0.0 && span.log10_p_corrected >= span.log10_p_window);
            flagged += usize::from(span.verdict == Verdict::Watermarked);
        }
        eprintln!(
            "{}: {flagged} of {docs} flagged at {alpha} ({windows} windows)",
            key.scheme.name()
        );
        assert!(flagged <= 25, "{}: {flagged} of {docs}", key.scheme.name());
    }
}

/// The sequential test keeps P(false alarm ever) ≤ α: 2 000 null streams of 2 000 tokens per
/// scheme at α = 1e-2, each checked after every token. At an exact 1e-2, more than 45 of 2 000
/// would cross with probability 1e-5; Ville's inequality makes the true rate lower. Fixed seed.
#[test]
fn sequential_test_is_anytime_valid_for_every_scheme() {
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    for key in schemes(6) {
        let config = DetectorConfig {
            alpha: 1e-2,
            ..DetectorConfig::default()
        };
        let det = Detector::new(&key, 4_000, config).unwrap();
        let mut crossed = 0;
        for _ in 0..2_000 {
            let mut s = det.sequential().unwrap();
            for t in random_ids(&mut rng, 4_000, 2_000) {
                if s.feed(&[t]).unwrap() {
                    crossed += 1;
                    break;
                }
            }
        }
        eprintln!(
            "{}: {crossed} of 2000 null streams crossed at 1e-2",
            key.scheme.name()
        );
        assert!(crossed <= 45, "{}: {crossed}", key.scheme.name());
    }
}

/// A 100-token watermarked passage inside 900 human-like tokens (the synthetic model without the
/// watermark), 40 times. Observed here (default KGW): the corrected scan reaches 1e-6 in about
/// half of the runs, the whole-text test in none (it reaches 1e-3 about once in 20), and the
/// reported window lies mostly inside the passage. The gates: at least 10 of 40 found at 1e-6
/// (if the rate were 0.5, fewer than 10 would happen with probability 5e-4), at most 4 of 40
/// for the whole-text test (its observed rate is below 0.05: more than 4 has probability
/// below 0.05 at that rate, and far below at the observed 0), and the window overlaps the passage
/// by at least half its length wherever it is significant at 1e-3 (fails only if a null window
/// beats the passage, which the tail bounds put below 1e-3 per run). Fixed seed.
#[test]
fn a_watermarked_span_in_human_text_is_found_and_placed() {
    const VOCAB: usize = 16_000;
    let lm = SyntheticLm::new(VOCAB, (1000..13_000).collect()).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(2024);
    let (mut whole_found, mut span_found) = (0, 0);
    for _ in 0..40 {
        let key = SecretKey::from_bytes(rng.random());
        let kgw = Kgw::new(&key, KgwParams::default());
        let det = Detector::for_scheme(
            Kgw::new(&key, KgwParams::default()),
            key.key_id(),
            VOCAB,
            DetectorConfig::default(),
        )
        .unwrap();
        let mut ids = generate(&lm, None, 450, &mut rng);
        ids.extend(generate(&lm, Some(&kgw), 100, &mut rng));
        ids.extend(generate(&lm, None, 450, &mut rng));
        let d = det.detect(&ids).unwrap();
        whole_found += usize::from(d.verdict == Verdict::Watermarked);
        let span = det
            .localize(&d, &WindowConfig::default())
            .unwrap()
            .span
            .unwrap();
        span_found += usize::from(span.verdict == Verdict::Watermarked);
        if span.log10_p_corrected < -3.0 {
            let overlap = span
                .end_token
                .min(550)
                .saturating_sub(span.start_token.max(450));
            assert!(overlap * 2 >= span.end_token - span.start_token, "{span:?}");
        }
    }
    eprintln!("of 40: found by the scan {span_found}, by the whole-text test {whole_found}");
    assert!(span_found >= 10, "{span_found}");
    assert!(whole_found <= 4, "{whole_found}");
}
