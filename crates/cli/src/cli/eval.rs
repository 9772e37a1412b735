//! `provmark eval`: the evaluation grid, written as JSON, Markdown tables and SVG plots.

use super::lm::load_corpus;
use super::{CliResult, OutDir, out};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use provmark::text::TokenizerSpec;
use provmark_cli::eval::grid::{self, EvalConfig, EvalInputs};
use provmark_cli::eval::radioactivity::{self, Queries, RadioConfig};
use provmark_cli::eval::tables;
use provmark_text::corpus::{self, Document};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct EvalArgs {
    /// Corpus (files, directories, JSON Lines, HTML); default: the Rust toolchain's books.
    /// With --model: one more human domain for the false-positive table.
    #[arg(long)]
    corpus: Vec<PathBuf>,
    /// Repetitive human text for the dedup comparison (default: code blocks of the Rust books).
    #[arg(long)]
    repetitive: Vec<PathBuf>,
    /// A small subset that runs in a few minutes (used by CI).
    #[arg(long)]
    quick: bool,
    /// Output directory.
    #[arg(long, default_value = "provmark-eval")]
    out: PathBuf,
    /// Replace result files already in the output directory (refused otherwise).
    #[arg(long)]
    force: bool,
    /// Master seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Watermarked generations per configuration (overrides the preset).
    #[arg(long, value_parser = super::positive)]
    samples: Option<usize>,
    /// Run only the distillation (radioactivity) experiment; writes radioactivity.json / .md.
    #[arg(long)]
    radioactivity_only: bool,
    /// Run only the stealing experiment (the attacker of Jovanović et al. 2024 estimating green
    /// lists from queried answers, then spoofing and scrubbing, with and without per-request
    /// key rotation); writes stealing.json / .md. With --quick: h 0 and 2, up to 10^5 tokens.
    #[arg(long, conflicts_with = "radioactivity_only")]
    stealing: bool,
    /// Tokens the stealing attacker queries (comma-separated; overrides the preset).
    #[arg(long, value_delimiter = ',')]
    steal_tokens: Vec<usize>,
    /// Context widths of the stealing experiment (comma-separated; overrides the preset).
    #[arg(long, value_delimiter = ',')]
    steal_contexts: Vec<usize>,
    /// Suspect-corpus sizes of the distillation experiment, in tokens (comma-separated).
    #[arg(long, value_delimiter = ',')]
    radio_sizes: Vec<usize>,
    /// Teacher shares (percent) of the distillation experiment (comma-separated).
    #[arg(long, value_delimiter = ',')]
    radio_shares: Vec<f64>,
    /// How the distillation experiment queries each student (comma-separated; default: all).
    #[arg(long, value_delimiter = ',', value_enum)]
    radio_queries: Vec<RadioQueries>,
    /// Temperature at which the distillation experiment samples the students.
    #[arg(long)]
    radio_temperature: Option<f32>,
    /// Evaluate on a real chat model instead (a GGUF file or `smollm2`): watermarked answers
    /// and unwatermarked twins to chat prompts at T 0.7 + top-p 0.95 and at T 1; writes
    /// real.json and real.md. Generations are cached (resumable).
    #[arg(long)]
    model: Option<String>,
    /// Chat prompts, one per line (default: the 200 built-in prompts).
    #[arg(long, requires = "model")]
    prompt_file: Option<PathBuf>,
    /// Use only the first N prompts.
    #[arg(long, requires = "model", value_parser = super::positive)]
    limit: Option<usize>,
    /// Maximum answer length in tokens (default 400; 100 with --quick).
    #[arg(long, requires = "model", value_parser = super::positive)]
    tokens: Option<usize>,
    /// Worker threads, each with its own model instance (default: the core count).
    #[arg(long, requires = "model", value_parser = super::positive)]
    threads: Option<usize>,
    /// With --model: compare every scheme side by side on the model instead (power by length,
    /// human false positives, NLL, agreement, robustness); writes schemes.json / schemes.md.
    /// Default 40 prompts × 200 tokens; --quick 2 × 60.
    #[arg(long, requires = "model")]
    schemes: bool,
}

/// The built-in chat prompts of the real-model evaluation.
#[cfg(feature = "candle")]
const CHAT_PROMPTS: &str = include_str!("../../data/chat-prompts.txt");

