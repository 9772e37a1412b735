//! `provmark detect`: test files, JSON Lines records or stdin for a key's watermark.
//!
//! Exit status, as grep's: 0 when the watermark was found in at least one input, 1 when in
//! none, 2 when an input could not be read or scored (every other input is still reported).

use super::{CliError, CliResult, Context, load_key, out, progress};
use clap::Args;
use provmark::detect::{
    Detection, Detector, DetectorConfig, EProcess, Localization, Rotation, Verdict, WindowConfig,
    format_p, parse_token_ids,
};
use provmark::text::{Normalization, Tokenizer, TokenizerSpec};
use provmark_cli::report::ReportItem;
use serde::Serialize;
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct DetectArgs {
    /// The key file. Repeat it for the keys of a rotation (keys rotated per request): the text
    /// is then watermarked only when exactly one key fires at alpha / R (R keys) and every
    /// other key's p-value is above --quiet, which stolen green lists cannot fake.
    #[arg(long, required = true)]
    key: Vec<PathBuf>,
    /// With several --key: every key but the one that fires must have a p-value above this.
    #[arg(long, default_value_t = provmark::detect::rotation::DEFAULT_QUIET)]
    quiet: f64,
    /// Inputs are JSON arrays of token ids instead of text: one array per input, or one per
    /// line.
    #[arg(long)]
    ids: bool,
    /// Inputs are JSON Lines, one record per line: `{"text": …}`, or `{"tokens": […]}` (also
    /// `"ids"`), with an optional `"id"` echoed in the report. Without this flag an input whose
    /// every non-empty line is such a record is read as JSON Lines too.
    #[arg(long, conflicts_with = "ids")]
    jsonl: bool,
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
    /// Token ids (--ids, or JSON Lines `tokens`/`ids`) are under this tokenizer (another
    /// model's): they are decoded to text, normalised and re-tokenized with the key's tokenizer
    /// before testing.
    #[arg(long)]
    from_tokenizer: Option<String>,
    /// Test the text under each of these tokenizers (comma-separated: o200k_base, cl100k_base,
    /// paths to tokenizer.json or .gguf files; `key` for the key's own), with a Bonferroni
    /// correction over them; reports which one carries the watermark.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["tokenizer", "localize", "sequential"])]
    scan_tokenizers: Vec<String>,
    /// Normalise text before tokenizing with this instead of the key's normalisation (`v1`
    /// undoes zero-width, bidi, look-alike and full-width edits; `none` keeps text as it is).
    #[arg(long, value_enum)]
    normalization: Option<NormalizationArg>,
    /// Find the most significant watermarked span (windows of at least --min-window scored
    /// tokens, Bonferroni-corrected over every window tried); the verdict is the span's.
    #[arg(long, conflicts_with = "sequential")]
    localize: bool,
    /// The shortest window of --localize, in scored tokens.
    #[arg(long, default_value_t = 32, requires = "localize", value_parser = super::positive)]
    min_window: usize,
    /// The anytime-valid sequential test (an e-process checked after every token); reports the
    /// token at which it crossed 1/alpha, and the verdict is whether it did.
    #[arg(long)]
    sequential: bool,
    /// Exit 0 whenever every input was read, watermarked or not (instead of 1 when none was).
    #[arg(long)]
    exit_zero: bool,
    /// One JSON object per input and line (an input that fails gives `{"input", "error"}`).
    #[arg(long)]
    json: bool,
    /// Also write an HTML report of every input (tokens marked, the --localize span outlined).
    #[arg(long)]
    html: Option<PathBuf>,
    /// Replace an existing --html file.
    #[arg(long, requires = "html")]
    force: bool,
    /// Input files; `-` or none reads stdin.
    files: Vec<String>,
}

/// The CLI names of [`Normalization`].
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormalizationArg {
    /// Tokenize text as it is.
    None,
    /// Normalisation version 1.
    V1,
}

