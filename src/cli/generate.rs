//! `provmark generate`: watermarked or control samples from a built-in language model.

use super::{CliResult, load_key, out};
use clap::Args;
use provmark::lm::synthetic::SyntheticLm;
use provmark::sampling::{Sampler, SamplingConfig};
use rand::{RngExt, SeedableRng};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// The key file (its tokenizer and watermark parameters are used).
    #[arg(long)]
    key: PathBuf,
    /// Number of tokens to generate.
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
}

pub fn run(a: GenerateArgs) -> CliResult<ExitCode> {
    let key = load_key(&a.key)?;
    let tok = key.tokenizer.load()?;
    let lm = SyntheticLm::for_tokenizer(tok.as_ref())?;
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
    let mut logits = vec![0.0f32; lm.vocab_size()];
    let mut ids: Vec<u32> = Vec::with_capacity(a.tokens);
    for _ in 0..a.tokens {
        lm.logits(&ids, &mut logits)?;
        let u: f64 = rng.random();
        let t = if a.no_watermark {
            sampler.sample(&logits, u)?
        } else {
            kgw.sample_step(&ids, &mut logits, &mut sampler, u)?
        };
        ids.push(t);
    }
    if a.output_ids {
        out(serde_json::to_string(&ids).unwrap_or_default())?;
    } else {
        out(tok.decode(&ids)?)?;
    }
    Ok(ExitCode::SUCCESS)
}
