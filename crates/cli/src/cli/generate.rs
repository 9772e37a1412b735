//! `provmark generate`: watermarked or control samples from a language model (built in,
//! n-gram, or a GGUF model run by candle).

use super::model::{self, PromptStyle};
use super::{CliResult, load_key, out};
use clap::Args;
use provmark::detect::{DetectorConfig, Rotation};
use provmark::lm::generate;
use provmark::provenance::ledger::LedgerWriter;
use provmark::sampling::{Sampler, SamplingConfig};
use rand::{RngExt, SeedableRng};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct GenerateArgs {
    /// The key file (its tokenizer and watermark parameters are used). Repeat it to rotate keys
    /// per request: each prompt is watermarked under one of them, drawn at random, and
    /// `detect` with the same keys accepts a text only when exactly one fires. Which key
    /// served a request is not printed: a requester who knew it could sort its answers per
    /// key and steal each green list.
    #[arg(long, required = true)]
    key: Vec<PathBuf>,
    /// The model: `synthetic` (built in), an n-gram model file from `provmark lm train`, a
    /// GGUF model file (`*.gguf`, run by candle; the key must use its tokenizer), or `smollm2`
    /// (the reference model fetched by scripts/fetch-model.sh).
    #[arg(long, default_value = "synthetic")]
    model: String,
    /// Text to continue; for a chat model, the user's message (wrapped in its chat template).
    #[arg(long, conflicts_with = "prompts")]
    prompt: Option<String>,
    /// File with one prompt per line; prints one JSON Lines record per prompt
    /// (`{"prompt": ..., "text": ...}`, or `"ids"` with --output-ids).
    #[arg(long)]
    prompts: Option<PathBuf>,
    /// System message for a chat model (default: its template's own).
    #[arg(long)]
    system: Option<String>,
    /// Give a chat model the prompt as raw text, without its chat template.
    #[arg(long)]
    raw: bool,
    /// Never stop at the model's end-of-turn token: always generate --tokens tokens.
    #[arg(long)]
    ignore_eos: bool,
    /// Maximum number of tokens to generate (per prompt); a chat model stops earlier at its
    /// end-of-turn token unless --ignore-eos.
    #[arg(long, default_value_t = 200, value_parser = super::positive)]
    tokens: usize,
    /// RNG seed for sampling (random when omitted).
    #[arg(long)]
    seed: Option<u64>,
    /// Softmax temperature (0 = greedy).
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    /// Keep only the K most likely tokens (0 = off).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Nucleus sampling mass (1 = off).
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Print the token ids as one JSON array instead of text.
    #[arg(long)]
    output_ids: bool,
    /// Sample without the watermark (a control with the same model).
    #[arg(long)]
    no_watermark: bool,
    /// Append the keyed fingerprints of the contexts of emitted tokens to this ledger file
    /// (keyed with the first --key).
    #[arg(long)]
    ledger: Option<PathBuf>,
}

pub fn run(a: GenerateArgs) -> CliResult<ExitCode> {
    let keys = a
        .key
        .iter()
        .map(|k| load_key(k))
        .collect::<CliResult<Vec<_>>>()?;
    let Some(key) = keys.first() else {
        return Err(provmark::Error::param("key", "give at least one key file").into());
    };
    let tok = provmark_text::load(&key.tokenizer)?;
    // Several keys must form a rotation (one tokenizer, no repeats).
    let rotation = if keys.len() > 1 {
        Some(Rotation::new(
            &keys,
            tok.vocab_size(),
            DetectorConfig::default(),
        )?)
    } else {
        None
    };
    let schemes: Vec<_> = keys.iter().map(|k| k.scheme()).collect();
    let lm = model::load(&a.model, tok.as_ref(), a.ignore_eos)?;
    let style = PromptStyle {
        system: a.system.clone(),
        raw: a.raw,
    };
    let mut sampler = Sampler::new(SamplingConfig {
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
    })?;
    let seed = match a.seed {
        Some(s) => s,
        None => getrandom::u64().unwrap_or(0x5EED),
    };
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let mut ledger = match (&a.ledger, schemes.first()) {
        // Ledgers record the prompt-inclusive contexts of KGW keys.
        (Some(p), Some(scheme)) => Some(LedgerWriter::open(
            p,
            &key.secret,
            scheme.context_rule().width,
        )?),
        _ => None,
    };
    let mut sample = |prompt: &str| -> CliResult<Vec<u32>> {
        // The key's normalisation, as detection applies it to suspect text.
        let prompt = provmark_text::normalize::normalize(prompt, key.normalization);
        let mut ids = lm.prompt_ids(tok.as_ref(), &prompt, &style)?;
        // One key per request; a single key draws nothing, so seeded runs stay as they were.
        let pick = rotation.as_ref().map_or(0, |r| r.choose(rng.random()));
        let watermark = schemes
            .get(pick)
            .filter(|_| !a.no_watermark)
            .map(|s| s.as_ref());
        let generated = generate(
            lm.lm(),
            watermark,
            &ids,
            a.tokens,
            &mut sampler,
            &mut || rng.random(),
        )?;
        if let Some(l) = ledger.as_mut() {
            for &t in &generated {
                l.record(&ids)?;
                ids.push(t);
            }
            l.flush()?;
        }
        Ok(generated)
    };
    if let Some(file) = &a.prompts {
        let text = std::fs::read_to_string(file).map_err(|e| provmark::Error::io(file, e))?;
        if text.lines().all(|l| l.trim().is_empty()) {
            return Err(super::CliError::about(
                file.display(),
                provmark::Error::InvalidInput("holds no prompts".into()),
            ));
        }
        for prompt in text.lines().filter(|l| !l.trim().is_empty()) {
            let ids = sample(prompt)?;
            let record = if a.output_ids {
                serde_json::json!({ "prompt": prompt, "ids": ids })
            } else {
                serde_json::json!({ "prompt": prompt, "text": tok.decode(&ids)? })
            };
            out(record)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let ids = sample(a.prompt.as_deref().unwrap_or(""))?;
    if a.output_ids {
        out(serde_json::to_string(&ids).unwrap_or_default())?;
    } else {
        out(tok.decode(&ids)?)?;
    }
    Ok(ExitCode::SUCCESS)
}
