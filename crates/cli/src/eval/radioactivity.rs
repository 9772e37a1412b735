//! The distillation experiment: does a model trained on watermarked outputs inherit the
//! watermark, and does the corpus audit find the account they were taken through?
//!
//! A teacher (the evaluation's n-gram model) answers prompts from account A of a shifted master
//! key with watermarked text, recording an emission ledger. A student is an n-gram model
//! trained on everything A exported (prompts and answers, as a distillation set holds them),
//! making up `p` % of its training data, and `100 − p` % human text. The auditor then queries
//! each student in one of three ways (see [`Queries`]) and audits the result against A and 100
//! other accounts, with and without the ledger filter, at several corpus sizes: forwarding A's
//! exchanges through the student's weights (the open-model test of Sander et al. 2024), or
//! sampling it, unwatermarked, on the prompts A sent — the provider logged them — or on fresh
//! human prompts (the closed-model test).

use super::data::Split;
use super::grid::par_map;
use crate::ngram::NgramLm;
use provmark::key::SecretKey;
use provmark::lm::{generate, greedy_predictions};
use provmark::provenance::accounts::{AccountMode, MasterKey};
use provmark::provenance::audit::{Audit, AuditConfig, AuditReport, AuditRow};
use provmark::provenance::ledger::{Fingerprinter, Ledger};
use provmark::sampling::{Sampler, SamplingConfig};
use provmark::scheme::{KgwParams, Scheme};
use provmark::text::Tokenizer;
use provmark::{Error, Result};
use rand::{RngExt, SeedableRng};
use serde::Serialize;

/// How the auditor queries the suspect model for the corpus it audits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Queries {
    /// The prompts account A sent to the teacher (a provider logs them), each asked repeatedly
    /// with fresh sampling: the suspect is steered to where it learned from our answers.
    AccountPrompts,
    /// Openings of held-out human text that neither teacher nor students saw.
    FreshPrompts,
    /// No sampling: the exchanges A was served are forwarded through the suspect's weights
    /// and its most likely next token is scored at every position (the open-model test;
    /// [`Audit::add_predictions`]).
    OpenModel,
}

impl Queries {
    /// Short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Queries::AccountPrompts => "A's prompts",
            Queries::FreshPrompts => "fresh prompts",
            Queries::OpenModel => "open model",
        }
    }
}

/// Settings of the experiment.
#[derive(Clone, Debug, Serialize)]
pub struct RadioConfig {
    /// Shares of teacher output in the students' training data, in percent.
    pub shares: Vec<f64>,
    /// Training tokens per student.
    pub student_tokens: usize,
    /// Suspect-corpus sizes audited (tokens; prefixes of one corpus per student).
    pub corpus_sizes: Vec<usize>,
    /// Accounts besides A.
    pub other_accounts: usize,
    /// Tokens per teacher document and per suspect document.
    pub doc_tokens: usize,
    /// Sampling temperature of the teacher serving account A.
    pub temperature: f32,
    /// Sampling temperature at which the auditor queries the students (an API parameter the
    /// auditor chooses; low values make a student say what it memorized).
    pub query_temperature: f32,
    /// Query protocols audited (each generates its own suspect corpus per student).
    pub queries: Vec<Queries>,
}

impl RadioConfig {
    /// The full experiment.
    pub fn full() -> Self {
        RadioConfig {
            shares: vec![0.0, 1.0, 5.0, 10.0, 100.0],
            student_tokens: 300_000,
            corpus_sizes: vec![10_000, 50_000, 150_000],
            other_accounts: 100,
            doc_tokens: 200,
            temperature: 1.0,
            query_temperature: 0.5,
            queries: vec![
                Queries::OpenModel,
                Queries::AccountPrompts,
                Queries::FreshPrompts,
            ],
        }
    }

