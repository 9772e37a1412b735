//! PRF v1 golden vectors, produced by an independent Python implementation of docs/FORMAT.md
//! (tests/data/gen_prf_vectors.py). A failure here is a format break: watermarks embedded by
//! earlier versions would no longer be detected. Never update these vectors; add a new version.

use provmark::key::SecretKey;
use provmark::prf::PrfV1;
use provmark::scheme::{Kgw, KgwParams};
use serde_json::Value;

/// A 32-byte secret stored as hex under `field`.
fn secret(case: &Value, field: &str) -> SecretKey {
    let bytes: [u8; 32] = crate::hex(case[field].as_str().unwrap())
        .try_into()
        .unwrap();
    SecretKey::from_bytes(bytes)
}

/// The green (1) / red (0) bits of tokens 0..64 after `context`.
fn green_bits(kgw: &Kgw, context: &[u32]) -> String {
    (0..64u32)
        .map(|t| {
            if kgw.is_green(context, t).unwrap().unwrap() {
                '1'
            } else {
                '0'
            }
        })
        .collect()
}

/// A token-id list stored under `field`.
fn ids(case: &Value, field: &str) -> Vec<u32> {
    case[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn prf_v1_matches_golden_vectors() {
    let v: Value = serde_json::from_str(&crate::data("prf_v1.json")).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 18);
    for case in cases {
        let key = secret(case, "secret");
        assert_eq!(key.key_id().as_str(), case["key_id"].as_str().unwrap());
        let context = ids(case, "context");
        let seed = PrfV1::new(&key).seed(&context).unwrap();
        assert_eq!(crate::hex(case["seed"].as_str().unwrap()), seed.as_bytes());
        let mut first = [0u8; 64];
        seed.fill_bytes(0, &mut first);
        assert_eq!(crate::hex(case["first_bytes"].as_str().unwrap()), first);
        for (tok, want) in case["probe"].as_object().unwrap() {
            let t: u32 = tok.parse().unwrap();
            assert_eq!(u64::from(seed.byte(t)), want.as_u64().unwrap(), "token {t}");
        }
        for (gamma, field) in [
            (0.25, "green_bits_gamma_0_25"),
            (0.5, "green_bits_gamma_0_5"),
        ] {
            let kgw = Kgw::new(&key, KgwParams::new(gamma, 2.0, context.len()).unwrap());
            let bits = green_bits(&kgw, &context);
            assert_eq!(
                bits,
                case[field].as_str().unwrap(),
                "gamma {gamma} context {context:?}"
            );
            // The whole-vocabulary path (bias) agrees with the per-token path.
            let mut logits = vec![0.0f32; 64];
            kgw.bias(&context, &mut logits).unwrap();
            let biased: String = logits
                .iter()
                .map(|&l| if l > 0.0 { '1' } else { '0' })
                .collect();
            assert_eq!(biased, bits);
        }
    }
}

/// Per-account derivations and ledger fingerprints, from the same independent implementation.
#[test]
fn accounts_and_ledger_match_golden_vectors() {
    use provmark::provenance::accounts::{AccountMode, MasterKey};
    use provmark::provenance::ledger::Fingerprinter;
    use provmark::text::TokenizerSpec;
    let v: Value = serde_json::from_str(&crate::data("prf_v1.json")).unwrap();
    let accounts = v["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 4);
    for case in accounts {
        let master_secret = secret(case, "master");
        let account = case["account"].as_str().unwrap();
        let mut master = MasterKey {
            secret: master_secret,
            params: KgwParams::default(),
            tokenizer: TokenizerSpec::default(),
            mode: AccountMode::Shifted,
            normalization: Default::default(),
            validity: Default::default(),
        };
        assert_eq!(
            u64::from(master.account_shift(account)),
            case["shift"].as_u64().unwrap()
        );
        let key = master.account_key(account);
        assert_eq!(key.key_id().as_str(), case["key_id"].as_str().unwrap());
        let kgw = key.kgw().unwrap();
        let bits = green_bits(&kgw, &[464, 3290]);
        assert_eq!(
            bits,
            case["green_bits_gamma_0_25_context_464_3290"]
                .as_str()
                .unwrap()
        );
        master.mode = AccountMode::Independent;
        let ind = master.account_key(account);
        assert_eq!(
            ind.secret.to_hex_dangerous().as_str(),
            case["independent_secret"].as_str().unwrap()
        );
        assert_eq!(
            ind.key_id().as_str(),
            case["independent_key_id"].as_str().unwrap()
        );
    }
    for case in v["ledger"].as_array().unwrap() {
        let ctx = ids(case, "context");
        let fp = Fingerprinter::new(&secret(case, "secret"), ctx.len());
        let want: u64 = case["fingerprint"].as_str().unwrap().parse().unwrap();
        assert_eq!(fp.fingerprint(&ctx), Some(want));
    }
}

/// PRF v2 against its independent Python implementation (tests/data/gen_prf_v2_vectors.py):
/// nonces (direct for h ≤ 3, chained for h > 3), first blocks, byte and word lanes, and the
/// green bits of a v2 KGW key. Never update these vectors; add a new version.
#[test]
fn prf_v2_matches_golden_vectors() {
    use provmark::prf::{PrfV2, PrfVersion};
    let v: Value = serde_json::from_str(&crate::data("prf_v2.json")).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 48);
    for case in cases {
        let key = secret(case, "secret");
        let scheme = case["scheme"].as_str().unwrap();
        let context = ids(case, "context");
        let seed = PrfV2::new(&key, scheme).seed(&context).unwrap();
        assert_eq!(
            crate::hex(case["subkey"].as_str().unwrap()),
            seed.as_bytes()
        );
        let (nonce, base) = seed.nonce_and_base();
        let words: Vec<u32> = nonce
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes(w.try_into().unwrap()))
            .collect();
        assert_eq!(words, ids(case, "nonce_words"), "{case}");
        assert_eq!(u64::from(base), case["first_block"].as_u64().unwrap());
        let mut first = [0u8; 64];
        seed.fill_bytes(0, &mut first);
        assert_eq!(crate::hex(case["first_bytes"].as_str().unwrap()), first);
        for (tok, want) in case["probe_bytes"].as_object().unwrap() {
            let t: u32 = tok.parse().unwrap();
            assert_eq!(u64::from(seed.byte(t)), want.as_u64().unwrap(), "byte {t}");
        }
        let mut all = Vec::new();
        seed.for_each_word(1001, |_, w| all.push(w));
        for (tok, want) in case["probe_words"].as_object().unwrap() {
            let t: u32 = tok.parse().unwrap();
            assert_eq!(u64::from(seed.word(t)), want.as_u64().unwrap(), "word {t}");
            if let Some(&w) = all.get(t as usize) {
                assert_eq!(u64::from(w), want.as_u64().unwrap(), "streamed word {t}");
            }
        }
        if scheme == "kgw" && context.len() <= 8 {
            let kgw = Kgw::with_prf(
                PrfVersion::V2,
                &key,
                KgwParams::new(0.25, 2.0, context.len()).unwrap(),
                0,
            );
            assert_eq!(
                green_bits(&kgw, &context),
                case["green_bits_gamma_0_25"].as_str().unwrap(),
                "{context:?}"
            );
        }
    }
}