/// The CLI names of [`Queries`].
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum RadioQueries {
    /// Forward the served exchanges through the student's weights (open model).
    Open,
    /// Sample the student on the prompts account A sent.
    Account,
    /// Sample the student on fresh human prompts.
    Fresh,
}

impl From<RadioQueries> for Queries {
    fn from(q: RadioQueries) -> Self {
        match q {
            RadioQueries::Open => Queries::OpenModel,
            RadioQueries::Account => Queries::AccountPrompts,
            RadioQueries::Fresh => Queries::FreshPrompts,
        }
    }
}

pub fn run(a: EvalArgs) -> CliResult<ExitCode> {
    let t0 = Instant::now();
    if let Some(m) = &a.model {
        #[cfg(feature = "candle")]
        if a.schemes {
            return real_schemes(&a, m, t0);
        }
        #[cfg(feature = "candle")]
        if a.stealing {
            return real_stealing(&a, m, t0);
        }
        return real_model(&a, m, t0);
    }
    let corpus = load_corpus(&a.corpus)?;
    let repetitive: Vec<Document> = if a.repetitive.is_empty() {
        match corpus::rust_docs() {
            Ok(c) => c.code,
            Err(e) => {
                eprintln!("provmark: no repetitive-text section: {e}");
                Vec::new()
            }
        }
    } else {
        load_corpus(&a.repetitive)?.documents
    };
    let tok = provmark_text::load(&TokenizerSpec::default())?;
    let mut cfg = if a.quick {
        EvalConfig::quick()
    } else {
        EvalConfig::full()
    };
    if let Some(s) = a.seed {
        cfg.seed = s;
    }
    if let Some(n) = a.samples {
        cfg.samples = n;
    }
    if let Some(rc) = cfg.radioactivity.as_mut() {
        if !a.radio_sizes.is_empty() {
            rc.corpus_sizes = a.radio_sizes.clone();
        }
        if !a.radio_shares.is_empty() {
            rc.shares = a.radio_shares.clone();
        }
        if let Some(t) = a.radio_temperature {
            rc.query_temperature = t;
        }
        if !a.radio_queries.is_empty() {
            rc.queries = a.radio_queries.iter().map(|&q| q.into()).collect();
        }
    }
    let cache = super::demo::cache_dir();
    let inputs = EvalInputs {
        documents: &corpus.documents,
        repetitive: &repetitive,
        tokenizer: tok.as_ref(),
        cache_dir: cache.as_deref(),
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} jobs, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if a.radioactivity_only {
        return radioactivity_only(&a, &inputs, &cfg, t0);
    }
    if a.stealing {
        return stealing_only(&a, &inputs, &cfg, t0);
    }
    let mut files = vec!["results.json", "results.md"];
    #[cfg(feature = "plots")]
    files.extend(provmark_cli::eval::plots::FILES);
    let dir = OutDir::prepare(&a.out, &files, a.force)?;
    let results = grid::run(&inputs, &cfg, &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    dir.write(
        "results.json",
        serde_json::to_string_pretty(&results).unwrap_or_default(),
    )?;
    dir.write("results.md", tables::markdown(&results))?;
    #[cfg(feature = "plots")]
    provmark_cli::eval::plots::write_all(&results, dir.path())?;
    let mut ok = true;
    for c in &results.checks {
        ok &= c.passed;
        out(format_args!(
            "{}: {} = {:.4} (threshold {})",
            if c.passed { "pass" } else { "FAIL" },
            c.name,
            c.value,
            c.threshold
        ))?;
    }
    out(format_args!(
        "wrote {}/results.json, results.md{} in {:.0}s",
        a.out.display(),
        if cfg!(feature = "plots") {
            " and plots"
        } else {
            ""
        },
        t0.elapsed().as_secs_f64()
    ))?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn stealing_only(
    a: &EvalArgs,
    inputs: &EvalInputs<'_>,
    cfg: &EvalConfig,
    t0: Instant,
) -> CliResult<ExitCode> {
    use provmark_cli::eval::stealing;
    let dir = OutDir::prepare(&a.out, &["stealing.json", "stealing.md"], a.force)?;
    let sc = steal_overrides(
        a,
        if a.quick {
            stealing::StealConfig::quick()
        } else {
            stealing::StealConfig::full()
        },
    );
    let (split, lm, _) = grid::prepare(inputs, cfg)?;
    let r = stealing::run_ngram(&lm, &split, &sc, cfg.seed, cfg.threads)?;
    write_stealing(&dir, &r, t0)
}

/// Applies --steal-tokens and --steal-contexts to a preset.
fn steal_overrides(
    a: &EvalArgs,
    mut sc: provmark_cli::eval::stealing::StealConfig,
) -> provmark_cli::eval::stealing::StealConfig {
    if !a.steal_tokens.is_empty() {
        sc.query_tokens = a.steal_tokens.clone();
    }
    if !a.steal_contexts.is_empty() {
        sc.contexts = a.steal_contexts.clone();
    }
    sc
}

/// The stealing experiment against a real chat model: the attacker sends the chat prompts
/// (wrapped in the model's template) and runs the same model without the watermark.
#[cfg(feature = "candle")]
fn real_stealing(a: &EvalArgs, spec: &str, t0: Instant) -> CliResult<ExitCode> {
    use super::model::{self, PromptStyle};
    use provmark_cli::eval::stealing::{self, StealConfig, Target};
    let dir = OutDir::prepare(&a.out, &["stealing.json", "stealing.md"], a.force)?;
    let path = model::gguf_path(spec)?;
    let tspec = TokenizerSpec::Gguf { path: path.clone() };
    let tok = provmark_text::load(&tspec)?;
    let chat = model::load_gguf(&path, tok.as_ref(), false)?;
    let text = match &a.prompt_file {
        Some(f) => std::fs::read_to_string(f).map_err(|e| provmark::Error::io(f, e))?,
        None => CHAT_PROMPTS.to_owned(),
    };
    let mut prompts = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(a.limit.unwrap_or(usize::MAX))
    {
        prompts.push(chat.prompt_ids(tok.as_ref(), line, &PromptStyle::default())?);
    }
    let model::Model::Chat(lm) = &chat else {
        return Err(provmark::Error::InvalidInput("not a chat model".into()).into());
    };
    let mut sc = steal_overrides(
        a,
        if a.quick {
            StealConfig {
                query_tokens: vec![2_000],
                texts: 4,
                contexts: vec![1],
                ..StealConfig::real()
            }
        } else {
            StealConfig::real()
        },
    );
    if let Some(t) = a.tokens {
        sc.doc = t;
    }
    let target = Target {
        lm: lm.as_ref(),
        ngram: None,
        tokenizer: &tspec,
    };
    // One model instance: its cache serves one history at a time.
    let r = stealing::run(target, &prompts, &sc, a.seed.unwrap_or(0x5EED), 1)?;
    write_stealing(&dir, &r, t0)
}

/// Writes stealing.json and stealing.md and prints the table.
fn write_stealing(
    dir: &OutDir,
    r: &provmark_cli::eval::stealing::StealResults,
    t0: Instant,
) -> CliResult<ExitCode> {
    use provmark_cli::eval::stealing;
    let json = dir.write(
        "stealing.json",
        serde_json::to_string_pretty(&r).unwrap_or_default(),
    )?;
    let md = dir.write("stealing.md", stealing::markdown(r))?;
    out(stealing::markdown(r))?;
    out(format_args!(
        "wrote {} and {} in {:.0}s",
        json.display(),
        md.display(),
        t0.elapsed().as_secs_f64()
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn radioactivity_only(
    a: &EvalArgs,
    inputs: &EvalInputs<'_>,
    cfg: &EvalConfig,
    t0: Instant,
) -> CliResult<ExitCode> {
    let dir = OutDir::prepare(&a.out, &["radioactivity.json", "radioactivity.md"], a.force)?;
    let rc = cfg.radioactivity.clone().unwrap_or_else(RadioConfig::full);
    let (split, lm, _) = grid::prepare(inputs, cfg)?;
    let r = radioactivity::run(
        &lm,
        &split,
        inputs.tokenizer,
        &rc,
        cfg.order,
        cfg.seed,
        cfg.threads,
        &|| {},
    )?;
    let json = dir.write(
        "radioactivity.json",
        serde_json::to_string_pretty(&r).unwrap_or_default(),
    )?;
    let md = dir.write("radioactivity.md", tables::radioactivity_markdown(&r))?;
    out(format_args!(
        "wrote {} and {} in {:.0}s",
        json.display(),
        md.display(),
        t0.elapsed().as_secs_f64()
    ))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "candle")]
fn real_schemes(a: &EvalArgs, spec: &str, t0: Instant) -> CliResult<ExitCode> {
    use super::model::{self, PromptStyle};
    use provmark_cli::eval::schemes::{self, SchemesConfig};
    let dir = OutDir::prepare(&a.out, &["schemes.json", "schemes.md"], a.force)?;
    let path = model::gguf_path(spec)?;
    let tok = provmark_text::load(&TokenizerSpec::Gguf { path: path.clone() })?;
    let lm = model::load_gguf(&path, tok.as_ref(), false)?;
    let text = match &a.prompt_file {
        Some(f) => std::fs::read_to_string(f).map_err(|e| provmark::Error::io(f, e))?,
        None => CHAT_PROMPTS.to_owned(),
    };
    let limit = a.limit.unwrap_or(if a.quick { 2 } else { 40 });
    let mut prompts = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()).take(limit) {
        prompts.push(lm.prompt_ids(tok.as_ref(), line, &PromptStyle::default())?);
    }
    // Human text: the --corpus books, else the Rust documentation's prose, in 200-token chunks.
    let docs: Vec<String> = if a.corpus.is_empty() {
        corpus::rust_docs()?
            .documents
            .into_iter()
            .map(|d| d.text)
            .collect()
    } else {
        load_corpus(&a.corpus)?
            .documents
            .into_iter()
            .map(|d| d.text)
            .collect()
    };
    let mut human_ids = Vec::new();
    for d in &docs {
        human_ids.extend(tok.encode(d)?);
        if human_ids.len() >= 200 * if a.quick { 100 } else { 500 } {
            break;
        }
    }
    let humans: Vec<&[u32]> = human_ids
        .chunks_exact(200)
        .take(if a.quick { 100 } else { 500 })
        .collect();
    let tokens = a.tokens.unwrap_or(if a.quick { 60 } else { 200 });
    let mut cfg = SchemesConfig::full(1);
    cfg.samples = prompts.len();
    cfg.lengths.retain(|&l| l <= tokens);
    if cfg.lengths.last() != Some(&tokens) {
        cfg.lengths.push(tokens);
    }
    cfg.human_keys = if a.quick { 3 } else { 10 };
    if let Some(s) = a.seed {
        cfg.seed = s;
    }
    let refs: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
    let bar = ProgressBar::new(schemes::jobs(&cfg) as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} jobs, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // One thread: the model instance keeps one KV cache.
    let c = schemes::run(
        lm.lm(),
        tok.vocab_size(),
        &refs,
        &humans,
        &human_ids,
        &cfg,
        &|| bar.inc(1),
    )?;
    bar.finish_and_clear();
    let md = schemes::markdown(&c, &format!("{} (chat prompts)", lm.describe()));
    let json = dir.write(
        "schemes.json",
        serde_json::to_string_pretty(&c).unwrap_or_default(),
    )?;
    let mdp = dir.write("schemes.md", &md)?;
    out(md.trim_end())?;
    // Gate: no scheme flags more than 1 % of human tests at 1e-3 (P[Bin(300, 1e-3) > 3] < 2e-4
    // per scheme at the quick size: 3 keys × 100 chunks).
    let ok = c.rows.iter().all(|r| r.fpr_1e3 <= 0.01);
    out(format_args!(
        "{}: {} schemes on {} prompts in {:.0}s; wrote {} and {}",
        if ok { "pass" } else { "FAIL" },
        c.rows.len(),
        prompts.len(),
        t0.elapsed().as_secs_f64(),
        json.display(),
        mdp.display()
    ))?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(feature = "candle")]
fn real_model(a: &EvalArgs, spec: &str, t0: Instant) -> CliResult<ExitCode> {
    use super::model::{self, PromptStyle};
    use provmark_cli::eval::real::{self, HumanDomain, RealConfig};
    use sha2::{Digest, Sha256};
    let dir = OutDir::prepare(&a.out, &["real.json", "real.md"], a.force)?;
    let path = model::gguf_path(spec)?;
    let tok = provmark_text::load(&TokenizerSpec::Gguf { path: path.clone() })?;
    let lm = model::load_gguf(&path, tok.as_ref(), false)?;
    let text = match &a.prompt_file {
        Some(f) => std::fs::read_to_string(f).map_err(|e| provmark::Error::io(f, e))?,
        None => CHAT_PROMPTS.to_owned(),
    };
    let limit = a.limit.unwrap_or(if a.quick { 4 } else { usize::MAX });
    let mut prompts = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()).take(limit) {
        prompts.push(lm.prompt_ids(tok.as_ref(), line, &PromptStyle::default())?);
    }
    // The model's identity for the cache: the file's content…
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(&path).map_err(|e| provmark::Error::io(&path, e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).map_err(|e| provmark::Error::io(&path, e))?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or_default());
    }
    // And how candle loads it (the same file gives other logits under another loader).
    h.update(provmark_candle::LOADER.as_bytes());
    let model_id = provmark::key::to_hex(&h.finalize());
    // Human text for false positives: the --corpus books, and the Rust documentation's prose
    // and code (installed with the toolchain).
    let mut human = Vec::new();
    if !a.corpus.is_empty() {
        let texts = load_corpus(&a.corpus)?
            .documents
            .into_iter()
            .map(|d| d.text);
        human.push(HumanDomain {
            name: "books (--corpus)".into(),
            texts: texts.collect(),
        });
    }
    match corpus::rust_docs() {
        Ok(c) => {
            human.push(HumanDomain {
                name: "Rust documentation, prose".into(),
                texts: c.documents.into_iter().map(|d| d.text).collect(),
            });
            human.push(HumanDomain {
                name: "Rust documentation, code".into(),
                texts: c.code.into_iter().map(|d| d.text).collect(),
            });
        }
        Err(e) => eprintln!("provmark: no Rust documentation for false positives: {e}"),
    }
    let tokens = a.tokens.unwrap_or(if a.quick { 100 } else { 400 });
    let defaults = RealConfig::default();
    let cfg = RealConfig {
        tokens,
        lengths: defaults
            .lengths
            .iter()
            .copied()
            .filter(|&l| l <= tokens)
            .collect(),
        attack_length: defaults.attack_length.min(tokens),
        human_keys: if a.quick { 5 } else { defaults.human_keys },
        human_max_chunks: if a.quick {
            100
        } else {
            defaults.human_max_chunks
        },
        radio_shares: if a.quick {
            vec![0.5, 0.0]
        } else {
            defaults.radio_shares.clone()
        },
        radio_train_tokens: if a.quick {
            20_000
        } else {
            defaults.radio_train_tokens
        },
        radio_forward_tokens: if a.quick {
            2_000
        } else {
            defaults.radio_forward_tokens
        },
        seed: a.seed.unwrap_or(1),
        threads: a.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        }),
        cache_dir: super::demo::cache_dir(),
        ..defaults
    };
    let total = (prompts.len() * cfg.settings.len() * 2) as u64;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} new answers, eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let make = || -> provmark::Result<Box<dyn provmark::lm::LanguageModel>> {
        Ok(Box::new(provmark_candle::Llama::load(&path)?))
    };
    let name = lm.describe();
    let under_test = real::ModelUnderTest {
        make: &make,
        name: &name,
        id: &model_id,
        tokenizer: tok.as_ref(),
    };
    let r = real::run(&under_test, &prompts, &human, &cfg, &|| bar.inc(1))?;
    bar.finish_and_clear();
    let md = real::markdown(&r);
    let json = dir.write(
        "real.json",
        serde_json::to_string_pretty(&r).unwrap_or_default(),
    )?;
    let mdp = dir.write("real.md", &md)?;
    out(md.trim_end())?;
    // The quick run's gate (fixed seed, so deterministic for a given build): no unwatermarked
    // answer flagged at 1e-6, and the watermark's mean z above 4 in every setting.
    let mut ok = true;
    for c in &r.summaries {
        let pass = if c.watermarked {
            c.mean_z > 4.0
        } else {
            c.flagged_1e6 == 0.0
        };
        ok &= pass;
    }
    out(format_args!(
        "{}: {} answers ({} generated now, the rest cached) in {:.0}s; wrote {} and {}",
        if ok { "pass" } else { "FAIL" },
        r.rows.len(),
        r.generated,
        t0.elapsed().as_secs_f64(),
        json.display(),
        mdp.display()
    ))?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(not(feature = "candle"))]
fn real_model(_: &EvalArgs, spec: &str, _: Instant) -> CliResult<ExitCode> {
    Err(provmark::Error::InvalidInput(format!(
        "{spec}: evaluating a real model needs the `candle` feature of provmark-cli"
    ))
    .into())
}
