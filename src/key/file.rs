//! Key files: JSON holding a format version, the public key id, the scheme parameters, the
//! tokenizer and the secret.
//!
//! ```json
//! {
//!   "format": "provmark-key",
//!   "version": 2,
//!   "key_id": "pm1-…",
//!   "scheme": {"type": "kgw", "prf": "v1", "gamma": 0.25, "delta": 2.0, "context": 2},
//!   "tokenizer": {"type": "tiktoken", "name": "o200k_base"},
//!   "normalization": "v1",
//!   "valid_from": "2026-01-01",
//!   "valid_until": "2026-06-30",
//!   "secret": "64 hex digits",
//!   "tags": {"format": "…", "scheme": "…", "tokenizer": "…", "normalization": "…",
//!            "account": "…", "validity": "…", "keys": "…"}
//! }
//! ```
//!
//! Version 2 (written since accounts version 2) adds the validity period (optional) and one
//! integrity tag per class of fields ([`super::tags`]): an edited γ is
//! [`Error::KeyTampered`] naming `scheme`, never a silent change of detection. A coded account
//! key (`"type": "kgw-coded"`) also holds its `account_keys` (position and class keys). Version 1
//! files (no tags) are still read.
//!
//! `normalization` (how text is normalised before tokenizing, [`Normalization`]) is absent in
//! files written before it existed, which then mean `none`.
//!
//! Files are created with mode 0600 and never overwritten. Loading checks that the key id
//! matches the secret (a corrupted or hand-edited file is caught) and warns when group or others
//! may read the file.

use super::tags::{self, Tags};
use super::validity::Validity;
use super::{KeyId, SecretKey};
use crate::scheme::{
    CodedKeys, CodedKgw, Gumbel, Kgw, Scheme, SchemeConfig, SelfHash, SynthId, Vllm, VllmParams,
};
pub use crate::text::{Normalization, TokenizerSpec};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use zeroize::Zeroizing;

fn is_none(n: &Normalization) -> bool {
    *n == Normalization::None
}

/// The `format` field of key files.
const KEY_FORMAT: &str = "provmark-key";
/// The key-file format version this code writes (it also reads version 1).
const KEY_VERSION: u32 = 2;
/// Key files larger than this are rejected unread (a key file is a few hundred bytes).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// A watermark key: the secret with the scheme and tokenizer it is used with.
#[derive(Clone, Debug)]
pub struct KeyFile {
    /// The secret.
    pub secret: SecretKey,
    /// The scheme and its parameters.
    pub scheme: SchemeConfig,
    /// The tokenizer the watermark is embedded with.
    pub tokenizer: TokenizerSpec,
    /// The account this key was derived for under a master secret, if any.
    pub account: Option<String>,
    /// How text is normalised before tokenizing (absent in older files: none).
    pub normalization: Normalization,
    /// The days the key served text (key rotation); unbounded by default.
    pub validity: Validity,
    /// A coded account's position and class keys (scheme `kgw-coded` only).
    pub coded: Option<Arc<CodedKeys>>,
}

/// A key file and the warnings raised while loading it (for example loose permissions).
#[derive(Debug)]
pub struct LoadedKeyFile {
    /// The key.
    pub key: KeyFile,
    /// Human-readable warnings; never contain secret material.
    pub warnings: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Repr {
    format: String,
    version: u32,
    key_id: KeyId,
    scheme: SchemeConfig,
    tokenizer: TokenizerSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    #[serde(default, skip_serializing_if = "is_none")]
    normalization: Normalization,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_until: Option<String>,
    secret: Zeroizing<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account_keys: Option<KeysRepr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tags: Option<Tags>,
}

/// A coded account's keys in its file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysRepr {
    position: Zeroizing<String>,
    classes: Vec<Zeroizing<String>>,
}

impl KeysRepr {
    fn of(keys: &CodedKeys) -> Self {
        KeysRepr {
            position: keys.position().to_hex_dangerous(),
            classes: keys
                .classes()
                .iter()
                .map(|k| k.to_hex_dangerous())
                .collect(),
        }
    }

    fn parse(&self) -> Result<CodedKeys> {
        let classes = self
            .classes
            .iter()
            .map(|h| SecretKey::from_hex(h))
            .collect::<Result<Vec<_>>>()?;
        CodedKeys::new(SecretKey::from_hex(&self.position)?, classes)
    }
}

