//! `provmark demo`: the one-command tour on real text (an n-gram model trained on a corpus, or
//! a real model with `--model`).

use super::lm::load_corpus;
use super::model::{self, PromptStyle};
use super::{CliResult, OutDir, out};
use clap::Args;
use provmark::detect::format_p;
use provmark::text::TokenizerSpec;
use provmark_cli::eval::demo::{self, DemoConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct DemoArgs {
    /// Corpus (files, directories, JSON Lines, HTML); default: the Rust toolchain's books.
    #[arg(long)]
    corpus: Vec<PathBuf>,
    /// Directory for the HTML report.
    #[arg(long, default_value = "provmark-demo")]
    out: PathBuf,
    /// Replace a report already in the output directory (refused otherwise).
    #[arg(long)]
    force: bool,
    /// A real model instead of the n-gram model: a GGUF file or `smollm2` (the reference model
    /// fetched by scripts/fetch-model.sh). It answers built-in chat prompts with its own
    /// tokenizer; --corpus is not used.
    #[arg(long)]
    model: Option<String>,
    /// Tokens per continuation (at most, for a chat model's answers).
    #[arg(long, default_value_t = 200, value_parser = super::positive)]
    tokens: usize,
    /// Number of prompts.
    #[arg(long, default_value_t = 6, value_parser = super::positive)]
    prompts: usize,
    /// Sampling temperature (default 0.8 for the n-gram model, 0.7 for a real model).
    #[arg(long)]
    temperature: Option<f32>,
    /// Nucleus mass (default 1 for the n-gram model, 0.95 for a real model).
    #[arg(long)]
    top_p: Option<f32>,
    /// Sampling RNG seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// `$XDG_CACHE_HOME/provmark`, else `~/.cache/provmark`.
pub fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("provmark"))
}

/// The real-model demo's prompts: everyday requests of different kinds (explanation, list,
/// story, advice, code, comparison), so answers of different entropy are shown.
const CHAT_PROMPTS: [&str; 8] = [
    "Explain how a refrigerator keeps food cold.",
    "List five ideas for a rainy weekend and say why each is fun.",
    "Write a short story about a lost umbrella that finds its way home.",
    "How should I prepare for my first job interview?",
    "Write a Python function that checks whether a word is a palindrome, and explain it.",
    "Compare trains and planes for a 500 km trip.",
    "Describe the water cycle to a ten-year-old.",
    "What should a beginner know before planting a vegetable garden?",
];

pub fn run(a: DemoArgs) -> CliResult<ExitCode> {
    let t0 = Instant::now();
    let dir = OutDir::prepare(&a.out, &["report.html"], a.force)?;
    let real = a.model.is_some();
    let mut cfg = DemoConfig {
        tokens: a.tokens,
        prompts: a.prompts,
        seed: a.seed,
        cache_dir: cache_dir(),
        temperature: a.temperature.unwrap_or(if real { 0.7 } else { 0.8 }),
        top_p: a.top_p.unwrap_or(if real { 0.95 } else { 1.0 }),
        ..DemoConfig::default()
    };
    if cfg.tokens == 0 || cfg.prompts == 0 {
        return Err(
            provmark::Error::param("tokens", "--tokens and --prompts must be at least 1").into(),
        );
    }
    let (result, tok) = if let Some(spec) = &a.model {
        let path = model::gguf_path(spec)?;
        let tok = provmark_text::load(&TokenizerSpec::Gguf { path: path.clone() })?;
        eprintln!("provmark: loading {} ...", path.display());
        let lm = model::load_gguf(&path, tok.as_ref(), false)?;
        let mut prompts = Vec::new();
        for text in CHAT_PROMPTS.iter().cycle().take(cfg.prompts) {
            let ids = lm.prompt_ids(tok.as_ref(), text, &PromptStyle::default())?;
            prompts.push(((*text).to_owned(), ids));
        }
        cfg.prompts = prompts.len();
        eprintln!(
            "provmark: {} prompts, watermarked and not ...",
            prompts.len()
        );
        let r = demo::run_prompts(lm.lm(), &lm.describe(), tok.as_ref(), &prompts, &cfg)?;
        (r, tok)
    } else {
        let corpus = load_corpus(&a.corpus)?;
        let tok = provmark_text::load(&TokenizerSpec::default())?;
        eprintln!(
            "provmark: {} documents; training or loading the order-{} model ...",
            corpus.documents.len(),
            cfg.order
        );
        (demo::run(&corpus.documents, tok.as_ref(), &cfg)?, tok)
    };
    out(format_args!(
        "model: {}; key {} (throwaway); gamma {}, delta {}, h {}; T {}, top-p {}; alpha 1e-6",
        result.model,
        result.key_id,
        cfg.params.gamma(),
        cfg.params.delta(),
        cfg.params.context(),
        cfg.temperature,
        cfg.top_p
    ))?;
    out(format_args!(
        "{:<7} {:<14} {:>6} {:>7} {:>7} {:>8} {:>10}  verdict",
        "prompt", "text", "tokens", "scored", "green%", "z", "p-value"
    ))?;
    for row in &result.rows {
        let d = &row.detection;
        let green = if d.scored == 0 {
            0.0
        } else {
            100.0 * d.green as f64 / d.scored as f64
        };
        out(format_args!(
            "{:<7} {:<14} {:>6} {:>7} {:>7.1} {:>8.2} {:>10}  {}",
            row.prompt + 1,
            row.kind.name(),
            d.tokens,
            d.scored,
            green,
            d.z_score,
            format_p(d.log10_p_value),
            d.verdict
        ))?;
    }
    let html = demo::report(&result, tok.as_ref(), &cfg)?;
    let path = dir.write("report.html", html)?;
    out(format_args!(
        "report: {} ({:.1}s)",
        path.display(),
        t0.elapsed().as_secs_f64()
    ))?;
    Ok(ExitCode::SUCCESS)
}
