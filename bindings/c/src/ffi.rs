//! The exported `extern "C"` functions: argument checks, panic containment, status codes and
//! the per-thread last-error message. All logic lives in the core and in [`crate::sampler`].

use crate::sampler::{CandidateSampler, TokenData};
use provmark::detect::{Detector, DetectorConfig, Rotation, Verdict};
use provmark::key::{KeyFile, KeyId};
use provmark::scheme::{Kgw, Scheme};
use provmark::{Error, prf::MAX_VOCAB};
use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

/// Success.
pub const PROVMARK_OK: c_int = 0;
/// A required pointer was `NULL`.
pub const PROVMARK_ERR_NULL: c_int = -1;
/// An argument is out of range (a parameter, a length, a non-UTF-8 path, ...).
pub const PROVMARK_ERR_INVALID_ARGUMENT: c_int = -2;
/// A token id is negative or not below the vocabulary size.
pub const PROVMARK_ERR_TOKEN_OUT_OF_RANGE: c_int = -3;
/// A key file is malformed, of an unknown version, or does not match its key id.
pub const PROVMARK_ERR_KEY: c_int = -4;
/// A file could not be read.
pub const PROVMARK_ERR_IO: c_int = -5;
/// A bug in provmark (a caught panic or a failed internal check); please report it.
pub const PROVMARK_ERR_INTERNAL: c_int = -6;

/// `p ≤ α`: the tokens carry the key's watermark.
pub const PROVMARK_VERDICT_WATERMARKED: c_int = 1;
/// `p > α` with enough tuples scored.
pub const PROVMARK_VERDICT_NOT_WATERMARKED: c_int = 0;
/// Too few tuples were scored to decide.
pub const PROVMARK_VERDICT_INSUFFICIENT: c_int = 2;

/// A loaded key: the scheme keyed with the secret (zeroed when freed) and its public id.
pub struct Key {
    scheme: Arc<dyn Scheme>,
    /// The KGW view (kgw keys), for the candidate sampler's sparse path.
    kgw: Option<Kgw>,
    /// Whether the scheme watermarks by a logit bias (kgw, selfhash).
    biases: bool,
    key_id: KeyId,
    key_id_c: CString,
}

/// The watermark state of one sequence for engines that pass candidate arrays (llama.cpp).
pub struct Sampler {
    inner: CandidateSampler,
}

/// The result of [`provmark_detect`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Detection {
    /// Tokens given.
    pub tokens: u64,
    /// Distinct (context, token) tuples scored.
    pub scored: u64,
    /// Green tuples among the scored.
    pub green: u64,
    /// The green probability under the null hypothesis.
    pub gamma: f64,
    /// `(green − γ·scored) / sqrt(scored·γ·(1 − γ))`; secondary to the p-value.
    pub z_score: f64,
    /// `log10` of the exact binomial p-value `P[X ≥ green]`; finite far below 1e-308.
    pub log10_p_value: f64,
    /// One of the `PROVMARK_VERDICT_*` constants.
    pub verdict: c_int,
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// An error on its way to C: a status code and a message.
struct Failure(c_int, String);

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::TokenOutOfRange { .. } => PROVMARK_ERR_TOKEN_OUT_OF_RANGE,
            Error::KeyFormat(_) | Error::KeyTampered { .. } => PROVMARK_ERR_KEY,
            Error::Io { .. } => PROVMARK_ERR_IO,
            Error::Numerical(_) => PROVMARK_ERR_INTERNAL,
            _ => PROVMARK_ERR_INVALID_ARGUMENT,
        };
        Failure(code, e.to_string())
    }
}

fn null(what: &str) -> Failure {
    Failure(PROVMARK_ERR_NULL, format!("`{what}` is NULL"))
}

fn set_last_error(message: &str) {
    // Interior NULs cannot come from our messages, but never fail here.
    let c = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// Runs `f`, turning an error or a panic into `on_error` and the last-error message.
fn guard<T>(on_error: impl FnOnce(c_int) -> T, f: impl FnOnce() -> Result<T, Failure>) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(Failure(code, msg))) => {
            set_last_error(&msg);
            on_error(code)
        }
        Err(_) => {
            set_last_error("internal error: provmark panicked (please report this bug)");
            on_error(PROVMARK_ERR_INTERNAL)
        }
    }
}

fn status(f: impl FnOnce() -> Result<(), Failure>) -> c_int {
    guard(|code| code, || f().map(|()| PROVMARK_OK))
}

