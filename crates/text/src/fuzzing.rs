//! Fuzz entry points that need the text front-end (tokenizers, corpus readers), used by the
//! fuzz targets in `fuzz/` and by the test that replays their seed corpora. Each takes
//! arbitrary bytes and must never panic.

use provmark::key::{KeyFile, SecretKey};
use provmark::scheme::{Kgw, KgwParams};

/// Tokenizes bytes (lossily decoded as UTF-8) with `cl100k_base` and detects them.
#[cfg(feature = "tiktoken")]
pub fn detect_text(data: &[u8]) {
    use provmark::detect::{Detector, DetectorConfig};
    use provmark::fuzzing::check_detection;
    use provmark::text::TokenizerSpec;
    use std::sync::OnceLock;
    static TOK: OnceLock<Option<Box<dyn provmark::text::Tokenizer>>> = OnceLock::new();
    let Some(tok) = TOK.get_or_init(|| crate::load(&TokenizerSpec::parse("cl100k_base")).ok())
    else {
        return;
    };
    let text = String::from_utf8_lossy(data);
    let Ok(ids) = tok.encode(&text) else { return };
    let secret = SecretKey::from_bytes([0x17; 32]);
    let Ok(det) = Detector::for_scheme(
        Kgw::new(&secret, KgwParams::default()),
        secret.key_id(),
        tok.vocab_size(),
        DetectorConfig::default(),
    ) else {
        return;
    };
    check_detection(&det, &ids);
}

/// Reads bytes (lossily decoded as UTF-8) as a JSON Lines audit input and feeds every record
/// to an audit of one key and three shifted accounts: text as code points, predictions as
/// given. Malformed records are skipped, misaligned predictions refused; the report must stay
/// consistent.
pub fn audit_jsonl(data: &[u8]) {
    use crate::corpus::Item;
    use provmark::provenance::accounts::{AccountMode, MasterKey};
    use provmark::provenance::audit::{Audit, AuditConfig};
    let text = String::from_utf8_lossy(data);
    let Ok(mut audit) = Audit::new(AuditConfig::default()) else {
        return;
    };
    let key = KeyFile {
        secret: SecretKey::from_bytes([0x31; 32]),
        scheme: provmark::scheme::SchemeConfig::kgw(KgwParams::default()),
        tokenizer: provmark::text::TokenizerSpec::default(),
        account: None,
        normalization: Default::default(),
        validity: Default::default(),
        coded: None,
    };
    let master = MasterKey {
        secret: SecretKey::from_bytes([0x32; 32]),
        params: KgwParams::default(),
        tokenizer: provmark::text::TokenizerSpec::default(),
        mode: AccountMode::Shifted,
        normalization: Default::default(),
        validity: Default::default(),
    };
    let accounts = ["a".to_string(), "b".to_string(), "c".to_string()];
    if audit.add_key(&key).is_err() || audit.add_accounts(&master, &accounts).is_err() {
        return;
    }
    let mut fed = 0u64;
    crate::corpus::read_jsonl("fuzz", &text, &mut |item| {
        let ok = match item {
            Item::Document(d) => {
                let ids: Vec<u32> = d.text.chars().map(u32::from).collect();
                let prompt: Option<Vec<u32>> = d.prompt.map(|p| p.chars().map(u32::from).collect());
                audit.add_document(&ids, prompt.as_deref()).is_ok()
            }
            Item::Predictions(p) => audit.add_predictions(&p.tokens, &p.predictions).is_ok(),
            Item::Code(_) | Item::Skipped(_) => false,
        };
        fed += u64::from(ok);
    });
    assert_eq!(audit.documents(), fed);
    if let Ok(r) = audit.report() {
        assert_eq!(r.rows.len(), 4);
        for row in &r.rows {
            assert!(row.green <= row.scored && row.documents == fed);
            assert!((0.0..=1.0).contains(&row.p_value) && row.log10_p_value <= 0.0);
            assert!(row.corrected_p_value >= row.p_value);
        }
    }
}

/// Normalises bytes (lossily decoded as UTF-8) with every normalisation: never panics, and v1's
/// output holds no carriage return and no default-ignorable character it should have removed.
pub fn normalize_text(data: &[u8]) {
    use provmark::text::Normalization;
    let text = String::from_utf8_lossy(data);
    assert_eq!(
        crate::normalize::normalize(&text, Normalization::None),
        text
    );
    let v1 = crate::normalize::normalize(&text, Normalization::V1);
    assert!(!v1.contains(['\r', '\u{200B}', '\u{202E}', '\u{FEFF}', '\u{00AD}']));
}