    /// A small version for `--quick`.
    pub fn quick() -> Self {
        RadioConfig {
            shares: vec![0.0, 10.0, 100.0],
            student_tokens: 40_000,
            corpus_sizes: vec![5_000, 20_000],
            ..RadioConfig::full()
        }
    }
}

/// Audit results for one student at one corpus size.
#[derive(Clone, Debug, Serialize)]
pub struct RadioRow {
    /// Share of teacher output in training, percent.
    pub share: f64,
    /// Tokens the teacher served to account A in this scenario.
    pub served_tokens: usize,
    /// Contexts in A's emission ledger.
    pub ledger_contexts: usize,
    /// How the suspect was queried.
    pub queries: Queries,
    /// Suspect-corpus size in tokens.
    pub corpus_tokens: usize,
    /// Distinct tuples scored (no ledger).
    pub scored: u64,
    /// Green fraction for A among them.
    pub green_fraction: f64,
    /// log10 p for account A, no ledger.
    pub log10_p_a: f64,
    /// Smallest Holm-corrected log10 p among the other accounts, no ledger.
    pub min_corrected_log10_p_others: f64,
    /// Account named by the audit (no ledger), if any.
    pub attribution: Option<String>,
    /// Tuples scored with the ledger filter.
    pub scored_ledger: u64,
    /// log10 p for A with the ledger filter.
    pub log10_p_a_ledger: f64,
    /// Smallest corrected log10 p among the others, with the ledger filter.
    pub min_corrected_log10_p_others_ledger: f64,
    /// Account named with the ledger filter.
    pub attribution_ledger: Option<String>,
}

/// The experiment's results.
#[derive(Clone, Debug, Serialize)]
pub struct RadioResults {
    /// Settings.
    pub config: RadioConfig,
    /// Watermarked tokens the teacher generated for account A (the largest share's worth).
    pub teacher_tokens: usize,
    /// One row per (queries, share, corpus size).
    pub rows: Vec<RadioRow>,
    /// The p = 0 student's p-values, one set per query protocol.
    pub innocent: Vec<Innocent>,
}

/// Calibration of the student that saw no teacher data: at the largest corpus, without the
/// ledger, its randomized p-values against every account should be uniform.
#[derive(Clone, Debug, Serialize)]
pub struct Innocent {
    /// How the suspect was queried.
    pub queries: Queries,
    /// Randomized p-values against all accounts (A first).
    pub p_values: Vec<f64>,
    /// Kolmogorov–Smirnov statistic of `p_values` against U(0, 1).
    pub ks: f64,
}

/// The account the teacher served.
pub const ACCOUNT_A: &str = "account-A";

/// A reproducible generator per (seed, label, index).
pub(super) fn rng(seed: u64, label: &str, i: u64) -> rand_chacha::ChaCha20Rng {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    s[8..16].copy_from_slice(&i.to_le_bytes());
    for (d, b) in s[16..].iter_mut().zip(label.bytes()) {
        *d = b;
    }
    rand_chacha::ChaCha20Rng::from_seed(s)
}

/// Generates documents of `doc` tokens after `prompts` (taken in turn) until `total` tokens
/// exist, on `threads` threads, deterministically.
#[allow(clippy::too_many_arguments)]
fn corpus(
    lm: &NgramLm,
    kgw: Option<&provmark::scheme::Kgw>,
    prompts: &[&[u32]],
    total: usize,
    doc: usize,
    temperature: f32,
    seed: u64,
    label: &str,
    threads: usize,
) -> Result<Vec<(Vec<u32>, Vec<u32>)>> {
    let n = total.div_ceil(doc.max(1));
    par_map(
        n,
        threads,
        |i| {
            let mut sampler = Sampler::new(SamplingConfig {
                temperature,
                ..Default::default()
            })?;
            let prompt = prompts
                .get(i % prompts.len().max(1))
                .copied()
                .unwrap_or_default();
            let mut r = rng(seed, label, i as u64);
            let g = generate(
                lm,
                kgw.map(|k| k as &dyn Scheme),
                prompt,
                doc,
                &mut sampler,
                &mut || r.random(),
            )?;
            Ok((prompt.to_vec(), g))
        },
        &|| {},
    )
}