/// docs/FORMAT.md, PRF v1 step 6: γ rounds to the 1/256 grid half away from zero (64.5 → 65),
/// not half to even.
#[test]
fn gamma_rounds_half_away_from_zero() {
    for (half, want) in [(64.5, 65u8), (63.5, 64), (0.5, 1), (127.5, 128)] {
        let p = KgwParams::new(half / 256.0, 2.0, 1).unwrap();
        assert_eq!(p.threshold(), want, "{half}/256");
    }
}

/// SelfHash against its independent Python implementation (tests/data/gen_selfhash_vectors.py):
/// the vocabulary-wide bias (300 tokens after each context), and detection with (anchor, token)
/// dedup on a repetitive text.
#[test]
fn selfhash_matches_golden_vectors() {
    use provmark::detect::{Detector, DetectorConfig};
    use provmark::key::KeyFile;
    use provmark::scheme::{Scheme, SchemeConfig, SelfHash, SelfHashParams};
    let v: Value = serde_json::from_str(&crate::data("selfhash.json")).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for case in cases {
        let params = SelfHashParams::new(
            case["gamma"].as_f64().unwrap(),
            2.0,
            case["context_width"].as_u64().unwrap() as usize,
        )
        .unwrap();
        let s = SelfHash::new(&secret(case, "secret"), params);
        let context = ids(case, "context");
        let mut logits = vec![0.0f32; 300];
        assert!(s.bias_logits(&context, &mut logits).unwrap());
        let bits: String = logits
            .iter()
            .map(|&l| if l > 0.0 { '1' } else { '0' })
            .collect();
        assert_eq!(bits, case["green_bits"].as_str().unwrap(), "{context:?}");
        let key = KeyFile {
            secret: secret(case, "secret"),
            scheme: SchemeConfig::SelfHash(params),
            tokenizer: Default::default(),
            account: None,
            normalization: Default::default(),
            validity: Default::default(),
            coded: None,
        };
        let d = Detector::new(&key, 300, DetectorConfig::default())
            .unwrap()
            .detect(&ids(case, "text"))
            .unwrap();
        assert_eq!(d.scored as u64, case["scored"].as_u64().unwrap());
        assert_eq!(d.green as u64, case["green"].as_u64().unwrap());
    }
}

