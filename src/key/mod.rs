//! Secret keys, their public ids and key derivation.
//!
//! A [`SecretKey`] is 256 bits from the operating system's entropy source. Everything provmark
//! keys with it is a *subkey* derived by HMAC-SHA256 under a domain-separation label, so one
//! secret can serve several purposes (the green-list PRF, the public key id, ledgers, accounts)
//! without any two uses sharing material. The [`KeyId`] is a public fingerprint: a truncated
//! HMAC output from which the secret cannot be recovered.
//!
//! Secrets are zeroed on drop and never appear in `Debug` output, errors or reports.
//!
//! ```
//! use provmark::key::SecretKey;
//! let key = SecretKey::generate()?;
//! let id = key.key_id();
//! assert!(id.as_str().starts_with("pm1-"));
//! assert!(!format!("{key:?}").contains(&key.to_hex_dangerous()[..8]));
//! # Ok::<(), provmark::Error>(())
//! ```

pub(crate) mod file;
pub mod tags;
pub mod validity;

pub use file::{KeyFile, LoadedKeyFile, TokenizerSpec};
pub use validity::Validity;

use crate::{Error, Result};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Length of a secret key in bytes (256 bits).
pub const SECRET_LEN: usize = 32;

/// Prefix of every label used for subkey derivation in format version 1.
const LABEL_PREFIX: &[u8] = b"provmark/v1/";

/// A 256-bit secret key. Zeroed on drop; `Debug` shows only the public key id.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; SECRET_LEN]);

impl SecretKey {
    /// Draws a fresh key from the operating system's entropy source.
    ///
    /// # Errors
    /// [`Error::KeyFormat`] if the entropy source is unavailable.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; SECRET_LEN];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::KeyFormat(format!("operating-system entropy unavailable: {e}")))?;
        Ok(SecretKey(bytes))
    }

    /// Wraps existing key bytes (for tests, golden vectors and key derivation).
    pub fn from_bytes(bytes: [u8; SECRET_LEN]) -> Self {
        SecretKey(bytes)
    }

    /// Parses 64 hexadecimal digits.
    ///
    /// # Errors
    /// [`Error::KeyFormat`] when the string is not exactly 64 hex digits. The message never
    /// repeats the input.
    pub fn from_hex(hex: &str) -> Result<Self> {
        let hex = hex.trim();
        if hex.len() != 2 * SECRET_LEN {
            return Err(Error::KeyFormat(format!(
                "secret must be {} hex digits, found {}",
                2 * SECRET_LEN,
                hex.len()
            )));
        }
        let mut bytes = [0u8; SECRET_LEN];
        for (out, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
            let hi = hex_val(pair.first().copied());
            let lo = hex_val(pair.get(1).copied());
            match (hi, lo) {
                (Some(h), Some(l)) => *out = (h << 4) | l,
                _ => {
                    bytes.zeroize();
                    return Err(Error::KeyFormat("secret is not hexadecimal".into()));
                }
            }
        }
        Ok(SecretKey(bytes))
    }

    /// The secret as hex, for writing key files. The name says what it is: whatever you do with
    /// the returned string, it *is* the secret. It is wrapped so it is zeroed when dropped.
    pub fn to_hex_dangerous(&self) -> Zeroizing<String> {
        Zeroizing::new(to_hex(&self.0))
    }

    /// Derives a 256-bit subkey: `HMAC-SHA256(secret, "provmark/v1/" || label)`.
    pub fn derive(&self, label: &str) -> SecretKey {
        let mut mac = self.mac();
        mac.update(LABEL_PREFIX);
        mac.update(label.as_bytes());
        let mut out = [0u8; SECRET_LEN];
        out.copy_from_slice(&mac.finalize().into_bytes());
        SecretKey(out)
    }

    /// The public key id: `"pm1-"` followed by the first 8 bytes, in hex, of the subkey derived
    /// under the label `key-id`.
    pub fn key_id(&self) -> KeyId {
        let sub = self.derive("key-id");
        KeyId(format!(
            "pm1-{}",
            to_hex(sub.0.get(..8).unwrap_or_default())
        ))
    }

    /// The long public key id of a coded account key (accounts version 2): `"pm2-"` followed
    /// by the first 16 bytes, in hex, of the subkey derived under `key-id`. 128 bits, so ids
    /// of 10^6 accounts collide with probability below 1e-26.
    pub fn long_key_id(&self) -> KeyId {
        let sub = self.derive("key-id");
        KeyId(format!(
            "pm2-{}",
            to_hex(sub.0.get(..16).unwrap_or_default())
        ))
    }

    /// An HMAC-SHA256 instance keyed with this secret.
    pub(crate) fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail; the fallback keeps the code
        // panic-free without an unwrap.
        match HmacSha256::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => HmacSha256::new(&Default::default()),
        }
    }

    /// The raw bytes, inside the crate only.
    pub(crate) fn bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}, secret redacted)", self.key_id())
    }
}

/// Public fingerprint of a [`SecretKey`], safe to print, log and publish.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    /// The id as text, e.g. `pm1-3f9a0c1e22b4d6a8`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of a shifted per-account key under this (master) id: `pm1-…+0a1b2c`.
    pub fn with_shift(&self, shift: u32) -> KeyId {
        KeyId(format!("{}+{shift:06x}", self.0))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn hex_val(c: Option<u8>) -> Option<u8> {
    match c? {
        c @ b'0'..=b'9' => Some(c - b'0'),
        c @ b'a'..=b'f' => Some(c - b'a' + 10),
        c @ b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Lower-case hex of `bytes` (for public identifiers, never for secrets).
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        let k = SecretKey::from_bytes([0xab; 32]);
        let h = k.to_hex_dangerous();
        let k2 = SecretKey::from_hex(&h).unwrap();
        assert_eq!(k.bytes(), k2.bytes());
        assert!(matches!(
            SecretKey::from_hex("zz"),
            Err(Error::KeyFormat(_))
        ));
        let bad = "g".repeat(64);
        let err = SecretKey::from_hex(&bad).unwrap_err().to_string();
        assert!(!err.contains("ggg"), "error must not echo input: {err}");
    }

    #[test]
    fn debug_hides_secret_and_ids_differ() {
        let k = SecretKey::from_bytes([7; 32]);
        let dbg = format!("{k:?}");
        assert!(!dbg.contains("0707"));
        assert!(dbg.contains("pm1-"));
        assert_ne!(k.key_id(), SecretKey::from_bytes([8; 32]).key_id());
        assert_ne!(k.derive("a").bytes(), k.derive("b").bytes());
    }
}
