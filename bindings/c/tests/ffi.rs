//! The C ABI called as C calls it: results equal the core's, and every misuse is a status code
//! with a message, never a crash.

use provmark::detect::{Detector, DetectorConfig};
use provmark::key::{KeyFile, SecretKey};
use provmark::scheme::{KgwParams, SchemeConfig};
use provmark_c::*;
use std::ffi::{CStr, CString};
use std::path::PathBuf;

fn last_error() -> String {
    // SAFETY: provmark_last_error always returns a valid NUL-terminated string.
    unsafe { CStr::from_ptr(provmark_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("provmark-c-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn key_file(secret: u8, shift: u32) -> KeyFile {
    let mut scheme = SchemeConfig::kgw(KgwParams::default());
    if let SchemeConfig::Kgw { shift: s, .. } = &mut scheme {
        *s = shift;
    }
    KeyFile {
        secret: SecretKey::from_bytes([secret; 32]),
        scheme,
        tokenizer: Default::default(),
        account: None,
        normalization: Default::default(),
        validity: Default::default(),
        coded: None,
    }
}

/// Writes `kf` and loads it through the C ABI.
fn load(kf: &KeyFile, dir: &std::path::Path) -> *mut Key {
    let path = dir.join("k.key");
    kf.write_new(&path).unwrap();
    let c = CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path.
    let key = unsafe { provmark_key_load(c.as_ptr()) };
    assert!(!key.is_null(), "{}", last_error());
    key
}

#[test]
fn bias_and_detect_equal_the_core() {
    let dir = temp("core");
    for shift in [0u32, 77_777] {
        let _ = std::fs::remove_file(dir.join("k.key"));
        let kf = key_file(0x42, shift);
        let key = load(&kf, &dir);
        // SAFETY: a live key.
        let id = unsafe { CStr::from_ptr(provmark_key_id(key)) };
        assert_eq!(id.to_str().unwrap(), kf.key_id().as_str());

        let kgw = kf.kgw().unwrap();
        let vocab = 49_152;
        let context = [12u32, 3_000, 17];
        let mut ours: Vec<f32> = (0..vocab).map(|i| (i % 31) as f32 - 15.0).collect();
        let mut core = ours.clone();
        kgw.bias(&context, &mut core).unwrap();
        // SAFETY: valid pointers and lengths.
        let rc = unsafe {
            provmark_bias(
                key,
                context.as_ptr(),
                context.len(),
                ours.as_mut_ptr(),
                vocab,
            )
        };
        assert_eq!(rc, PROVMARK_OK);
        assert!(
            ours.iter()
                .zip(&core)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        assert!(
            ours != (0..vocab)
                .map(|i| (i % 31) as f32 - 15.0)
                .collect::<Vec<_>>()
        );

        // Tokens sampled greedily from the biased logits of a fixed pseudo-model: green heavy.
        let mut tokens = vec![1u32, 2];
        for step in 0..300u32 {
            let mut logits: Vec<f32> = (0..vocab as u32)
                .map(|v| ((v.wrapping_mul(2_654_435_761) ^ step) % 1000) as f32 / 400.0)
                .collect();
            kgw.bias(&tokens, &mut logits).unwrap();
            let best = (0..vocab).max_by(|&a, &b| logits[a].total_cmp(&logits[b]));
            tokens.push(best.unwrap() as u32);
        }
        let mut d = Detection::default();
        // SAFETY: valid pointers and lengths.
        let rc =
            unsafe { provmark_detect(key, tokens.as_ptr(), tokens.len(), vocab, 1e-6, &mut d) };
        assert_eq!(rc, PROVMARK_OK, "{}", last_error());
        let expect =
            Detector::for_scheme(kgw.clone(), kf.key_id(), vocab, DetectorConfig::default())
                .unwrap()
                .detect(&tokens)
                .unwrap();
        assert_eq!(d.scored as usize, expect.scored);
        assert_eq!(d.green as usize, expect.green);
        assert_eq!(d.log10_p_value, expect.log10_p_value);
        assert_eq!(d.verdict, PROVMARK_VERDICT_WATERMARKED);
        // SAFETY: loaded above, freed once.
        unsafe { provmark_key_free(key) };
    }
}

#[test]
fn misuse_is_a_status_code_with_a_message() {
    let dir = temp("misuse");
    // SAFETY (whole test): every pointer passed is NULL, dangling only with length 0, or valid.
    unsafe {
        assert!(provmark_key_load(std::ptr::null()).is_null());
        assert!(last_error().contains("NULL"), "{}", last_error());

        let missing = CString::new(dir.join("absent.key").to_str().unwrap()).unwrap();
        assert!(provmark_key_load(missing.as_ptr()).is_null());
        assert!(last_error().contains("absent.key"), "{}", last_error());

        let corrupt = dir.join("corrupt.key");
        std::fs::write(&corrupt, b"{\"format\": \"provmark-key\", \"version\": 1").unwrap();
        let corrupt = CString::new(corrupt.to_str().unwrap()).unwrap();
        assert!(provmark_key_load(corrupt.as_ptr()).is_null());
        assert!(
            last_error().contains("invalid key file"),
            "{}",
            last_error()
        );

        let kf = key_file(9, 0);
        let key = load(&kf, &dir);
        let secret_hex = kf.secret.to_hex_dangerous();

        let mut logits = vec![0f32; 8];
        assert_eq!(
            provmark_bias(
                std::ptr::null(),
                std::ptr::null(),
                0,
                logits.as_mut_ptr(),
                8
            ),
            PROVMARK_ERR_NULL
        );
        assert_eq!(
            provmark_bias(key, std::ptr::null(), 2, logits.as_mut_ptr(), 8),
            PROVMARK_ERR_NULL
        );
        assert_eq!(
            provmark_bias(key, std::ptr::null(), 0, std::ptr::null_mut(), 8),
            PROVMARK_ERR_NULL
        );
        assert_eq!(
            provmark_bias(key, std::ptr::null(), 0, std::ptr::null_mut(), 0),
            PROVMARK_OK
        );
        let mut huge = vec![0f32; (1 << 21) + 1];
        assert_eq!(
            provmark_bias(key, [1u32, 2].as_ptr(), 2, huge.as_mut_ptr(), huge.len()),
            PROVMARK_ERR_INVALID_ARGUMENT
        );

        let tokens = [1u32, 2, 3, 9];
        let mut d = Detection::default();
        assert_eq!(
            provmark_detect(key, tokens.as_ptr(), 4, 5, 1e-6, &mut d),
            PROVMARK_ERR_TOKEN_OUT_OF_RANGE
        );
        assert!(last_error().contains("token id 9"), "{}", last_error());
        assert_eq!(
            provmark_detect(key, tokens.as_ptr(), 4, 100, 0.0, &mut d),
            PROVMARK_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            provmark_detect(key, tokens.as_ptr(), 4, 100, 1e-6, std::ptr::null_mut()),
            PROVMARK_ERR_NULL
        );
        assert_eq!(
            provmark_detect(key, std::ptr::null(), 0, 100, 1e-6, &mut d),
            PROVMARK_OK
        );
        assert_eq!(d.verdict, PROVMARK_VERDICT_INSUFFICIENT);
        assert!(!last_error().contains(secret_hex.as_str()));

        assert!(provmark_sampler_new(std::ptr::null()).is_null());
        let s = provmark_sampler_new(key);
        assert!(!s.is_null());
        provmark_key_free(key); // the sampler keeps its own copy
        assert_eq!(
            provmark_sampler_accept(s, -3),
            PROVMARK_ERR_TOKEN_OUT_OF_RANGE
        );
        assert_eq!(
            provmark_sampler_accept(std::ptr::null_mut(), 3),
            PROVMARK_ERR_NULL
        );
        assert_eq!(provmark_sampler_accept(s, 5), PROVMARK_OK);
        assert_eq!(provmark_sampler_accept(s, 6), PROVMARK_OK);
        let c = provmark_sampler_clone(s);
        let mut a: Vec<TokenData> = (0..64)
            .map(|id| TokenData {
                id,
                logit: 0.0,
                p: 0.0,
            })
            .collect();
        let mut b = a.clone();
        assert_eq!(
            provmark_sampler_apply(s, a.as_mut_ptr(), a.len()),
            PROVMARK_OK
        );
        assert_eq!(
            provmark_sampler_apply(c, b.as_mut_ptr(), b.len()),
            PROVMARK_OK
        );
        assert_eq!(a, b, "a clone keeps the history");
        assert!(a.iter().any(|t| t.logit > 0.0));
        assert_eq!(provmark_sampler_reset(c), PROVMARK_OK);
        let mut r: Vec<TokenData> = (0..64)
            .map(|id| TokenData {
                id,
                logit: 0.0,
                p: 0.0,
            })
            .collect();
        assert_eq!(
            provmark_sampler_apply(c, r.as_mut_ptr(), r.len()),
            PROVMARK_OK
        );
        assert!(
            r.iter().all(|t| t.logit == 0.0),
            "reset forgets the history"
        );
        assert_eq!(
            provmark_sampler_apply(s, std::ptr::null_mut(), 3),
            PROVMARK_ERR_NULL
        );
        assert_eq!(
            provmark_sampler_apply(s, std::ptr::null_mut(), 0),
            PROVMARK_OK
        );
        provmark_sampler_free(s);
        provmark_sampler_free(c);
        provmark_sampler_free(std::ptr::null_mut());
        provmark_key_free(std::ptr::null_mut());
        assert!(provmark_key_id(std::ptr::null()).is_null());
        assert!(!CStr::from_ptr(provmark_version()).to_bytes().is_empty());
    }
}

/// One key file per scheme (the C ABI serves every one).
fn every_scheme(secret: u8) -> Vec<KeyFile> {
    use provmark::scheme::{
        GumbelParams, SelfHashParams, SynthIdParams, VllmAlgorithm, VllmParams,
    };
    let with = |scheme| KeyFile {
        secret: SecretKey::from_bytes([secret; 32]),
        scheme,
        tokenizer: Default::default(),
        account: None,
        normalization: Default::default(),
        validity: Default::default(),
        coded: None,
    };
    vec![
        key_file(secret, 0),
        with(SchemeConfig::SelfHash(SelfHashParams::default())),
        with(SchemeConfig::Gumbel(GumbelParams::default())),
        with(SchemeConfig::SynthId(SynthIdParams::default())),
        KeyFile::vllm(
            u64::from(secret) * 1_000_003,
            VllmParams::new(VllmAlgorithm::Gumbel, 4).unwrap(),
            Default::default(),
        ),
    ]
}

/// Logits of a fixed pseudo-model over `vocab` tokens: spread enough that sampling has entropy.
fn model_logits(history: &[u32], vocab: usize) -> Vec<f32> {
    let last = history.last().copied().unwrap_or(0);
    (0..vocab as u32)
        .map(|v| {
            ((v.wrapping_mul(2_654_435_761) ^ last.wrapping_mul(40_503)) % 1000) as f32 / 250.0
        })
        .collect()
}

/// `provmark_sampler_select` (the llama.cpp path: candidates, the sampler's own draws, the
/// scheme's repeated-context rule) and the stateless `provmark_sample` watermark text that
/// `provmark_detect` finds under the key (α 1e-6) and not under another key; `provmark_bias`
/// refuses keys that choose the token and leaves the logits as they were. A null p-value is
/// super-uniform, so each "not found" check fails by chance with probability ≤ 1e-6.
#[test]
fn every_scheme_samples_through_the_c_abi() {
    let dir = temp("schemes");
    let vocab = 2_000;
    for (kf, other) in every_scheme(0x11).iter().zip(every_scheme(0x22)) {
        let _ = std::fs::remove_file(dir.join("k.key"));
        let key = load(kf, &dir);
        let _ = std::fs::remove_file(dir.join("k.key"));
        let okey = load(&other, &dir);
        let name = kf.scheme.name();
        // SAFETY: live keys and samplers, valid pointers and lengths throughout.
        unsafe {
            let s = provmark_sampler_new(key);
            assert!(!s.is_null(), "{name}: {}", last_error());
            assert_eq!(provmark_sampler_seed(s, 7), PROVMARK_OK);
            let mut via_select = Vec::new();
            let mut via_sample = Vec::new();
            for step in 0..300u64 {
                let logits = model_logits(&via_select, vocab);
                // A truncated, sorted candidate array, as after llama.cpp's top-k.
                let mut cands: Vec<TokenData> = (0..vocab as i32)
                    .map(|id| TokenData {
                        id,
                        logit: logits[id as usize],
                        p: 0.0,
                    })
                    .collect();
                cands.sort_by(|a, b| b.logit.total_cmp(&a.logit));
                cands.truncate(200);
                let mut i = usize::MAX;
                assert_eq!(
                    provmark_sampler_select(s, cands.as_ptr(), cands.len(), &mut i),
                    PROVMARK_OK,
                    "{name}: {}",
                    last_error()
                );
                let t = cands[i].id;
                assert_eq!(provmark_sampler_accept(s, t), PROVMARK_OK);
                via_select.push(t as u32);

                let mut full = model_logits(&via_sample, vocab);
                let u = ((step * 2_654_435_761) % 1_000_003) as f64 / 1_000_003.0;
                let mut tok = u32::MAX;
                assert_eq!(
                    provmark_sample(
                        key,
                        via_sample.as_ptr(),
                        via_sample.len(),
                        full.as_mut_ptr(),
                        vocab,
                        1.0,
                        0,
                        1.0,
                        u,
                        &mut tok,
                    ),
                    PROVMARK_OK,
                    "{name}: {}",
                    last_error()
                );
                via_sample.push(tok);
            }
            for tokens in [&via_select, &via_sample] {
                let mut d = Detection::default();
                let rc = provmark_detect(key, tokens.as_ptr(), tokens.len(), vocab, 1e-6, &mut d);
                assert_eq!(rc, PROVMARK_OK, "{}", last_error());
                assert_eq!(d.verdict, PROVMARK_VERDICT_WATERMARKED, "{name}: {d:?}");
                let rc = provmark_detect(okey, tokens.as_ptr(), tokens.len(), vocab, 1e-6, &mut d);
                assert_eq!(rc, PROVMARK_OK);
                assert_ne!(d.verdict, PROVMARK_VERDICT_WATERMARKED, "{name}: other key");
            }
            // Bias: logit-bias keys only; refused keys leave the logits untouched.
            let mut logits = model_logits(&[], vocab);
            let before = logits.clone();
            let rc = provmark_bias(key, [1u32, 2, 3, 4].as_ptr(), 4, logits.as_mut_ptr(), vocab);
            if kf.scheme.is_logit_bias() {
                assert_eq!(rc, PROVMARK_OK);
                assert_ne!(logits, before);
            } else {
                assert_eq!(rc, PROVMARK_ERR_INVALID_ARGUMENT);
                assert!(last_error().contains("provmark_sample"), "{}", last_error());
                assert_eq!(logits, before);
                let mut c = [TokenData {
                    id: 1,
                    logit: 0.0,
                    p: 0.0,
                }];
                assert_eq!(
                    provmark_sampler_apply(s, c.as_mut_ptr(), 1),
                    PROVMARK_ERR_INVALID_ARGUMENT
                );
            }
            let mut i = 0usize;
            assert_eq!(
                provmark_sampler_select(s, std::ptr::null(), 0, &mut i),
                PROVMARK_ERR_INVALID_ARGUMENT
            );
            let nan = [TokenData {
                id: 0,
                logit: f32::NAN,
                p: 0.0,
            }];
            assert_ne!(
                provmark_sampler_select(s, nan.as_ptr(), 1, &mut i),
                PROVMARK_OK
            );
            assert_eq!(
                provmark_sampler_select(s, nan.as_ptr(), 1, std::ptr::null_mut()),
                PROVMARK_ERR_NULL
            );
            provmark_sampler_free(s);
            provmark_key_free(key);
            provmark_key_free(okey);
        }
    }
}

/// Keys rotated per request: text biased under one of three keys fires that key alone
/// (`fired` is its index, in any order of the keys), text biased under two keys fires none.
/// The biased text has z ≈ 15 under its key; an unrelated key's p-value is at most 1e-3 with
/// probability 1e-3, so the checks fail by chance with probability about 1e-2 in all — fixed
/// tokens make them deterministic.
#[test]
fn rotation_names_the_key_that_fired() {
    let files: Vec<KeyFile> = (1..=3).map(|s| key_file(s, 0)).collect();
    let keys: Vec<*mut Key> = files
        .iter()
        .enumerate()
        .map(|(i, kf)| load(kf, &temp(&format!("rotation-{i}"))))
        .collect();
    let vocab = 49_152;
    // Greedy tokens of a fixed pseudo-model biased under `bias` (one key per step, cycling).
    let text = |bias: &[usize]| {
        let mut tokens = vec![1u32, 2];
        for step in 0..300u32 {
            let mut logits: Vec<f32> = (0..vocab as u32)
                .map(|v| ((v.wrapping_mul(2_654_435_761) ^ step) % 1000) as f32 / 400.0)
                .collect();
            let k = bias[step as usize % bias.len()];
            files[k].kgw().unwrap().bias(&tokens, &mut logits).unwrap();
            let best = (0..vocab).max_by(|&a, &b| logits[a].total_cmp(&logits[b]));
            tokens.push(best.unwrap() as u32);
        }
        tokens
    };
    let rotation = |order: &[usize], tokens: &[u32]| {
        let ptrs: Vec<*const Key> = order.iter().map(|&i| keys[i] as *const Key).collect();
        let (mut d, mut fired) = (Detection::default(), 7usize);
        // SAFETY: live keys, valid slices and outputs.
        let rc = unsafe {
            provmark_detect_rotation(
                ptrs.as_ptr(),
                ptrs.len(),
                tokens.as_ptr(),
                tokens.len(),
                vocab,
                1e-6,
                1e-3,
                &mut d,
                &mut fired,
            )
        };
        assert_eq!(rc, PROVMARK_OK, "{}", last_error());
        (d, fired)
    };
    let t1 = text(&[1]);
    let (d, fired) = rotation(&[0, 1, 2], &t1);
    assert_eq!((d.verdict, fired), (PROVMARK_VERDICT_WATERMARKED, 1));
    assert!(d.log10_p_value < -10.0);
    assert_eq!(rotation(&[2, 0, 1], &t1).1, 2);
    let (d, fired) = rotation(&[0, 1, 2], &text(&[0, 2]));
    assert_eq!(
        (d.verdict, fired),
        (PROVMARK_VERDICT_NOT_WATERMARKED, usize::MAX)
    );
    // No keys, a NULL key or a bad level is an error code, never a crash.
    let mut d = Detection::default();
    let null_key: [*const Key; 1] = [std::ptr::null()];
    // SAFETY: every pointer is NULL, empty, or valid.
    unsafe {
        let tokens = [1u32, 2, 3];
        assert_eq!(
            provmark_detect_rotation(
                std::ptr::null(),
                0,
                tokens.as_ptr(),
                3,
                vocab,
                1e-6,
                1e-3,
                &mut d,
                std::ptr::null_mut()
            ),
            PROVMARK_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            provmark_detect_rotation(
                null_key.as_ptr(),
                1,
                tokens.as_ptr(),
                3,
                vocab,
                1e-6,
                1e-3,
                &mut d,
                std::ptr::null_mut()
            ),
            PROVMARK_ERR_NULL
        );
        let one = [keys[0] as *const Key];
        assert_eq!(
            provmark_detect_rotation(
                one.as_ptr(),
                1,
                tokens.as_ptr(),
                3,
                vocab,
                1e-6,
                2.0,
                &mut d,
                std::ptr::null_mut()
            ),
            PROVMARK_ERR_INVALID_ARGUMENT
        );
        for k in keys {
            provmark_key_free(k);
        }
    }
}