/// Coded accounts (accounts version 2) and the integrity tags of key files version 2, from an
/// independent Python implementation (`tests/data/gen_accounts_v2_vectors.py`).
#[test]
fn coded_accounts_and_tags_match_golden_vectors() {
    use provmark::key::Validity;
    use provmark::provenance::accounts::{AccountMode, MasterKey};
    use provmark::text::{Normalization, TokenizerSpec};
    let v: Value = serde_json::from_str(&crate::data("accounts_v2.json")).unwrap();
    let cases = v["accounts"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for case in cases {
        let master = MasterKey {
            secret: secret(case, "master"),
            params: KgwParams::default(),
            tokenizer: TokenizerSpec::default(),
            mode: AccountMode::Coded,
            normalization: Normalization::V1,
            validity: Validity::parse(Some("2026-01-01"), None).unwrap(),
        };
        let account = case["account"].as_str().unwrap();
        let cw = master.codeword(account);
        let want = crate::hex(case["codeword"].as_str().unwrap());
        for j in 0..64 {
            let b = want[j / 2];
            let sym = if j % 2 == 0 { b & 15 } else { b >> 4 };
            assert_eq!(cw.symbol(j), usize::from(sym), "{account} position {j}");
        }
        let key = master.account_key(account);
        assert_eq!(key.key_id().as_str(), case["key_id"].as_str().unwrap());
        let scheme = key.scheme();
        for (ctx, bits) in case["contexts"]
            .as_array()
            .unwrap()
            .iter()
            .zip(case["green_bits_tokens_0_256"].as_array().unwrap())
        {
            let ctx: Vec<u32> = ctx
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect();
            let got: String = (0..256u32)
                .map(|t| {
                    if scheme.score(&ctx, t).unwrap() == 1.0 {
                        '1'
                    } else {
                        '0'
                    }
                })
                .collect();
            assert_eq!(got, bits.as_str().unwrap(), "{account} {ctx:?}");
        }
        let file: Value = serde_json::from_str(&key.to_json_dangerous()).unwrap();
        assert_eq!(file["tags"], case["tags"], "{account}");
    }
    let plain = &v["plain_key"];
    let key = provmark::key::KeyFile {
        secret: secret(plain, "secret"),
        scheme: provmark::scheme::SchemeConfig::kgw(KgwParams::default()),
        tokenizer: TokenizerSpec::default(),
        account: None,
        normalization: Normalization::None,
        validity: Validity::parse(None, plain["valid_until"].as_str()).unwrap(),
        coded: None,
    };
    assert_eq!(key.key_id().as_str(), plain["key_id"].as_str().unwrap());
    let file: Value = serde_json::from_str(&key.to_json_dangerous()).unwrap();
    assert_eq!(file["tags"], plain["tags"]);
}