/// Runs the experiment with the evaluation's teacher model and data split.
///
/// # Errors
/// [`Error::InvalidInput`] when the corpus has too few training tokens for the students;
/// training, sampling and audit errors.
#[allow(clippy::too_many_arguments)]
pub fn run(
    teacher: &NgramLm,
    split: &Split,
    tok: &dyn Tokenizer,
    cfg: &RadioConfig,
    order: usize,
    seed: u64,
    threads: usize,
    tick: &(dyn Fn() + Sync),
) -> Result<RadioResults> {
    let mut sk = [0u8; 32];
    sk[..8].copy_from_slice(&seed.to_le_bytes());
    sk[8..18].copy_from_slice(b"radio-mstr");
    let master = MasterKey {
        secret: SecretKey::from_bytes(sk),
        params: KgwParams::default(),
        tokenizer: tok.spec(),
        mode: AccountMode::Shifted,
        normalization: Default::default(),
        validity: Default::default(),
    };
    let mut accounts = vec![ACCOUNT_A.to_string()];
    accounts.extend((0..cfg.other_accounts).map(|i| format!("account-{i:03}")));
    let key_a = master.account_key(ACCOUNT_A);
    let kgw_a = key_a.kgw()?;
    let h = kgw_a.params().context();

    let human: Vec<u32> = split.train.concat();
    if human.len() < cfg.student_tokens {
        return Err(Error::InvalidInput(format!(
            "students need {} training tokens; the corpus has {}",
            cfg.student_tokens,
            human.len()
        )));
    }
    // Account A's prompts open training chunks the students' human share does not contain
    // (when the corpus is large enough), so a student meets them only through the teacher.
    let human_chunks = cfg.student_tokens.div_ceil(super::data::CHUNK_TOKENS);
    let openings = |skip: usize| -> Vec<&[u32]> {
        split
            .train
            .iter()
            .skip(skip)
            .filter_map(|c| c.get(..PROMPT_TOKENS))
            .collect()
    };
    let mut teacher_prompts = openings(human_chunks);
    if teacher_prompts.is_empty() {
        teacher_prompts = openings(0);
    }
    let fresh_prompts: Vec<&[u32]> = split
        .held_out
        .iter()
        .filter_map(|c| c.get(..PROMPT_TOKENS))
        .collect();
    let max_share = cfg.shares.iter().copied().fold(0.0, f64::max);
    let teacher_total = (cfg.student_tokens as f64 * max_share / 100.0).ceil() as usize;
    let served = corpus(
        teacher,
        Some(&kgw_a),
        &teacher_prompts,
        teacher_total,
        cfg.doc_tokens,
        cfg.temperature,
        seed,
        "teacher",
        threads,
    )?;
    tick();
    let pool_tokens: usize = served.iter().map(|(_, g)| g.len()).sum();
    let fp = Fingerprinter::new(&master.secret, h);

    let max_size = cfg.corpus_sizes.iter().copied().max().unwrap_or(0);
    let mut rows = Vec::new();
    let mut innocent = Vec::new();
    for &share in &cfg.shares {
        // What account A exported: exchanges (prompt, then the teacher's answer, the last one
        // cut) making up the student's teacher share, all of which went into its training
        // set. The innocent student's row uses the whole pool: A exported it, the student
        // never saw it.
        let n_teacher = (cfg.student_tokens as f64 * share / 100.0).round() as usize;
        let cut;
        let exported: &[(Vec<u32>, Vec<u32>)] = if n_teacher == 0 {
            &served
        } else {
            cut = take_tokens(&served, n_teacher);
            &cut
        };
        let exported_tokens: usize = exported.iter().map(|(_, g)| g.len()).sum();
        let account_prompts: Vec<&[u32]> = exported.iter().map(|(p, _)| p.as_slice()).collect();
        // The emission ledger of everything served to A.
        let mut ledger = Ledger::new(&master.secret, h);
        for (prompt, g) in exported {
            let mut hist = prompt.clone();
            for &t in g {
                ledger.record(&fp, &hist);
                hist.push(t);
            }
        }
        let learned: &[(Vec<u32>, Vec<u32>)] = if n_teacher > 0 { exported } else { &[] };
        let mut docs: Vec<Vec<u32>> = learned.iter().map(|(p, g)| [&p[..], g].concat()).collect();
        let taken: usize = learned.iter().map(|(_, g)| g.len()).sum();
        let n_human = cfg.student_tokens.saturating_sub(taken);
        docs.extend(
            human
                .get(..n_human)
                .unwrap_or_default()
                .chunks(super::data::CHUNK_TOKENS)
                .map(<[u32]>::to_vec),
        );
        let student = NgramLm::train(docs, order, tok.vocab_size(), tok.spec())?;
        for &queries in &cfg.queries {
            let (suspect, sizes) = match queries {
                Queries::AccountPrompts | Queries::FreshPrompts => {
                    let prompts = if queries == Queries::AccountPrompts {
                        &account_prompts
                    } else {
                        &fresh_prompts
                    };
                    let sampled = corpus(
                        &student,
                        None,
                        prompts,
                        max_size,
                        cfg.doc_tokens,
                        cfg.query_temperature,
                        seed,
                        &format!("student-{share}-{queries:?}"),
                        threads,
                    )?;
                    let suspect: Vec<Suspect> = sampled
                        .into_iter()
                        .map(|(prompt, answer)| Suspect {
                            prompt,
                            text: answer,
                            predictions: None,
                        })
                        .collect();
                    (suspect, cfg.corpus_sizes.clone())
                }
                Queries::OpenModel => {
                    let suspect = par_map(
                        exported.len(),
                        threads,
                        |i| {
                            let (prompt, answer) = exported.get(i).ok_or_else(|| {
                                Error::InvalidInput("exchange index out of range".into())
                            })?;
                            let text = [&prompt[..], answer].concat();
                            let predictions = Some(greedy_predictions(&student, &text)?);
                            Ok(Suspect {
                                prompt: prompt.clone(),
                                text,
                                predictions,
                            })
                        },
                        &|| {},
                    )?;
                    (suspect, open_sizes(&cfg.corpus_sizes, exported_tokens))
                }
            };
            tick();
            let largest = sizes.iter().copied().max().unwrap_or(0);
            for &size in &sizes {
                let mut n_docs = 0;
                let mut tokens = 0;
                while tokens < size && n_docs < suspect.len() {
                    tokens += suspect.get(n_docs).map_or(0, Suspect::answer_tokens);
                    n_docs += 1;
                }
                let docs = suspect.get(..n_docs).unwrap_or_default();
                let plain = audit(&master, &accounts, None, docs)?;
                let filtered = audit(&master, &accounts, Some(&ledger), docs)?;
                let (Some(pa), Some(fa)) = (plain.rows.first(), filtered.rows.first()) else {
                    continue;
                };
                if share == 0.0 && size == largest {
                    let mut r = rng(seed, &format!("innocent-{queries:?}"), 0);
                    let p_values: Vec<f64> = plain
                        .rows
                        .iter()
                        .map(|x| randomized_p(x, kgw_a.params().gamma(), r.random()))
                        .collect();
                    innocent.push(Innocent {
                        queries,
                        ks: ks_uniform(&p_values),
                        p_values,
                    });
                }
                rows.push(RadioRow {
                    share,
                    served_tokens: exported_tokens,
                    ledger_contexts: ledger.len(),
                    queries,
                    corpus_tokens: tokens,
                    scored: pa.scored,
                    green_fraction: pa.green as f64 / pa.scored.max(1) as f64,
                    log10_p_a: pa.log10_p_value,
                    min_corrected_log10_p_others: min_others(&plain),
                    attribution: plain.attribution.clone(),
                    scored_ledger: fa.scored,
                    log10_p_a_ledger: fa.log10_p_value,
                    min_corrected_log10_p_others_ledger: min_others(&filtered),
                    attribution_ledger: filtered.attribution.clone(),
                });
            }
        }
    }
    Ok(RadioResults {
        config: cfg.clone(),
        teacher_tokens: pool_tokens,
        rows,
        innocent,
    })
}

