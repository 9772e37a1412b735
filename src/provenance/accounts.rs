//! Per-account keys derived from one master secret.
//!
//! A provider serving many API accounts stores one secret and derives each account's
//! watermark from it and the account id. Three modes:
//!
//! * **Coded** (default, accounts version 2; [`crate::scheme::coded`]): each context falls at
//!   one of 64 positions, each position has 16 classes of green list, and the account's 256-bit
//!   codeword `HMAC(derive(master, "accounts-v2/codeword"), id)` picks one class per position.
//!   Class `(j, c)`'s key is `derive(master, "accounts-v2/class/{j}/{c}")`, the position key
//!   `derive(master, "accounts-v2/position")`. An audit scores the 16 classes of a tuple's
//!   position once and gets every account's green count by adding 64 counters, so 10^6
//!   accounts cost 17 ChaCha8 blocks per tuple plus 64 additions per account. Two accounts
//!   coincide only if their codewords do (2^-256 per pair). An account's key file holds the
//!   position key and its 64 class keys (never the master secret); its own secret
//!   `HMAC(derive(master, "accounts-v2/account"), id)` names it (`pm2-` key id) and tags its
//!   file. **What a leaked account file allows:** detecting and forging that account's
//!   watermark; computing every context's position; and, since two accounts share a class at a
//!   position with probability 1/16, raising another account's green count on the tuples
//!   where their codewords agree. It gives nothing about any class it does not hold, so on the
//!   positions where another account's codeword differs (15/16 of them on average) that
//!   account's counts stay exactly null — which is what the audit's separation test reads
//!   ([`super::audit`]): text forged with a leaked file is attributed to the leaked account,
//!   never to another.
//! * **Shifted** (accounts version 1): every account uses the master's PRF with its own cyclic shift of
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
//!     mode: AccountMode::Coded,
//!     normalization: Default::default(),
//!     validity: Default::default(),
//! };
//! let a = master.account_key("customer-17");
//! let b = master.account_key("customer-18");
//! assert_ne!(a.key_id(), b.key_id());
//! assert_eq!(a.account.as_deref(), Some("customer-17"));
//! ```

use crate::key::file::{TaggedFields, parse_secret_json, read_private, secret_json, write_private};
use crate::key::tags::{self, Tags};
use crate::key::{KeyFile, KeyId, SecretKey, Validity};
use crate::scheme::coded::{POSITIONS, SYMBOLS};
use crate::scheme::{CodedKeys, KgwParams, SchemeConfig};
use crate::text::{Normalization, TokenizerSpec};
use crate::{Error, Result};
use hmac::Mac;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Bits of an account's shift: shifts lie in `[0, 2^20)`.
pub const SHIFT_BITS: u32 = 20;
/// `format` field of master files.
const MASTER_FORMAT: &str = "provmark-master";
/// Master-file format version written (version 1 is still read).
const MASTER_VERSION: u32 = 2;

/// An account's codeword: 64 symbols of 4 bits (symbol `j` is the low nibble of byte `j / 2`
/// for even `j`, the high nibble for odd `j`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Codeword(pub(crate) [u8; 32]);

impl Codeword {
    /// The class the account uses at position `j`.
    #[inline]
    pub fn symbol(&self, j: usize) -> usize {
        let b = self.0.get(j / 2).copied().unwrap_or(0);
        usize::from(if j % 2 == 0 { b & 15 } else { b >> 4 })
    }

    /// Positions where two codewords differ.
    pub fn differing(&self, other: &Codeword) -> impl Iterator<Item = usize> + '_ {
        let other = *other;
        (0..POSITIONS).filter(move |&j| self.symbol(j) != other.symbol(j))
    }
}

impl std::fmt::Debug for Codeword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Codeword(redacted)")
    }
}

