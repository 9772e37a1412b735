//! The library half of the `provmark` command-line tool: what the commands share with their
//! tests. Not a stable API; servers depend on the `provmark` core crate instead.
//!
//! * [`ngram`]: the n-gram language model the demo and the evaluation train on plain text.
//! * [`eval`]: the demo, the evaluation grid, attacks, radioactivity, tables and plots.
//! * [`report`]: self-contained HTML reports with every token coloured.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![warn(missing_docs)]

pub mod eval;
pub mod ngram;
pub mod report;
