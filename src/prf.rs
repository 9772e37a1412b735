//! The versioned pseudorandom function that turns a key and a context into green lists.
//!
//! Format version 1 (`v1`), specified byte for byte in `docs/FORMAT.md` and pinned by the golden
//! vectors in `tests/data/prf_v1.json`:
//!
//! 1. `K_prf = HMAC-SHA256(secret, "provmark/v1/kgw-prf")` (see [`SecretKey::derive`]).
//! 2. For a context of `h` token ids `c_1 … c_h` (0 ≤ h ≤ 8), the **seed** is
//!    `HMAC-SHA256(K_prf, "provmark/prf/v1" || u8(h) || le32(c_1) || … || le32(c_h))`.
//! 3. The **uniform byte** of token `v` under that seed is byte `v` of the ChaCha8 keystream
//!    (IETF layout, key = seed, nonce = 12 zero bytes, block counter starting at 0).
//!
//! One token's byte costs one ChaCha8 block (detection, O(1)); a whole vocabulary's bytes are one
//! pass of the keystream (generation). Token `v` is green for threshold `T` when its byte is
//! below `T`, so the green probability is exactly `T / 256`. Nothing depends on the vocabulary
//! size, so logits padded beyond the tokenizer's vocabulary are handled identically.
//!
//! ```
//! use provmark::{key::SecretKey, prf::PrfV1};
//! let prf = PrfV1::new(&SecretKey::from_bytes([1; 32]));
//! let seed = prf.seed(&[464, 3290])?;
//! let mut bytes = [0u8; 64];
//! seed.fill_bytes(0, &mut bytes);
//! assert_eq!(bytes[17], seed.byte(17));
//! # Ok::<(), provmark::Error>(())
//! ```

use crate::key::{HmacSha256, SecretKey};
use crate::{Error, Result};
use chacha20::ChaCha8;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use hmac::Mac;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Longest context (in tokens) the PRF accepts.
pub const MAX_CONTEXT: usize = 8;

/// Largest vocabulary (exclusive bound on token ids) the schemes accept: 2^21.
pub const MAX_VOCAB: usize = 1 << 21;

/// Domain tag hashed in front of every context in version 1.
const SEED_TAG_V1: &[u8] = b"provmark/prf/v1";

/// Label under which the PRF subkey is derived from the secret.
const PRF_LABEL_V1: &str = "kgw-prf";

/// Version of the pseudorandom function. Outputs of a version never change; new constructions
/// get new variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum PrfVersion {
    /// HMAC-SHA256 context seeds, ChaCha8 keystream bytes (this module).
    #[serde(rename = "v1")]
    V1,
}

/// The keyed PRF, version 1. Cheap to clone; holds only the derived HMAC state.
#[derive(Clone)]
pub struct PrfV1 {
    mac: HmacSha256,
}

impl std::fmt::Debug for PrfV1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrfV1(keyed, state redacted)")
    }
}

impl PrfV1 {
    /// Keys the PRF with the subkey derived from `key`.
    pub fn new(key: &SecretKey) -> Self {
        PrfV1 {
            mac: key.derive(PRF_LABEL_V1).mac(),
        }
    }

    /// The seed of a context (the `h` tokens preceding the scored position, oldest first).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when the context is longer than [`MAX_CONTEXT`].
    pub fn seed(&self, context: &[u32]) -> Result<Seed> {
        let h = u8::try_from(context.len())
            .ok()
            .filter(|&h| usize::from(h) <= MAX_CONTEXT)
            .ok_or_else(|| Error::param("context", format!("at most {MAX_CONTEXT} tokens")))?;
        // One message of at most 15 + 1 + 32 = 48 bytes: a single SHA-256 block inside HMAC.
        let mut msg = [0u8; SEED_TAG_V1.len() + 1 + 4 * MAX_CONTEXT];
        let (tag, rest) = msg.split_at_mut(SEED_TAG_V1.len());
        tag.copy_from_slice(SEED_TAG_V1);
        let (hbyte, ids) = rest.split_at_mut(1);
        hbyte.fill(h);
        for (chunk, id) in ids.chunks_exact_mut(4).zip(context) {
            chunk.copy_from_slice(&id.to_le_bytes());
        }
        let len = SEED_TAG_V1.len() + 1 + 4 * context.len();
        let mut mac = self.mac.clone();
        mac.update(msg.get(..len).unwrap_or(&msg));
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&mac.finalize().into_bytes());
        Ok(Seed(seed))
    }
}

/// The per-context seed. Secret-derived: zeroed on drop, redacted in `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Seed([u8; 32]);

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed(redacted)")
    }
}

impl Seed {
    /// The seed's bytes (for golden tests and reimplementations).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> ChaCha8 {
        ChaCha8::new(&self.0.into(), &[0u8; 12].into())
    }

    /// The uniform byte of one token: byte `token` of the keystream. O(1).
    pub fn byte(&self, token: u32) -> u8 {
        let mut c = self.cipher();
        c.seek(u64::from(token));
        let mut b = [0u8; 1];
        c.apply_keystream(&mut b);
        b[0]
    }

    /// Writes the uniform bytes of tokens `first .. first + out.len()` into `out`.
    pub fn fill_bytes(&self, first: u32, out: &mut [u8]) {
        let mut c = self.cipher();
        c.seek(u64::from(first));
        out.fill(0);
        c.apply_keystream(out);
    }

    /// Calls `f(chunk_start, bytes)` over consecutive keystream chunks covering tokens
    /// `0 .. len`, using a stack buffer: no heap allocation.
    pub(crate) fn for_each_chunk(&self, len: usize, mut f: impl FnMut(usize, &[u8])) {
        const CHUNK: usize = 2048;
        let mut c = self.cipher();
        let mut buf = [0u8; CHUNK];
        let mut start = 0;
        while start < len {
            let n = CHUNK.min(len - start);
            let b = buf.get_mut(..n).unwrap_or_default();
            b.fill(0);
            c.apply_keystream(b);
            f(start, b);
            start += n;
        }
    }
}