/// The digest the `keys` tag covers: SHA-256 of the position key then the class keys (raw
/// bytes), so the tagged text holds no secret.
fn keys_digest(keys: Option<&CodedKeys>) -> serde_json::Value {
    use sha2::Digest;
    match keys {
        None => serde_json::Value::Null,
        Some(k) => {
            let mut h = sha2::Sha256::new();
            h.update(k.position().bytes());
            for c in k.classes() {
                h.update(c.bytes());
            }
            serde_json::json!({ "sha256": super::to_hex(&h.finalize()) })
        }
    }
}

/// The fields of a key or master file that its tags cover (see [`super::tags`]).
pub(crate) struct TaggedFields<'a> {
    pub format: &'a str,
    pub version: u32,
    pub key_id: &'a KeyId,
    pub scheme: serde_json::Value,
    pub tokenizer: &'a TokenizerSpec,
    pub normalization: Normalization,
    pub account: Option<&'a str>,
    pub validity: &'a Validity,
    pub keys: Option<&'a CodedKeys>,
}

impl TaggedFields<'_> {
    /// The tagged classes, as (class name, the class's fields as JSON).
    pub(crate) fn classes(&self) -> Vec<(&'static str, serde_json::Value)> {
        use serde_json::json;
        let (from, until) = self.validity.to_strings();
        vec![
            (
                "format",
                json!({"format": self.format, "version": self.version, "key_id": self.key_id}),
            ),
            ("scheme", self.scheme.clone()),
            (
                "tokenizer",
                serde_json::to_value(self.tokenizer).unwrap_or_default(),
            ),
            ("normalization", json!(self.normalization.name())),
            ("account", json!({ "account": self.account })),
            (
                "validity",
                json!({"valid_from": from, "valid_until": until}),
            ),
            ("keys", keys_digest(self.keys)),
        ]
    }
}

impl KeyFile {
    /// The public key id: the secret's id, followed by `+` and the shift in hex for a shifted
    /// per-account key (whose secret is the master's).
    pub fn key_id(&self) -> KeyId {
        match &self.scheme {
            SchemeConfig::KgwCoded(_) => self.secret.long_key_id(),
            SchemeConfig::Kgw { shift, .. } if *shift != 0 => {
                self.secret.key_id().with_shift(*shift)
            }
            _ => self.secret.key_id(),
        }
    }

    /// A key file for a watermark embedded by vLLM: `key` is vLLM's integer key
    /// (`WatermarkConfig.key`), stored as the secret's last 8 bytes (big-endian) after 24 zero
    /// bytes. vLLM keys have 64 bits; anyone holding watermarked text can test a guess of the
    /// key by detecting with it, so the public key id (a keyed hash of the secret) reveals
    /// nothing an attacker could not already check.
    pub fn vllm(key: u64, params: VllmParams, tokenizer: TokenizerSpec) -> Self {
        KeyFile {
            secret: vllm_secret(key),
            scheme: SchemeConfig::Vllm(params),
            tokenizer,
            account: None,
            normalization: Default::default(),
            validity: Validity::ALWAYS,
            coded: None,
        }
    }

    /// The KGW scheme keyed with this secret.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when the key is for another scheme (use
    /// [`KeyFile::scheme`] for code that serves every scheme).
    pub fn kgw(&self) -> Result<Kgw> {
        match &self.scheme {
            SchemeConfig::Kgw { prf, params, shift } => {
                Ok(Kgw::with_prf(*prf, &self.secret, *params, *shift))
            }
            other => Err(Error::param(
                "scheme",
                format!("this needs a kgw key; the key is {}", other.name()),
            )),
        }
    }

    /// The keyed scheme this file describes, whatever it is: what detectors and generation
    /// loops use.
    pub fn scheme(&self) -> Arc<dyn Scheme> {
        match &self.scheme {
            SchemeConfig::Kgw { prf, params, shift } => {
                Arc::new(Kgw::with_prf(*prf, &self.secret, *params, *shift))
            }
            // Without its keys (a hand-built `KeyFile`), every call is a typed error.
            SchemeConfig::KgwCoded(params) => match &self.coded {
                Some(keys) => Arc::new(CodedKgw::new(keys, *params)),
                None => Arc::new(CodedKgw::unkeyed(*params)),
            },
            SchemeConfig::Vllm(params) => Arc::new(Vllm::new(vllm_key(&self.secret), *params)),
            SchemeConfig::Gumbel(params) => Arc::new(Gumbel::new(&self.secret, *params)),
            SchemeConfig::SynthId(params) => Arc::new(SynthId::new(&self.secret, *params)),
            SchemeConfig::SelfHash(params) => Arc::new(SelfHash::new(&self.secret, *params)),
        }
    }