/// The checks [`slice`] and [`slice_mut`] share for a non-empty buffer: a non-null pointer
/// and at most `isize::MAX` bytes.
fn check_parts<T>(is_null: bool, len: usize, what: &str) -> Result<(), Failure> {
    if is_null {
        return Err(null(what));
    }
    if len > isize::MAX as usize / size_of::<T>().max(1) {
        return Err(Failure(
            PROVMARK_ERR_INVALID_ARGUMENT,
            format!("`{what}` length {len} is too large"),
        ));
    }
    Ok(())
}

/// A slice from a C pointer and length; `NULL` is allowed only with length 0.
///
/// # Safety
/// `ptr` must point to `len` readable `T`s when `len > 0`.
unsafe fn slice<'a, T>(ptr: *const T, len: usize, what: &str) -> Result<&'a [T], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    check_parts::<T>(ptr.is_null(), len, what)?;
    // SAFETY: non-null, length checked against isize::MAX bytes, validity is the caller's
    // documented obligation.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// As [`slice`], mutable.
///
/// # Safety
/// `ptr` must point to `len` writable `T`s, not aliased, when `len > 0`.
unsafe fn slice_mut<'a, T>(ptr: *mut T, len: usize, what: &str) -> Result<&'a mut [T], Failure> {
    if len == 0 {
        return Ok(&mut []);
    }
    check_parts::<T>(ptr.is_null(), len, what)?;
    // SAFETY: as in `slice`, plus exclusivity, which the caller guarantees.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// The message of the last failed call on this thread (`""` if none). The pointer stays valid
/// until the next failing call on the same thread; copy it to keep it.
#[unsafe(no_mangle)]
pub extern "C" fn provmark_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// The library version, for example `"0.1.0"` (static storage).
#[unsafe(no_mangle)]
pub extern "C" fn provmark_version() -> *const c_char {
    static VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}

/// Loads a key file written by `provmark keygen` (or `provmark account`). Returns `NULL` on
/// failure (see [`provmark_last_error`]). Free the key with [`provmark_key_free`].
///
/// # Safety
/// `path` must be `NULL` or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn provmark_key_load(path: *const c_char) -> *mut Key {
    guard(
        |_| std::ptr::null_mut(),
        || {
            if path.is_null() {
                return Err(null("path"));
            }
            // SAFETY: non-null and NUL-terminated by the caller's contract.
            let path = unsafe { CStr::from_ptr(path) };
            let path = path.to_str().map_err(|_| {
                Failure(
                    PROVMARK_ERR_INVALID_ARGUMENT,
                    "the key path is not valid UTF-8".into(),
                )
            })?;
            let loaded = KeyFile::load(Path::new(path))?;
            let key = loaded.key;
            let key_id = key.key_id();
            let key_id_c = CString::new(key_id.as_str())
                .map_err(|_| Failure(PROVMARK_ERR_INTERNAL, "key id contains NUL".into()))?;
            Ok(Box::into_raw(Box::new(Key {
                scheme: key.scheme(),
                kgw: key.kgw().ok(),
                biases: key.scheme.is_logit_bias(),
                key_id,
                key_id_c,
            })))
        },
    )
}

/// Frees a key (its secret is zeroed). `NULL` is a no-op.
///
/// # Safety
/// `key` must be `NULL` or a pointer from [`provmark_key_load`] not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn provmark_key_free(key: *mut Key) {
    if !key.is_null() {
        // SAFETY: from Box::into_raw in provmark_key_load, freed once by the caller's contract.
        drop(unsafe { Box::from_raw(key) });
    }
}

/// The key's public id (`pm1-…`), owned by the key; `NULL` if `key` is `NULL`.
///
/// # Safety
/// `key` must be `NULL` or a live key.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn provmark_key_id(key: *const Key) -> *const c_char {
    // SAFETY: null or live by contract.
    match unsafe { key.as_ref() } {
        Some(k) => k.key_id_c.as_ptr(),
        None => {
            set_last_error("`key` is NULL");
            std::ptr::null()
        }
    }
}

/// 1 when the key's scheme watermarks by a logit bias (kgw, selfhash: use [`provmark_bias`] or
/// [`provmark_sampler_apply`] before the engine's own sampling), 0 when it chooses the token
/// itself (gumbel, synthid, vllm-*: use [`provmark_sample`] or [`provmark_sampler_select`]),
/// `PROVMARK_ERR_NULL` for a `NULL` key.
///
/// # Safety
/// `key` must be `NULL` or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn provmark_key_is_logit_bias(key: *const Key) -> c_int {
    guard(
        |code| code,
        || {
            // SAFETY: null or live by contract.
            let key = unsafe { key.as_ref() }.ok_or_else(|| null("key"))?;
            Ok(c_int::from(key.biases))
        },
    )
}