impl From<NormalizationArg> for Normalization {
    fn from(n: NormalizationArg) -> Self {
        match n {
            NormalizationArg::None => Normalization::None,
            NormalizationArg::V1 => Normalization::V1,
        }
    }
}

/// The JSON report of one input. `log10_p_value` is authoritative: `p_value` is `null` where
/// the p-value is below the smallest normal double (it would print as 0, which reads as
/// certainty), and `p_value_text` always shows it in decimal.
#[derive(Serialize)]
struct Report<'a> {
    input: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Value>,
    scheme: &'a str,
    key_id: &'a str,
    /// `fixed` (the whole text), `windowed` (--localize) or `sequential`.
    test: &'static str,
    tokens: usize,
    scored: usize,
    score: f64,
    green: usize,
    gamma: f64,
    z_score: f64,
    p_value: Option<f64>,
    p_value_text: String,
    log10_p_value: f64,
    /// Only where `p_value` is not exact (vLLM's dual-key approximation): the exact tail.
    #[serde(skip_serializing_if = "Option::is_none")]
    exact_log10_p_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    span: Option<&'a SpanReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sequential: Option<&'a SequentialReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scan: Option<&'a ScanReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation: Option<&'a RotationReport>,
    verdict: &'a str,
}

/// Several --key: every key's p-value and which one fired. The top-level numbers and `key_id`
/// are the strongest key's.
#[derive(Serialize)]
struct RotationReport {
    keys: Vec<provmark::detect::RotationKey>,
    /// The key that fired: the only one at alpha / R, every other above `quiet`.
    fired: Option<String>,
    /// The strongest key's log10 p-value, Bonferroni-corrected over the keys.
    log10_p_corrected: f64,
    /// Keys at alpha / R.
    significant: usize,
    /// Keys at or below `quiet`.
    not_quiet: usize,
    quiet: f64,
}

/// --scan-tokenizers: every candidate's result; the top-level numbers are the best one's
/// whole-text test, and the verdict is `log10_p_corrected`'s.
#[derive(Serialize)]
struct ScanReport {
    candidates: Vec<Candidate>,
    best: String,
    /// `log10 min(1, K · p_best)` over the `K` candidates.
    log10_p_corrected: f64,
}

#[derive(Serialize)]
struct Candidate {
    tokenizer: String,
    tokens: usize,
    scored: usize,
    log10_p_value: f64,
}

#[derive(Serialize)]
struct SpanReport {
    start_token: usize,
    end_token: usize,
    /// Character offsets into the (decoded) text.
    start_char: usize,
    end_char: usize,
    scored: usize,
    score: f64,
    windows: usize,
    log10_p_window: f64,
    log10_p_corrected: f64,
}

#[derive(Serialize)]
struct SequentialReport {
    alpha: f64,
    log10_e_value: f64,
    crossed_at_token: Option<usize>,
    crossed_after_scored: Option<usize>,
}

#[derive(Serialize)]
struct ErrorReport<'a> {
    input: &'a str,
    error: String,
}

/// One thing to test: a file, or one line of a JSON Lines or `--ids` file.
struct Record {
    name: String,
    id: Option<Value>,
    /// The text or ids, or why this line is not a record.
    payload: Result<Payload, String>,
}

enum Payload {
    Text(String),
    Ids(Vec<u32>),
}

