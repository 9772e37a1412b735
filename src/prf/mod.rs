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
use chacha20::ChaCha8;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
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
    /// One ChaCha8 key per scheme; the context selects the nonce and a counter range
    /// ([`PrfV2`]): one ChaCha8 block per scored token, no hash.
    #[serde(rename = "v2")]
    V2,
}

/// A keyed PRF of either version, as a scheme holds it.
#[derive(Clone, Debug)]
pub enum Prf {
    /// Version 1.
    V1(PrfV1),
    /// Version 2.
    V2(PrfV2),
}

impl Prf {
    /// Keys the PRF of `version` for the scheme whose subkey label is `label` (version 2 only:
    /// version 1 has one fixed label, `kgw-prf`).
    pub fn new(version: PrfVersion, key: &SecretKey, label: &str) -> Self {
        match version {
            PrfVersion::V1 => Prf::V1(PrfV1::new(key)),
            PrfVersion::V2 => Prf::V2(PrfV2::new(key, label)),
        }
    }

    /// The version.
    pub fn version(&self) -> PrfVersion {
        match self {
            Prf::V1(_) => PrfVersion::V1,
            Prf::V2(_) => PrfVersion::V2,
        }
    }

    /// The keystream of a context.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when the context is longer than [`MAX_CONTEXT`].
    #[inline]
    pub fn seed(&self, context: &[u32]) -> Result<Seed> {
        match self {
            Prf::V1(p) => p.seed(context),
            Prf::V2(p) => p.seed(context),
        }
    }
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
        Ok(Seed {
            key: seed,
            nonce: [0; 12],
            base: 0,
        })
    }
}

/// The keystream of one context: a ChaCha8 key, nonce and first block. Version 1: the
/// HMAC seed as key, a zero nonce, block 0. Version 2: the scheme's key, a nonce and block
/// range chosen by the context. Secret-derived: zeroed on drop, redacted in `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Seed {
    key: [u8; 32],
    nonce: [u8; 12],
    base: u32,
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed(redacted)")
    }
}

impl Seed {
    /// The ChaCha8 key of the keystream: version 1's HMAC seed (for golden tests and
    /// reimplementations).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// The nonce and first block counter (version 2; zero for version 1).
    pub fn nonce_and_base(&self) -> ([u8; 12], u32) {
        (self.nonce, self.base)
    }

    fn cipher(&self) -> ChaCha8 {
        ChaCha8::new(&self.key.into(), &self.nonce.into())
    }

    fn seek(&self, c: &mut ChaCha8, byte: u64) {
        c.seek(u64::from(self.base) * u64::from(BLOCK_LEN) + byte);
    }