/// Adds the watermark bias to the full-vocabulary `logits` of the next step, in place, for
/// keys that watermark by a logit bias (kgw, selfhash; other keys choose the token: see
/// [`provmark_sample`]). `context` holds the tokens before the step (only the last `h` are
/// used; with fewer, nothing changes). `logits[i]` is the logit of token `i`; `vocab` is its
/// length.
///
/// # Safety
/// `key` must be live; `context` must point to `context_len` ids and `logits` to `vocab` floats
/// (either may be `NULL` with a length of 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn provmark_bias(
    key: *const Key,
    context: *const u32,
    context_len: usize,
    logits: *mut f32,
    vocab: usize,
) -> c_int {
    status(|| {
        // SAFETY: null or live by contract.
        let key = unsafe { key.as_ref() }.ok_or_else(|| null("key"))?;
        // SAFETY: lengths as documented.
        let context = unsafe { slice(context, context_len, "context") }?;
        // SAFETY: as above.
        let logits = unsafe { slice_mut(logits, vocab, "logits") }?;
        if !key.scheme.bias_logits(context, logits)? {
            return Err(Failure(
                PROVMARK_ERR_INVALID_ARGUMENT,
                format!(
                    "a {} key chooses the token itself: use provmark_sample",
                    key.scheme.name()
                ),
            ));
        }
        Ok(())
    })
}

/// One watermarked sampling step for every scheme: chooses the next token from the
/// full-vocabulary `logits` (raw; modified in place) with `temperature` (0 is greedy and
/// unwatermarked), `top_k` (0: off) and `top_p` (1: off), using the uniform draw `uniform` in
/// [0, 1), and writes it to `token`. `context` is the sequence before the step (for vllm-*
/// keys, the generated tokens only; they are left-padded as vLLM does); only its last `h`
/// tokens are read. Logit-bias schemes bias, then sample; the others choose with the key.
/// Stateless: a caller that needs gumbel's "no watermark at a repeated context" rule uses a
/// [`provmark_sampler_new`] sampler and [`provmark_sampler_select`].
///
/// # Safety
/// `key` must be live; `context` must point to `context_len` ids and `logits` to `vocab`
/// floats (either may be `NULL` with a length of 0); `token` must be writable.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn provmark_sample(
    key: *const Key,
    context: *const u32,
    context_len: usize,
    logits: *mut f32,
    vocab: usize,
    temperature: f32,
    top_k: u32,
    top_p: f32,
    uniform: f64,
    token: *mut u32,
) -> c_int {
    status(|| {
        // SAFETY: null or live by contract.
        let key = unsafe { key.as_ref() }.ok_or_else(|| null("key"))?;
        // SAFETY: lengths as documented.
        let context = unsafe { slice(context, context_len, "context") }?;
        // SAFETY: as above.
        let logits = unsafe { slice_mut(logits, vocab, "logits") }?;
        // SAFETY: null or writable by contract.
        let out = unsafe { token.as_mut() }.ok_or_else(|| null("token"))?;
        let mut sampler = provmark::sampling::Sampler::new(provmark::sampling::SamplingConfig {
            temperature,
            top_k: top_k as usize,
            top_p,
        })?;
        let rule = key.scheme.context_rule();
        let tail = context
            .get(context.len().saturating_sub(rule.width)..)
            .unwrap_or_default();
        let mut padded = [0u32; provmark::scheme::vllm::MAX_VLLM_CONTEXT];
        let ctx = match rule.pad {
            Some(pad) if tail.len() < rule.width => {
                let w = rule.width.min(padded.len());
                let (front, back) = padded.split_at_mut(w - tail.len().min(w));
                front.fill(pad);
                if let Some(b) = back.get_mut(..tail.len()) {
                    b.copy_from_slice(tail);
                }
                padded.get(..w).unwrap_or_default()
            }
            _ => tail,
        };
        *out = key.scheme.sample(ctx, logits, &mut sampler, uniform)?;
        Ok(())
    })
}