    /// Parses key-file JSON.
    ///
    /// # Errors
    /// [`Error::KeyFormat`] for malformed JSON, an unknown format or version, a malformed secret,
    /// or a key id that does not match the secret. Messages never contain the secret.
    pub fn from_json(text: &str) -> Result<Self> {
        let repr: Repr = parse_secret_json(text)?;
        if repr.format != KEY_FORMAT {
            return Err(Error::KeyFormat(format!(
                "format is {:?}, expected {KEY_FORMAT:?}",
                repr.format
            )));
        }
        if repr.version != 1 && repr.version != KEY_VERSION {
            return Err(Error::KeyFormat(format!(
                "version {} is not supported (this provmark reads versions 1 and {KEY_VERSION})",
                repr.version
            )));
        }
        if repr.version == 1
            && (repr.tags.is_some()
                || repr.account_keys.is_some()
                || repr.valid_from.is_some()
                || repr.valid_until.is_some()
                || matches!(repr.scheme, SchemeConfig::KgwCoded(_)))
        {
            return Err(Error::KeyFormat(
                "tags, validity and coded account keys need version 2".into(),
            ));
        }
        if matches!(repr.scheme, SchemeConfig::KgwCoded(_)) != repr.account_keys.is_some() {
            return Err(Error::KeyFormat(
                "a kgw-coded key holds account_keys, and only it does".into(),
            ));
        }
        if matches!(repr.scheme, SchemeConfig::Kgw { shift, .. } if shift as usize >= crate::prf::MAX_VOCAB)
        {
            return Err(Error::KeyFormat("shift must be below 2^21".into()));
        }
        let secret = SecretKey::from_hex(&repr.secret)?;
        if matches!(repr.scheme, SchemeConfig::Vllm(_))
            && secret
                .bytes()
                .get(..24)
                .is_some_and(|b| b.iter().any(|&x| x != 0))
        {
            return Err(Error::KeyFormat(
                "a vllm key's secret holds a 64-bit key: its first 48 hex digits must be 0".into(),
            ));
        }
        let coded = repr
            .account_keys
            .as_ref()
            .map(KeysRepr::parse)
            .transpose()?
            .map(Arc::new);
        let validity = Validity::parse(repr.valid_from.as_deref(), repr.valid_until.as_deref())
            .map_err(|e| Error::KeyFormat(e.to_string()))?;
        let key = KeyFile {
            secret,
            scheme: repr.scheme,
            tokenizer: repr.tokenizer,
            account: repr.account,
            normalization: repr.normalization,
            validity,
            coded,
        };
        if key.key_id() != repr.key_id {
            return Err(Error::KeyFormat(format!(
                "key_id {} does not match the secret (file corrupted or edited)",
                repr.key_id
            )));
        }
        if let Some(t) = &repr.tags {
            tags::verify(&key.secret, &key.tag_classes(repr.version), t)?;
        } else if repr.version >= 2 {
            return Err(Error::KeyTampered {
                field: "tags",
                file: None,
            });
        }
        Ok(key)
    }

    fn tag_classes(&self, version: u32) -> Vec<(&'static str, serde_json::Value)> {
        TaggedFields {
            format: KEY_FORMAT,
            version,
            key_id: &self.key_id(),
            scheme: serde_json::to_value(&self.scheme).unwrap_or_default(),
            tokenizer: &self.tokenizer,
            normalization: self.normalization,
            account: self.account.as_deref(),
            validity: &self.validity,
            keys: self.coded.as_deref(),
        }
        .classes()
    }

