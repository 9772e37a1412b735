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

pub mod philox;

use crate::key::SecretKey;
use crate::{Error, Result};
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherCore, StreamCipherSeek};
use chacha20::{ChaCha8, ChaChaCore, R8, variants::Ietf};
use sha2::block_api::compress256;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Longest context (in tokens) the PRF accepts.
pub const MAX_CONTEXT: usize = 8;

/// Largest vocabulary (exclusive bound on token ids) the schemes accept: 2^21.
pub const MAX_VOCAB: usize = 1 << 21;

/// Bytes per ChaCha block.
const BLOCK_LEN: u32 = 64;

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

/// The keyed PRF, version 1. Cheap to clone. Holds only the HMAC-SHA256 states of the derived
/// subkey (zeroed on drop).
///
/// A context seed is one HMAC-SHA256 of a message that always fits one SHA-256 block, so the
/// seed is computed as exactly two block compressions from precomputed inner and outer states
/// (RFC 2104 with the key schedule hoisted out of the loop). Tests check it against the `hmac`
/// crate and the Python golden vectors.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PrfV1 {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl std::fmt::Debug for PrfV1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrfV1(keyed, state redacted)")
    }
}

/// SHA-256 initial hash value (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];
/// SHA-256 block length in bytes.
const SHA256_BLOCK: usize = 64;

/// Pads a message of `len ≤ 55` bytes that follows one already-compressed block, in place.
fn pad_second_block(block: &mut [u8; SHA256_BLOCK], len: usize) {
    if let Some(b) = block.get_mut(len) {
        *b = 0x80;
    }
    let bits = ((SHA256_BLOCK + len) as u64) * 8;
    if let Some(tail) = block.get_mut(SHA256_BLOCK - 8..) {
        tail.copy_from_slice(&bits.to_be_bytes());
    }
}

