//! Integrity tags of key and master files (file format version 2): one keyed tag per class of
//! fields, so an edited field is reported by name instead of silently changing detection.
//!
//! Each class of fields (`format`, `scheme`, `tokenizer`, `normalization`, `account`,
//! `validity`, `keys`) gets `tag = HMAC-SHA256(K, class || 0x00 || canonical JSON of the
//! class's fields)` truncated to 16 bytes, with `K = derive(secret, "file-tag/v2")`. Canonical
//! JSON is compact, with object keys sorted by their UTF-8 bytes and non-ASCII characters
//! written as they are (Python: `json.dumps(v, sort_keys=True, separators=(",", ":"),
//! ensure_ascii=False)`). The tags are keyed from the file's own secret: they catch edits and
//! corruption by anyone who does not hold it; whoever holds the file can of course re-tag it.

use super::SecretKey;
use crate::{Error, Result};
use hmac::Mac;
use serde_json::Value;
use std::collections::BTreeMap;

/// Bytes of a truncated tag.
const TAG_LEN: usize = 16;

/// The tags of a file, by class name.
pub type Tags = BTreeMap<String, String>;

/// Compact JSON with sorted object keys.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, x)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(x, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn mac(secret: &SecretKey, class: &str, value: &Value) -> super::HmacSha256 {
    let mut m = secret.derive("file-tag/v2").mac();
    m.update(class.as_bytes());
    m.update(&[0]);
    m.update(canonical_json(value).as_bytes());
    m
}

/// The tags of `classes` (class name, the class's fields as JSON).
pub fn compute(secret: &SecretKey, classes: &[(&'static str, Value)]) -> Tags {
    classes
        .iter()
        .map(|(c, v)| {
            let out = mac(secret, c, v).finalize().into_bytes();
            (
                (*c).to_string(),
                super::to_hex(out.get(..TAG_LEN).unwrap_or_default()),
            )
        })
        .collect()
}

/// Checks every class's tag (in constant time per tag).
///
/// # Errors
/// [`Error::KeyTampered`] naming the first class whose tag is missing or wrong;
/// [`Error::KeyFormat`] for a tag of an unknown class or one that is not hex.
pub fn verify(secret: &SecretKey, classes: &[(&'static str, Value)], tags: &Tags) -> Result<()> {
    if let Some(extra) = tags.keys().find(|k| !classes.iter().any(|(c, _)| c == k)) {
        return Err(Error::KeyFormat(format!(
            "tag of unknown field class {extra:?}"
        )));
    }
    for (c, v) in classes {
        let Some(hex) = tags.get(*c) else {
            return Err(Error::KeyTampered {
                field: c,
                file: None,
            });
        };
        let bytes = decode_hex(hex)
            .ok_or_else(|| Error::KeyFormat(format!("the tag of {c} is not hex")))?;
        if bytes.len() != TAG_LEN || mac(secret, c, v).verify_truncated_left(&bytes).is_err() {
            return Err(Error::KeyTampered {
                field: c,
                file: None,
            });
        }
    }
    Ok(())
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_sorts_keys_and_drops_spaces() {
        let v = json!({"b": [1, 2.0, "é"], "a": {"z": null, "y": true}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"y":true,"z":null},"b":[1,2.0,"é"]}"#
        );
    }

    #[test]
    fn an_edited_class_is_named() {
        let k = SecretKey::from_bytes([1; 32]);
        let classes = [
            ("scheme", json!({"gamma": 0.25})),
            ("tokenizer", json!("x")),
        ];
        let tags = compute(&k, &classes);
        verify(&k, &classes, &tags).unwrap();
        let edited = [("scheme", json!({"gamma": 0.3})), ("tokenizer", json!("x"))];
        assert!(matches!(
            verify(&k, &edited, &tags),
            Err(Error::KeyTampered {
                field: "scheme",
                ..
            })
        ));
        let other = SecretKey::from_bytes([2; 32]);
        assert!(verify(&other, &classes, &tags).is_err());
    }
}
