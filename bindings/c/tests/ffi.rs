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