/// Scores `tokens` (ids below `vocab`, at most 2^21) for the key's watermark and writes the
/// result to `out`. Repeated (context, token) tuples are scored once; the p-value is the exact
/// binomial tail. The verdict is `watermarked` when `p ≤ alpha` (in (0, 1); 1e-6 is the CLI's
/// default) and at least 16 tuples were scored.
///
/// # Safety
/// `key` must be live, `tokens` must point to `n_tokens` ids (or be `NULL` with 0), `out` must
/// point to a writable [`Detection`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn provmark_detect(
    key: *const Key,
    tokens: *const u32,
    n_tokens: usize,
    vocab: usize,
    alpha: f64,
    out: *mut Detection,
) -> c_int {
    status(|| {
        // SAFETY: null or live by contract.
        let key = unsafe { key.as_ref() }.ok_or_else(|| null("key"))?;
        // SAFETY: length as documented.
        let tokens = unsafe { slice(tokens, n_tokens, "tokens") }?;
        // SAFETY: null or writable by contract.
        let out = unsafe { out.as_mut() }.ok_or_else(|| null("out"))?;
        let config = DetectorConfig {
            alpha,
            ..DetectorConfig::default()
        };
        let detector = Detector::shared(key.scheme.clone(), key.key_id.clone(), vocab, config)?;
        let d = detector.detect(tokens)?;
        *out = c_detection(&d, d.verdict);
        Ok(())
    })
}

/// The C view of a detection, with `verdict`.
fn c_detection(d: &provmark::detect::Detection, verdict: Verdict) -> Detection {
    Detection {
        tokens: d.tokens as u64,
        scored: d.scored as u64,
        green: d.green as u64,
        gamma: d.gamma,
        z_score: d.z_score,
        // The exact tail (for vLLM's dual-key keys, not vLLM's approximation).
        log10_p_value: d.exact_log10_p_value.unwrap_or(d.log10_p_value),
        verdict: match verdict {
            Verdict::Watermarked => PROVMARK_VERDICT_WATERMARKED,
            Verdict::NotWatermarked => PROVMARK_VERDICT_NOT_WATERMARKED,
            Verdict::Insufficient => PROVMARK_VERDICT_INSUFFICIENT,
        },
    }
}

/// Scores `tokens` under keys rotated per request (each answer watermarked under one of the
/// `n_keys` keys): the verdict is `watermarked` only when exactly one key's p-value is at most
/// `alpha / n_keys` and every other key's is above `quiet` (1e-3 is the CLI's default). `out`
/// receives the strongest key's detection with that verdict, and `fired` (if not `NULL`) the
/// index of the key that fired, or `SIZE_MAX` when none did.
///
/// # Safety
/// `keys` must point to `n_keys` live keys, `tokens` to `n_tokens` ids (or be `NULL` with 0),
/// `out` to a writable [`Detection`], and `fired` must be `NULL` or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn provmark_detect_rotation(
    keys: *const *const Key,
    n_keys: usize,
    tokens: *const u32,
    n_tokens: usize,
    vocab: usize,
    alpha: f64,
    quiet: f64,
    out: *mut Detection,
    fired: *mut usize,
) -> c_int {
    status(|| {
        // SAFETY: length as documented.
        let keys = unsafe { slice(keys, n_keys, "keys") }?;
        // SAFETY: length as documented.
        let tokens = unsafe { slice(tokens, n_tokens, "tokens") }?;
        // SAFETY: null or writable by contract.
        let out = unsafe { out.as_mut() }.ok_or_else(|| null("out"))?;
        let config = DetectorConfig {
            alpha,
            ..DetectorConfig::default()
        };
        let mut detectors = Vec::with_capacity(keys.len());
        for &k in keys {
            // SAFETY: every entry null or live by contract.
            let key = unsafe { k.as_ref() }.ok_or_else(|| null("keys[i]"))?;
            detectors.push(Detector::shared(
                key.scheme.clone(),
                key.key_id.clone(),
                vocab,
                config,
            )?);
        }
        let r = Rotation::from_detectors(detectors, alpha)?
            .with_quiet(quiet)?
            .detect(tokens)?;
        *out = c_detection(&r.detection, r.verdict);
        // SAFETY: null or writable by contract.
        if let Some(f) = unsafe { fired.as_mut() } {
            *f = r.fired.unwrap_or(usize::MAX);
        }
        Ok(())
    })
}

/// A candidate sampler for `key` with an empty history; `NULL` on failure. The key may be
/// freed afterwards (the sampler keeps its own copy). Free with [`provmark_sampler_free`].
///
/// # Safety
/// `key` must be `NULL` or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn provmark_sampler_new(key: *const Key) -> *mut Sampler {
    guard(
        |_| std::ptr::null_mut(),
        || {
            // SAFETY: null or live by contract.
            let key = unsafe { key.as_ref() }.ok_or_else(|| null("key"))?;
            Ok(Box::into_raw(Box::new(Sampler {
                inner: CandidateSampler::new(key.scheme.clone(), key.kgw.clone(), key.biases)?,
            })))
        },
    )
}

