//! Entry points shared by the fuzz targets in `fuzz/` and by the test that replays their seed
//! corpora under plain `cargo test`. Each takes arbitrary bytes and must never panic; the
//! assertions inside check invariants that hold for every input.

use crate::detect::{Detector, DetectorConfig, TokenFlag, Verdict};
use crate::key::{KeyFile, SecretKey};
use crate::sampling::{Sampler, SamplingConfig};
use crate::scheme::{Kgw, KgwParams};

/// Parses bytes as a key file.
pub fn key_file(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(k) = KeyFile::from_json(text) {
            // A file that parses must round-trip to an equal key.
            let again = KeyFile::from_json(&k.to_json_dangerous());
            assert!(again.is_ok_and(|a| a.secret.bytes() == k.secret.bytes()
                && a.scheme == k.scheme
                && a.key_id() == k.key_id()
                && a.validity == k.validity));
        }
        // Master files take the same path (version 1 and 2, tags).
        if let Ok(m) = crate::provenance::accounts::MasterKey::from_json(text) {
            let again = crate::provenance::accounts::MasterKey::from_json(&m.to_json_dangerous());
            assert!(again.is_ok_and(|a| a.key_id() == m.key_id() && a.mode == m.mode));
        }
    }
}

/// Checks the invariants every detection report must satisfy (shared with the text crate's
/// fuzz entry points).
pub fn check_detection(det: &Detector, ids: &[u32]) {
    if let Ok(r) = det.detect(ids) {
        assert_eq!(r.flags.len(), ids.len());
        assert!(r.green <= r.scored && r.scored <= r.tokens);
        let scored = r
            .flags
            .iter()
            .filter(|f| matches!(f, TokenFlag::Green | TokenFlag::Red))
            .count();
        assert_eq!(scored, r.scored);
        assert!(r.log10_p_value <= 0.0 && !r.log10_p_value.is_nan());
        assert!((0.0..=1.0).contains(&r.p_value));
        if r.scored < det.config().min_scored {
            assert_eq!(r.verdict, Verdict::Insufficient);
        }
    }
}

/// Interprets bytes as little-endian u32 token ids (first byte picks the context width and
/// dedup) and detects them against a fixed key with a 50 000-token vocabulary.
pub fn detect_ids(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(params) = KgwParams::new(0.25, 2.0, usize::from(first % 9)) else {
        return;
    };
    let config = DetectorConfig {
        dedup: first & 0x80 == 0,
        ..DetectorConfig::default()
    };
    let secret = SecretKey::from_bytes([0x42; 32]);
    let Ok(det) = Detector::for_scheme(Kgw::new(&secret, params), secret.key_id(), 50_000, config)
    else {
        return;
    };
    let ids: Vec<u32> = rest
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) % 60_000)
        .collect();
    check_detection(&det, &ids);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(ids) = crate::detect::parse_token_ids(text) {
            check_detection(&det, &ids);
        }
    }
}

/// Reads parameters from bytes, validates them, and when valid biases and samples logits that
/// may hold NaN and infinities.
pub fn params(data: &[u8]) {
    let mut it = data.chunks_exact(8).map(|c| {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        f64::from_le_bytes(b)
    });
    let mut next = || it.next().unwrap_or(0.5);
    let (gamma, delta, context, alpha) = (next(), next(), next(), next());
    let (temperature, top_k, top_p) = (next(), next(), next());
    let context = if context.is_finite() {
        context.abs() as usize
    } else {
        usize::MAX
    };
    let det_cfg = DetectorConfig {
        alpha,
        ..DetectorConfig::default()
    };
    let _ = det_cfg.validate();
    let Ok(params) = KgwParams::new(gamma, delta, context) else {
        return;
    };
    assert!(params.gamma() > 0.0 && params.gamma() < 1.0);
    let kgw = Kgw::new(&SecretKey::from_bytes([1; 32]), params);
    let mut logits: Vec<f32> = data.iter().map(|&b| f32::from(b) - 128.0).collect();
    if let Some(l) = logits.get_mut(3) {
        *l = f32::NAN;
    }
    let before = logits.clone();
    if kgw.bias(&[1, 2, 3, 4, 5, 6, 7, 8], &mut logits).is_ok() {
        for (a, b) in before.iter().zip(&logits) {
            assert!(
                a.to_bits() == b.to_bits() || (b - a - params.delta()).abs() < 1e-3 || a.is_nan()
            );
        }
    }
    let cfg = SamplingConfig {
        temperature: temperature as f32,
        top_k: if top_k.is_finite() {
            top_k.abs() as usize
        } else {
            0
        },
        top_p: top_p as f32,
    };
    if let Ok(mut s) = Sampler::new(cfg) {
        let _ = s.sample(&logits, 0.5);
        if let Some(l) = logits.get_mut(3) {
            *l = 0.0;
        }
        if let Ok(tok) = s.sample(&logits, 0.25) {
            assert!((tok as usize) < logits.len());
        }
    }
}