    /// Serialises to key-file JSON (version 2, tagged), secret included: handle the result
    /// as the secret.
    pub fn to_json_dangerous(&self) -> Zeroizing<String> {
        let (valid_from, valid_until) = self.validity.to_strings();
        let repr = Repr {
            format: KEY_FORMAT.into(),
            version: KEY_VERSION,
            key_id: self.key_id(),
            scheme: self.scheme.clone(),
            tokenizer: self.tokenizer.clone(),
            account: self.account.clone(),
            normalization: self.normalization,
            valid_from,
            valid_until,
            secret: self.secret.to_hex_dangerous(),
            account_keys: self.coded.as_deref().map(KeysRepr::of),
            tags: Some(tags::compute(&self.secret, &self.tag_classes(KEY_VERSION))),
        };
        secret_json(&repr)
    }

    /// Writes a new key file with mode 0600.
    ///
    /// # Errors
    /// [`Error::WouldOverwrite`] if `path` exists; [`Error::Io`] otherwise.
    pub fn write_new(&self, path: &Path) -> Result<()> {
        write_private(path, self.to_json_dangerous().as_bytes())
    }

    /// Reads and validates a key file.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be read, [`Error::KeyFormat`] if it is malformed.
    pub fn load(path: &Path) -> Result<LoadedKeyFile> {
        let (text, warnings) = read_private(path)?;
        let key = KeyFile::from_json(&text).map_err(|e| with_path(e, path))?;
        let mut warnings = warnings;
        if untagged(&text) {
            warnings.push(format!(
                "{} is a version 1 file without integrity tags (an edited field would go unnoticed); \
                 `provmark upgrade-key {} --out NEW` rewrites it as version 2, detecting the same",
                path.display(),
                path.display()
            ));
        }
        Ok(LoadedKeyFile { key, warnings })
    }
}

/// Names the file in a key-format or integrity error.
pub(crate) fn with_path(e: Error, path: &Path) -> Error {
    match e {
        Error::KeyFormat(m) => Error::KeyFormat(format!("{}: {m}", path.display())),
        Error::KeyTampered { field, .. } => Error::KeyTampered {
            field,
            file: Some(path.to_path_buf()),
        },
        other => other,
    }
}

/// Whether a parsed file is of version 1 (untagged).
pub(crate) fn untagged(text: &str) -> bool {
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    serde_json::from_str::<Version>(text).is_ok_and(|v| v.version == 1)
}

/// The secret that holds vLLM's 64-bit key.
fn vllm_secret(key: u64) -> SecretKey {
    let mut bytes = [0u8; 32];
    if let Some(tail) = bytes.get_mut(24..) {
        tail.copy_from_slice(&key.to_be_bytes());
    }
    SecretKey::from_bytes(bytes)
}

/// vLLM's 64-bit key from its secret (the last 8 bytes, big-endian).
fn vllm_key(secret: &SecretKey) -> u64 {
    let mut tail = [0u8; 8];
    if let Some(b) = secret.bytes().get(24..) {
        tail.copy_from_slice(b);
    }
    u64::from_be_bytes(tail)
}

/// Pretty JSON of a secret-bearing record, newline-terminated, zeroed when dropped.
pub(crate) fn secret_json(repr: &impl Serialize) -> Zeroizing<String> {
    let mut out = Zeroizing::new(serde_json::to_string_pretty(repr).unwrap_or_default());
    out.push('\n');
    out
}

/// Parses a secret-bearing JSON record; errors name the position, never the values.
pub(crate) fn parse_secret_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| {
        Error::KeyFormat(format!(
            "{} at line {} column {}",
            describe_json_error(&e),
            e.line(),
            e.column()
        ))
    })
}

/// serde_json's message without any quoted input values (which could be secret).
fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Io => "I/O error".into(),
        Category::Syntax => "not valid JSON".into(),
        Category::Eof => "unexpected end of file".into(),
        Category::Data => {
            let msg = e.to_string();
            // Keep messages about fields (which name keys, not values); drop the rest.
            if msg.starts_with("missing field") || msg.starts_with("unknown field") {
                msg.split(" at line")
                    .next()
                    .unwrap_or("bad value")
                    .to_string()
            } else {
                "a field has the wrong type or value".into()
            }
        }
    }
}

/// Creates `path` with owner-only permissions and writes `bytes`; never overwrites.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::WouldOverwrite(path.to_path_buf())
        } else {
            Error::io(path, e)
        }
    })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Reads a small secret-bearing file, warning when group or others can read it.
