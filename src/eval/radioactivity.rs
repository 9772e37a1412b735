//! The distillation experiment: does a model trained on watermarked outputs inherit the
//! watermark, and does the corpus audit find the account they were taken through?
//!
//! A teacher (the evaluation's n-gram model) serves watermarked text under account A of a
//! shifted master key, recording an emission ledger. Students are n-gram models trained on a
//! mix of `p` % teacher output and `100 − p` % human text. Each student generates a corpus of
//! suspect outputs (continuations of held-out prompts, unwatermarked), which is audited against
//! A and 100 other accounts, with and without the ledger filter, at several corpus sizes.

use super::data::Split;
use crate::key::SecretKey;
use crate::lm::generate;
use crate::lm::ngram::NgramLm;
use crate::provenance::accounts::{AccountMode, MasterKey};
use crate::provenance::audit::{Audit, AuditConfig};
use crate::provenance::ledger::{Fingerprinter, Ledger};
use crate::sampling::{Sampler, SamplingConfig};
use crate::scheme::KgwParams;
use crate::text::Tokenizer;
use crate::{Error, Result};
use rand::{RngExt, SeedableRng};
use serde::Serialize;

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
    /// Sampling temperature of teacher and students.
    pub temperature: f32,
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
    /// Teacher tokens generated.
    pub teacher_tokens: usize,
    /// Contexts in the teacher's ledger.
    pub ledger_contexts: usize,
    /// One row per (share, corpus size).
    pub rows: Vec<RadioRow>,
    /// Randomized p-values of the p = 0 student (largest corpus, no ledger) against all 101
    /// accounts: uniform under the null.
    pub innocent_p_values: Vec<f64>,
    /// Kolmogorov–Smirnov statistic of `innocent_p_values` against U(0, 1).
    pub innocent_ks: f64,
}

const ACCOUNT_A: &str = "account-A";

fn rng(seed: u64, label: &str, i: u64) -> rand_chacha::ChaCha20Rng {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    s[8..16].copy_from_slice(&i.to_le_bytes());
    for (d, b) in s[16..].iter_mut().zip(label.bytes()) {
        *d = b;
    }
    rand_chacha::ChaCha20Rng::from_seed(s)
}

