//! provmark-candle on the reference model (SmolLM2-135M-Instruct, Q4_1): chat template,
//! key-value cache, and a watermark embedded in candle's sampling loop and detected.
//!
//! Each test is skipped, saying so, when the model has not been fetched; CI fetches it with
//! `scripts/fetch-model.sh` and sets `PROVMARK_REQUIRE_MODEL=1`, which makes a missing model a
//! failure.

use provmark::detect::{Detector, DetectorConfig, Verdict};
use provmark::key::SecretKey;
use provmark::lm::{LanguageModel, generate};
use provmark::sampling::{Sampler, SamplingConfig};
use provmark::scheme::{Kgw, KgwParams};
use provmark_candle::{Llama, Message};
use rand::{RngExt, SeedableRng};

/// The chat-formatted prompt's token ids, with the model's own template and tokenizer.
fn chat_ids(path: &std::path::Path, lm: &Llama, user: &str) -> Vec<u32> {
    let tok = provmark_text::gguf::load(path).unwrap();
    lm.encode_chat(tok.as_ref(), &[Message::user(user)])
        .unwrap()
}

#[test]
fn metadata_and_chat_template_of_smollm2() {
    let Some(path) = provmark_text::smollm2_or_skip().unwrap() else {
        return;
    };
    let lm = Llama::load(&path).unwrap();
    let info = lm.info();
    assert_eq!(info.vocab_size, 49_152);
    assert_eq!((info.bos_token, info.eos_token), (Some(1), Some(2)));
    assert_eq!(lm.stop_tokens(), &[2]);
    let text = info
        .chat()
        .unwrap()
        .render(&[Message::user("What is 12 + 30?")], true)
        .unwrap();
    assert_eq!(
        text,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging \
         Face<|im_end|>\n<|im_start|>user\nWhat is 12 + 30?<|im_end|>\n<|im_start|>assistant\n"
    );
    let ids = chat_ids(&path, &lm, "What is 12 + 30?");
    assert_eq!(ids.first(), Some(&1), "<|im_start|> is the BOS token");
    assert_eq!(ids.iter().filter(|&&t| t == 2).count(), 2, "two <|im_end|>");
    // Another model's tokenizer is refused, not silently used.
    let o200k = provmark_text::load(&provmark::text::TokenizerSpec::default()).unwrap();
    assert!(
        lm.encode_chat(o200k.as_ref(), &[Message::user("Hi")])
            .is_err()
    );
}

/// Logits after a history computed one step at a time from the cache agree with logits
/// computed from scratch in one prompt pass, and a history that is not an extension resets the
/// cache instead of attending to stale keys. The two paths run the quantized kernels on
/// different shapes, so they agree closely, not bitwise: total variation between the two
/// next-token distributions measured 0.022 on this prompt (0.046 with the stored Q4_1
/// weights), against 0.95 for an unrelated history (what a stale cache would look like).
#[test]
fn cached_steps_agree_with_a_fresh_pass() {
    let Some(path) = provmark_text::smollm2_or_skip().unwrap() else {
        return;
    };
    let lm = Llama::load(&path).unwrap();
    let ids = chat_ids(&path, &lm, "Name three rivers in Europe.");
    let v = lm.vocab_size();
    let (mut stepped, mut fresh, mut other) = (vec![0.0; v], vec![0.0; v], vec![0.0; v]);
    for k in ids.len() - 3..=ids.len() {
        lm.logits(&ids[..k], &mut stepped).unwrap();
    }
    lm.logits(&[1, 520, 3000], &mut other).unwrap();
    lm.logits(&ids, &mut fresh).unwrap();
    let softmax = |x: &[f32]| {
        let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let z: f32 = x.iter().map(|l| (l - m).exp()).sum();
        x.iter().map(|l| (l - m).exp() / z).collect::<Vec<_>>()
    };
    let tv = |a: &[f32], b: &[f32]| {
        let (pa, pb) = (softmax(a), softmax(b));
        0.5 * pa.iter().zip(&pb).map(|(x, y)| (x - y).abs()).sum::<f32>()
    };
    let dlogit = stepped
        .iter()
        .zip(&fresh)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let (close, far) = (tv(&stepped, &fresh), tv(&fresh, &other));
    eprintln!("max |Δlogit| {dlogit}, TV(step, fresh) {close}, TV(fresh, other) {far}");
    assert!(close < 0.1 && far > 0.5, "TV {close} vs {far}");
    let argmax = |x: &[f32]| (0..x.len()).max_by(|&a, &b| x[a].total_cmp(&x[b]));
    assert_eq!(argmax(&stepped), argmax(&fresh));
    assert_ne!(argmax(&other), None);
    // The same history twice costs nothing and gives the same logits.
    lm.logits(&ids, &mut other).unwrap();
    assert_eq!(other, fresh);
}