pub fn run(a: DetectArgs) -> CliResult<ExitCode> {
    let keys = a
        .key
        .iter()
        .map(|k| load_key(k))
        .collect::<CliResult<Vec<_>>>()?;
    let Some(key) = keys.first().cloned() else {
        return Err(provmark::Error::param("key", "give at least one key file").into());
    };
    if keys.len() > 1 && (a.localize || a.sequential || !a.scan_tokenizers.is_empty()) {
        return Err(provmark::Error::param(
            "key",
            "a rotation (several --key) is tested on whole texts: --localize, --sequential and --scan-tokenizers take one key",
        )
        .into());
    }
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
    let rotation = if keys.len() > 1 {
        Some(Rotation::new(&keys, tok.vocab_size(), config)?.with_quiet(a.quiet)?)
    } else {
        None
    };
    let norm = a
        .normalization
        .map_or(key.normalization, Normalization::from);
    let from = match &a.from_tokenizer {
        Some(t) => {
            let spec = TokenizerSpec::parse(t);
            Some(provmark_text::load(&spec).context(format!("tokenizer {spec}"))?)
        }
        None => None,
    };
    let mut scan = Vec::new();
    for name in &a.scan_tokenizers {
        let spec = if name == "key" {
            key.tokenizer.clone()
        } else {
            TokenizerSpec::parse(name)
        };
        let t = provmark_text::load(&spec).context(format!("tokenizer {spec}"))?;
        let d = Detector::new(&key, t.vocab_size(), config)?;
        scan.push((spec.to_string(), t, d));
    }
    let ctx = Ctx {
        tok: tok.as_ref(),
        from: from.as_deref(),
        scan: &scan,
        norm,
        det: &det,
        rotation: rotation.as_ref(),
    };
    if a.localize && a.min_window == 0 {
        return Err(provmark::Error::param("min-window", "must be at least 1").into());
    }
    let inputs = if a.files.is_empty() {
        vec!["-".to_string()]
    } else {
        a.files.clone()
    };
    if let Some(h) = &a.html {
        super::refuse_existing(h, a.force)?;
    }
    let mut html = provmark_cli::report::HtmlReport::new("provmark detect");
    let key_ids = match &rotation {
        Some(r) => format!(
            "Keys {} rotated per request (exactly one must fire)",
            r.detectors()
                .iter()
                .map(|d| d.key_id().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => format!("Key {}", det.key_id()),
    };
    html.paragraph(&format!(
        "{key_ids} ({}); alpha {:e}; text normalisation {}; tokenizer {}.",
        det.scheme().name(),
        a.alpha,
        norm.name(),
        tok.spec()
    ));
    let (mut found, mut failed) = (false, false);
    for input in &inputs {
        let name = if input == "-" { "<stdin>" } else { input };
        let records = match read_input(input).and_then(|b| records(name, b, &a)) {
            Ok(r) => r,
            Err(e) if e.is_broken_pipe() => return Err(e),
            Err(e) => {
                failed = true;
                report_error(name, &e, a.json)?;
                continue;
            }
        };
        for rec in records {
            match test_one(&rec, &ctx, &a) {
                Ok(r) => {
                    found |= r.verdict == Verdict::Watermarked.to_string();
                    print_report(&r, &det, a.json)?;
                    if a.html.is_some() {
                        let t = match &r.scan {
                            Some(s) => scan.iter().find(|c| c.0 == s.best).map(|c| c.1.as_ref()),
                            None => None,
                        };
                        html.push(html_item(&r, t.unwrap_or(tok.as_ref())).context(&rec.name)?);
                    }
                }
                Err(e) if e.is_broken_pipe() => return Err(e),
                Err(e) => {
                    failed = true;
                    report_error(&rec.name, &e, a.json)?;
                }
            }
        }
    }
    if let Some(h) = &a.html {
        super::write_new(h, html.render().as_bytes(), a.force)?;
    }
    Ok(if failed {
        ExitCode::from(2)
    } else if found || a.exit_zero {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn report_error(name: &str, e: &CliError, json: bool) -> CliResult<()> {
    eprintln!("provmark: {e}");
    if json {
        let r = ErrorReport {
            input: name,
            error: e.to_string(),
        };
        out(serde_json::to_string(&r).unwrap_or_default())?;
    }
    Ok(())
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

/// A JSON Lines record's payload, or why the line is not one.
fn jsonl_record(line: &str) -> Result<(Option<Value>, Payload), String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let Value::Object(mut m) = v else {
        return Err("not a JSON object".into());
    };
    let id = m.remove("id");
    if let Some(t) = m.remove("text") {
        return match t {
            Value::String(s) => Ok((id, Payload::Text(s))),
            _ => Err("\"text\" is not a string".into()),
        };
    }
    for field in ["tokens", "ids"] {
        if let Some(t) = m.remove(field) {
            let ids: Vec<u32> = serde_json::from_value(t).map_err(|e| {
                format!("\"{field}\" is not an array of token ids (integers 0 to 4294967295): {e}")
            })?;
            return Ok((id, Payload::Ids(ids)));
        }
    }
    Err("a record needs \"text\", \"tokens\" or \"ids\"".into())
}

fn non_empty_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l))
}

/// Splits one input into the records to test.
fn records(name: &str, bytes: Vec<u8>, a: &DetectArgs) -> CliResult<Vec<Record>> {
    let text = String::from_utf8(bytes)
        .map_err(|e| {
            provmark::Error::InvalidInput(format!(
                "not valid UTF-8 (byte {})",
                e.utf8_error().valid_up_to()
            ))
        })
        .context(name)?;
    let whole = |payload| {
        vec![Record {
            name: name.to_string(),
            id: None,
            payload: Ok(payload),
        }]
    };
    if a.ids {
        // One array for the whole input, else one per line.
        if let Ok(ids) = parse_token_ids(&text) {
            return Ok(whole(Payload::Ids(ids)));
        }
        let out: Vec<Record> = non_empty_lines(&text)
            .map(|(n, line)| Record {
                name: format!("{name}:{n}"),
                id: None,
                payload: parse_token_ids(line)
                    .map(Payload::Ids)
                    .map_err(|e| e.to_string()),
            })
            .collect();
        if out.is_empty() {
            return Err(CliError::about(
                name,
                provmark::Error::InvalidInput("holds no token ids".into()),
            ));
        }
        return Ok(out);
    }
    let parsed: Vec<_> = non_empty_lines(&text)
        .map(|(n, l)| (n, jsonl_record(l)))
        .collect();
    let looks_jsonl = !parsed.is_empty() && parsed.iter().all(|(_, r)| r.is_ok());
    if !a.jsonl && !looks_jsonl {
        return Ok(whole(Payload::Text(text)));
    }
    if parsed.is_empty() {
        return Err(CliError::about(
            name,
            provmark::Error::InvalidInput("holds no JSON Lines records".into()),
        ));
    }
    Ok(parsed
        .into_iter()
        .map(|(n, r)| {
            let (id, payload) = match r {
                Ok((id, p)) => (id, Ok(p)),
                Err(e) => (None, Err(e)),
            };
            Record {
                name: format!("{name}:{n}"),
                id,
                payload,
            }
        })
        .collect())
}

/// What one record's report holds, before printing.
struct Outcome<'r> {
    rec: &'r Record,
    /// The token ids tested (under the tokenizer that gave `d`).
    tokens: Vec<u32>,
    d: Detection,
    test: &'static str,
    span: Option<SpanReport>,
    sequential: Option<SequentialReport>,
    scan: Option<ScanReport>,
    rotation: Option<RotationReport>,
    /// The key the numbers are for, when not the first key (rotations: the strongest).
    key_id: Option<String>,
    verdict: String,
}

/// What every record is tested with.
struct Ctx<'a> {
    tok: &'a dyn Tokenizer,
    /// --from-tokenizer.
    from: Option<&'a dyn Tokenizer>,
    /// --scan-tokenizers: name, tokenizer, detector for its vocabulary.
    scan: &'a [(String, Box<dyn Tokenizer>, Detector)],
    norm: Normalization,
    det: &'a Detector,
    /// Several --key.
    rotation: Option<&'a Rotation>,
}

