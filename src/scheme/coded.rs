//! Coded account watermarks (accounts version 2): KGW whose green list at each context is one
//! of a few shared *classes*, chosen by the account's codeword.
//!
//! A context `c` falls at one of [`POSITIONS`] positions, `j(c)` = the first keystream byte of
//! `c` under the position key (PRF v2, label `account-position`) modulo 64. Each position has
//! [`SYMBOLS`] classes, each an ordinary KGW green list (PRF v2, label `kgw`) keyed by its own
//! class key. An account's codeword picks one class per position: its green list after `c` is
//! that of class `(j(c), codeword[j(c)])`. An account's key holds the position key and its 64
//! class keys, nothing else; [`crate::provenance::accounts`] derives them from a master
//! secret, which audits every account in one pass by scoring the 16 classes of each tuple's
//! position once.
//!
//! Under the null (text independent of the keys) the green count of any one account over `n`
//! distinct tuples is exactly `Binomial(n, γ)`, as for plain KGW.
//!
//! ```
//! use provmark::scheme::{CodedKeys, CodedKgw, KgwParams, Scheme};
//! use provmark::key::SecretKey;
//! let keys = CodedKeys::new(
//!     SecretKey::from_bytes([1; 32]),
//!     (0..64u8).map(|j| SecretKey::from_bytes([j; 32])).collect(),
//! )?;
//! let scheme = CodedKgw::new(&keys, KgwParams::default());
//! let s = scheme.score(&[5, 6], 7)?;
//! assert!(s == 0.0 || s == 1.0);
//! # Ok::<(), provmark::Error>(())
//! ```

use super::kgw::{Kgw, KgwParams, check_logits_len};
use super::{ContextRule, DedupKey, NullModel, Scheme, check_context};
use crate::key::SecretKey;
use crate::prf::{PrfV2, PrfVersion};
use crate::sampling::Sampler;
use crate::{Error, Result};

/// Positions of a codeword.
pub const POSITIONS: usize = 64;
/// Classes per position (symbols of the codeword alphabet).
pub const SYMBOLS: usize = 16;
/// Label of the position PRF.
const POSITION_LABEL: &str = "account-position";

/// The watermark material of one coded account: the position key and one class key per
/// position. `Debug` redacts all of it; zeroed on drop.
#[derive(Clone)]
pub struct CodedKeys {
    position: SecretKey,
    classes: Vec<SecretKey>,
}

impl std::fmt::Debug for CodedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodedKeys(65 keys, redacted)")
    }
}

impl CodedKeys {
    /// Bundles a position key with one class key per position.
    ///
    /// # Errors
    /// [`Error::KeyFormat`] unless there are exactly [`POSITIONS`] class keys.
    pub fn new(position: SecretKey, classes: Vec<SecretKey>) -> Result<Self> {
        if classes.len() != POSITIONS {
            return Err(Error::KeyFormat(format!(
                "a coded account has {POSITIONS} class keys, not {}",
                classes.len()
            )));
        }
        Ok(CodedKeys { position, classes })
    }

    /// The position key.
    pub fn position(&self) -> &SecretKey {
        &self.position
    }

    /// The class keys, by position.
    pub fn classes(&self) -> &[SecretKey] {
        &self.classes
    }
}

/// The position PRF of a position key.
pub fn position_prf(position: &SecretKey) -> PrfV2 {
    PrfV2::new(position, POSITION_LABEL)
}

/// The position of a context under a position PRF.
///
/// # Errors
/// [`Error::InvalidParameter`] for a context longer than 8 tokens.
#[inline]
pub fn position_of(prf: &PrfV2, context: &[u32]) -> Result<usize> {
    Ok(usize::from(prf.seed(context)?.byte(0)) % POSITIONS)
}

/// The KGW green list of one class key.
pub fn class_kgw(class: &SecretKey, params: KgwParams) -> Kgw {
    Kgw::with_prf(PrfVersion::V2, class, params, 0)
}

/// A coded account's watermark (see the module docs): sampler and detector.
#[derive(Clone, Debug)]
pub struct CodedKgw {
    position: PrfV2,
    classes: Vec<Kgw>,
    params: KgwParams,
}

impl CodedKgw {
    /// Keys the scheme with an account's material.
    pub fn new(keys: &CodedKeys, params: KgwParams) -> Self {
        CodedKgw {
            position: position_prf(&keys.position),
            classes: keys.classes.iter().map(|k| class_kgw(k, params)).collect(),
            params,
        }
    }

    /// A scheme without keys, for a `kgw-coded` key file built without its account keys:
    /// every score and bias is a typed error.
    pub fn unkeyed(params: KgwParams) -> Self {
        CodedKgw {
            position: position_prf(&SecretKey::from_bytes([0; 32])),
            classes: Vec::new(),
            params,
        }
    }

    /// The class green list in force after `context` (exactly `h` tokens).
    fn class(&self, context: &[u32]) -> Result<&Kgw> {
        let j = position_of(&self.position, context)?;
        self.classes
            .get(j)
            .ok_or(Error::KeyFormat("coded key without its class keys".into()))
    }

    /// The parameters.
    pub fn params(&self) -> &KgwParams {
        &self.params
    }
}

impl Scheme for CodedKgw {
    fn name(&self) -> &'static str {
        "kgw-coded"
    }

    fn context_rule(&self) -> ContextRule {
        ContextRule {
            width: self.params.context(),
            pad: None,
        }
    }

    fn dedup_key(&self) -> DedupKey {
        DedupKey::Tuple
    }

    fn null(&self) -> NullModel {
        NullModel::Bernoulli {
            p: self.params.gamma(),
        }
    }

    fn score(&self, context: &[u32], token: u32) -> Result<f64> {
        check_context(context, self.params.context())?;
        let kgw = self.class(context)?;
        let seed = kgw.prf_seed(context)?;
        Ok(f64::from(u8::from(kgw.green_under(&seed, token))))
    }

    fn bias_logits(&self, context: &[u32], logits: &mut [f32]) -> Result<bool> {
        check_logits_len(logits.len())?;
        let h = self.params.context();
        if let Some(ctx) = context.len().checked_sub(h).and_then(|s| context.get(s..)) {
            self.class(ctx)?.bias(ctx, logits)?;
        }
        Ok(true)
    }

    fn sample(
        &self,
        context: &[u32],
        logits: &mut [f32],
        sampler: &mut Sampler,
        uniform: f64,
    ) -> Result<u32> {
        self.bias_logits(context, logits)?;
        sampler.sample(logits, uniform)
    }
}