#[test]
fn bad_inputs_are_errors() {
    let Some(path) = provmark_text::smollm2_or_skip().unwrap() else {
        return;
    };
    let lm = Llama::load(&path).unwrap();
    let mut out = vec![0.0; lm.vocab_size()];
    assert!(lm.logits(&[1, 49_152], &mut out).is_err());
    assert!(lm.logits(&[1], &mut out[1..]).is_err());
    let too_long = vec![1u32; lm.info().context_length + 1];
    assert!(lm.logits(&too_long, &mut out).is_err());
    lm.logits(&[], &mut out).unwrap();
    assert!(Llama::load("/nonexistent.gguf").is_err());
    let not_gguf = std::env::temp_dir().join(format!("provmark-not-{}.gguf", std::process::id()));
    std::fs::write(&not_gguf, b"GGUF but not really").unwrap();
    assert!(Llama::load(&not_gguf).is_err());
    std::fs::remove_file(&not_gguf).unwrap();
}

/// 200 tokens at temperature 1 with the default KGW watermark (γ 0.25, δ 2, h 2): detected at
/// p < 1e-6; the unwatermarked twin (same prompt, same seed) is not flagged at 1e-6.
/// Seeded. False-failure probability: the unwatermarked side fails with probability ≤ 1e-6
/// (the exact test's level); the watermarked side's z at 200 tokens on this model is ~10
/// (REFERENCE §10 measures mean 12.5 for δ after temperature), far above the threshold z ≈ 4.8.
#[test]
fn watermark_embedded_by_candle_is_detected() {
    let Some(path) = provmark_text::smollm2_or_skip().unwrap() else {
        return;
    };
    let lm = Llama::load(&path).unwrap().ignore_eos(true);
    let prompt = chat_ids(&path, &lm, "Write a short story about a lighthouse keeper.");
    let key = SecretKey::from_bytes([42; 32]);
    let params = KgwParams::default();
    let kgw = Kgw::new(&key, params);
    let det = Detector::for_scheme(
        Kgw::new(&key, params),
        key.key_id(),
        lm.vocab_size(),
        DetectorConfig::default(),
    )
    .unwrap();
    let run = |wm: Option<&dyn provmark::scheme::Scheme>| {
        let mut sampler = Sampler::new(SamplingConfig::default()).unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let out = generate(&lm, wm, &prompt, 200, &mut sampler, &mut || rng.random()).unwrap();
        assert_eq!(out.len(), 200);
        det.detect(&out).unwrap()
    };
    let marked = run(Some(&kgw));
    let plain = run(None);
    assert!(marked.log10_p_value < -6.0, "{marked:?}");
    assert_eq!(marked.verdict, Verdict::Watermarked);
    assert!(plain.log10_p_value > -6.0, "{plain:?}");
}

/// The Q8_0 requantization [`Llama::load`] applies to the Q4_1 tensors barely moves the model:
/// teacher-forced over a chat prompt and 48 tokens the stored-weights model sampled, the
/// next-token distributions of the two loads measured a mean total variation of 0.037 (at most
/// 0.070) and the same most likely token at 95.8 % of the steps — about the 0.046 the stored
/// weights show between a cached step and a fresh pass (above). Requantizing to 4 bits (Q4_0)
/// instead measured 0.29 (at most 0.64) and 60 % agreement, which these bounds reject.
/// Deterministic: fixed prompt, seed and weights.
#[test]
fn requantized_weights_match_the_stored_ones() {
    let Some(path) = provmark_text::smollm2_or_skip().unwrap() else {
        return;
    };
    let fast = Llama::load(&path).unwrap().ignore_eos(true);
    let stored = Llama::load_as_stored(&path).unwrap().ignore_eos(true);
    let prompt = chat_ids(&path, &stored, "Explain why bread rises in the oven.");
    let mut sampler = Sampler::new(SamplingConfig::default()).unwrap();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    let answer = generate(&stored, None, &prompt, 48, &mut sampler, &mut || {
        rng.random()
    })
    .unwrap();
    let v = stored.vocab_size();
    let (mut a, mut b) = (vec![0.0; v], vec![0.0; v]);
    let softmax = |x: &[f32]| {
        let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f64> = x.iter().map(|l| f64::from(l - m).exp()).collect();
        let z: f64 = e.iter().sum();
        e.into_iter().map(|x| x / z).collect::<Vec<_>>()
    };
    let argmax = |x: &[f32]| (0..x.len()).max_by(|&i, &j| x[i].total_cmp(&x[j]));
    let (mut tvs, mut agree) = (Vec::new(), 0);
    let mut history = prompt.clone();
    for &t in &answer {
        stored.logits(&history, &mut a).unwrap();
        fast.logits(&history, &mut b).unwrap();
        let (pa, pb) = (softmax(&a), softmax(&b));
        tvs.push(0.5 * pa.iter().zip(&pb).map(|(x, y)| (x - y).abs()).sum::<f64>());
        agree += usize::from(argmax(&a) == argmax(&b));
        history.push(t);
    }
    let mean = tvs.iter().sum::<f64>() / tvs.len() as f64;
    let max = tvs.iter().copied().fold(0.0, f64::max);
    let share = agree as f64 / answer.len() as f64;
    eprintln!(
        "requantized vs stored: mean TV {mean:.4}, max TV {max:.4}, argmax agreement {share:.3}"
    );
    assert_eq!(answer.len(), 48);
    assert!(
        mean < 0.06 && max < 0.2 && share >= 0.9,
        "TV {mean} / {max}, agreement {share}"
    );
}
