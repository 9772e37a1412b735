//! `provmark lm train`: train and save an n-gram language model.

use super::{CliResult, out};
use clap::{Args, Subcommand};
use provmark::text::TokenizerSpec;
use provmark_cli::eval::data;
use provmark_cli::ngram::NgramLm;
use provmark_text::corpus::{self, Corpus};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Subcommand, Debug)]
pub enum LmCommand {
    /// Train an n-gram model (interpolated modified Kneser–Ney) and save it.
    Train(TrainArgs),
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct TrainArgs {
    /// Text files, directories, JSON Lines or HTML (default: the Rust toolchain's books).
    #[arg(long)]
    corpus: Vec<PathBuf>,
    /// Model order n (2 to 5).
    #[arg(long, default_value_t = 4)]
    order: usize,
    /// Tokenizer: o200k_base, cl100k_base, or a path to a tokenizer.json.
    #[arg(long, default_value = "o200k_base")]
    tokenizer: String,
    /// Where to write the model (an existing file is refused unless --force).
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing model file.
    #[arg(long)]
    force: bool,
}

pub fn run(cmd: LmCommand) -> CliResult<ExitCode> {
    match cmd {
        LmCommand::Train(a) => train(a),
    }
}

/// Reads the named corpus, or the Rust books when none is named; reports what was skipped.
pub fn load_corpus(paths: &[PathBuf]) -> CliResult<Corpus> {
    let c = if paths.is_empty() {
        corpus::rust_docs()?
    } else {
        Corpus::read(paths)?
    };
    for s in c.skipped.iter().take(10) {
        eprintln!("provmark: skipped {}: {}", s.source, s.reason);
    }
    if c.skipped.len() > 10 {
        eprintln!(
            "provmark: ... and {} more skipped inputs",
            c.skipped.len() - 10
        );
    }
    Ok(c)
}

fn train(a: TrainArgs) -> CliResult<ExitCode> {
    let t0 = Instant::now();
    super::refuse_existing(&a.out, a.force)?;
    if !(2..=5).contains(&a.order) {
        return Err(provmark::Error::param("order", "must be between 2 and 5").into());
    }
    let c = load_corpus(&a.corpus)?;
    if c.documents.is_empty() {
        return Err(provmark::Error::InvalidInput("the corpus holds no documents".into()).into());
    }
    let spec = TokenizerSpec::parse(&a.tokenizer);
    let tok = provmark_text::load(&spec)?;
    let tokens = data::tokenize(&c.documents, tok.as_ref())?;
    let split = data::split(&tokens);
    let lm = NgramLm::train(split.train.iter().cloned(), a.order, tok.vocab_size(), spec)?;
    if split.train_tokens() == 0 {
        return Err(provmark::Error::InvalidInput("the corpus holds no tokens".into()).into());
    }
    // Every tenth 1 024-token chunk is held out; a smaller corpus has none to measure on.
    let ppl = if split.held_out.is_empty() {
        "not measured (under ten 1 024-token chunks: nothing held out)".to_string()
    } else {
        format!(
            "{:.1} on {} tokens",
            lm.perplexity(split.held_out.iter().map(Vec::as_slice))?,
            split.held_out_tokens()
        )
    };
    lm.save(&a.out)?;
    out(format_args!(
        "trained order-{} model on {} tokens ({} documents) in {:.1}s: {} distinct {}-grams; \
         held-out perplexity {}; saved to {}",
        a.order,
        split.train_tokens(),
        c.documents.len(),
        t0.elapsed().as_secs_f64(),
        lm.num_ngrams(),
        a.order,
        ppl,
        a.out.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}
