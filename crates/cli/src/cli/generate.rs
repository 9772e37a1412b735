//! `provmark generate`: watermarked or control samples from a built-in language model.

use super::{CliResult, Context, load_key, out};
use clap::Args;
use provmark::lm::synthetic::SyntheticLm;
use provmark::lm::{LanguageModel, generate};
use provmark::provenance::ledger::LedgerWriter;
use provmark::sampling::{Sampler, SamplingConfig};
use provmark_cli::ngram::NgramLm;
use rand::{RngExt, SeedableRng};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// The key file (its tokenizer and watermark parameters are used).
    #[arg(long)]
    key: PathBuf,
    /// `synthetic` (built in, no training) or a model file from `provmark lm train`.
    #[arg(long, default_value = "synthetic")]
    model: String,
    /// Text to continue.
    #[arg(long, conflicts_with = "prompts")]
    prompt: Option<String>,
    /// File with one prompt per line; prints one JSON Lines record per prompt
    /// (`{"prompt": ..., "text": ...}`, or `"ids"` with --output-ids).
    #[arg(long)]
    prompts: Option<PathBuf>,
    /// Number of tokens to generate (per prompt).
    #[arg(long, default_value_t = 200)]
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
    /// Append the keyed fingerprints of the contexts of emitted tokens to this ledger file.
    #[arg(long)]
    ledger: Option<PathBuf>,
}

pub fn run(a: GenerateArgs) -> CliResult<ExitCode> {
    let key = load_key(&a.key)?;
    let tok = provmark_text::load(&key.tokenizer)?;
    let lm: Box<dyn LanguageModel> = if a.model == "synthetic" {
        Box::new(SyntheticLm::for_tokenizer(tok.as_ref())?)
    } else {
        let path = PathBuf::from(&a.model);
        let lm = NgramLm::load(&path)?;
        if lm.tokenizer() != &key.tokenizer {
            return Err(provmark::Error::InvalidInput(format!(
                "the model uses tokenizer {} but the key uses {}",
                lm.tokenizer(),
                key.tokenizer
            )))
            .context(path.display());
        }
        Box::new(lm)
    };
    let kgw = key.kgw();
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
    let watermark = (!a.no_watermark).then_some(&kgw);
    let mut ledger = match &a.ledger {
        Some(p) => Some(LedgerWriter::open(p, &key.secret, kgw.params().context())?),
        None => None,
    };
    let mut sample = |prompt: &str| -> CliResult<Vec<u32>> {
        let mut ids = tok.encode(prompt)?;
        let generated = generate(
            lm.as_ref(),
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
