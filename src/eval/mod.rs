//! Evaluation on real text: data splits, the demo, and the evaluation grid.

pub mod data;
pub mod demo;