/// Generates documents of `doc` tokens after `prompts` until `total` tokens exist, on
/// `threads` threads, deterministically.
#[allow(clippy::too_many_arguments)]
fn corpus(
    lm: &NgramLm,
    kgw: Option<&crate::scheme::Kgw>,
    prompts: &[&[u32]],
    total: usize,
    doc: usize,
    temperature: f32,
    seed: u64,
    label: &str,
    threads: usize,
) -> Result<Vec<(Vec<u32>, Vec<u32>)>> {
    let n = total.div_ceil(doc.max(1));
    let out = std::sync::Mutex::new(vec![None; n]);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| -> Result<()> {
                let mut sampler = Sampler::new(SamplingConfig {
                    temperature,
                    ..Default::default()
                })?;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        return Ok(());
                    }
                    let prompt = prompts
                        .get(i % prompts.len().max(1))
                        .copied()
                        .unwrap_or_default();
                    let mut r = rng(seed, label, i as u64);
                    let g = generate(lm, kgw, prompt, doc, &mut sampler, &mut || r.random())?;
                    if let Ok(mut v) = out.lock() {
                        if let Some(slot) = v.get_mut(i) {
                            *slot = Some((prompt.to_vec(), g));
                        }
                    }
                }
            });
        }
    });
    out.into_inner()
        .map_err(|_| Error::InvalidInput("generation worker panicked".into()))?
        .into_iter()
        .map(|x| x.ok_or_else(|| Error::InvalidInput("generation failed".into())))
        .collect()
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
    };
    let mut accounts = vec![ACCOUNT_A.to_string()];
    accounts.extend((0..cfg.other_accounts).map(|i| format!("account-{i:03}")));
    let key_a = master.account_key(ACCOUNT_A);
    let kgw_a = key_a.kgw();
    let h = kgw_a.params().context();

    let human: Vec<u32> = split.train.concat();
    if human.len() < cfg.student_tokens {
        return Err(Error::InvalidInput(format!(
            "students need {} training tokens; the corpus has {}",
            cfg.student_tokens,
            human.len()
        )));
    }
    let teacher_prompts: Vec<&[u32]> = split.train.iter().filter_map(|c| c.get(..16)).collect();
    let suspect_prompts: Vec<&[u32]> = split.held_out.iter().filter_map(|c| c.get(..16)).collect();
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
    // The emission ledger of everything the teacher served under A.
    let fp = Fingerprinter::new(&master.secret, h);
    let mut ledger = Ledger::new(&master.secret, h);
    for (prompt, g) in &served {
        let mut hist = prompt.clone();
        for &t in g {
            ledger.record(&fp, &hist);
            hist.push(t);
        }
    }
    let teacher_stream: Vec<Vec<u32>> = served.iter().map(|(_, g)| g.clone()).collect();
    let teacher_tokens: usize = teacher_stream.iter().map(Vec::len).sum();

    let max_size = cfg.corpus_sizes.iter().copied().max().unwrap_or(0);
    let mut rows = Vec::new();
    let mut innocent = Vec::new();
    for &share in &cfg.shares {
        let n_teacher = (cfg.student_tokens as f64 * share / 100.0).round() as usize;
        let mut docs: Vec<Vec<u32>> = Vec::new();
        let mut taken = 0;
        for d in &teacher_stream {
            if taken >= n_teacher {
                break;
            }
            let k = d.len().min(n_teacher - taken);
            docs.push(d.get(..k).unwrap_or_default().to_vec());
            taken += k;
        }
        let n_human = cfg.student_tokens.saturating_sub(taken);
        docs.extend(
            human
                .get(..n_human)
                .unwrap_or_default()
                .chunks(1024)
                .map(<[u32]>::to_vec),
        );
        let student = NgramLm::train(docs, order, tok.vocab_size(), tok.spec())?;
        let suspect = corpus(
            &student,
            None,
            &suspect_prompts,
            max_size,
            cfg.doc_tokens,
            cfg.temperature,
            seed,
            &format!("student-{share}"),
            threads,
        )?;
        tick();
        for &size in &cfg.corpus_sizes {
            let n_docs = size.div_ceil(cfg.doc_tokens.max(1)).min(suspect.len());
            let audit_with =
                |ledger: Option<&Ledger>| -> Result<crate::provenance::audit::AuditReport> {
                    let mut a = Audit::new(AuditConfig::default())?;
                    a.add_accounts(&master, &accounts)?;
                    if let Some(l) = ledger {
                        a.set_ledger(l.clone(), &master.secret)?;
                    }
                    for (prompt, g) in suspect.iter().take(n_docs) {
                        a.add_document(g, Some(prompt))?;
                    }
                    a.report()
                };
            let plain = audit_with(None)?;
            let filtered = audit_with(Some(&ledger))?;
            let a_row = |r: &crate::provenance::audit::AuditReport| r.rows.first().cloned();
            let min_others = |r: &crate::provenance::audit::AuditReport| {
                r.rows
                    .iter()
                    .skip(1)
                    .map(|x| x.corrected_log10_p_value)
                    .fold(0.0, f64::min)
            };
            let (Some(pa), Some(fa)) = (a_row(&plain), a_row(&filtered)) else {
                continue;
            };
            if share == 0.0 && size == max_size {
                let mut r = rng(seed, "innocent", 0);
                innocent = plain
                    .rows
                    .iter()
                    .map(|x| {
                        let ge = crate::stats::binomial_sf(x.green, x.scored, 0.25).unwrap_or(1.0);
                        let gt =
                            crate::stats::binomial_sf(x.green + 1, x.scored, 0.25).unwrap_or(0.0);
                        gt + r.random::<f64>() * (ge - gt)
                    })
                    .collect();
            }
            rows.push(RadioRow {
                share,
                corpus_tokens: size,
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
    let mut sorted = innocent.clone();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len().max(1) as f64;
    let innocent_ks = sorted
        .iter()
        .enumerate()
        .map(|(i, &x)| ((i as f64 + 1.0) / n - x).max(x - i as f64 / n))
        .fold(0.0, f64::max);
    Ok(RadioResults {
        config: cfg.clone(),
        teacher_tokens,
        ledger_contexts: ledger.len(),
        rows,
        innocent_p_values: innocent,
        innocent_ks,
    })
}
