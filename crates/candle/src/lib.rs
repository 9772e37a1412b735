//! provmark inside [candle]: GGUF Llama-family models on the CPU, handing each step's
//! full-vocabulary logits to the watermark.
//!
//! [`Llama`] loads a quantized GGUF model (SmolLM2, Llama 2/3, TinyLlama, Mistral-style models
//! stored with the `llama` architecture) with `candle-transformers`' `quantized_llama` and
//! implements [`provmark::lm::LanguageModel`], so the core's sampling loop
//! ([`provmark::lm::generate`]), the schemes and the audits run on it unchanged. Its key-value
//! cache follows the history: a call whose history extends the previous one by a token costs
//! one decoding step, and any other history is recomputed from the start.
//!
//! [`ChatTemplate`] renders the model's own chat template (the Jinja text in the GGUF metadata),
//! so a prompt is wrapped exactly as the model was trained to see it.
//!
//! # Where the watermark sits
//! The sampling loop adds the KGW bias δ to the *raw* logits, before temperature and top-p (as
//! llama.cpp's sampler chain does when the watermark comes first). At temperature `T` a green
//! token's probability is therefore multiplied by `e^(δ/T)` before renormalisation: the
//! effective bias is δ/T, stronger below `T = 1`, weaker above. Top-p is applied to the biased
//! distribution, so the nucleus is chosen after green tokens were promoted; a green token
//! just outside the unbiased nucleus can enter it. Hugging Face's `WatermarkLogitsProcessor`,
//! placed after its temperature warper, adds δ after temperature instead, which is why its
//! z-scores at `T = 0.7` are lower for the same δ.
//!
//! # Weights
//! candle 0.11's CPU backend has AVX2 (and NEON) dot products for Q4_0, Q8_0 and the k-quants,
//! but a scalar loop for Q4_1, Q5_0, Q5_1 and Q8_1; SmolLM2's reference GGUF is Q4_1. [`Llama::load`]
//! therefore requantizes tensors of those four types to Q8_0 as it loads them: each 32-weight
//! block is dequantized exactly and rounded to 255 levels of its largest magnitude, an error of at
//! most 1/254 of that magnitude per weight, a tenth of the 4-bit grid's own step. Decoding runs
//! about three times faster (`benches/decode.rs`); the next-token distributions move by a mean
//! total variation of 0.037 on SmolLM2, about what the stored weights already show between a
//! cached step and a fresh pass (`tests/llama.rs`). [`Llama::load_as_stored`] keeps every
//! tensor as the file stores it.
//!
//! # Threads
//! candle's CPU kernels use `CANDLE_NUM_THREADS` (else `RAYON_NUM_THREADS`, else the physical
//! core count) threads. On a busy two-core machine one thread is faster and as deterministic.
//!
//! ```no_run
//! use provmark::{key::SecretKey, lm::generate, sampling::*, scheme::*};
//! use provmark_candle::Llama;
//! use provmark_candle::Message;
//! let path = "SmolLM2-135M-Instruct.Q4_1.gguf";
//! let lm = Llama::load(path)?;
//! let tok = provmark_text::gguf::load(path.as_ref())?; // the model's own tokenizer
//! let prompt = lm.encode_chat(tok.as_ref(), &[Message::user("Why is the sky blue?")])?;
//! let kgw = Kgw::new(&SecretKey::from_bytes([7; 32]), KgwParams::default());
//! let mut sampler = Sampler::new(SamplingConfig { temperature: 0.7, top_k: 0, top_p: 0.95 })?;
//! let mut u = 0.0;
//! let mut uniform = || { u = (u + 0.618_034) % 1.0; u };
//! let answer = generate(&lm, Some(&kgw), &prompt, 200, &mut sampler, &mut uniform)?;
//! println!("{}", tok.decode(&answer)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [candle]: https://github.com/huggingface/candle

mod chat;

pub use chat::{ChatTemplate, Message};

use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::quantized_llama::{self, ModelWeights};
use provmark::lm::LanguageModel;
use provmark::{Error, Result};
use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;
use std::sync::Mutex;

/// How [`Llama::load`] turns a file into weights, for caches of generated text to key on
/// beside the file's content: another candle version or requantization gives other logits.
pub const LOADER: &str = "candle-core 0.11.1; Q4_1, Q5_0, Q5_1, Q8_1 requantized to Q8_0";

