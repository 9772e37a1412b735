//! `--model`: the built-in synthetic model, an n-gram model file, or a GGUF model run by candle.

use super::{CliResult, Context};
use provmark::lm::LanguageModel;
use provmark::lm::synthetic::SyntheticLm;
use provmark::text::Tokenizer;
use provmark_cli::ngram::NgramLm;
use std::path::{Path, PathBuf};

/// A loaded model.
pub enum Model {
    /// A model that continues raw text (synthetic, n-gram).
    Raw(Box<dyn LanguageModel>),
    /// A chat model: prompts are wrapped in its chat template.
    #[cfg(feature = "candle")]
    Chat(Box<provmark_candle::Llama>),
}

/// How prompts become token ids.
#[derive(Clone, Debug, Default)]
#[cfg_attr(not(feature = "candle"), allow(dead_code))]
pub struct PromptStyle {
    /// A system message for chat models (else the template's default).
    pub system: Option<String>,
    /// Tokenize the prompt as is, without the chat template.
    pub raw: bool,
}

impl Model {
    /// The model as the sampling loop sees it.
    pub fn lm(&self) -> &dyn LanguageModel {
        match self {
            Model::Raw(lm) => lm.as_ref(),
            #[cfg(feature = "candle")]
            Model::Chat(lm) => lm.as_ref(),
        }
    }

    /// The token ids to continue for `prompt`.
    pub fn prompt_ids(
        &self,
        tok: &dyn Tokenizer,
        prompt: &str,
        style: &PromptStyle,
    ) -> CliResult<Vec<u32>> {
        match self {
            #[cfg(feature = "candle")]
            Model::Chat(lm) if !style.raw => {
                use provmark_candle::Message;
                let mut messages = Vec::with_capacity(2);
                if let Some(s) = &style.system {
                    messages.push(Message::system(s.clone()));
                }
                messages.push(Message::user(prompt));
                Ok(lm.encode_chat(tok, &messages)?)
            }
            _ => {
                let _ = style;
                Ok(tok.encode(prompt)?)
            }
        }
    }

    /// One line saying what the model is.
    pub fn describe(&self) -> String {
        match self {
            Model::Raw(_) => "built-in model".into(),
            #[cfg(feature = "candle")]
            Model::Chat(lm) => {
                let i = lm.info();
                format!(
                    "{} ({}, vocabulary {}, candle CPU)",
                    i.name.as_deref().unwrap_or("GGUF model"),
                    i.architecture,
                    i.vocab_size
                )
            }
        }
    }
}

/// Whether `--model` names a GGUF model (by extension, or the `smollm2` shorthand).
pub fn is_gguf(spec: &str) -> bool {
    spec == "smollm2" || spec.to_ascii_lowercase().ends_with(".gguf")
}

/// Resolves `smollm2` to the fetched reference model.
pub fn gguf_path(spec: &str) -> CliResult<PathBuf> {
    if spec == "smollm2" {
        return provmark_text::smollm2_path()
            .ok_or_else(|| {
                provmark::Error::InvalidInput(
                    "the reference model is not fetched: run scripts/fetch-model.sh".into(),
                )
            })
            .map_err(Into::into);
    }
    Ok(PathBuf::from(spec))
}

/// Loads a GGUF model for a key whose tokenizer is `tok` (checked to be the model's own).
pub fn load_gguf(path: &Path, tok: &dyn Tokenizer, ignore_eos: bool) -> CliResult<Model> {
    #[cfg(feature = "candle")]
    {
        let lm = provmark_candle::Llama::load(path)?.ignore_eos(ignore_eos);
        lm.check_tokenizer(tok).context(path.display())?;
        Ok(Model::Chat(Box::new(lm)))
    }
    #[cfg(not(feature = "candle"))]
    {
        let _ = (tok, ignore_eos);
        Err(provmark::Error::InvalidInput(format!(
            "{}: running GGUF models needs the `candle` feature of provmark-cli",
            path.display()
        ))
        .into())
    }
}

/// Loads `--model` for a key whose tokenizer is `tok`; `ignore_eos` keeps a chat model from
/// ending its answer early.
pub fn load(spec: &str, tok: &dyn Tokenizer, ignore_eos: bool) -> CliResult<Model> {
    if spec == "synthetic" {
        return Ok(Model::Raw(Box::new(SyntheticLm::for_tokenizer(tok)?)));
    }
    if is_gguf(spec) {
        return load_gguf(&gguf_path(spec)?, tok, ignore_eos);
    }
    let path = PathBuf::from(spec);
    let lm = NgramLm::load(&path)?;
    if lm.tokenizer() != &tok.spec() {
        return Err(provmark::Error::InvalidInput(format!(
            "the model uses tokenizer {} but the key uses {}",
            lm.tokenizer(),
            tok.spec()
        )))
        .context(path.display());
    }
    Ok(Model::Raw(Box::new(lm)))
}
