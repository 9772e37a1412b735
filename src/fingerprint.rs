//! Non-cryptographic 64-bit fingerprints of token sequences, for deduplication sets.
//!
//! These are key-independent and internal: they decide which (context, token) tuples were
//! already scored, never what is green. With 64 bits, two distinct tuples among 10^8 collide
//! with probability about 3e-4, and a collision only drops one tuple from a count (the test
//! stays valid, slightly conservative).

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// Domain of context fingerprints (prompt exclusion).
pub const CONTEXT_DOMAIN: u64 = 0x636f_6e74_6578_7431;
/// Domain of (context, token) tuple fingerprints (deduplication).
pub const TUPLE_DOMAIN: u64 = 0x7475_706c_6530_3031;

/// SplitMix64's finaliser: a fast bijective mixer of 64 bits.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Fingerprint of `tokens` followed by `last` (if any), under a domain constant.
pub fn fingerprint(domain: u64, tokens: &[u32], last: Option<u32>) -> u64 {
    let len = tokens.len() + usize::from(last.is_some());
    tokens
        .iter()
        .copied()
        .chain(last)
        .fold(mix(domain ^ len as u64), |acc, t| mix(acc ^ u64::from(t)))
}

/// Hashes a fingerprint to itself: the values are already uniformly distributed, so running
/// them through SipHash would only cost time.
#[derive(Default, Debug, Clone, Copy)]
pub struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b) ^ (self.0 >> 56);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// A set of fingerprints.
pub type FingerprintSet = HashSet<u64, BuildHasherDefault<FingerprintHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuple_and_sequence_agree_and_domains_separate() {
        assert_eq!(
            fingerprint(TUPLE_DOMAIN, &[1, 2], Some(3)),
            fingerprint(TUPLE_DOMAIN, &[1, 2, 3], None)
        );
        assert_ne!(
            fingerprint(TUPLE_DOMAIN, &[1, 2, 3], None),
            fingerprint(CONTEXT_DOMAIN, &[1, 2, 3], None)
        );
        assert_ne!(
            fingerprint(TUPLE_DOMAIN, &[1, 2], None),
            fingerprint(TUPLE_DOMAIN, &[2, 1], None)
        );
        assert_ne!(
            fingerprint(TUPLE_DOMAIN, &[], Some(0)),
            fingerprint(TUPLE_DOMAIN, &[0, 0], None)
        );
    }
}
