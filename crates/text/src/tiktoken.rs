//! The built-in OpenAI BPE encodings, embedded in the binary by `tiktoken-rs`.

use provmark::text::{Tokenizer, TokenizerSpec};
use provmark::{Error, Result};
use tiktoken_rs::CoreBPE;

/// An embedded tiktoken encoding.
pub(crate) struct Tiktoken {
    name: String,
    bpe: CoreBPE,
    vocab_size: usize,
}

impl Tiktoken {
    pub(crate) fn load(name: &str) -> Result<Self> {
        // Vocabulary sizes are one past the highest special-token id of each encoding as
        // defined by tiktoken (`<|endofprompt|>` is 200018 in o200k_base, 100276 in cl100k_base).
        let (bpe, vocab_size) = match name {
            "o200k_base" => (tiktoken_rs::o200k_base(), 200_019),
            "cl100k_base" => (tiktoken_rs::cl100k_base(), 100_277),
            other => {
                return Err(Error::Tokenizer(format!(
                    "unknown built-in encoding {other:?} (known: {})",
                    provmark::text::BUILTIN.join(", ")
                )));
            }
        };
        let bpe = bpe.map_err(|e| Error::Tokenizer(format!("{name}: {e}")))?;
        Ok(Tiktoken {
            name: name.into(),
            bpe,
            vocab_size,
        })
    }
}

impl Tokenizer for Tiktoken {
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.bpe.encode_ordinary(text))
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        provmark::check_token_ids(ids, self.vocab_size, 0)?;
        let bytes = self
            .bpe
            .decode_bytes(ids)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", self.name)))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    fn spec(&self) -> TokenizerSpec {
        TokenizerSpec::Tiktoken {
            name: self.name.clone(),
        }
    }
}