/// A copy of the sampler, history included; `NULL` on failure.
///
/// # Safety
/// `sampler` must be `NULL` or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn provmark_sampler_clone(sampler: *const Sampler) -> *mut Sampler {
    guard(
        |_| std::ptr::null_mut(),
        || {
            // SAFETY: null or live by contract.
            let s = unsafe { sampler.as_ref() }.ok_or_else(|| null("sampler"))?;
            Ok(Box::into_raw(Box::new(Sampler {
                inner: s.inner.clone(),
            })))
        },
    )
}

/// Frees a sampler. `NULL` is a no-op.
///
/// # Safety
/// `sampler` must be `NULL` or a live sampler not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn provmark_sampler_free(sampler: *mut Sampler) {
    if !sampler.is_null() {
        // SAFETY: from Box::into_raw, freed once by the caller's contract.
        drop(unsafe { Box::from_raw(sampler) });
    }
}

/// Records a token of the sequence: each sampled token, and optionally the prompt's tokens
/// (they become the context of the first generated ones).
///
/// # Safety
/// `sampler` must be `NULL` or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn provmark_sampler_accept(sampler: *mut Sampler, token: i32) -> c_int {
    status(|| {
        // SAFETY: null or live by contract.
        let s = unsafe { sampler.as_mut() }.ok_or_else(|| null("sampler"))?;
        s.inner.accept(token)?;
        Ok(())
    })
}

/// Forgets the history (the next sequence starts unbiased until `h` tokens are accepted).
///
/// # Safety
/// `sampler` must be `NULL` or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn provmark_sampler_reset(sampler: *mut Sampler) -> c_int {
    status(|| {
        // SAFETY: null or live by contract.
        let s = unsafe { sampler.as_mut() }.ok_or_else(|| null("sampler"))?;
        s.inner.reset();
        Ok(())
    })
}

/// Adds δ to the logits of the green candidates among `data[0..n]`, in place, for logit-bias
/// keys (kgw, selfhash; other keys fail with `PROVMARK_ERR_INVALID_ARGUMENT`: use
/// [`provmark_sampler_select`]); the array may be the full vocabulary in any order or a
/// truncated, sorted subset (its order is kept, but after biasing it may no longer be sorted
/// by logit). On error nothing is changed.
///
/// # Safety
/// `sampler` must be live and `data` must point to `n` writable candidates (or be `NULL` with 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn provmark_sampler_apply(
    sampler: *mut Sampler,
    data: *mut TokenData,
    n: usize,
) -> c_int {
    status(|| {
        // SAFETY: null or live by contract.
        let s = unsafe { sampler.as_mut() }.ok_or_else(|| null("sampler"))?;
        // SAFETY: length as documented.
        let data = unsafe { slice_mut(data, n, "data") }?;
        s.inner.apply(data)?;
        Ok(())
    })
}

/// Chooses the next token among `data[0..n]` by their current logits (the engine's
/// temperature, top-k and top-p already applied) with the key's scheme, for every scheme, and
/// writes its index in `data` to `selected`. Steps the scheme leaves unwatermarked (an
/// incomplete context; a context that already occurred, under gumbel and the vllm-* schemes)
/// are ordinary draws from the candidates' softmax. Draws come from the sampler's own
/// generator (seeded by the operating system; see [`provmark_sampler_seed`]). The token is
/// not recorded: pass it to [`provmark_sampler_accept`] (llama.cpp does so after selecting).
///
/// # Safety
/// `sampler` must be live, `data` must point to `n` candidates, `selected` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn provmark_sampler_select(
    sampler: *mut Sampler,
    data: *const TokenData,
    n: usize,
    selected: *mut usize,
) -> c_int {
    status(|| {
        // SAFETY: null or live by contract.
        let s = unsafe { sampler.as_mut() }.ok_or_else(|| null("sampler"))?;
        // SAFETY: length as documented.
        let data = unsafe { slice(data, n, "data") }?;
        // SAFETY: null or writable by contract.
        let out = unsafe { selected.as_mut() }.ok_or_else(|| null("selected"))?;
        *out = s.inner.select(data)?;
        Ok(())
    })
}

/// Reseeds the generator of [`provmark_sampler_select`]'s draws, for reproducible runs.
///
/// # Safety
/// `sampler` must be `NULL` or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn provmark_sampler_seed(sampler: *mut Sampler, seed: u64) -> c_int {
    status(|| {
        // SAFETY: null or live by contract.
        let s = unsafe { sampler.as_mut() }.ok_or_else(|| null("sampler"))?;
        s.inner.seed(seed);
        Ok(())
    })
}

/// The largest vocabulary the PRF addresses (2^21).
pub const PROVMARK_MAX_VOCAB: usize = 1 << 21;
const _: () = assert!(PROVMARK_MAX_VOCAB == MAX_VOCAB);
