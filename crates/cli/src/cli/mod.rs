//! Command-line definitions and dispatch. Each subcommand lives in its own file.

mod audit;
mod demo;
mod detect;
mod eval;
mod export;
mod generate;
mod keys;
mod lm;
mod model;
mod progress;
mod pvalue;

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
    /// Rewrite a key or master file in the current format (integrity tags); detects the same.
    UpgradeKey(keys::UpgradeKeyArgs),
    /// Write the key file of one account under a master secret.
    Derive(keys::DeriveArgs),
    /// Test a corpus of a suspect model's outputs for keys or accounts (radioactivity).
    Audit(audit::AuditArgs),
    /// The exact p-value of counts computed elsewhere (e.g. SQL over an audit export).
    Pvalue(pvalue::PvalueArgs),
    /// Sample watermarked (or control) text from a built-in language model.
    Generate(generate::GenerateArgs),
    /// Test texts or token-id lists for a key's watermark.
    Detect(detect::DetectArgs),
    /// Language models: train an n-gram model from text.
    #[command(subcommand)]
    Lm(lm::LmCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout: `provmark man > provmark.1`.
    Man,
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

/// Parses a count that must be at least 1 (`--tokens 0` asks for nothing and is an error).
pub fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("not a count: {e}")),
    }
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
        Command::UpgradeKey(a) => keys::upgrade_key(a),
        Command::Derive(a) => keys::derive(a),
        Command::Audit(a) => audit::run(a),
        Command::Pvalue(a) => pvalue::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Detect(a) => detect::run(a),
        Command::Lm(c) => lm::run(c),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "provmark", &mut buf);
            write_stdout(&buf)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut buf)
                .map_err(|e| provmark::Error::io("<man page>", e))?;
            write_stdout(&buf)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn write_stdout(bytes: &[u8]) -> CliResult<()> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    o.write_all(bytes)
        .and_then(|()| o.flush())
        .map_err(|e| provmark::Error::io("<stdout>", e))?;
    Ok(())
}

/// The error for an output that exists and may not be replaced.
fn exists_error(path: &std::path::Path) -> CliError {
    let e = std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "already exists; pass --force to replace it",
    );
    provmark::Error::io(path, e).into()
}

/// Refuses an output path that exists, unless `force` (checked before long work starts).
///
/// # Errors
/// [`provmark::Error::Io`] naming the path.
pub fn refuse_existing(path: &std::path::Path, force: bool) -> CliResult<()> {
    if !force && std::fs::symlink_metadata(path).is_ok() {
        return Err(exists_error(path));
    }
    Ok(())
}

/// Writes a new file, refusing to replace an existing one unless `force`.
///
/// # Errors
/// [`provmark::Error::Io`] naming the path.
pub fn write_new(path: &std::path::Path, body: &[u8], force: bool) -> CliResult<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true);
    if force {
        o.create(true).truncate(true);
    } else {
        o.create_new(true);
    }
    let mut f = o.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            exists_error(path)
        } else {
            provmark::Error::io(path, e).into()
        }
    })?;
    f.write_all(body)
        .map_err(|e| provmark::Error::io(path, e))?;
    Ok(())
}

/// An output directory whose files are never replaced unless `--force`: every file a command
/// will write is checked when it starts, so no long run ends in a refusal.
pub struct OutDir {
    dir: PathBuf,
    force: bool,
}

impl OutDir {
    /// Checks that none of `files` exists under `dir` (unless `force`) and creates `dir`.
    ///
    /// # Errors
    /// [`provmark::Error::Io`] naming the first existing file, or when `dir` cannot be made.
    pub fn prepare(dir: &std::path::Path, files: &[&str], force: bool) -> CliResult<OutDir> {
        for f in files {
            refuse_existing(&dir.join(f), force)?;
        }
        std::fs::create_dir_all(dir).map_err(|e| provmark::Error::io(dir, e))?;
        Ok(OutDir {
            dir: dir.to_path_buf(),
            force,
        })
    }

    /// Writes `name` in the directory; returns its path.
    ///
    /// # Errors
    /// As [`write_new`].
    pub fn write(&self, name: &str, body: impl AsRef<[u8]>) -> CliResult<PathBuf> {
        let p = self.dir.join(name);
        write_new(&p, body.as_ref(), self.force)?;
        Ok(p)
    }

    /// The directory.
    pub fn path(&self) -> &std::path::Path {
        &self.dir
    }
}
