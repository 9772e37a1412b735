//! Evaluation data: tokenized corpora split into training and held-out chunks.
//!
//! Every document is cut into chunks of [`CHUNK_TOKENS`] tokens; every [`HOLD_OUT_EVERY`]-th
//! chunk (counting across the whole corpus, in its deterministic order) is held out. Models are
//! trained on the other chunks only, and human texts and prompts come from the held-out ones,
//! so no evaluation text was ever seen in training.

use provmark::Result;
use provmark::text::Tokenizer;
use provmark_text::corpus::Document;

/// Chunk length in tokens.
pub const CHUNK_TOKENS: usize = 1024;
/// One chunk in this many is held out.
pub const HOLD_OUT_EVERY: usize = 10;

/// Tokenized training and held-out chunks.
#[derive(Clone, Debug, Default)]
pub struct Split {
    /// Chunks to train on.
    pub train: Vec<Vec<u32>>,
    /// Chunks never trained on.
    pub held_out: Vec<Vec<u32>>,
}

impl Split {
    /// Total tokens in the training chunks.
    pub fn train_tokens(&self) -> usize {
        self.train.iter().map(Vec::len).sum()
    }

    /// Total tokens in the held-out chunks.
    pub fn held_out_tokens(&self) -> usize {
        self.held_out.iter().map(Vec::len).sum()
    }
}

/// Tokenizes documents (on all available cores, order preserved).
///
/// # Errors
/// The tokenizer's errors.
pub fn tokenize(docs: &[Document], tok: &dyn Tokenizer) -> Result<Vec<Vec<u32>>> {
    let threads = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .clamp(1, 8);
    let per = docs.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = docs
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|d| tok.encode(&d.text))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(docs.len());
        for h in handles {
            match h.join() {
                Ok(r) => out.extend(r?),
                Err(_) => return Err(provmark::Error::Tokenizer("tokenizer thread failed".into())),
            }
        }
        Ok(out)
    })
}

/// Splits tokenized documents into training and held-out chunks (see the module docs).
pub fn split(docs: &[Vec<u32>]) -> Split {
    let mut s = Split::default();
    let mut i = 0usize;
    for doc in docs {
        for chunk in doc.chunks(CHUNK_TOKENS) {
            if i % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1 {
                s.held_out.push(chunk.to_vec());
            } else {
                s.train.push(chunk.to_vec());
            }
            i += 1;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn split_is_disjoint_and_complete() {
        let docs: Vec<Vec<u32>> = (0..5)
            .map(|d| (0..3000).map(|i| d * 10_000 + i).collect())
            .collect();
        let s = super::split(&docs);
        assert_eq!(s.train_tokens() + s.held_out_tokens(), 15_000);
        assert_eq!(s.held_out.len(), 1);
        assert_eq!(s.train.len() + s.held_out.len(), 15);
    }
}