fn test_one<'r>(rec: &'r Record, ctx: &Ctx<'_>, a: &DetectArgs) -> CliResult<Outcome<'r>> {
    let (tok, norm, det) = (ctx.tok, ctx.norm, ctx.det);
    let name = rec.name.as_str();
    let payload = rec
        .payload
        .as_ref()
        .map_err(|e| provmark::Error::InvalidInput(e.clone()))
        .context(name)?;
    // Ids under another tokenizer (or any ids, when scanning tokenizers) become text first.
    let decoded;
    let payload = match (payload, ctx.from) {
        (Payload::Ids(ids), Some(from)) => {
            decoded = Payload::Text(from.decode(ids).context(name)?);
            &decoded
        }
        (Payload::Ids(ids), None) if !ctx.scan.is_empty() => {
            decoded = Payload::Text(tok.decode(ids).context(name)?);
            &decoded
        }
        (p, _) => p,
    };
    if let (Payload::Text(t), false) = (payload, ctx.scan.is_empty()) {
        return scan_tokenizers(rec, t, ctx, a);
    }
    let tokens = match payload {
        Payload::Ids(ids) => ids.clone(),
        Payload::Text(t) => {
            let _p = progress::spinner(t.len(), format!("tokenizing {name}"));
            provmark_text::encode_normalized(tok, norm, t).context(name)?
        }
    };
    if let Some(rot) = ctx.rotation {
        let r = rot.detect(&tokens).context(name)?;
        let id = |i: usize| r.keys.get(i).map(|k| k.key_id.to_string());
        return Ok(Outcome {
            rec,
            tokens,
            test: "rotation",
            span: None,
            sequential: None,
            scan: None,
            key_id: id(r.strongest),
            rotation: Some(RotationReport {
                fired: r.fired.and_then(id),
                log10_p_corrected: r.corrected_log10_p_value,
                significant: r.significant,
                not_quiet: r.not_quiet,
                quiet: a.quiet,
                keys: r.keys,
            }),
            verdict: r.verdict.to_string(),
            d: r.detection,
        });
    }
    let d = progress::scored(det, &tokens, name).context(name)?;
    let mut out = Outcome {
        rec,
        tokens: Vec::new(),
        test: "fixed",
        span: None,
        sequential: None,
        scan: None,
        rotation: None,
        key_id: None,
        verdict: d.verdict.to_string(),
        d,
    };
    if a.localize {
        let found = det
            .localize(
                &out.d,
                &WindowConfig {
                    min_len: a.min_window,
                },
            )
            .context(name)?;
        out.test = "windowed";
        out.verdict = match &found.span {
            Some(s) => s.verdict.to_string(),
            None => Verdict::Insufficient.to_string(),
        };
        out.span = span_report(&found, &tokens, tok).context(name)?;
    }
    if a.sequential {
        let mut e = EProcess::new(det.scheme().null(), a.alpha).context(name)?;
        let crossed_at = e.update_positions(&out.d.scored_positions);
        out.test = "sequential";
        out.verdict = if crossed_at.is_some() {
            Verdict::Watermarked
        } else if out.d.scored < a.min_tokens {
            Verdict::Insufficient
        } else {
            Verdict::NotWatermarked
        }
        .to_string();
        out.sequential = Some(SequentialReport {
            alpha: a.alpha,
            log10_e_value: e.ln_e_value() / std::f64::consts::LN_10,
            crossed_at_token: crossed_at,
            crossed_after_scored: e.crossed_after(),
        });
    }
    out.tokens = tokens;
    Ok(out)
}