/// Prompt tokens fed to the model per forward pass (bounds the attention matrix of long
/// prompts; the result does not depend on it).
const PREFILL_CHUNK: usize = 256;

/// What a GGUF file says about its model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// `general.architecture` (always `llama` for [`Llama`]).
    pub architecture: String,
    /// `general.name`, when present.
    pub name: Option<String>,
    /// Length of the logits: the number of rows of the output projection.
    pub vocab_size: usize,
    /// The longest history the model accepts (its trained context, capped by candle's rotary
    /// table).
    pub context_length: usize,
    /// `tokenizer.ggml.bos_token_id`: what the model conditions on when the history is empty.
    pub bos_token: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`: where a generation stops.
    pub eos_token: Option<u32>,
    /// The Jinja chat template (`tokenizer.chat_template`), when the file has one.
    pub chat_template: Option<String>,
    /// The token strings of `tokenizer.ggml.tokens`, to name the BOS and EOS tokens in the
    /// chat template.
    bos_text: Option<String>,
    eos_text: Option<String>,
}

impl ModelInfo {
    /// The model's chat template, with its BOS and EOS token strings.
    ///
    /// # Errors
    /// [`Error::ModelFormat`] when the file has no chat template or the template does not
    /// parse.
    pub fn chat(&self) -> Result<ChatTemplate> {
        let source = self.chat_template.as_deref().ok_or_else(|| {
            Error::ModelFormat("the model file has no tokenizer.chat_template".into())
        })?;
        ChatTemplate::new(
            source,
            self.bos_text.as_deref().unwrap_or(""),
            self.eos_text.as_deref().unwrap_or(""),
        )
    }
}

/// A GGUF Llama-family model running on candle's CPU backend. `Send + Sync`: calls are
/// serialised on one key-value cache.
pub struct Llama {
    info: ModelInfo,
    state: Mutex<State>,
    ignore_eos: bool,
}

struct State {
    model: ModelWeights,
    /// The tokens whose keys and values are in the model's cache.
    fed: Vec<u32>,
    /// Logits after `fed`.
    last: Vec<f32>,
}

impl std::fmt::Debug for Llama {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llama")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

fn engine(e: candle_core::Error) -> Error {
    Error::Engine(e.to_string())
}

impl Llama {
    /// Loads a GGUF model file.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, [`Error::ModelFormat`] when it is not a GGUF
    /// model of the `llama` architecture, [`Error::Engine`] when candle rejects its tensors.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::open(path.as_ref(), true)
    }

    /// Loads a GGUF model file keeping every tensor in the type the file stores (see
    /// [Weights](crate#weights)): slower for Q4_1, Q5_0, Q5_1 and Q8_1 files, and the logits
    /// are those of the stored weights exactly.
    ///
    /// # Errors
    /// As [`Llama::load`].
    pub fn load_as_stored(path: impl AsRef<Path>) -> Result<Self> {
        Self::open(path.as_ref(), false)
    }

    fn open(path: &Path, requantize: bool) -> Result<Self> {
        let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let content = gguf_file::Content::read(&mut file)
            .map_err(|e| Error::ModelFormat(format!("{}: {e}", path.display())))?;
        let info = model_info(&content)?;
        let model = if requantize {
            let (content, mut data) = requantized(content, &mut file).map_err(engine)?;
            ModelWeights::from_gguf(content, &mut data, &Device::Cpu)
        } else {
            ModelWeights::from_gguf(content, &mut file, &Device::Cpu)
        }
        .map_err(engine)?;
        Ok(Llama {
            ignore_eos: false,
            state: Mutex::new(State {
                model,
                fed: Vec::new(),
                last: Vec::with_capacity(info.vocab_size),
            }),
            info,
        })
    }

    /// What the file says about the model.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// With `true`, the model never ends its answer: the EOS logit is `-inf` and there are no
    /// stop tokens, so [`provmark::lm::generate`] always produces the tokens asked for (what
    /// llama.cpp's `--ignore-eos` does; for benchmarks and fixed-length evaluations).
    #[must_use]
    pub fn ignore_eos(mut self, yes: bool) -> Self {
        self.ignore_eos = yes;
        self
    }

    /// The token ids of a conversation wrapped in the model's chat template, ending where the
    /// assistant's answer begins, tokenized with `tok` (the key's tokenizer, which must be the
    /// model's own: `provmark keygen --tokenizer model.gguf`).
    ///
    /// # Errors
    /// [`Error::ModelFormat`] when the model has no chat template; [`Error::Tokenizer`] when
    /// `tok` is not the model's tokenizer (another vocabulary size, or it does not read the
    /// template's special tokens as the model's BOS/EOS ids); the template's and tokenizer's
    /// errors.
    pub fn encode_chat(
        &self,
        tok: &dyn provmark::text::Tokenizer,
        messages: &[Message],
    ) -> Result<Vec<u32>> {
        self.check_tokenizer(tok)?;
        let text = self.info.chat()?.render(messages, true)?;
        tok.encode(&text)
    }

    /// Checks that `tok` is the model's tokenizer: same vocabulary size, and the BOS and EOS
    /// token strings encode to the model's ids.
    ///
    /// # Errors
    /// [`Error::Tokenizer`] naming the mismatch.
    pub fn check_tokenizer(&self, tok: &dyn provmark::text::Tokenizer) -> Result<()> {
        if tok.vocab_size() != self.info.vocab_size {
            return Err(Error::Tokenizer(format!(
                "tokenizer {} has {} tokens but the model has {}: make the key with \
                 `provmark keygen --tokenizer MODEL.gguf`",
                tok.spec(),
                tok.vocab_size(),
                self.info.vocab_size
            )));
        }
        for (id, text) in [
            (self.info.bos_token, &self.info.bos_text),
            (self.info.eos_token, &self.info.eos_text),
        ] {
            if let (Some(id), Some(text)) = (id, text) {
                let got = tok.encode(text)?;
                if got != [id] {
                    return Err(Error::Tokenizer(format!(
                        "tokenizer {} encodes the model's special token {text:?} as {got:?}, \
                         not [{id}]: it is not this model's tokenizer",
                        tok.spec()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Runs the model over `history` (reusing the cached prefix) and leaves the logits in
    /// `state.last`.
    fn advance(&self, st: &mut State, history: &[u32]) -> candle_core::Result<()> {
        let reuse = !st.fed.is_empty() && history.starts_with(&st.fed);
        if reuse && st.fed.len() == history.len() {
            return Ok(());
        }
        let start = if reuse { st.fed.len() } else { 0 };
        if start == 0 {
            st.model.clear_kv_cache();
            st.fed.clear();
        }
        let mut logits = None;
        for chunk in history
            .get(start..)
            .unwrap_or_default()
            .chunks(PREFILL_CHUNK)
        {
            let input = Tensor::new(chunk, &Device::Cpu)?.unsqueeze(0)?;
            let pos = st.fed.len();
            logits = Some(st.model.forward(&input, pos)?);
            st.fed.extend_from_slice(chunk);
        }
        if let Some(l) = logits {
            let l = l.squeeze(0)?.to_dtype(DType::F32)?;
            let v = l.to_vec1::<f32>()?;
            if v.len() != self.info.vocab_size {
                candle_core::bail!(
                    "the model produced {} logits, its vocabulary has {}",
                    v.len(),
                    self.info.vocab_size
                );
            }
            st.last.clear();
            st.last.extend_from_slice(&v);
        }
        Ok(())
    }
}

impl LanguageModel for Llama {
    fn vocab_size(&self) -> usize {
        self.info.vocab_size
    }

    /// The logits after `history`; an empty history means the BOS token alone.
    ///
    /// # Errors
    /// [`Error::LogitsShape`] for a wrong `out`, [`Error::TokenOutOfRange`] for an id outside
    /// the vocabulary, [`Error::InvalidInput`] for a history longer than the context (or empty
    /// when the model has no BOS token), [`Error::Engine`] when candle fails.
    fn logits(&self, history: &[u32], out: &mut [f32]) -> Result<()> {
        let vocab = self.info.vocab_size;
        if out.len() != vocab {
            return Err(Error::LogitsShape {
                expected: vocab,
                actual: out.len(),
            });
        }
        let bos;
        let history = if history.is_empty() {
            bos = [self.info.bos_token.ok_or_else(|| {
                Error::InvalidInput("empty history and the model has no BOS token".into())
            })?];
            &bos[..]
        } else {
            history
        };
        provmark::check_token_ids(history, vocab, 0)?;
        if history.len() > self.info.context_length {
            return Err(Error::InvalidInput(format!(
                "history of {} tokens exceeds the model's context of {}",
                history.len(),
                self.info.context_length
            )));
        }
        let mut st = self
            .state
            .lock()
            .map_err(|_| Error::Engine("the model's state was poisoned by a panic".into()))?;
        if let Err(e) = self.advance(&mut st, history) {
            // The cache may hold part of a failed pass: start afresh next time.
            st.fed.clear();
            return Err(engine(e));
        }
        out.copy_from_slice(&st.last);
        if self.ignore_eos
            && let Some(l) = self.info.eos_token.and_then(|e| out.get_mut(e as usize))
        {
            *l = f32::NEG_INFINITY;
        }
        Ok(())
    }

    fn stop_tokens(&self) -> &[u32] {
        if self.ignore_eos {
            &[]
        } else {
            self.info.eos_token.as_slice()
        }
    }
}

/// Whether candle 0.11's CPU backend multiplies this type with a scalar loop only.
fn scalar_only(t: GgmlDType) -> bool {
    matches!(
        t,
        GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1 | GgmlDType::Q8_1
    )
}

/// The file's tensors with every [`scalar_only`] one requantized to Q8_0, as a GGUF content
/// whose tensor data is the returned in-memory buffer (offsets from its start). The other
/// tensors are copied byte for byte.
fn requantized(
    content: gguf_file::Content,
    file: &mut std::fs::File,
) -> candle_core::Result<(gguf_file::Content, Cursor<Vec<u8>>)> {
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut data = Vec::new();
    let mut infos = HashMap::with_capacity(names.len());
    for name in names {
        let q = content.tensor(file, name, &Device::Cpu)?;
        let q = if scalar_only(q.dtype()) {
            QTensor::quantize(&q.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)?
        } else {
            q
        };
        let offset = data.len() as u64;
        data.extend_from_slice(&q.data()?);
        infos.insert(
            name.clone(),
            gguf_file::TensorInfo {
                ggml_dtype: q.dtype(),
                shape: q.shape().clone(),
                offset,
            },
        );
    }
    let content = gguf_file::Content {
        tensor_infos: infos,
        tensor_data_offset: 0,
        ..content
    };
    Ok((content, Cursor::new(data)))
}

fn model_info(ct: &gguf_file::Content) -> Result<ModelInfo> {
    let md = &ct.metadata;
    let string = |k: &str| md.get(k).and_then(|v| v.to_string().ok()).cloned();
    let number = |k: &str| md.get(k).and_then(|v| v.to_u32().ok());
    let architecture = string("general.architecture").unwrap_or_default();
    if architecture != "llama" {
        return Err(Error::ModelFormat(format!(
            "architecture `{architecture}` is not supported (this adapter runs `llama` models)"
        )));
    }
    let embedding = ct
        .tensor_infos
        .get("output.weight")
        .or_else(|| ct.tensor_infos.get("token_embd.weight"))
        .ok_or_else(|| Error::ModelFormat("no output or token embedding tensor".into()))?;
    let vocab_size = embedding.shape.dims().first().copied().unwrap_or(0);
    if vocab_size == 0 || vocab_size > 1 << 21 {
        return Err(Error::ModelFormat(format!(
            "vocabulary of {vocab_size} tokens is outside 1..=2^21"
        )));
    }
    let trained = number("llama.context_length").map_or(quantized_llama::MAX_SEQ_LEN, |c| {
        usize::try_from(c).unwrap_or(usize::MAX)
    });
    let tokens = md
        .get("tokenizer.ggml.tokens")
        .and_then(|v| v.to_vec().ok());
    let token_text = |id: Option<u32>| {
        let i = usize::try_from(id?).ok()?;
        tokens?.get(i)?.to_string().ok().cloned()
    };
    let in_vocab =
        |id: Option<u32>| id.filter(|&i| usize::try_from(i).is_ok_and(|i| i < vocab_size));
    let bos_token = in_vocab(number("tokenizer.ggml.bos_token_id"));
    let eos_token = in_vocab(number("tokenizer.ggml.eos_token_id"));
    Ok(ModelInfo {
        architecture,
        name: string("general.name"),
        vocab_size,
        context_length: trained.min(quantized_llama::MAX_SEQ_LEN),
        bos_token,
        eos_token,
        chat_template: string("tokenizer.chat_template"),
        bos_text: token_text(bos_token),
        eos_text: token_text(eos_token),
    })
}