pub(crate) fn read_private(path: &Path) -> Result<(Zeroizing<String>, Vec<String>)> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = f.metadata().map_err(|e| Error::io(path, e))?;
    let mut warnings = Vec::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            warnings.push(format!(
                "{} is readable by group or others (mode {mode:o}); run `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(Error::KeyFormat(format!(
            "{}: {} bytes is too large for a key file",
            path.display(),
            meta.len()
        )));
    }
    let mut text = Zeroizing::new(String::new());
    f.take(MAX_KEY_FILE)
        .read_to_string(&mut text)
        .map_err(|e| Error::io(path, e))?;
    Ok((text, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::KgwParams;

    fn sample() -> KeyFile {
        KeyFile {
            secret: SecretKey::from_bytes([5; 32]),
            scheme: SchemeConfig::kgw(KgwParams::default()),
            tokenizer: TokenizerSpec::default(),
            account: None,
            normalization: Default::default(),
            validity: Default::default(),
            coded: None,
        }
    }

    #[test]
    fn json_round_trip_exact() {
        let k = sample();
        let json = k.to_json_dangerous();
        let back = KeyFile::from_json(&json).unwrap();
        assert_eq!(back.secret.bytes(), k.secret.bytes());
        assert_eq!(back.scheme, k.scheme);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            v["scheme"],
            serde_json::json!({"type": "kgw", "prf": "v1", "gamma": 0.25, "delta": 2.0, "context": 2})
        );
        assert_eq!(
            v["tokenizer"],
            serde_json::json!({"type": "tiktoken", "name": "o200k_base"})
        );
        assert_eq!(v["format"], "provmark-key");
        assert_eq!(v["version"], 2);
    }

    /// Every class of fields is tagged: an edit is a typed error naming the class.
    #[test]
    fn edited_fields_are_named() {
        let mut k = sample();
        k.account = Some("acct".into());
        k.validity = Validity::parse(Some("2026-01-01"), None).unwrap();
        let json = k.to_json_dangerous().to_string();
        for (from, to, class) in [
            ("\"gamma\": 0.25", "\"gamma\": 0.3", "scheme"),
            ("o200k_base", "cl100k_base", "tokenizer"),
            ("\"acct\"", "\"acct2\"", "account"),
            ("2026-01-01", "2025-01-01", "validity"),
        ] {
            assert!(json.contains(from), "{from}");
            let err = KeyFile::from_json(&json.replace(from, to)).unwrap_err();
            assert!(
                matches!(err, Error::KeyTampered { field, .. } if field == class),
                "{from}: {err}"
            );
        }
        // Adding a normalisation to a tagged file is an edit too.
        let edited = json.replace("\"secret\"", "\"normalization\": \"v1\",\n  \"secret\"");
        assert!(matches!(
            KeyFile::from_json(&edited),
            Err(Error::KeyTampered {
                field: "normalization",
                ..
            })
        ));
        // Dropping the tags of a version 2 file is caught.
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut o = v.as_object().unwrap().clone();
        o.remove("tags");
        assert!(KeyFile::from_json(&serde_json::Value::Object(o).to_string()).is_err());
        // A version 1 file (no tags) still reads.
        let mut o = v.as_object().unwrap().clone();
        o.remove("tags");
        o.remove("valid_from");
        o.insert("version".into(), 1.into());
        let v1 = KeyFile::from_json(&serde_json::Value::Object(o).to_string()).unwrap();
        assert_eq!(v1.key_id(), k.key_id());
    }

    #[test]
    fn malformed_files_are_typed_errors_without_secret() {
        let k = sample();
        let json = k.to_json_dangerous().to_string();
        let hex = k.secret.to_hex_dangerous().to_string();
        let cases = [
            json.replace("provmark-key", "other"),
            json.replace("\"version\": 2", "\"version\": 3"),
            json.replace(&hex, &"0".repeat(64)),
            json.replace(&hex, "xyz"),
            json.replace("\"gamma\": 0.25", "\"gamma\": 1.5"),
            json.replace("\"context\": 2", "\"context\": 9"),
            json.replace("\"secret\"", "\"secrte\""),
            json.replace(&format!("\"{hex}\""), &format!("[\"{hex}\"]")),
            json[..json.len() / 2].to_string(),
            String::new(),
        ];
        for c in cases {
            let err = KeyFile::from_json(&c).unwrap_err();
            assert!(matches!(err, Error::KeyFormat(_)), "{err:?}");
            assert!(
                !err.to_string().contains(&hex[..16]),
                "secret leaked: {err}"
            );
        }
    }
}