/// How account keys are derived from the master secret.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountMode {
    /// Codewords over shared classes (accounts version 2): every account audited in one pass,
    /// no collisions, account files without the master secret.
    #[default]
    Coded,
    /// One PRF, a cyclic shift per account (accounts version 1): every account audited in one
    /// pass, but a shift collides with probability 2^-20 per pair and account files hold the
    /// master secret.
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
    /// How text is normalised before tokenizing, for every account.
    pub normalization: Normalization,
    /// The days the master (and every account key) served text.
    pub validity: Validity,
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
    #[serde(default, skip_serializing_if = "is_none")]
    normalization: Normalization,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_until: Option<String>,
    secret: Zeroizing<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tags: Option<Tags>,
}

fn is_none(n: &Normalization) -> bool {
    *n == Normalization::None
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

    /// An HMAC keyed with the subkey of `label`, ready for an account id.
    fn account_mac(&self, label: &str) -> crate::key::HmacSha256 {
        self.secret.derive(label).mac()
    }

    /// `HMAC(derive(master, label), id)` for many account ids, with one key setup for all.
    fn per_account<'a>(
        &self,
        label: &str,
        accounts: impl IntoIterator<Item = &'a str>,
    ) -> impl Iterator<Item = [u8; 32]> {
        let base = self.account_mac(label);
        accounts.into_iter().map(move |a| {
            let mut m = base.clone();
            m.update(a.as_bytes());
            let mut out = [0u8; 32];
            out.copy_from_slice(&m.finalize().into_bytes());
            out
        })
    }

    /// The codewords of many accounts (coded mode), with one key setup for all.
    pub fn codewords<'a>(&self, accounts: impl IntoIterator<Item = &'a str>) -> Vec<Codeword> {
        self.per_account("accounts-v2/codeword", accounts)
            .map(Codeword)
            .collect()
    }

    /// The codeword of one account (coded mode).
    pub fn codeword(&self, account: &str) -> Codeword {
        self.codewords([account]).pop().unwrap_or(Codeword([0; 32]))
    }

    /// The key of class `symbol` at `position` (coded mode).
    pub fn class_key(&self, position: usize, symbol: usize) -> SecretKey {
        self.secret
            .derive(&format!("accounts-v2/class/{position}/{symbol}"))
    }

    /// Every class key, position-major: index `position * 16 + symbol`.
    pub fn class_keys(&self) -> Vec<SecretKey> {
        (0..POSITIONS * SYMBOLS)
            .map(|i| self.class_key(i / SYMBOLS, i % SYMBOLS))
            .collect()
    }

    /// The position key (coded mode).
    pub fn position_key(&self) -> SecretKey {
        self.secret.derive("accounts-v2/position")
    }

    /// The secret of many accounts' key files (coded mode): ids and integrity tags.
    pub fn account_secrets<'a>(
        &self,
        accounts: impl IntoIterator<Item = &'a str>,
    ) -> Vec<SecretKey> {
        self.per_account("accounts-v2/account", accounts)
            .map(SecretKey::from_bytes)
            .collect()
    }

    /// The key file of one account, usable with `generate` and `detect` like any other. In
    /// coded mode it holds only that account's material; in shifted mode (version 1) it holds
    /// the *master* secret (and the shift): treat such a file as the master.
    pub fn account_key(&self, account: &str) -> KeyFile {
        let scheme = |shift| SchemeConfig::Kgw {
            prf: crate::prf::PrfVersion::V1,
            params: self.params,
            shift,
        };
        let (secret, scheme, coded) = match self.mode {
            AccountMode::Coded => {
                let cw = self.codeword(account);
                let classes = (0..POSITIONS)
                    .map(|j| self.class_key(j, cw.symbol(j)))
                    .collect();
                let keys = CodedKeys::new(self.position_key(), classes)
                    .ok()
                    .map(Arc::new);
                let secret = self
                    .account_secrets([account])
                    .pop()
                    .unwrap_or_else(|| self.secret.derive("accounts-v2/account"));
                (secret, SchemeConfig::KgwCoded(self.params), keys)
            }
            AccountMode::Shifted => (
                self.secret.clone(),
                scheme(self.account_shift(account)),
                None,
            ),
            AccountMode::Independent => (
                self.secret.derive(&format!("account/{account}")),
                scheme(0),
                None,
            ),
        };
        KeyFile {
            secret,
            scheme,
            tokenizer: self.tokenizer.clone(),
            account: Some(account.to_string()),
            normalization: self.normalization,
            validity: self.validity,
            coded,
        }
    }

    fn tag_classes(&self, version: u32) -> Vec<(&'static str, serde_json::Value)> {
        let mut classes = TaggedFields {
            format: MASTER_FORMAT,
            version,
            key_id: &self.key_id(),
            scheme: serde_json::to_value(SchemeConfig::kgw(self.params)).unwrap_or_default(),
            tokenizer: &self.tokenizer,
            normalization: self.normalization,
            account: None,
            validity: &self.validity,
            keys: None,
        }
        .classes();
        classes.push((
            "accounts",
            serde_json::to_value(self.mode).unwrap_or_default(),
        ));
        classes
    }

    /// Serialises the master file, secret included.
    pub fn to_json_dangerous(&self) -> Zeroizing<String> {
        let (valid_from, valid_until) = self.validity.to_strings();
        let repr = Repr {
            format: MASTER_FORMAT.into(),
            version: MASTER_VERSION,
            key_id: self.key_id(),
            accounts: self.mode,
            scheme: SchemeConfig::kgw(self.params),
            tokenizer: self.tokenizer.clone(),
            normalization: self.normalization,
            valid_from,
            valid_until,
            secret: self.secret.to_hex_dangerous(),
            tags: Some(tags::compute(
                &self.secret,
                &self.tag_classes(MASTER_VERSION),
            )),
        };
        secret_json(&repr)
    }

    /// Parses a master file.
    ///
    /// # Errors
    /// [`Error::KeyFormat`] when malformed; messages never contain the secret.
    pub fn from_json(text: &str) -> Result<Self> {
        let repr: Repr = parse_secret_json(text)?;
        if repr.format != MASTER_FORMAT || !(1..=MASTER_VERSION).contains(&repr.version) {
            return Err(Error::KeyFormat(format!(
                "not a {MASTER_FORMAT} file of version 1 or {MASTER_VERSION}"
            )));
        }
        if repr.version == 1
            && (repr.tags.is_some()
                || repr.accounts == AccountMode::Coded
                || repr.normalization != Normalization::None
                || repr.valid_from.is_some()
                || repr.valid_until.is_some())
        {
            return Err(Error::KeyFormat(
                "coded accounts, tags, normalisation and validity need version 2".into(),
            ));
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
        if repr.accounts == AccountMode::Coded && params.context() == 0 {
            return Err(Error::KeyFormat(
                "coded accounts need a context of at least one token".into(),
            ));
        }
        let validity = Validity::parse(repr.valid_from.as_deref(), repr.valid_until.as_deref())
            .map_err(|e| Error::KeyFormat(e.to_string()))?;
        let master = MasterKey {
            secret,
            params,
            tokenizer: repr.tokenizer,
            mode: repr.accounts,
            normalization: repr.normalization,
            validity,
        };
        match &repr.tags {
            Some(t) => tags::verify(&master.secret, &master.tag_classes(repr.version), t)?,
            None if repr.version >= 2 => {
                return Err(Error::KeyTampered {
                    field: "tags",
                    file: None,
                });
            }
            None => {}
        }
        Ok(master)
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
        let m = MasterKey::from_json(&text).map_err(|e| crate::key::file::with_path(e, path))?;
        let mut warnings = warnings;
        if crate::key::file::untagged(&text) {
            warnings.push(format!(
                "{} is a version 1 master file without integrity tags; `provmark upgrade-key {} \
                 --out NEW` rewrites it as version 2 (its accounts stay the same)",
                path.display(),
                path.display()
            ));
        }
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
            normalization: Normalization::V1,
            validity: Validity::ALWAYS,
        }
    }

    #[test]
    fn round_trips_and_derivations() {
        for mode in [
            AccountMode::Coded,
            AccountMode::Shifted,
            AccountMode::Independent,
        ] {
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
