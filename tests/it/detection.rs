//! End-to-end detection on the synthetic model, and typed errors on malformed input.

use provmark::Error;
use provmark::detect::{Detector, DetectorConfig, TokenFlag, Verdict};
use provmark::key::SecretKey;
use provmark::lm::synthetic::SyntheticLm;
use provmark::sampling::{Sampler, SamplingConfig};
use provmark::scheme::{Kgw, KgwParams};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;

const VOCAB: usize = 16_000;

pub(crate) fn generate(
    lm: &SyntheticLm,
    kgw: Option<&Kgw>,
    n: usize,
    rng: &mut ChaCha20Rng,
) -> Vec<u32> {
    let mut sampler = Sampler::new(SamplingConfig::default()).unwrap();
    let mut logits = vec![0.0; lm.vocab_size()];
    let mut ids = Vec::new();
    for _ in 0..n {
        lm.logits(&ids, &mut logits).unwrap();
        let u = rng.random();
        let t = match kgw {
            Some(k) => k.sample_step(&ids, &mut logits, &mut sampler, u).unwrap(),
            None => sampler.sample(&logits, u).unwrap(),
        };
        ids.push(t);
    }
    ids
}

/// 200 watermarked tokens at γ = 0.25, δ = 2 (h = 2) are detected at α = 1e-6, and the same
/// model without the watermark is not. 40 keys and seeds each. Observed on this synthetic model
/// (printed by the test): green fraction 0.56 with standard deviation 0.033 over 198 tuples,
/// while detection at 1e-6 needs 79/198 = 0.40, about 4.9 standard deviations below the mean:
/// a watermarked run fails with probability ≈ 5e-7 (≈ 2e-5 for the 40 runs); a control run
/// passes α = 1e-6 with probability ≤ 1e-6 (≤ 4e-5 for 40).
#[test]
fn synthetic_watermark_detected_at_200_tokens() {
    let lm = SyntheticLm::new(VOCAB, (1000..13_000).collect()).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(2023);
    let mut weakest = f64::NEG_INFINITY;
    let mut fractions = Vec::new();
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
        let wm = det
            .detect(&generate(&lm, Some(&kgw), 200, &mut rng))
            .unwrap();
        assert_eq!(wm.verdict, Verdict::Watermarked, "{wm:?}");
        weakest = weakest.max(wm.log10_p_value);
        fractions.push(wm.green as f64 / wm.scored as f64);
        let plain = det.detect(&generate(&lm, None, 200, &mut rng)).unwrap();
        assert_eq!(plain.verdict, Verdict::NotWatermarked, "{plain:?}");
    }
    let mean = fractions.iter().sum::<f64>() / fractions.len() as f64;
    let sd = (fractions.iter().map(|f| (f - mean).powi(2)).sum::<f64>()
        / (fractions.len() - 1) as f64)
        .sqrt();
    eprintln!("green fraction mean {mean:.3} sd {sd:.3}; weakest log10 p {weakest:.1}");
    assert!(weakest < -6.0);
}

#[test]
fn token_flags_mark_context_repeats_and_colours() {
    let key = SecretKey::from_bytes([2; 32]);
    let det = Detector::for_scheme(
        Kgw::new(&key, KgwParams::default()),
        key.key_id(),
        100,
        DetectorConfig::default(),
    )
    .unwrap();
    let ids = [1, 2, 3, 4, 1, 2, 3, 4];
    let r = det.detect(&ids).unwrap();
    assert_eq!(&r.flags[..2], &[TokenFlag::NoContext, TokenFlag::NoContext]);
    // (1,2)->3 and (2,3)->4 repeat at positions 6 and 7.
    assert_eq!(&r.flags[6..], &[TokenFlag::Repeated, TokenFlag::Repeated]);
    assert_eq!(r.scored, 4);
    assert_eq!(r.verdict, Verdict::Insufficient);
    let green = r.flags.iter().filter(|f| **f == TokenFlag::Green).count();
    assert_eq!(green, r.green);
}

