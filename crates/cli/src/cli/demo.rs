//! `provmark demo`: the one-command tour on real text.

use super::lm::load_corpus;
use super::{CliResult, Context, out};
use clap::Args;
use provmark::detect::format_p;
use provmark::text::TokenizerSpec;
use provmark_cli::eval::demo::{self, DemoConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Corpus (files, directories, JSON Lines, HTML); default: the Rust toolchain's books.
    #[arg(long)]
    corpus: Vec<PathBuf>,
    /// Directory for the HTML report.
    #[arg(long, default_value = "provmark-demo")]
    out: PathBuf,
    /// Tokens per continuation.
    #[arg(long, default_value_t = 200)]
    tokens: usize,
    /// Number of held-out prompts.
    #[arg(long, default_value_t = 6)]
    prompts: usize,
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

pub fn run(a: DemoArgs) -> CliResult<ExitCode> {
    let t0 = Instant::now();
    let corpus = load_corpus(&a.corpus)?;
    let tok = provmark_text::load(&TokenizerSpec::default())?;
    let cfg = DemoConfig {
        tokens: a.tokens,
        prompts: a.prompts,
        seed: a.seed,
        cache_dir: cache_dir(),
        ..DemoConfig::default()
    };
    eprintln!(
        "provmark: {} documents; training or loading the order-{} model ...",
        corpus.documents.len(),
        cfg.order
    );
    let result = demo::run(&corpus.documents, tok.as_ref(), &cfg)?;
    out(format_args!(
        "model: order-{} n-gram, {} training tokens, held-out perplexity {:.1}{}; key {} (throwaway); \
         gamma {}, delta {}, h {}; alpha 1e-6",
        cfg.order,
        result.train_tokens,
        result.perplexity,
        if result.cached { " (cached)" } else { "" },
        result.key_id,
        cfg.params.gamma(),
        cfg.params.delta(),
        cfg.params.context()
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
    std::fs::create_dir_all(&a.out)
        .map_err(|e| provmark::Error::io(&a.out, e))
        .context("creating the report directory")?;
    let path = a.out.join("report.html");
    std::fs::write(&path, html).map_err(|e| provmark::Error::io(&path, e))?;
    out(format_args!(
        "report: {} ({:.1}s)",
        path.display(),
        t0.elapsed().as_secs_f64()
    ))?;
    Ok(ExitCode::SUCCESS)
}