impl PrfV1 {
    /// Keys the PRF with the subkey derived from `key`.
    pub fn new(key: &SecretKey) -> Self {
        let sub = key.derive(PRF_LABEL_V1);
        let mut ipad = [0x36u8; SHA256_BLOCK];
        let mut opad = [0x5cu8; SHA256_BLOCK];
        for ((i, o), k) in ipad.iter_mut().zip(opad.iter_mut()).zip(sub.bytes()) {
            *i ^= k;
            *o ^= k;
        }
        let mut inner = SHA256_IV;
        let mut outer = SHA256_IV;
        compress256(&mut inner, &[ipad]);
        compress256(&mut outer, &[opad]);
        ipad.zeroize();
        opad.zeroize();
        PrfV1 { inner, outer }
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
        // The message is at most 15 + 1 + 32 = 48 bytes, so with its padding it is one block.
        let mut block = [0u8; SHA256_BLOCK];
        let (tag, rest) = block.split_at_mut(SEED_TAG_V1.len());
        tag.copy_from_slice(SEED_TAG_V1);
        let (hbyte, ids) = rest.split_at_mut(1);
        hbyte.fill(h);
        for (chunk, id) in ids.chunks_exact_mut(4).zip(context) {
            chunk.copy_from_slice(&id.to_le_bytes());
        }
        pad_second_block(&mut block, SEED_TAG_V1.len() + 1 + 4 * context.len());
        let mut state = self.inner;
        compress256(&mut state, &[block]);
        // Outer hash over the 32-byte inner digest.
        let mut block = [0u8; SHA256_BLOCK];
        for (chunk, word) in block.chunks_exact_mut(4).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        pad_second_block(&mut block, 32);
        let mut out = self.outer;
        compress256(&mut out, &[block]);
        let mut seed = [0u8; 32];
        for (chunk, word) in seed.chunks_exact_mut(4).zip(out) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        state.zeroize();
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

    /// The uniform byte of one token: byte `token` of the keystream. O(1): one ChaCha8 block.
    pub fn byte(&self, token: u32) -> u8 {
        let mut core = ChaChaCore::<R8, Ietf>::new(&self.0.into(), &[0u8; 12].into());
        core.set_block_pos(token / BLOCK_LEN);
        let mut block = Default::default();
        core.write_keystream_block(&mut block);
        let block: &[u8] = &block;
        block
            .get((token % BLOCK_LEN) as usize)
            .copied()
            .unwrap_or(0)
    }

    /// Writes the uniform bytes of tokens `first .. first + out.len()` into `out`.
    pub fn fill_bytes(&self, first: u32, out: &mut [u8]) {
        let mut c = self.cipher();
        c.seek(u64::from(first));
        out.fill(0);
        c.apply_keystream(out);
    }

    /// Calls `f(chunk_start, bytes)` over consecutive keystream chunks holding the bytes of
    /// positions `offset, offset + 1, …` (modulo 2^21), `len` bytes in all, using a stack
    /// buffer: no heap allocation. `chunk_start` counts from 0.
    pub(crate) fn for_each_chunk(&self, offset: u32, len: usize, mut f: impl FnMut(usize, &[u8])) {
        const CHUNK: usize = 2048;
        let mut c = self.cipher();
        let mut pos = offset as usize & POSITION_MASK;
        c.seek(pos as u64);
        let mut buf = [0u8; CHUNK];
        let mut start = 0;
        while start < len {
            // Never cross the 2^21 wrap-around inside one chunk.
            let n = CHUNK.min(len - start).min(MAX_VOCAB - pos);
            let b = buf.get_mut(..n).unwrap_or_default();
            b.fill(0);
            c.apply_keystream(b);
            f(start, b);
            start += n;
            pos += n;
            if pos == MAX_VOCAB {
                pos = 0;
                c.seek(0u64);
            }
        }
    }

    /// Fills `out` with the bytes of positions `offset, offset + 1, …` (modulo 2^21).
    pub fn fill_wrapped(&self, offset: u32, out: &mut [u8]) {
        self.for_each_chunk(offset, out.len(), |start, bytes| {
            if let Some(o) = out.get_mut(start..start + bytes.len()) {
                o.copy_from_slice(bytes);
            }
        });
    }
}

/// Keystream positions are taken modulo 2^21 (the vocabulary bound).
pub const POSITION_MASK: usize = MAX_VOCAB - 1;

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::Mac;

    /// The two-compression seed equals HMAC-SHA256 from the `hmac` crate for every width.
    #[test]
    fn seed_is_hmac_sha256() {
        let key = SecretKey::from_bytes([0x5a; 32]);
        let prf = PrfV1::new(&key);
        let mac_key = key.derive(PRF_LABEL_V1).mac();
        for h in 0..=MAX_CONTEXT {
            let ctx: Vec<u32> = (0..h as u32).map(|i| i.wrapping_mul(0x9E37_79B9)).collect();
            let mut msg = SEED_TAG_V1.to_vec();
            msg.push(h as u8);
            for c in &ctx {
                msg.extend_from_slice(&c.to_le_bytes());
            }
            let mut m = mac_key.clone();
            m.update(&msg);
            assert_eq!(
                prf.seed(&ctx).unwrap().as_bytes()[..],
                m.finalize().into_bytes()[..]
            );
        }
        assert!(prf.seed(&[0; 9]).is_err());
    }

    /// Keystream reads that cross position 2^21 wrap to position 0.
    #[test]
    fn wrapped_reads_match_single_bytes() {
        let seed = PrfV1::new(&SecretKey::from_bytes([9; 32]))
            .seed(&[1])
            .unwrap();
        let start = (MAX_VOCAB - 3000) as u32;
        let mut out = vec![0u8; 5000];
        seed.fill_wrapped(start, &mut out);
        for (i, &b) in out.iter().enumerate() {
            let pos = (start as usize + i) & POSITION_MASK;
            assert_eq!(b, seed.byte(pos as u32), "offset {i}");
        }
    }
}
