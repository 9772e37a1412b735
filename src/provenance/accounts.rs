//! Per-account keys derived from one master secret.
//!
//! A provider serving many API accounts stores one secret and derives each account's
//! watermark from it and the account id. Two modes:
//!
//! * **Shifted** (default): every account uses the master's PRF with its own cyclic shift of
//!   the vocabulary axis — token `v` of account `a` is green when the PRF byte of position
//!   `(v + s_a) mod 2^21` is below the threshold, with `s_a` the first 20 bits of
//!   `HMAC(master, "provmark/v1/account-shift/" || id)`. Accounts with different shifts have
//!   independent green lists, and one keystream window per scored tuple tests *every* account
//!   at once (the multi-bit idea of Fernandez et al. 2023), so 10 000 accounts cost one HMAC and
//!   one 1 MiB ChaCha8 window per tuple, not 10 000 HMACs. Trade-offs: whoever learns one
//!   account's key learns the master PRF, hence every account's green lists; and two accounts
//!   share a shift with probability 2^-20 per pair (about N²/2^21 colliding pairs among N
//!   accounts, ≈ 48 for 10 000), which makes those two indistinguishable — the audit reports
//!   such ties.
//! * **Independent**: each account's secret is `HMAC(master, "provmark/v1/account/" || id)`.
//!   Leaking one account key reveals nothing about the others, and there are no collisions,
//!   but auditing N accounts costs N HMACs per tuple.
//!
//! ```
//! use provmark::provenance::accounts::{AccountMode, MasterKey};
//! use provmark::{key::SecretKey, scheme::KgwParams, text::TokenizerSpec};
//! let master = MasterKey {
//!     secret: SecretKey::from_bytes([7; 32]),
//!     params: KgwParams::default(),
//!     tokenizer: TokenizerSpec::default(),
//!     mode: AccountMode::Shifted,
//! };
//! let a = master.account_key("customer-17");
//! let b = master.account_key("customer-18");
//! assert_ne!(a.key_id(), b.key_id());
//! assert_eq!(a.account.as_deref(), Some("customer-17"));
//! ```

use crate::key::file::{parse_secret_json, read_private, secret_json, write_private};
use crate::key::{KeyFile, KeyId, SecretKey};
use crate::scheme::{KgwParams, SchemeConfig};
use crate::text::TokenizerSpec;
use crate::{Error, Result};
use hmac::Mac;
use serde::{Deserialize, Serialize};
use std::path::Path;
use zeroize::Zeroizing;

/// Bits of an account's shift: shifts lie in `[0, 2^20)`.
pub const SHIFT_BITS: u32 = 20;
/// `format` field of master files.
const MASTER_FORMAT: &str = "provmark-master";
/// Master-file format version.
const MASTER_VERSION: u32 = 1;

/// How account keys are derived from the master secret.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountMode {
    /// One PRF, a cyclic shift per account: every account audited in one pass.
    #[default]
    Shifted,
    /// An independent secret per account.
    Independent,
}

/// A master secret with the watermark parameters and tokenizer its accounts use.
#[derive(Clone, Debug)]
pub struct MasterKey {
    /// The master secret.
    pub secret: SecretKey,
    /// Watermark parameters of every account.
    pub params: KgwParams,
    /// Tokenizer of every account.
    pub tokenizer: TokenizerSpec,
    /// How account keys are derived.
    pub mode: AccountMode,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Repr {
    format: String,
    version: u32,
    key_id: KeyId,
    accounts: AccountMode,
    scheme: SchemeConfig,
    tokenizer: TokenizerSpec,
    secret: Zeroizing<String>,
}

impl MasterKey {
    /// The master's public key id.
    pub fn key_id(&self) -> KeyId {
        self.secret.key_id()
    }

    /// The shift of an account (shifted mode).
    pub fn account_shift(&self, account: &str) -> u32 {
        let mut mac = self.secret.mac();
        mac.update(b"provmark/v1/account-shift/");
        mac.update(account.as_bytes());
        let out = mac.finalize().into_bytes();
        let mut b = [0u8; 4];
        b.copy_from_slice(out.get(..4).unwrap_or(&[0; 4]));
        u32::from_le_bytes(b) & ((1 << SHIFT_BITS) - 1)
    }

    /// The key file of one account, usable with `generate` and `detect` like any other. In
    /// shifted mode it holds the *master* secret (and the shift): treat it as the master.
    pub fn account_key(&self, account: &str) -> KeyFile {
        let (secret, shift) = match self.mode {
            AccountMode::Shifted => (self.secret.clone(), self.account_shift(account)),
            AccountMode::Independent => (self.secret.derive(&format!("account/{account}")), 0),
        };
        KeyFile {
            secret,
            scheme: SchemeConfig::Kgw {
                prf: crate::prf::PrfVersion::V1,
                params: self.params,
                shift,
            },
            tokenizer: self.tokenizer.clone(),
            account: Some(account.to_string()),
            normalization: Default::default(),
        }
    }

