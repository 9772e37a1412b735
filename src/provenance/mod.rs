//! Provenance: was a suspect model trained on our watermarked outputs, and through which
//! account were they taken?
//!
//! A model trained on watermarked text inherits the green-list bias ("radioactivity",
//! Sander et al. 2024). One document of such a model carries little signal; a corpus of its
//! outputs carries a lot, provided every distinct (context, token) tuple is scored once across
//! the whole corpus and contexts that come from our own prompts are left out.
//!
//! * [`accounts`]: one master secret, per-account keys (shifted green lists or independent
//!   keys), and master files.
//! * [`audit`]: the corpus audit — pooled exact binomial tests per key or account,
//!   Holm–Bonferroni correction, attribution — as an incremental API.
//! * [`ledger`]: an append-only file of keyed context fingerprints recorded while serving,
//!   which restricts an audit to contexts we actually emitted under.

pub mod accounts;
pub mod audit;
pub mod ledger;