/// Tests `text` under every candidate tokenizer; Bonferroni over the candidates.
fn scan_tokenizers<'r>(
    rec: &'r Record,
    text: &str,
    ctx: &Ctx<'_>,
    a: &DetectArgs,
) -> CliResult<Outcome<'r>> {
    let name = rec.name.as_str();
    let text = provmark_text::normalize::normalize(text, ctx.norm);
    let exact = |d: &Detection| d.exact_log10_p_value.unwrap_or(d.log10_p_value);
    let mut best: Option<(usize, Detection, Vec<u32>)> = None;
    let mut candidates = Vec::with_capacity(ctx.scan.len());
    for (i, (tname, t, det)) in ctx.scan.iter().enumerate() {
        let ids = t.encode(&text).context(format!("{name} ({tname})"))?;
        let d = det.detect(&ids).context(format!("{name} ({tname})"))?;
        candidates.push(Candidate {
            tokenizer: tname.clone(),
            tokens: d.tokens,
            scored: d.scored,
            log10_p_value: exact(&d),
        });
        if best.as_ref().is_none_or(|(_, b, _)| exact(&d) < exact(b)) {
            best = Some((i, d, ids));
        }
    }
    let Some((i, d, tokens)) = best else {
        return Err(provmark::Error::param("scan-tokenizers", "names no tokenizer").into());
    };
    let corrected = (exact(&d) + (ctx.scan.len() as f64).log10()).min(0.0);
    let verdict = if d.scored < a.min_tokens {
        Verdict::Insufficient
    } else if corrected <= a.alpha.log10() {
        Verdict::Watermarked
    } else {
        Verdict::NotWatermarked
    };
    Ok(Outcome {
        rec,
        tokens,
        test: "tokenizer_scan",
        span: None,
        sequential: None,
        scan: Some(ScanReport {
            candidates,
            best: ctx.scan[i].0.clone(),
            log10_p_corrected: corrected,
        }),
        rotation: None,
        key_id: None,
        verdict: verdict.to_string(),
        d,
    })
}

