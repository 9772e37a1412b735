//! `provmark audit`: pooled, deduplicated tests of a whole corpus against keys or accounts.

use super::keys::load_master;
use super::{CliResult, Context, export, load_key, out};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use provmark::detect::format_p;
use provmark::key::{SecretKey, Validity};
use provmark::provenance::audit::{Audit, AuditConfig};
use provmark::provenance::ledger::Ledger;
use provmark::text::{Normalization, TokenizerSpec};
use provmark_text::corpus::{self, Item};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct AuditArgs {
    /// A key to test (repeatable).
    #[arg(long = "key")]
    keys: Vec<PathBuf>,
    /// A master secret; test every account listed in --accounts (repeatable: rotated masters
    /// are tested under one correction).
    #[arg(long, requires = "accounts")]
    master: Vec<PathBuf>,
    /// File with one account id per line.
    #[arg(long, requires = "master")]
    accounts: Option<PathBuf>,
    /// Test only keys and masters valid on some day from this date on (YYYY-MM-DD); keys
    /// outside the range are skipped and named on stderr.
    #[arg(long)]
    from: Option<String>,
    /// Test only keys and masters valid on some day up to this date (YYYY-MM-DD).
    #[arg(long)]
    until: Option<String>,
    /// Only score tuples whose context is in this emission ledger.
    #[arg(long)]
    ledger: Option<PathBuf>,
    /// Family-wise significance level (after Holm–Bonferroni).
    #[arg(long, default_value_t = 1e-6)]
    alpha: f64,
    /// Keep tuples whose context occurs in a prompt (not recommended).
    #[arg(long)]
    no_prompt_exclusion: bool,
    /// One JSON object per key or account, then a summary {"attribution": …, "tied": […],
    /// "separations": […], …}.
    #[arg(long)]
    json: bool,
    /// Also read metadata files found in directories (SOURCES, README, LICENSE, … with a text
    /// extension), which are otherwise reported as skipped; a file named directly is always read.
    #[arg(long)]
    all_files: bool,
    /// Also write every distinct scored tuple as Parquet into this directory (created if
    /// needed), bucketed by fingerprint prefix, for audits on a query engine over corpora
    /// beyond one machine: see docs/AUDIT-SQL.md.
    #[arg(long, value_name = "DIR", conflicts_with = "merge")]
    export_parquet: Option<PathBuf>,
    /// This shard's name in --export-parquet file names (letters, digits, '-', '_').
    #[arg(long, default_value = "0", requires = "export_parquet")]
    shard: String,
    /// The inputs are --export-parquet directories of shards: check them against each other
    /// and audit their exact DISTINCT union (give the same keys, masters and accounts).
    #[arg(long)]
    merge: bool,
    /// Text files, directories, or JSON Lines with `text` (and optional `prompt`) fields; JSON
    /// Lines records with `tokens` and `predictions` (token ids: a text we served and the
    /// suspect model's most likely token after each prefix) are scored as an open-model test.
    /// With --merge: export directories.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

pub fn run(a: AuditArgs) -> CliResult<ExitCode> {
    let mut audit = Audit::new(AuditConfig {
        alpha: a.alpha,
        exclude_prompts: !a.no_prompt_exclusion,
        ..AuditConfig::default()
    })?;
    let range = Validity::parse(a.from.as_deref(), a.until.as_deref())?;
    let mut out_of_range: Vec<String> = Vec::new();
    let mut spec: Option<TokenizerSpec> = None;
    let mut secrets: Vec<SecretKey> = Vec::new();
    let mut same_tokenizer = |t: &TokenizerSpec, what: &str| -> CliResult<()> {
        match &spec {
            Some(s) if s != t => Err(provmark::Error::InvalidInput(format!(
                "{what} uses tokenizer {t}, another key uses {s}; audit them separately"
            )))
            .context(what),
            Some(_) => Ok(()),
            None => {
                spec = Some(t.clone());
                Ok(())
            }
        }
    };
    // Text is normalised as the keys say; keys that disagree are audited separately.
    let mut norm: Option<Normalization> = None;
    let mut same_normalization = |n: Normalization, what: &str| -> CliResult<()> {
        match norm {
            Some(m) if m != n => Err(provmark::Error::InvalidInput(format!(
                "{what} normalises text as {n:?}, another key as {m:?}; audit them separately"
            )))
            .context(what),
            _ => {
                norm = Some(n);
                Ok(())
            }
        }
    };
    // Per export column: γ of each key, then of each coded master, and the masters' codewords.
    let mut gammas: Vec<Option<f64>> = Vec::new();
    let mut master_gammas: Vec<Option<f64>> = Vec::new();
    let mut codewords: Vec<export::MasterCodewords> = Vec::new();
    for path in &a.keys {
        let key = load_key(path)?;
        if !key.validity.overlaps(&range) {
            out_of_range.push(format!("{} (valid {})", path.display(), key.validity));
            continue;
        }
        same_tokenizer(&key.tokenizer, &path.display().to_string())?;
        same_normalization(key.normalization, &path.display().to_string())?;
        audit.add_key(&key).context(path.display())?;
        secrets.push(key.secret.clone());
        gammas.push(match key.scheme().null() {
            provmark::scheme::NullModel::Bernoulli { p } => Some(p),
            _ => None,
        });
    }
    let mut has_accounts = false;
    if let Some(ap) = &a.accounts {
        let text = std::fs::read_to_string(ap).map_err(|e| provmark::Error::io(ap, e))?;
        let accounts: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        if accounts.is_empty() {
            return Err(provmark::Error::InvalidInput("no account ids".into()))
                .context(ap.display());
        }
        for mp in &a.master {
            let master = load_master(mp)?;
            if !master.validity.overlaps(&range) {
                out_of_range.push(format!("{} (valid {})", mp.display(), master.validity));
                continue;
            }
            same_tokenizer(&master.tokenizer, &mp.display().to_string())?;
            same_normalization(master.normalization, &mp.display().to_string())?;
            audit
                .add_accounts(&master, &accounts)
                .context(ap.display())?;
            secrets.push(master.secret.clone());
            // A ledger written with a coded account's key is keyed with its account secret.
            if a.ledger.is_some()
                && master.mode == provmark::provenance::accounts::AccountMode::Coded
            {
                secrets.extend(master.account_secrets(accounts.iter().map(String::as_str)));
            }
            if master.mode == provmark::provenance::accounts::AccountMode::Coded
                && a.export_parquet.is_some()
            {
                master_gammas.push(Some(master.params.gamma()));
                let cws = master.codewords(accounts.iter().map(String::as_str));
                codewords.push((
                    master.key_id().to_string(),
                    accounts
                        .iter()
                        .zip(cws)
                        .map(|(name, cw)| {
                            let mut sym = [0u8; 64];
                            for (j, s) in sym.iter_mut().enumerate() {
                                *s = cw.symbol(j) as u8;
                            }
                            (name.clone(), sym)
                        })
                        .collect(),
                ));
            }
            has_accounts = true;
        }
    }
    for s in &out_of_range {
        eprintln!("provmark: not tested, outside {range}: {s}");
    }
    let Some(spec) = spec else {
        let what = if out_of_range.is_empty() {
            "give --key or --master with --accounts"
        } else {
            "no key or master is valid in the time range"
        };
        return Err(provmark::Error::InvalidInput(what.into()).into());
    };
    if let Some(lp) = &a.ledger {
        let ledger = Ledger::load(lp)?;
        let key = secrets
            .iter()
            .find(|s| s.key_id() == ledger.key_id)
            .ok_or_else(|| {
                provmark::Error::InvalidInput(format!(
                    "the ledger belongs to key {}, which is not audited",
                    ledger.key_id
                ))
            })
            .context(lp.display())?;
        audit.set_ledger(ledger, key).context(lp.display())?;
    }
    let mut merged: Option<export::Merged> = None;
    let skipped = if a.merge {
        let m = export::merge(&a.inputs)?;
        audit.add_exported(&m.table)?;
        merged = Some(m);
        Vec::new()
    } else {
        if a.export_parquet.is_some() {
            export::check_shard(&a.shard)?;
            let Some(secret) = secrets.first() else {
                return Err(provmark::Error::InvalidInput("nothing to export".into()).into());
            };
            audit.enable_export(secret)?;
        }
        let skipped = read_corpus(&a, &mut audit, &spec, norm.unwrap_or_default())?;
        if let (Some(dir), Some(table), Some(secret)) =
            (&a.export_parquet, audit.take_export(), secrets.first())
        {
            gammas.extend(master_gammas);
            let tokens = audit.report()?.rows.first().map(|r| r.tokens).unwrap_or(0);
            let m = export::write(
                dir,
                &a.shard,
                &table,
                &gammas,
                secret.derive("audit-export/v1").key_id().as_str(),
                audit.documents(),
                tokens,
                &codewords,
            )?;
            eprintln!(
                "provmark: exported {} distinct tuples to {} (shard {})",
                m.tuples,
                dir.display(),
                m.shard
            );
        }
        skipped
    };
    let report = audit.report()?;
    if a.json {
        for row in &report.rows {
            let mut v = serde_json::to_value(row).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                // Lossless: a p-value below the smallest normal double is null, never 0 (it
                // would read as certainty); the log10 fields are authoritative.
                for (p, l10) in [
                    ("p_value", row.log10_p_value),
                    ("corrected_p_value", row.corrected_log10_p_value),
                ] {
                    let v = 10f64.powf(l10);
                    let num = serde_json::Number::from_f64(v).filter(|_| v >= f64::MIN_POSITIVE);
                    o.insert(p.into(), num.map_or(serde_json::Value::Null, Into::into));
                    o.insert(format!("{p}_text"), format_p(l10).into());
                }
                if !has_accounts {
                    o.insert("account".into(), serde_json::Value::Null);
                }
                o.insert(
                    "verdict".into(),
                    serde_json::Value::String(row.verdict.to_string()),
                );
            }
            out(v)?;
        }
        // Without --master the report speaks of keys: name the key id.
        let name = |label: &String| {
            report
                .rows
                .iter()
                .find(|r| r.label() == label)
                .filter(|_| !has_accounts)
                .map(|r| r.key_id.to_string())
                .unwrap_or_else(|| label.clone())
        };
        let separations: Vec<serde_json::Value> = report
            .separations
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("other".into(), name(&s.other).into());
                    o.insert("p_value_text".into(), format_p(s.log10_p_value).into());
                    o.insert(
                        "corrected_p_value_text".into(),
                        format_p(s.corrected_log10_p_value).into(),
                    );
                }
                v
            })
            .collect();
        out(serde_json::json!({
            "attribution": report.attribution.as_ref().map(name),
            "tied": report.tied.iter().map(name).collect::<Vec<_>>(),
            "separations": separations,
            "alternatives": report.alternatives,
            "additional": report.additional.iter().map(name).collect::<Vec<_>>(),
            "codeword": report.codeword.iter().map(|c| {
                let mut v = serde_json::to_value(c).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("corrected_p_value_text".into(), format_p(c.corrected_log10_p_value).into());
                }
                v
            }).collect::<Vec<_>>(),
            "unlisted_source": report.unlisted_source,
            "excluded_prompt": report.excluded_prompt,
            "excluded_ledger": report.excluded_ledger,
            "time_range": range.to_strings(),
            "alpha": a.alpha,
            "claim": claim(&report, a.alpha),
        }))?;
    } else {
        if let Some(m) = &merged {
            out(format_args!(
                "merged {} shards: {} rows read, {} distinct tuples ({} documents, {} tokens read by the shards)",
                m.manifests.len(),
                m.rows_read,
                m.table.fingerprints.len(),
                m.manifests.iter().map(|x| x.documents).sum::<u64>(),
                m.manifests.iter().map(|x| x.tokens).sum::<u64>()
            ))?;
        }
        out(format_args!(
            "{} documents, {} tokens; excluded {} tuples seen in prompts{}",
            audit.documents(),
            report.rows.first().map(|r| r.tokens).unwrap_or(0),
            report.excluded_prompt,
            if a.ledger.is_some() {
                format!(", {} outside the ledger", report.excluded_ledger)
            } else {
                String::new()
            }
        ))?;
        let mut rows: Vec<_> = report.rows.iter().collect();
        rows.sort_by(|x, y| x.log10_p_value.total_cmp(&y.log10_p_value));
        let shown = if rows.len() > 20 { 20 } else { rows.len() };
        for r in rows.iter().take(shown) {
            let evidence = if r.score == r.green as f64 {
                format!(
                    "{} green of {} scored (expected {:.0})",
                    r.green, r.scored, r.expected_green
                )
            } else {
                format!(
                    "{} score {:.1} over {} scored (expected {:.1})",
                    r.scheme, r.score, r.scored, r.expected_score
                )
            };
            let explained = match &r.explained_by {
                Some(x) => format!(" (explained by {x}: shared positions)"),
                None => String::new(),
            };
            out(format_args!(
                "{}: {}{explained} — {evidence}, z {:.2}, p {}, corrected p {}",
                r.label(),
                r.verdict,
                r.z_score,
                format_p(r.log10_p_value),
                format_p(r.corrected_log10_p_value)
            ))?;
        }
        if rows.len() > shown {
            out(format_args!(
                "... {} more (use --json for all)",
                rows.len() - shown
            ))?;
        }
        let separation = |s: &provmark::provenance::audit::Separation| {
            format!(
                "{} on {} differing tuples ({} green against {:.0} expected, {} for {}), corrected p {}",
                s.other,
                s.differing,
                s.green,
                s.expected_green,
                s.other_green,
                s.other,
                format_p(s.corrected_log10_p_value)
            )
        };
        match (&report.attribution, report.tied.is_empty()) {
            (Some(x), _) => {
                out(format_args!(
                    "attribution: {x}, separated from all {} other targets",
                    report.alternatives
                ))?;
                if let Some(s) = report.separations.first() {
                    out(format_args!("  weakest separation: {}", separation(s)))?;
                }
            }
            (None, false) => {
                let shown = report.tied.len().min(20);
                out(format_args!(
                    "attribution: none — {} targets cannot be told apart: {}{}",
                    report.tied.len(),
                    report.tied.get(..shown).unwrap_or_default().join(", "),
                    if report.tied.len() > shown {
                        ", …"
                    } else {
                        ""
                    }
                ))?;
                for s in report.separations.iter().filter(|s| !s.separated).take(5) {
                    out(format_args!("  not separated: {}", separation(s)))?;
                }
            }
            (None, true) if report.unlisted_source => {
                if let Some(c) = report.codeword.first() {
                    out(format_args!(
                        "attribution: none — {} is significant and separated from the listed targets, but its evidence does not follow its codeword ({} green against {:.0} for a random codeword, corrected p {}): the source may be an account not listed",
                        c.account,
                        c.green,
                        c.expected_green,
                        format_p(c.corrected_log10_p_value)
                    ))?;
                }
            }
            (None, true) => out("attribution: none")?,
        }
        if let (Some(_), Some(c)) = (&report.attribution, report.codeword.first()) {
            out(format_args!(
                "  codeword test: {} green against {:.0} for a random codeword, corrected p {}",
                c.green,
                c.expected_green,
                format_p(c.corrected_log10_p_value)
            ))?;
        }
        out(format_args!("claim: {}", claim(&report, a.alpha)))?;
        if !report.additional.is_empty() {
            out(format_args!(
                "also significant beyond the strongest (a second source?): {}",
                report.additional.join(", ")
            ))?;
        }
    }
    for s in &skipped {
        eprintln!("provmark: skipped {s}");
    }
    Ok(if skipped.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Scores every document of the inputs; returns what was skipped.
fn read_corpus(
    a: &AuditArgs,
    audit: &mut Audit,
    spec: &TokenizerSpec,
    norm: Normalization,
) -> CliResult<Vec<String>> {
    let tok = provmark_text::load(spec)?;
    let opts = corpus::ReadOptions {
        metadata_files: a.all_files,
    };

    let files = corpus::list_files_with(&a.inputs, opts);
    let total: u64 = files.iter().map(|f| f.1).sum();
    let bar = if total > 8 << 20 {
        let b = ProgressBar::new(files.len() as u64);
        b.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} files {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let mut skipped: Vec<String> = Vec::new();
    let mut failure: Option<super::CliError> = None;
    let mut last_source = String::new();
    corpus::visit_with(&a.inputs, opts, &mut |item| {
        if failure.is_some() {
            return;
        }
        match item {
            Item::Document(d) => {
                let file = d
                    .source
                    .rsplit_once(':')
                    .map(|x| x.0)
                    .unwrap_or(&d.source)
                    .to_string();
                if file != last_source {
                    bar.inc(1);
                    last_source = file;
                }
                let ids = match provmark_text::encode_normalized(tok.as_ref(), norm, &d.text) {
                    Ok(ids) => ids,
                    Err(e) => return skipped.push(format!("{}: {e}", d.source)),
                };
                let prompt = d
                    .prompt
                    .as_deref()
                    .map(|p| provmark_text::encode_normalized(tok.as_ref(), norm, p));
                let prompt = match prompt.transpose() {
                    Ok(p) => p,
                    Err(e) => return skipped.push(format!("{}: prompt: {e}", d.source)),
                };
                if let Err(e) = audit.add_document(&ids, prompt.as_deref()) {
                    failure = Some(super::CliError::about(&d.source, e));
                }
            }
            Item::Code(_) => {}
            Item::Predictions(p) => {
                if let Err(e) = audit.add_predictions(&p.tokens, &p.predictions) {
                    skipped.push(format!("{}: {e}", p.source));
                }
            }
            Item::Skipped(s) => skipped.push(format!("{}: {}", s.source, s.reason)),
        }
    })?;
    bar.finish_and_clear();
    if let Some(f) = failure {
        return Err(f);
    }
    Ok(skipped)
}

/// What the report supports, in words a third party can weigh: the test, its level and
/// correction, and what a significant result does and does not show.
fn claim(report: &provmark::provenance::audit::AuditReport, alpha: f64) -> String {
    let targets = report.rows.len();
    let scored = report.rows.iter().map(|r| r.scored).max().unwrap_or(0);
    let base = format!(
        "{targets} keys or accounts tested on {scored} distinct (context, token) tuples, each \
         counted once; exact binomial tails, Holm-corrected over all {targets}, level {alpha:e}"
    );
    let coded = report.codeword.first().filter(|c| c.consistent);
    match (&report.attribution, report.tied.is_empty()) {
        (Some(a), _) if coded.is_some_and(|c| &c.account == a) => format!(
            "{base}. The corpus carries the green lists of {a} beyond chance, beyond what any \
             other tested account explains, and following {a}'s codeword across positions \
             (codeword test, Bonferroni over all {targets}), which no source without {a}'s \
             codeword produces — an account not listed included. This shows its text was \
             produced with knowledge of {a}'s watermark: trained on, copied from, or imitating \
             (spoofing) text watermarked for {a}. It does not by itself tell training from \
             deliberate imitation; an open-model test (the suspect's predictions on exchanges \
             {a} was served) and the ledger narrow that."
        ),
        (Some(a), _) => format!(
            "{base}. The corpus carries the green lists of {a} beyond chance, and beyond what \
             any other tested target explains. This shows its text was produced with knowledge \
             of {a}'s watermark: trained on, copied from, or imitating (spoofing) text \
             watermarked for {a}. It does not by itself tell training from deliberate \
             imitation; an open-model test (the suspect's predictions on exchanges {a} was \
             served) and the ledger narrow that. Only the listed targets were alternatives: an \
             account not listed is not excluded, so list every account of the master."
        ),
        (None, false) => format!(
            "{base}. Some targets are significant, but the evidence cannot tell {} apart: no \
             single target is named.",
            report.tied.join(", ")
        ),
        (None, true) if report.unlisted_source => format!(
            "{base}. The strongest account, {}, is significant and separated from every listed \
             account, but its evidence does not follow its codeword: text watermarked for an \
             account that was not listed, sharing its classes at some positions, explains it \
             as well. No account is named; audit with every account of the master.",
            report.codeword.first().map_or("?", |c| c.account.as_str())
        ),
        (None, true) => format!("{base}. No target is significant: nothing is claimed."),
    }
}
