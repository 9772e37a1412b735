//! PRF v1 golden vectors, produced by an independent Python implementation of docs/FORMAT.md
//! (tests/data/gen_prf_vectors.py). A failure here is a format break: watermarks embedded by
//! earlier versions would no longer be detected. Never update these vectors; add a new version.

use provmark::key::SecretKey;
use provmark::prf::PrfV1;
use provmark::scheme::{Kgw, KgwParams};
use serde_json::Value;

#[test]
fn prf_v1_matches_golden_vectors() {
    let v: Value = serde_json::from_str(&crate::data("prf_v1.json")).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 18);
    for case in cases {
        let secret: [u8; 32] = crate::hex(case["secret"].as_str().unwrap())
            .try_into()
            .unwrap();
        let key = SecretKey::from_bytes(secret);
        assert_eq!(key.key_id().as_str(), case["key_id"].as_str().unwrap());
        let context: Vec<u32> = case["context"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
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
            let bits: String = (0..64u32)
                .map(|t| {
                    if kgw.is_green(&context, t).unwrap().unwrap() {
                        '1'
                    } else {
                        '0'
                    }
                })
                .collect();
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