/// Openings of this many tokens serve as prompts.
const PROMPT_TOKENS: usize = 16;

/// One input to an audit: a sampled answer, or a served exchange with the suspect's own
/// predictions along it.
struct Suspect {
    prompt: Vec<u32>,
    text: Vec<u32>,
    predictions: Option<Vec<u32>>,
}

impl Suspect {
    /// Tokens the suspect produced or predicted beyond the prompt.
    fn answer_tokens(&self) -> usize {
        match self.predictions {
            Some(_) => self.text.len().saturating_sub(self.prompt.len()),
            None => self.text.len(),
        }
    }
}

/// The first exchanges of `served` holding `n` answer tokens (the last answer cut).
fn take_tokens(served: &[(Vec<u32>, Vec<u32>)], n: usize) -> Vec<(Vec<u32>, Vec<u32>)> {
    let mut out = Vec::new();
    let mut taken = 0;
    for (prompt, g) in served {
        if taken >= n {
            break;
        }
        let k = g.len().min(n - taken);
        out.push((prompt.clone(), g.get(..k).unwrap_or_default().to_vec()));
        taken += k;
    }
    out
}

/// Open-model sizes: the sampled sizes below what the teacher served, then all of it.
fn open_sizes(sizes: &[usize], served: usize) -> Vec<usize> {
    let mut v: Vec<usize> = sizes.iter().copied().filter(|&s| s < served).collect();
    v.push(served);
    v
}

