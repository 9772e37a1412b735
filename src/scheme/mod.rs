//! Watermarking schemes. Each has a *sampler side* (bias logits or choose the next token under
//! the key) and a *detector side* (score tokens under the key); both sides share the scheme's
//! parameters and its [`crate::prf`] construction.
//!
//! * [`kgw`]: the green-list watermark of Kirchenbauer et al. (2023), with h = 0 giving the
//!   Unigram watermark.
//!
//! [`SchemeConfig`] is the tagged, versioned description stored in key files.

pub mod kgw;

use crate::prf::PrfVersion;
use serde::{Deserialize, Serialize};

pub use kgw::{Kgw, KgwParams, StreamState};

/// A scheme and its parameters, as written in key files:
/// `{"type": "kgw", "prf": "v1", "gamma": 0.25, "delta": 2.0, "context": 2}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum SchemeConfig {
    /// Green-list watermark.
    #[serde(rename = "kgw")]
    Kgw {
        /// Version of the pseudorandom function.
        prf: PrfVersion,
        /// γ, δ and context width.
        #[serde(flatten)]
        params: KgwParams,
        /// Cyclic shift of the vocabulary axis (per-account keys under a master secret);
        /// absent in files means 0.
        #[serde(default, skip_serializing_if = "is_zero")]
        shift: u32,
    },
}

fn is_zero(x: &u32) -> bool {
    *x == 0
}

impl SchemeConfig {
    /// The default KGW scheme with the given parameters and PRF v1, no shift.
    pub fn kgw(params: KgwParams) -> Self {
        SchemeConfig::Kgw {
            prf: PrfVersion::V1,
            params,
            shift: 0,
        }
    }

    /// The scheme's short name, as reported by the detector (`"kgw"`).
    pub fn name(&self) -> &'static str {
        match self {
            SchemeConfig::Kgw { .. } => "kgw",
        }
    }
}
