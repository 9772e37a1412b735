//! Language models that produce full-vocabulary logits, so the watermark runs on them exactly
//! as it would on a neural network.
//!
//! * [`ngram::NgramLm`]: a token-level n-gram model with interpolated modified Kneser–Ney
//!   smoothing, trained from plain text: a real model of real text that needs no download.
//! * [`synthetic::SyntheticLm`]: a synthetic model with a controlled spread of entropies.

pub mod ngram;
pub mod synthetic;

use crate::Result;

/// A next-token model over a fixed vocabulary.
pub trait LanguageModel: Send + Sync {
    /// Vocabulary size: the length of the logits.
    fn vocab_size(&self) -> usize;

    /// Writes the next-token logits after `history` into `out` (length [`Self::vocab_size`]).
    /// `-inf` marks tokens the model never emits.
    ///
    /// # Errors
    /// [`crate::Error::LogitsShape`] when `out` has the wrong length.
    fn logits(&self, history: &[u32], out: &mut [f32]) -> Result<()>;
}

impl LanguageModel for synthetic::SyntheticLm {
    fn vocab_size(&self) -> usize {
        synthetic::SyntheticLm::vocab_size(self)
    }

    fn logits(&self, history: &[u32], out: &mut [f32]) -> Result<()> {
        synthetic::SyntheticLm::logits(self, history, out)
    }
}
