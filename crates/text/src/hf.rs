//! Tokenizers run by the Hugging Face `tokenizers` crate: `tokenizer.json` files (feature `hf`)
//! and GGUF metadata (feature `gguf`).

use provmark::text::{Tokenizer, TokenizerSpec};
use provmark::{Error, Result};
#[cfg(feature = "hf")]
use std::path::Path;

/// A `tokenizers` tokenizer: loaded from a local `tokenizer.json`, or built from a GGUF
/// model's metadata.
pub(crate) struct HfTokenizer {
    spec: TokenizerSpec,
    inner: tokenizers::Tokenizer,
    vocab_size: usize,
}

impl HfTokenizer {
    /// Loads a `tokenizer.json` file.
    #[cfg(feature = "hf")]
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))?;
        let spec = TokenizerSpec::Huggingface {
            path: path.to_path_buf(),
        };
        Ok(Self::new(inner, spec))
    }

    /// Wraps a tokenizer that `spec` loads again.
    pub(crate) fn new(inner: tokenizers::Tokenizer, spec: TokenizerSpec) -> Self {
        let vocab_size = inner.get_vocab_size(true);
        HfTokenizer {
            spec,
            inner,
            vocab_size,
        }
    }
}

impl Tokenizer for HfTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", self.spec)))?;
        Ok(enc.get_ids().to_vec())
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        provmark::check_token_ids(ids, self.vocab_size, 0)?;
        self.inner
            .decode(ids, false)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", self.spec)))
    }

    fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    fn spec(&self) -> TokenizerSpec {
        self.spec.clone()
    }
}
