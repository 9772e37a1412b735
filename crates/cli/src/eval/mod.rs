//! Evaluation on real text: data splits, the demo, and the evaluation grid.

pub mod attacks;
pub mod data;
pub mod demo;
pub mod grid;
pub mod localized;
#[cfg(feature = "plots")]
pub mod plots;
pub mod radioactivity;
pub mod real;
pub mod schemes;
pub mod stealing;
pub mod tables;
