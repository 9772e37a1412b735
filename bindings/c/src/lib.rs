//! The C ABI of provmark: load a key, bias logits, detect, and a candidate sampler that a
//! llama.cpp sampler chain (or any engine holding `{id, logit, p}` candidate arrays) can call.
//!
//! The header is `include/provmark.h`, generated from this crate by cbindgen and committed (a
//! test fails when it is stale; `PROVMARK_BLESS=1 cargo test -p provmark-c --test header`
//! rewrites it). The llama.cpp sampler itself, `provmark_llama_sampler_init`, is the small C file
//! `llama/provmark_llama.c`, compiled against the program's own `llama.h`: llama.cpp's
//! `struct llama_sampler_i` gains fields from release to release, and only the program's
//! compiler knows the layout it links against.
//!
//! Conventions, for every function:
//! * functions returning `int` return [`PROVMARK_OK`] (0) or a negative `PROVMARK_ERR_*` code;
//!   functions returning a pointer return `NULL` on failure. Either way
//!   [`provmark_last_error`] then describes the failure (per thread).
//! * no Rust panic crosses the boundary: a panic becomes [`PROVMARK_ERR_INTERNAL`].
//! * pointers may be `NULL` only where a length of 0 goes with them; a `NULL` handle is
//!   [`PROVMARK_ERR_NULL`]. Freeing `NULL` is a no-op.
//! * error messages never contain key material.
//!
//! ```c
//! provmark_key *key = provmark_key_load("account.key");
//! if (!key) { fprintf(stderr, "%s\n", provmark_last_error()); return 1; }
//! provmark_bias(key, context, context_len, logits, n_vocab);   /* in the sampling loop */
//! provmark_detection d;
//! provmark_detect(key, tokens, n_tokens, n_vocab, 1e-6, &d);   /* later, on suspect ids */
//! provmark_key_free(key);
//! ```
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod ffi;
mod sampler;

pub use ffi::*;
pub use sampler::{CandidateSampler, TokenData};
