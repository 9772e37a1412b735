//! vLLM's watermark PRF, `philox4x32-10-v1`, reproduced bit for bit so that provmark can
//! detect (and embed) the watermarks a vLLM server embeds with its native watermarking.
//!
//! Built on the Philox4x32-10 block function of Salmon et al. (2011, "Random123"), pinned by its
//! published known-answer tests. No maintained Rust crate offers the bare block function with a
//! caller-chosen counter and key (the one on crates.io is an unmaintained 0.0.0), and the function
//! is ten rounds of two 32×32→64 multiplications, so it lives here.
//!
//! The construction, as vLLM computes it (`docs/FORMAT.md`, "vLLM compatibility"):
//!
//! 1. The 64-bit key splits into `k0` (low half) and `k1` (high half).
//! 2. A context of `w` token ids is absorbed four words at a time into a state that starts as
//!    `("WMCX", w, 0, 0)`; block `j` (token offset `j`) XORs its words into the state and runs
//!    Philox under the key `(k0 ^ j, k1)`. Missing words of the last block are the fillers
//!    `0xFFFFFFFF − i`. Padding positions (before the first generated token) are the word
//!    [`PAD`] (vLLM's −1).
//! 3. Token `t` takes lane `t & 3` of `Philox((t >> 2, S0, S1, S2), (k0 ^ S3, k1 ^ "WMTK"))`, so
//!    four consecutive tokens share one block: a vocabulary pass costs `V / 4` blocks.
//! 4. A word becomes the uniform `f32((word >> 8) + 1) / (2^24 + 1))`, strictly inside (0, 1).
//!
//! ```
//! use provmark::prf::philox::{VllmPrf, PAD, uniform};
//! let prf = VllmPrf::new(42);
//! let state = prf.absorb(&[1, 2, 3, 4]);
//! assert_eq!(prf.word(&state, 7), 425_429_266); // vLLM's tests/watermarking/test_prf.py
//! let u = uniform(prf.word(&prf.absorb(&[PAD; 4]), 0));
//! assert!(u > 0.0 && u < 1.0);
//! ```

use sha2::{Digest, Sha256};

/// The word that stands for a padding position (vLLM's token id −1, truncated to 32 bits).
pub const PAD: u32 = u32::MAX;

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;
/// "WMCX": first word of the context state.
const CONTEXT_TAG: u32 = 0x574D_4358;
/// "WMTK": mixed into the key of the candidate step.
const TOKEN_TAG: u32 = 0x574D_544B;

#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = u64::from(a) * u64::from(b);
    ((p >> 32) as u32, p as u32)
}

/// The Philox4x32-10 block function: ten rounds on `counter` under `key`.
///
/// ```
/// use provmark::prf::philox::philox4x32_10;
/// // Random123 known-answer test: counter 0, key 0.
/// assert_eq!(philox4x32_10([0; 4], [0; 2]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
/// ```
#[inline]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let [mut c0, mut c1, mut c2, mut c3] = counter;
    let [mut k0, mut k1] = key;
    for round in 0..10 {
        let (hi0, lo0) = mulhilo(M0, c0);
        let (hi1, lo1) = mulhilo(M1, c2);
        (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);
        if round < 9 {
            k0 = k0.wrapping_add(W0);
            k1 = k1.wrapping_add(W1);
        }
    }
    [c0, c1, c2, c3]
}

/// The state a context leaves: input to every candidate-token block under that context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextState([u32; 4]);

impl ContextState {
    /// The four state words (for test vectors).
    pub fn words(&self) -> [u32; 4] {
        self.0
    }
}

/// vLLM's `philox4x32-10-v1` PRF keyed with a 64-bit key. `Debug` never shows the key.
#[derive(Clone)]
pub struct VllmPrf {
    k0: u32,
    k1: u32,
}

impl std::fmt::Debug for VllmPrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VllmPrf { .. }")
    }
}

impl Drop for VllmPrf {
    fn drop(&mut self) {
        // Volatile writes: the zeroing is not optimised away.
        zeroize::Zeroize::zeroize(&mut self.k0);
        zeroize::Zeroize::zeroize(&mut self.k1);
    }
}