/// Audits `docs` against every account; all prompts are recorded first so the exclusion is
/// complete.
fn audit(
    master: &MasterKey,
    accounts: &[String],
    ledger: Option<&Ledger>,
    docs: &[Suspect],
) -> Result<AuditReport> {
    let mut a = Audit::new(AuditConfig::default())?;
    a.add_accounts(master, accounts)?;
    if let Some(l) = ledger {
        a.set_ledger(l.clone(), &master.secret)?;
    }
    for d in docs {
        a.add_prompt(&d.prompt);
    }
    for d in docs {
        match &d.predictions {
            Some(p) => a.add_predictions(&d.text, p)?,
            None => a.add_document(&d.text, None)?,
        }
    }
    a.report()
}

/// The smallest Holm-corrected log10 p among all accounts but A (the first row).
fn min_others(r: &AuditReport) -> f64 {
    r.rows
        .iter()
        .skip(1)
        .map(|x| x.corrected_log10_p_value)
        .fold(0.0, f64::min)
}

/// A randomized binomial p-value, uniform under the null (the plain one is conservative for
/// a discrete statistic): P[X > g] + u · P[X = g].
fn randomized_p(row: &AuditRow, gamma: f64, u: f64) -> f64 {
    let ge = provmark::stats::binomial_sf(row.green, row.scored, gamma).unwrap_or(1.0);
    let gt = provmark::stats::binomial_sf(row.green + 1, row.scored, gamma).unwrap_or(0.0);
    gt + u * (ge - gt)
}

/// Kolmogorov–Smirnov distance of a sample from U(0, 1).
fn ks_uniform(p: &[f64]) -> f64 {
    let mut sorted = p.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len().max(1) as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, &x)| ((i as f64 + 1.0) / n - x).max(x - i as f64 / n))
        .fold(0.0, f64::max)
}
