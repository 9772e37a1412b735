//! Command-line definitions and dispatch. Each subcommand lives in its own file.

mod audit;
mod demo;
mod detect;
mod eval;
mod generate;
mod keys;
mod lm;
mod model;

use clap::{Parser, Subcommand};
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

/// Keyed watermarks for language-model text: embed, detect with exact p-values, audit provenance.
#[derive(Parser, Debug)]
#[command(name = "provmark", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train (or reuse) a model on real text, watermark, detect, and write an HTML report.
    Demo(demo::DemoArgs),
    /// Evaluate detection, false positives, quality and robustness on real text.
    Eval(eval::EvalArgs),
    /// Create a new secret watermark key file (mode 0600, never overwritten).
    Keygen(keys::KeygenArgs),
    /// Print the public key id of a key file.
    KeyId(keys::KeyIdArgs),
    /// Write the key file of one account under a master secret.
    Derive(keys::DeriveArgs),
    /// Test a corpus of a suspect model's outputs for keys or accounts (radioactivity).
    Audit(audit::AuditArgs),
    /// Sample watermarked (or control) text from a built-in language model.
    Generate(generate::GenerateArgs),
    /// Test texts or token-id lists for a key's watermark.
    Detect(detect::DetectArgs),
    /// Language models: train an n-gram model from text.
    #[command(subcommand)]
    Lm(lm::LmCommand),
}

/// A CLI failure: one line naming the file (when there is one) and the problem.
#[derive(Debug)]
pub struct CliError {
    context: Option<String>,
    source: provmark::Error,
}

impl CliError {
    /// An error about `what` (a file name, usually).
    pub fn about(what: impl fmt::Display, source: provmark::Error) -> Self {
        CliError {
            context: Some(what.to_string()),
            source,
        }
    }

    pub fn is_broken_pipe(&self) -> bool {
        matches!(&self.source, provmark::Error::Io { source, .. }
            if source.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.context {
            Some(c) => write!(f, "{c}: {}", self.source),
            None => write!(f, "{}", self.source),
        }
    }
}

impl From<provmark::Error> for CliError {
    fn from(source: provmark::Error) -> Self {
        CliError {
            context: None,
            source,
        }
    }
}

/// Attaches a file name (or other context) to errors.
pub trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T, CliError>;
}

impl<T> Context<T> for Result<T, provmark::Error> {
    fn context(self, what: impl fmt::Display) -> Result<T, CliError> {
        self.map_err(|source| CliError::about(what, source))
    }
}

pub type CliResult<T> = Result<T, CliError>;

/// Writes to stdout, mapping failures (a closed pipe, say) to typed errors.
pub fn out(line: impl fmt::Display) -> CliResult<()> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    writeln!(o, "{line}")
        .and_then(|()| o.flush())
        .map_err(|e| provmark::Error::Io {
            path: PathBuf::from("<stdout>"),
            source: e,
        })?;
    Ok(())
}

/// Loads a key file, printing its warnings to stderr.
pub fn load_key(path: &std::path::Path) -> CliResult<provmark::key::KeyFile> {
    let loaded = provmark::key::KeyFile::load(path)?;
    for w in &loaded.warnings {
        eprintln!("provmark: warning: {w}");
    }
    Ok(loaded.key)
}

pub fn run(cli: Cli) -> CliResult<ExitCode> {
    match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Keygen(a) => keys::keygen(a),
        Command::KeyId(a) => keys::key_id(a),
        Command::Derive(a) => keys::derive(a),
        Command::Audit(a) => audit::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Detect(a) => detect::run(a),
        Command::Lm(c) => lm::run(c),
    }
}