    /// The keystream block holding byte `pos`, serialised. O(1): one ChaCha8 block.
    #[inline]
    fn block_of(&self, pos: u32) -> [u8; 64] {
        let words = chacha8_block(
            &self.key,
            self.base.wrapping_add(pos / BLOCK_LEN),
            &self.nonce,
        );
        let mut out = [0u8; 64];
        for (o, w) in out.chunks_exact_mut(4).zip(words) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// The uniform byte of one token: byte `token` of the keystream. O(1): one ChaCha8 block.
    pub fn byte(&self, token: u32) -> u8 {
        let block = self.block_of(token);
        let block: &[u8] = &block;
        block
            .get((token % BLOCK_LEN) as usize)
            .copied()
            .unwrap_or(0)
    }

    /// The uniform 32-bit word of one token (version 2's word lanes): the little-endian word
    /// at keystream bytes `4 token … 4 token + 3`. O(1): one ChaCha8 block.
    pub fn word(&self, token: u32) -> u32 {
        let pos = token.wrapping_mul(4);
        let block = self.block_of(pos);
        let block: &[u8] = &block;
        let at = (pos % BLOCK_LEN) as usize;
        let mut w = [0u8; 4];
        if let Some(b) = block.get(at..at + 4) {
            w.copy_from_slice(b);
        }
        u32::from_le_bytes(w)
    }

    /// Writes the uniform bytes of tokens `first .. first + out.len()` into `out`.
    pub fn fill_bytes(&self, first: u32, out: &mut [u8]) {
        let mut c = self.cipher();
        self.seek(&mut c, u64::from(first));
        out.fill(0);
        c.apply_keystream(out);
    }

    /// Calls `f(token, word)` for tokens `0 .. vocab` (word lanes), streaming the keystream
    /// through a stack buffer: no heap allocation.
    pub fn for_each_word(&self, vocab: usize, mut f: impl FnMut(usize, u32)) {
        const CHUNK: usize = 2048;
        let mut c = self.cipher();
        self.seek(&mut c, 0);
        let mut buf = [0u8; CHUNK];
        let mut t = 0;
        while t < vocab {
            let n = (CHUNK / 4).min(vocab - t);
            let b = buf.get_mut(..4 * n).unwrap_or_default();
            b.fill(0);
            c.apply_keystream(b);
            for (i, w) in b.chunks_exact(4).enumerate() {
                f(t + i, u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
            }
            t += n;
        }
    }

    /// Calls `f(chunk_start, bytes)` over consecutive keystream chunks holding the bytes of
    /// positions `offset, offset + 1, …` (modulo 2^21), `len` bytes in all, using a stack
    /// buffer: no heap allocation. `chunk_start` counts from 0.
    pub(crate) fn for_each_chunk(&self, offset: u32, len: usize, mut f: impl FnMut(usize, &[u8])) {
        const CHUNK: usize = 2048;
        let mut c = self.cipher();
        let mut pos = offset as usize & POSITION_MASK;
        self.seek(&mut c, pos as u64);
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
                self.seek(&mut c, 0);
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

/// Prefix of version 2 subkey labels: `derive(secret, "prf-v2/" || scheme)`.
const PRF_LABEL_V2: &str = "prf-v2/";
/// Counter bit marking version 2's context-absorption blocks (token blocks never set it).
const ABSORB_BIT: u32 = 0x8000_0000;

/// The keyed PRF, version 2: a ChaCha8 key per scheme, `K = derive(secret, "prf-v2/" ||
/// scheme)`, and no hash. The keystream of a context `c_1 … c_h` is the ChaCha8 keystream under
/// `K` with
///
/// * nonce `(c_1, c_2, c_3)` (missing words 0) when `h ≤ 3`, and for `h > 3` the 96-bit
///   CBC-MAC-style chain over three-word blocks: `X_0 = 0`, `X_{j+1}` = the first three
///   output words of the block with counter `2^31 | h << 24 | j` and nonce
///   `X_j ⊕ (c_{3j+1}, c_{3j+2}, c_{3j+3})`;
/// * block counter starting at `h << 24`.
///
/// Under the standard assumption that the ChaCha8 block function is a PRF of its 128-bit
/// counter-and-nonce input, each (context, token) output is a PRF output: inputs are distinct
/// for distinct (h, context, position) (h is in every counter; absorption counters carry the
/// top bit, token counters never do; the chain's length is fixed by h, so its inputs are
/// prefix-free). Scoring one token costs one ChaCha8 block when h ≤ 3.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PrfV2 {
    key: [u8; 32],
}

impl std::fmt::Debug for PrfV2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrfV2(keyed, state redacted)")
    }
}

impl PrfV2 {
    /// Keys the PRF for one scheme (`label` is the scheme's name, e.g. `kgw`).
    pub fn new(key: &SecretKey, label: &str) -> Self {
        let sub = key.derive(&format!("{PRF_LABEL_V2}{label}"));
        PrfV2 { key: *sub.bytes() }
    }

    /// The keystream of the empty context (h = 0): `seed(&[])`, which cannot fail.
    pub fn seed_empty(&self) -> Seed {
        Seed {
            key: self.key,
            nonce: [0; 12],
            base: 0,
        }
    }