    /// Serialises the master file, secret included.
    pub fn to_json_dangerous(&self) -> Zeroizing<String> {
        let repr = Repr {
            format: MASTER_FORMAT.into(),
            version: MASTER_VERSION,
            key_id: self.key_id(),
            accounts: self.mode,
            scheme: SchemeConfig::kgw(self.params),
            tokenizer: self.tokenizer.clone(),
            secret: self.secret.to_hex_dangerous(),
        };
        secret_json(&repr)
    }

    /// Parses a master file.
    ///
    /// # Errors
    /// [`Error::KeyFormat`] when malformed; messages never contain the secret.
    pub fn from_json(text: &str) -> Result<Self> {
        let repr: Repr = parse_secret_json(text)?;
        if repr.format != MASTER_FORMAT || repr.version != MASTER_VERSION {
            return Err(Error::KeyFormat(format!(
                "not a {MASTER_FORMAT} version {MASTER_VERSION} file"
            )));
        }
        let secret = SecretKey::from_hex(&repr.secret)?;
        if secret.key_id() != repr.key_id {
            return Err(Error::KeyFormat("key_id does not match the secret".into()));
        }
        let params = match repr.scheme {
            SchemeConfig::Kgw {
                params, shift: 0, ..
            } => params,
            SchemeConfig::Kgw { .. } => {
                return Err(Error::KeyFormat("a master scheme has no shift".into()));
            }
            other => {
                return Err(Error::KeyFormat(format!(
                    "a master key's scheme must be kgw, not {}",
                    other.name()
                )));
            }
        };
        Ok(MasterKey {
            secret,
            params,
            tokenizer: repr.tokenizer,
            mode: repr.accounts,
        })
    }

    /// Writes a new master file with mode 0600; never overwrites.
    ///
    /// # Errors
    /// [`Error::WouldOverwrite`] or [`Error::Io`].
    pub fn write_new(&self, path: &Path) -> Result<()> {
        write_private(path, self.to_json_dangerous().as_bytes())
    }

    /// Reads a master file; warnings (loose permissions) are returned beside it.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::KeyFormat`].
    pub fn load(path: &Path) -> Result<(Self, Vec<String>)> {
        let (text, warnings) = read_private(path)?;
        let m = MasterKey::from_json(&text).map_err(|e| match e {
            Error::KeyFormat(m) => Error::KeyFormat(format!("{}: {m}", path.display())),
            other => other,
        })?;
        Ok((m, warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master(mode: AccountMode) -> MasterKey {
        MasterKey {
            secret: SecretKey::from_bytes([3; 32]),
            params: KgwParams::default(),
            tokenizer: TokenizerSpec::default(),
            mode,
        }
    }

    #[test]
    fn round_trips_and_derivations() {
        for mode in [AccountMode::Shifted, AccountMode::Independent] {
            let m = master(mode);
            let back = MasterKey::from_json(&m.to_json_dangerous()).unwrap();
            assert_eq!(back.mode, mode);
            assert_eq!(back.key_id(), m.key_id());
            let k = m.account_key("acct-1");
            let again = KeyFile::from_json(&k.to_json_dangerous()).unwrap();
            assert_eq!(again.key_id(), k.key_id());
            assert_eq!(again.account.as_deref(), Some("acct-1"));
            assert_ne!(k.key_id(), m.account_key("acct-2").key_id());
        }
        // A key file is not a master file and vice versa.
        let k = master(AccountMode::Shifted).account_key("x");
        assert!(MasterKey::from_json(&k.to_json_dangerous()).is_err());
        assert!(KeyFile::from_json(&master(AccountMode::Shifted).to_json_dangerous()).is_err());
    }

    /// Shifted account keys give the green list of the master PRF at the shifted position.
    #[test]
    fn shifted_green_lists_are_shifted_master_bytes() {
        let m = master(AccountMode::Shifted);
        let k = m.account_key("acct-9");
        let shift = m.account_shift("acct-9");
        let kgw = k.kgw().unwrap();
        let seed = crate::prf::PrfV1::new(&m.secret).seed(&[5, 6]).unwrap();
        for v in [0u32, 1, 100, 200_000] {
            let pos = (v + shift) & ((1 << 21) - 1);
            assert_eq!(
                kgw.is_green(&[5, 6], v).unwrap().unwrap(),
                seed.byte(pos) < 64
            );
        }
        let mut logits = vec![0.0f32; 3000];
        kgw.bias(&[5, 6], &mut logits).unwrap();
        for (v, l) in logits.iter().enumerate() {
            assert_eq!(*l > 0.0, kgw.is_green(&[5, 6], v as u32).unwrap().unwrap());
        }
    }
}