fn html_item(o: &Outcome<'_>, tok: &dyn Tokenizer) -> provmark::Result<ReportItem> {
    let d = &o.d;
    let l10 = o
        .scan
        .as_ref()
        .map(|s| s.log10_p_corrected)
        .or(o.span.as_ref().map(|s| s.log10_p_corrected))
        .or(o.rotation.as_ref().map(|r| r.log10_p_corrected))
        .unwrap_or(d.exact_log10_p_value.unwrap_or(d.log10_p_value));
    let mut summary = vec![
        ("test".to_string(), o.test.to_string()),
        ("verdict".into(), o.verdict.clone()),
        ("scored".into(), d.scored.to_string()),
        ("green".into(), d.green.to_string()),
        ("z-score".into(), format!("{:.2}", d.z_score)),
        ("p-value (whole text)".into(), format_p(d.log10_p_value)),
    ];
    if let Some(s) = &o.span {
        summary.push((
            "span".into(),
            format!(
                "tokens {}..{}, p {} corrected for {} windows",
                s.start_token,
                s.end_token,
                format_p(s.log10_p_corrected),
                s.windows
            ),
        ));
    }
    if let Some(s) = &o.scan {
        summary.push(("tokenizer".into(), s.best.clone()));
    }
    if let Some(r) = &o.rotation {
        summary.push((
            "rotation".into(),
            match &r.fired {
                Some(k) => format!("key {k} fired alone among {}", r.keys.len()),
                None => format!(
                    "no single key fired ({} of {} at alpha/R, {} at or below {:e})",
                    r.significant,
                    r.keys.len(),
                    r.not_quiet,
                    r.quiet
                ),
            },
        ));
    }
    Ok(ReportItem {
        title: o.rec.name.clone(),
        verdict: o.verdict.clone(),
        p_value: format_p(l10),
        tokens: d.tokens,
        pieces: provmark_cli::report::pieces(tok, &o.tokens, &d.flags)?,
        span: o
            .span
            .as_ref()
            .filter(|_| o.verdict == Verdict::Watermarked.to_string())
            .map(|s| s.start_token..s.end_token),
        summary,
    })
}