    /// The keystream of a context (the `h` tokens preceding the scored position, oldest first).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when the context is longer than [`MAX_CONTEXT`].
    #[inline]
    pub fn seed(&self, context: &[u32]) -> Result<Seed> {
        let h = context.len();
        if h > MAX_CONTEXT {
            return Err(Error::param(
                "context",
                format!("at most {MAX_CONTEXT} tokens"),
            ));
        }
        let h32 = h as u32;
        let mut x = [0u32; 3];
        if h <= 3 {
            for (slot, &c) in x.iter_mut().zip(context) {
                *slot = c;
            }
        } else {
            for (j, chunk) in context.chunks(3).enumerate() {
                let mut n = x;
                for (slot, &c) in n.iter_mut().zip(chunk) {
                    *slot ^= c;
                }
                let out = chacha8_block(&self.key, ABSORB_BIT | h32 << 24 | j as u32, &words_le(n));
                x.copy_from_slice(&out[..3]);
            }
        }
        Ok(Seed {
            key: self.key,
            nonce: words_le(x),
            base: h32 << 24,
        })
    }
}

fn words_le(w: [u32; 3]) -> [u8; 12] {
    let mut out = [0u8; 12];
    for (o, x) in out.chunks_exact_mut(4).zip(w) {
        o.copy_from_slice(&x.to_le_bytes());
    }
    out
}

/// One ChaCha8 block (RFC 8439's block function with 4 double rounds), IETF layout: `key`,
/// 32-bit block `counter`, 96-bit `nonce`; returns the 16 output words.
///
/// The `chacha20` crate computes the same function (the keystream passes use it, and a test
/// checks the two agree on random inputs), but its API dispatches to a SIMD backend that fills
/// several blocks per call; detection needs one block per scored token under a fresh key or
/// nonce, where that costs about 75 ns against about 25 ns for this scalar block.
#[inline]
pub(crate) fn chacha8_block(key: &[u8; 32], counter: u32, nonce: &[u8; 12]) -> [u32; 16] {
    #[inline(always)]
    fn le(b: &[u8]) -> u32 {
        let mut w = [0u8; 4];
        w.copy_from_slice(b.get(..4).unwrap_or(&[0; 4]));
        u32::from_le_bytes(w)
    }
    let mut init = [0u32; 16];
    init[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    for (slot, chunk) in init[4..12].iter_mut().zip(key.chunks_exact(4)) {
        *slot = le(chunk);
    }
    init[12] = counter;
    for (slot, chunk) in init[13..].iter_mut().zip(nonce.chunks_exact(4)) {
        *slot = le(chunk);
    }
    let mut x = init;
    #[inline(always)]
    fn qr(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
        x[a] = x[a].wrapping_add(x[b]);
        x[d] = (x[d] ^ x[a]).rotate_left(16);
        x[c] = x[c].wrapping_add(x[d]);
        x[b] = (x[b] ^ x[c]).rotate_left(12);
        x[a] = x[a].wrapping_add(x[b]);
        x[d] = (x[d] ^ x[a]).rotate_left(8);
        x[c] = x[c].wrapping_add(x[d]);
        x[b] = (x[b] ^ x[c]).rotate_left(7);
    }
    for _ in 0..4 {
        qr(&mut x, 0, 4, 8, 12);
        qr(&mut x, 1, 5, 9, 13);
        qr(&mut x, 2, 6, 10, 14);
        qr(&mut x, 3, 7, 11, 15);
        qr(&mut x, 0, 5, 10, 15);
        qr(&mut x, 1, 6, 11, 12);
        qr(&mut x, 2, 7, 8, 13);
        qr(&mut x, 3, 4, 9, 14);
    }
    for (o, i) in x.iter_mut().zip(init) {
        *o = o.wrapping_add(i);
    }
    x
}

/// Keystream positions are taken modulo 2^21 (the vocabulary bound).
pub const POSITION_MASK: usize = MAX_VOCAB - 1;

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20::cipher::StreamCipherCore;
    use chacha20::{ChaChaCore, R8, variants::Ietf};
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

    /// The scalar block equals the `chacha20` crate's ChaCha8 on random keys, counters and
    /// nonces.
    #[test]
    fn scalar_block_is_chacha8() {
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            state = crate::fingerprint::mix(state);
            state
        };
        for _ in 0..200 {
            let mut key = [0u8; 32];
            let mut nonce = [0u8; 12];
            key.iter_mut()
                .chain(nonce.iter_mut())
                .for_each(|b| *b = next() as u8);
            let counter = next() as u32;
            let mut core = ChaChaCore::<R8, Ietf>::new(&key.into(), &nonce.into());
            core.set_block_pos(counter);
            let mut block = Default::default();
            core.write_keystream_block(&mut block);
            let want: &[u8] = &block;
            let got = chacha8_block(&key, counter, &nonce);
            let got: Vec<u8> = got.iter().flat_map(|w| w.to_le_bytes()).collect();
            assert_eq!(got, want);
        }
    }

    /// Keystream reads that cross position 2^21 wrap to position 0.
    #[test]
    fn seed_empty_is_the_empty_context() {
        let prf = PrfV2::new(&SecretKey::from_bytes([4; 32]), "selfhash");
        let (a, b) = (prf.seed_empty(), prf.seed(&[]).unwrap());
        assert_eq!(a.as_bytes(), b.as_bytes());
        assert_eq!(a.nonce_and_base(), b.nonce_and_base());
    }

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
