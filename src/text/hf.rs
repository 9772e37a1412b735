//! Hugging Face `tokenizer.json` files through the `tokenizers` crate (feature `hf`).

use super::{Tokenizer, TokenizerSpec};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// A tokenizer loaded from a local `tokenizer.json`.
pub(crate) struct HfTokenizer {
    path: PathBuf,
    inner: tokenizers::Tokenizer,
    vocab_size: usize,
}

impl HfTokenizer {
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))?;
        let vocab_size = inner.get_vocab_size(true);
        Ok(HfTokenizer {
            path: path.to_path_buf(),
            inner,
            vocab_size,
        })
    }
}

impl Tokenizer for HfTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", self.path.display())))?;
        Ok(enc.get_ids().to_vec())
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        crate::check_token_ids(ids, self.vocab_size, 0)?;
        self.inner
            .decode(ids, false)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", self.path.display())))
    }

    fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    fn spec(&self) -> TokenizerSpec {
        TokenizerSpec::Huggingface {
            path: self.path.clone(),
        }
    }
}