#[test]
fn malformed_inputs_give_typed_errors() {
    let key = SecretKey::from_bytes([2; 32]);
    let det = Detector::for_scheme(
        Kgw::new(&key, KgwParams::default()),
        key.key_id(),
        100,
        DetectorConfig::default(),
    )
    .unwrap();
    assert!(matches!(
        det.detect(&[1, 2, 100]),
        Err(Error::TokenOutOfRange {
            id: 100,
            position: 2,
            vocab_size: 100
        })
    ));
    // Empty input: nothing scored, p = 1.
    let r = det.detect(&[]).unwrap();
    assert_eq!(
        (r.scored, r.p_value, r.verdict),
        (0, 1.0, Verdict::Insufficient)
    );
    // A failed chunk consumes nothing.
    let mut s = det.scorer();
    s.feed(&[1, 2, 3]).unwrap();
    assert!(s.feed(&[4, 500]).is_err());
    s.feed(&[4]).unwrap();
    assert_eq!(s.finish().unwrap(), det.detect(&[1, 2, 3, 4]).unwrap());

    for (g, d, h) in [
        (0.0, 2.0, 2),
        (1.0, 2.0, 2),
        (f64::NAN, 2.0, 2),
        (0.25, -1.0, 2),
        (0.25, f64::INFINITY, 2),
        (0.25, 2.0, 9),
        (0.001, 2.0, 1),
    ] {
        assert!(
            matches!(KgwParams::new(g, d, h), Err(Error::InvalidParameter { .. })),
            "{g} {d} {h}"
        );
    }
    for alpha in [0.0, 1.0, f64::NAN, -3.0] {
        let cfg = DetectorConfig {
            alpha,
            ..DetectorConfig::default()
        };
        assert!(
            Detector::for_scheme(Kgw::new(&key, KgwParams::default()), key.key_id(), 100, cfg)
                .is_err()
        );
    }
    assert!(
        Detector::for_scheme(
            Kgw::new(&key, KgwParams::default()),
            key.key_id(),
            0,
            DetectorConfig::default()
        )
        .is_err()
    );
    assert!(
        Detector::for_scheme(
            Kgw::new(&key, KgwParams::default()),
            key.key_id(),
            (1 << 21) + 1,
            DetectorConfig::default()
        )
        .is_err()
    );

    let kgw = Kgw::new(&key, KgwParams::default());
    let mut sampler = Sampler::new(SamplingConfig::default()).unwrap();
    let mut logits = vec![0.0f32; 10];
    logits[4] = f32::NAN;
    assert!(matches!(
        kgw.sample_step(&[1, 2], &mut logits, &mut sampler, 0.5),
        Err(Error::NonFiniteLogit { index: 4 })
    ));
    let mut big = vec![0.0f32; (1 << 21) + 1];
    assert!(matches!(
        kgw.bias(&[1, 2], &mut big),
        Err(Error::LogitsShape { .. })
    ));
    let mut batch = vec![0.0f32; 10];
    assert!(matches!(
        kgw.bias_batch(&[&[1], &[2], &[3]], &mut batch, 4),
        Err(Error::LogitsShape { .. })
    ));
    assert!(provmark::detect::parse_token_ids("[1, 2, \"x\"]").is_err());
    assert!(provmark::detect::parse_token_ids("[4294967296]").is_err());
    assert!(provmark::detect::parse_token_ids("").is_err());
}

/// Streaming generation (StreamState) produces the same tokens as passing the full history.
#[test]
fn stream_state_matches_history() {
    let lm = SyntheticLm::new(5000, (100..4000).collect()).unwrap();
    let kgw = Kgw::new(
        &SecretKey::from_bytes([6; 32]),
        KgwParams::new(0.5, 3.0, 4).unwrap(),
    );
    let mut s1 = Sampler::new(SamplingConfig {
        temperature: 0.8,
        top_k: 50,
        top_p: 0.95,
    })
    .unwrap();
    let mut s2 = s1.clone();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let prompt = [7u32, 8, 9];
    let mut state = provmark::scheme::StreamState::new(&prompt);
    let mut hist = prompt.to_vec();
    let mut logits = vec![0.0; 5000];
    for _ in 0..100 {
        let u: f64 = rng.random();
        lm.logits(&hist, &mut logits).unwrap();
        let mut l2 = logits.clone();
        let a = state.sample(&kgw, &mut logits, &mut s1, u).unwrap();
        let b = kgw.sample_step(&hist, &mut l2, &mut s2, u).unwrap();
        assert_eq!(a, b);
        hist.push(b);
    }
}