impl VllmPrf {
    /// Keys the PRF with vLLM's integer key (`WatermarkConfig.key`).
    pub fn new(key: u64) -> Self {
        VllmPrf {
            k0: key as u32,
            k1: (key >> 32) as u32,
        }
    }

    /// Absorbs a context of words (token ids, [`PAD`] for padding), oldest first. Any length;
    /// the length itself is part of the state.
    pub fn absorb(&self, context: &[u32]) -> ContextState {
        let mut s = [CONTEXT_TAG, context.len() as u32, 0, 0];
        for (block, chunk) in context.chunks(4).enumerate() {
            let j = (block * 4) as u32;
            let mut b = [PAD, PAD - 1, PAD - 2, PAD - 3];
            for (slot, &w) in b.iter_mut().zip(chunk) {
                *slot = w;
            }
            s = philox4x32_10(
                [s[0] ^ b[0], s[1] ^ b[1], s[2] ^ b[2], s[3] ^ b[3]],
                [self.k0 ^ j, self.k1],
            );
        }
        ContextState(s)
    }

    /// The four words of tokens `4g … 4g + 3` under a context state, on stream `stream`
    /// (vLLM's generation and detection always use stream 0).
    #[inline]
    pub fn block(&self, state: &ContextState, group: u32, stream: u64) -> [u32; 4] {
        let [s0, s1, s2, s3] = state.0;
        philox4x32_10(
            [group, s0, s1, s2],
            [
                self.k0 ^ s3 ^ (stream >> 32) as u32,
                self.k1 ^ TOKEN_TAG ^ stream as u32,
            ],
        )
    }

    /// The word of token `token` under a context state (stream 0).
    #[inline]
    pub fn word(&self, state: &ContextState, token: u32) -> u32 {
        let words = self.block(state, token >> 2, 0);
        words[(token & 3) as usize]
    }

    /// Calls `f(token, word)` for tokens `0 .. vocab`, one block per four tokens.
    pub fn for_each_word(&self, state: &ContextState, vocab: usize, mut f: impl FnMut(usize, u32)) {
        let groups = vocab.div_ceil(4);
        for g in 0..groups {
            let words = self.block(state, g as u32, 0);
            for (lane, &w) in words.iter().enumerate() {
                let t = g * 4 + lane;
                if t < vocab {
                    f(t, w);
                }
            }
        }
    }
}

/// A word's uniform in (0, 1): `f32(((word >> 8) + 1) / (2^24 + 1))`, division in `f64`.
#[inline]
pub fn uniform(word: u32) -> f32 {
    ((f64::from(word >> 8) + 1.0) / 16_777_217.0) as f32
}

/// The Gumbel detector's per-token score `−ln(1 − u)`, in `f64` (`Exp(1)` under the null, up
/// to the 24-bit resolution of `u`).
#[inline]
pub fn gumbel_score(u: f32) -> f64 {
    -(-f64::from(u)).ln_1p()
}

/// The Gumbel sampler's noise `−ln(−ln u)`, in `f32` as vLLM computes it.
#[inline]
pub fn gumbel_noise(u: f32) -> f32 {
    -(-(u.max(f32::MIN_POSITIVE)).ln()).ln()
}

/// Which of the two dual-key Gumbel keys to derive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DualKey {
    /// Key A (`"key_a"`): the draft / main key.
    A,
    /// Key B (`"key_b"`): the recovery / routed key.
    B,
}

/// vLLM's dual-key derivation: the first 8 bytes, big-endian, of
/// `SHA-256(label ‖ be64(key))` with label `"key_a"` or `"key_b"`.
///
/// ```
/// use provmark::prf::philox::{derive_dual_key, DualKey};
/// assert_eq!(derive_dual_key(42, DualKey::A), 37_150_756_557_148_556);
/// ```
pub fn derive_dual_key(key: u64, which: DualKey) -> u64 {
    let label: &[u8] = match which {
        DualKey::A => b"key_a",
        DualKey::B => b"key_b",
    };
    let mut h = Sha256::new();
    h.update(label);
    h.update(key.to_be_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}