/// Every scheme, driven by bytes: the first byte picks the scheme (KGW v1 / v2, Gumbel, SynthID,
/// vLLM's three) and the dedup setting, the second the context width; the rest are token ids
/// (detected) and raw logits (sampled with a sampler configuration from the next bytes, NaN and
/// infinities included). Detection reports must satisfy [`check_detection`]; a sampled token
/// must index the logits.
pub fn schemes(data: &[u8]) {
    use crate::prf::PrfVersion;
    use crate::scheme::{
        GumbelParams, SchemeConfig, SelfHashParams, SynthIdParams, VllmAlgorithm, VllmParams,
    };
    let [kind, width, t, k, p, rest @ ..] = data else {
        return;
    };
    let w = usize::from(width % 10);
    let config = match kind % 9 {
        0 | 1 => KgwParams::new(0.25, 2.0, w).map(|params| SchemeConfig::Kgw {
            prf: if kind % 9 == 0 {
                PrfVersion::V1
            } else {
                PrfVersion::V2
            },
            params,
            shift: u32::from(*width) << 12,
        }),
        2 => GumbelParams::new(w).map(SchemeConfig::Gumbel),
        3 => SynthIdParams::new(w, usize::from(t % 33)).map(SchemeConfig::SynthId),
        4 => VllmParams::new(VllmAlgorithm::Gumbel, w).map(SchemeConfig::Vllm),
        8 => SelfHashParams::new((f64::from(*p) + 0.5) / 256.0, f64::from(*t) / 16.0, w)
            .map(SchemeConfig::SelfHash),
        5 | 6 => VllmParams::new(
            VllmAlgorithm::DualKeyGumbel {
                alpha: f64::from(*p) / 255.0,
            },
            w,
        )
        .map(SchemeConfig::Vllm),
        _ => VllmParams::new(
            VllmAlgorithm::RedGreen {
                gamma: (f64::from(*p) + 0.5) / 256.0,
                delta: 2.0,
            },
            w,
        )
        .map(SchemeConfig::Vllm),
    };
    let Ok(scheme) = config else { return };
    let key = match scheme {
        SchemeConfig::Vllm(v) => KeyFile::vllm(u64::from(*t) << 40 | 7, v, Default::default()),
        scheme => KeyFile {
            secret: SecretKey::from_bytes([*t; 32]),
            scheme,
            tokenizer: Default::default(),
            account: None,
            normalization: Default::default(),
            validity: Default::default(),
            coded: None,
        },
    };
    let vocab = 4_096;
    let dedup = kind & 0x80 == 0;
    let Ok(det) = Detector::new(
        &key,
        vocab,
        DetectorConfig {
            dedup,
            ..DetectorConfig::default()
        },
    ) else {
        return;
    };
    let ids: Vec<u32> = rest
        .chunks_exact(2)
        .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])) % 4_200)
        .collect();
    check_detection(&det, &ids);
    let keyed = key.scheme();
    let mut logits: Vec<f32> = rest
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let cfg = SamplingConfig {
        temperature: f32::from(*t) / 64.0,
        top_k: usize::from(*k),
        top_p: (f32::from(*p) + 1.0) / 256.0,
    };
    if let Ok(mut sampler) = Sampler::new(cfg) {
        let ctx: Vec<u32> = ids.iter().copied().take(w).collect();
        if let Ok(tok) = keyed.sample(&ctx, &mut logits, &mut sampler, 0.5) {
            assert!((tok as usize) < logits.len());
        }
    }
}