fn span_report(
    found: &Localization,
    tokens: &[u32],
    tok: &dyn Tokenizer,
) -> provmark::Result<Option<SpanReport>> {
    let Some(s) = &found.span else {
        return Ok(None);
    };
    let chars = |end: usize| tok.decode(&tokens[..end]).map(|t| t.chars().count());
    Ok(Some(SpanReport {
        start_token: s.start_token,
        end_token: s.end_token,
        start_char: chars(s.start_token)?,
        end_char: chars(s.end_token)?,
        scored: s.scored,
        score: s.score,
        windows: found.windows,
        log10_p_window: s.log10_p_window,
        log10_p_corrected: s.log10_p_corrected,
    }))
}

fn print_report(o: &Outcome<'_>, det: &Detector, json: bool) -> CliResult<()> {
    let d = &o.d;
    let name = o.rec.name.as_str();
    if json {
        let r = Report {
            input: name,
            id: o.rec.id.as_ref(),
            scheme: det.scheme().name(),
            key_id: o.key_id.as_deref().unwrap_or(det.key_id().as_str()),
            test: o.test,
            tokens: d.tokens,
            scored: d.scored,
            score: d.score,
            green: d.green,
            gamma: d.gamma,
            z_score: d.z_score,
            p_value: (d.p_value >= f64::MIN_POSITIVE).then_some(d.p_value),
            p_value_text: format_p(d.log10_p_value),
            log10_p_value: d.log10_p_value,
            exact_log10_p_value: d.exact_log10_p_value,
            span: o.span.as_ref(),
            sequential: o.sequential.as_ref(),
            scan: o.scan.as_ref(),
            rotation: o.rotation.as_ref(),
            verdict: &o.verdict,
        };
        return out(serde_json::to_string(&r).unwrap_or_default());
    }
    let stat = if det.scheme().null().is_count() {
        format!(
            "{} green of {} scored ({} tokens), gamma {}",
            d.green, d.scored, d.tokens, d.gamma
        )
    } else {
        // Gumbel-type scores: the statistic is a sum, not a count.
        format!(
            "score {:.3} over {} scored ({} tokens)",
            d.score, d.scored, d.tokens
        )
    };
    let exact = d
        .exact_log10_p_value
        .map(|e| format!(" (vLLM's approximation; exact p {})", format_p(e)))
        .unwrap_or_default();
    let mut line = format!(
        "{name}: {} — {stat}, z {:.2}, p {}, log10 p {:.2}{exact}",
        o.verdict,
        d.z_score,
        format_p(d.log10_p_value),
        d.log10_p_value
    );
    if let Some(s) = &o.span {
        line += &format!(
            "; span tokens {}..{} (chars {}..{}), p {} corrected for {} windows",
            s.start_token,
            s.end_token,
            s.start_char,
            s.end_char,
            format_p(s.log10_p_corrected),
            s.windows
        );
    }
    if let Some(s) = &o.scan {
        line += &format!(
            "; best of {} tokenizers: {}, p {} corrected",
            s.candidates.len(),
            s.best,
            format_p(s.log10_p_corrected)
        );
    }
    if let Some(r) = &o.rotation {
        line += &match &r.fired {
            Some(k) => format!(
                "; key {k} fired alone among {} (corrected p {})",
                r.keys.len(),
                format_p(r.log10_p_corrected)
            ),
            None => format!(
                "; no single key fired: {} of {} keys at alpha/{}, {} at or below {:e} (strongest corrected p {})",
                r.significant,
                r.keys.len(),
                r.keys.len(),
                r.not_quiet,
                r.quiet,
                format_p(r.log10_p_corrected)
            ),
        };
    }
    if let Some(s) = &o.sequential {
        line += &match s.crossed_at_token {
            Some(t) => format!("; sequential test crossed at token {t}"),
            None => format!(
                "; sequential test did not cross (e-value 10^{:.2})",
                s.log10_e_value
            ),
        };
    }
    out(line)
}
