//! `provmark detect`: test files or stdin for a key's watermark.

use super::{CliResult, Context, load_key, out};
use clap::Args;
use provmark::detect::{Detection, Detector, DetectorConfig, format_p, parse_token_ids};
use provmark::text::{Tokenizer, TokenizerSpec};
use serde::Serialize;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct DetectArgs {
    /// The key file.
    #[arg(long)]
    key: PathBuf,
    /// Inputs are JSON arrays of token ids instead of text.
    #[arg(long)]
    ids: bool,
    /// Significance level for the verdict.
    #[arg(long, default_value_t = 1e-6)]
    alpha: f64,
    /// Score repeated (context, token) tuples every time (not recommended: repetitive text then
    /// gives false positives).
    #[arg(long)]
    no_dedup: bool,
    /// Fewer scored tokens than this gives the verdict `insufficient`.
    #[arg(long, default_value_t = 16)]
    min_tokens: usize,
    /// Tokenize with this instead of the key's tokenizer (o200k_base, cl100k_base or a path).
    #[arg(long)]
    tokenizer: Option<String>,
    /// One JSON object per input and line.
    #[arg(long)]
    json: bool,
    /// Input files; `-` or none reads stdin.
    files: Vec<String>,
}

/// The JSON report of one input: exactly these fields.
#[derive(Serialize)]
struct Report<'a> {
    input: &'a str,
    scheme: &'a str,
    key_id: &'a str,
    tokens: usize,
    scored: usize,
    score: f64,
    green: usize,
    gamma: f64,
    z_score: f64,
    p_value: f64,
    log10_p_value: f64,
    /// Only where `p_value` is not exact (vLLM's dual-key approximation): the exact tail.
    #[serde(skip_serializing_if = "Option::is_none")]
    exact_log10_p_value: Option<f64>,
    verdict: String,
}

pub fn run(a: DetectArgs) -> CliResult<ExitCode> {
    let key = load_key(&a.key)?;
    let spec = match &a.tokenizer {
        Some(t) => TokenizerSpec::parse(t),
        None => key.tokenizer.clone(),
    };
    let tok = provmark_text::load(&spec).context(format!("tokenizer {spec}"))?;
    let config = DetectorConfig {
        alpha: a.alpha,
        dedup: !a.no_dedup,
        min_scored: a.min_tokens,
    };
    let det = Detector::new(&key, tok.vocab_size(), config)?;
    let scheme = key.scheme.name();
    let inputs = if a.files.is_empty() {
        vec!["-".to_string()]
    } else {
        a.files.clone()
    };
    let mut failed = false;
    for input in &inputs {
        match detect_one(input, a.ids, tok.as_ref(), &det) {
            Ok(d) => print_report(input, scheme, &det, &d, a.json)?,
            Err(e) if e.is_broken_pipe() => return Err(e),
            Err(e) => {
                failed = true;
                eprintln!("provmark: {e}");
            }
        }
    }
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn read_input(input: &str) -> CliResult<Vec<u8>> {
    let mut buf = Vec::new();
    let res = if input == "-" {
        std::io::stdin().lock().read_to_end(&mut buf)
    } else {
        std::fs::File::open(input).and_then(|mut f| f.read_to_end(&mut buf))
    };
    res.map_err(|e| provmark::Error::Io {
        path: input.into(),
        source: e,
    })?;
    Ok(buf)
}

fn detect_one(input: &str, ids: bool, tok: &dyn Tokenizer, det: &Detector) -> CliResult<Detection> {
    let bytes = read_input(input)?;
    let name = if input == "-" { "<stdin>" } else { input };
    let text = String::from_utf8(bytes)
        .map_err(|e| {
            provmark::Error::InvalidInput(format!(
                "not valid UTF-8 (byte {})",
                e.utf8_error().valid_up_to()
            ))
        })
        .context(name)?;
    let tokens = if ids {
        parse_token_ids(&text).context(name)?
    } else {
        tok.encode(&text).context(name)?
    };
    det.detect(&tokens).context(name)
}

fn print_report(
    input: &str,
    scheme: &str,
    det: &Detector,
    d: &Detection,
    json: bool,
) -> CliResult<()> {
    let name = if input == "-" { "<stdin>" } else { input };
    if json {
        let r = Report {
            input: name,
            scheme,
            key_id: det.key_id().as_str(),
            tokens: d.tokens,
            scored: d.scored,
            score: d.score,
            green: d.green,
            gamma: d.gamma,
            z_score: d.z_score,
            p_value: d.p_value,
            log10_p_value: d.log10_p_value,
            exact_log10_p_value: d.exact_log10_p_value,
            verdict: d.verdict.to_string(),
        };
        out(serde_json::to_string(&r).unwrap_or_default())
    } else if !det.scheme().null().is_count() {
        // Gumbel-type scores: the statistic is a sum, not a count.
        let exact = d
            .exact_log10_p_value
            .map(|e| format!(" (vLLM's approximation; exact p {})", format_p(e)))
            .unwrap_or_default();
        out(format_args!(
            "{name}: {} — score {:.3} over {} scored ({} tokens), z {:.2}, p {}, log10 p {:.2}{exact}",
            d.verdict,
            d.score,
            d.scored,
            d.tokens,
            d.z_score,
            format_p(d.log10_p_value),
            d.log10_p_value
        ))
    } else {
        out(format_args!(
            "{name}: {} — {} green of {} scored ({} tokens), gamma {}, z {:.2}, p {}, log10 p {:.2}",
            d.verdict,
            d.green,
            d.scored,
            d.tokens,
            d.gamma,
            d.z_score,
            format_p(d.log10_p_value),
            d.log10_p_value
        ))
    }
}
