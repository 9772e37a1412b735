//! Evaluation on a real model: for each sampling setting and chat prompt, a watermarked answer
//! and its unwatermarked twin (same prompt, same random draws), detected from the decoded text
//! as a third party would: power by length (each answer's prefixes), quality (perplexity under
//! the unwatermarked model, repetition, entropy, all recorded while generating), robustness to
//! edits, and false positives on human text of several domains under many keys. Generations are
//! cached on disk, keyed by everything they depend on, so a full run (hours of CPU on a small
//! machine) is resumable and re-rendering is free.
//!
//! The evaluation key is derived from the seed, so cached generations stay valid across runs;
//! it is an evaluation key, public by construction, never one to serve with.

use super::attacks::{self, Attack};
use provmark::detect::{Detector, DetectorConfig};
use provmark::key::SecretKey;
use provmark::lm::LanguageModel;
use provmark::sampling::{Sampler, SamplingConfig};
use provmark::scheme::{Kgw, KgwParams};
use provmark::text::Tokenizer;
use provmark::{Error, Result};
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What to run.
#[derive(Clone, Debug)]
pub struct RealConfig {
    /// Sampling settings compared side by side.
    pub settings: Vec<SamplingConfig>,
    /// Maximum answer length (a chat model stops earlier at its end-of-turn token).
    pub tokens: usize,
    /// Watermark parameters.
    pub params: KgwParams,
    /// Seeds the evaluation key and every answer's random draws.
    pub seed: u64,
    /// Worker threads, each with its own model instance.
    pub threads: usize,
    /// Directory of the generation cache (none: no cache).
    pub cache_dir: Option<PathBuf>,
    /// Prefix lengths at which power is measured (each answer long enough counts).
    pub lengths: Vec<usize>,
    /// Length of the watermarked prefixes that the edits are applied to.
    pub attack_length: usize,
    /// Keys tested on every human chunk (the evaluation key and keys derived from the seed).
    pub human_keys: usize,
    /// Length of the human-text chunks.
    pub human_chunk: usize,
    /// Most chunks taken from one domain.
    pub human_max_chunks: usize,
    /// Shares of the model's watermarked exchanges in the n-gram students' training data (the
    /// radioactivity experiment; empty: skipped).
    pub radio_shares: Vec<f64>,
    /// Training tokens per student.
    pub radio_train_tokens: usize,
    /// Tokens of served exchanges forwarded through each student.
    pub radio_forward_tokens: usize,
}

impl Default for RealConfig {
    fn default() -> Self {
        RealConfig {
            settings: vec![
                SamplingConfig {
                    temperature: 0.7,
                    top_k: 0,
                    top_p: 0.95,
                },
                SamplingConfig {
                    temperature: 1.0,
                    top_k: 0,
                    top_p: 1.0,
                },
            ],
            tokens: 400,
            params: KgwParams::default(),
            seed: 1,
            threads: 1,
            cache_dir: None,
            lengths: vec![25, 50, 100, 200, 400],
            attack_length: 200,
            human_keys: 20,
            human_chunk: 200,
            human_max_chunks: 500,
            radio_shares: vec![0.5, 0.1, 0.02, 0.0],
            radio_train_tokens: 200_000,
            radio_forward_tokens: 20_000,
        }
    }
}

/// One detected answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RealRow {
    /// Index into [`RealConfig::settings`].
    pub setting: usize,
    /// Index of the prompt.
    pub prompt: usize,
    /// Whether the answer was watermarked.
    pub watermarked: bool,
    /// Tokens of the re-tokenized answer.
    pub tokens: usize,
    /// Tuples scored after dedup.
    pub scored: usize,
    /// Green among them.
    pub green: usize,
    /// z-score.
    pub z: f64,
    /// Exact log10 p-value.
    pub log10_p: f64,
    /// Tokens the model generated (before decoding and re-tokenizing).
    pub generated: usize,
    /// Sum over generated tokens of ln p(token) under the unwatermarked model at temperature 1.
    pub sum_logp: f64,
    /// Mean entropy (nats) of the unwatermarked model's distribution at the sampling
    /// temperature, per generated token.
    pub mean_entropy: f64,
    /// Share of the answer's token 4-grams that repeat an earlier 4-gram of it.
    pub rep4: f64,
}

/// Power (or false positives, for the unwatermarked) at one prefix length.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LengthSummary {
    /// Index into [`RealConfig::settings`].
    pub setting: usize,
    /// Watermarked answers or their twins.
    pub watermarked: bool,
    /// Prefix length in tokens.
    pub length: usize,
    /// Answers at least this long.
    pub n: usize,
    /// Share with p ≤ 1e-3.
    pub flagged_1e3: f64,
    /// Share with p ≤ 1e-6.
    pub flagged_1e6: f64,
    /// Mean z.
    pub mean_z: f64,
}

/// Detection after one edit of the watermarked prefixes.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AttackSummary {
    /// Index into [`RealConfig::settings`].
    pub setting: usize,
    /// The edit.
    pub attack: Attack,
    /// Watermarked prefixes edited.
    pub n: usize,
    /// Share still detected at 1e-3.
    pub detected_1e3: f64,
    /// Share still detected at 1e-6.
    pub detected_1e6: f64,
    /// Mean z after the edit.
    pub mean_z: f64,
}

/// Human text of one domain, for false positives.
#[derive(Clone, Debug)]
pub struct HumanDomain {
    /// What it is (for the table).
    pub name: String,
    /// Its documents.
    pub texts: Vec<String>,
}

/// False positives on one human domain.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct HumanSummary {
    /// The domain.
    pub domain: String,
    /// Chunks of [`RealConfig::human_chunk`] tokens.
    pub chunks: usize,
    /// Tests (chunks × keys).
    pub tests: usize,
    /// Tests with p ≤ 1e-2.
    pub fp_1e2: usize,
    /// Tests with p ≤ 1e-3.
    pub fp_1e3: usize,
    /// Tests with p ≤ 1e-6.
    pub fp_1e6: usize,
    /// Largest z over all tests.
    pub max_z: f64,
}

/// One student of the radioactivity experiment.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RadioRow {
    /// Share of teacher exchanges asked for (the table shows the share obtained, smaller when
    /// the model's exchanges run out).
    pub share: f64,
    /// Teacher tokens it was trained on.
    pub teacher_tokens: usize,
    /// All training tokens.
    pub train_tokens: usize,
    /// Served tokens forwarded through it.
    pub forwarded: usize,
    /// Distinct tuples scored for the serving key.
    pub scored: u64,
    /// Holm-corrected log10 p of the key that served the exchanges.
    pub log10_p_served: f64,
    /// The smallest Holm-corrected log10 p among the other keys.
    pub log10_p_best_other: f64,
    /// Whether the audit named the serving key (and only it).
    pub attributed: bool,
}

/// Aggregates of one (setting, watermarked or not) cell.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RealSummary {
    /// The sampling setting.
    pub sampling: SamplingConfig,
    /// Whether the cell holds watermarked answers.
    pub watermarked: bool,
    /// Answers.
    pub n: usize,
    /// Mean answer length in tokens.
    pub mean_tokens: f64,
    /// Mean z-score.
    pub mean_z: f64,
    /// Smallest z-score.
    pub min_z: f64,
    /// Largest z-score.
    pub max_z: f64,
    /// Share of answers with p ≤ 1e-6.
    pub flagged_1e6: f64,
    /// Share with p ≤ 1e-3.
    pub flagged_1e3: f64,
    /// Share with z > 4.
    pub z_above_4: f64,
    /// Perplexity of the generated tokens under the unwatermarked model (temperature 1).
    pub perplexity: f64,
    /// Mean entropy per token of the model's sampling distribution (nats).
    pub mean_entropy: f64,
    /// Mean share of repeated 4-grams.
    pub rep4: f64,
}

/// The evaluation's results.
#[derive(Clone, Debug, Serialize)]
pub struct RealResult {
    /// What the model is.
    pub model: String,
    /// Watermark parameters (γ, δ, h).
    pub gamma: f64,
    /// δ.
    pub delta: f32,
    /// h.
    pub context: usize,
    /// Maximum answer length.
    pub max_tokens: usize,
    /// Answers generated in this run (the others came from the cache).
    pub generated: usize,
    /// The sampling settings, indexed by the rows' `setting`.
    pub settings: Vec<SamplingConfig>,
    /// One summary per (setting, kind).
    pub summaries: Vec<RealSummary>,
    /// Power and twins' false positives by prefix length.
    pub by_length: Vec<LengthSummary>,
    /// Detection after edits.
    pub attacks: Vec<AttackSummary>,
    /// False positives on human text.
    pub human: Vec<HumanSummary>,
    /// The radioactivity experiment with this model as the teacher.
    pub radioactivity: Vec<RadioRow>,
    /// Every answer.
    pub rows: Vec<RealRow>,
}

/// A cached generation.
#[derive(Serialize, Deserialize)]
struct Cached {
    job: String,
    ids: Vec<u32>,
    /// ln p of each token under the unwatermarked model at temperature 1.
    logp: Vec<f32>,
    /// Entropy of the model's distribution at the sampling temperature, per step.
    entropy: Vec<f32>,
}

/// A generation with the per-step measurements taken along it.
#[derive(Clone, Debug, Default)]
struct Generation {
    ids: Vec<u32>,
    logp: Vec<f32>,
    entropy: Vec<f32>,
}

/// `ln softmax(logits / t)[token]` and the entropy of `softmax(logits / t)`, in f64.
fn log_prob_and_entropy(logits: &[f32], t: f64, token: u32) -> (f64, f64) {
    let max = logits
        .iter()
        .copied()
        .filter(|l| l.is_finite())
        .fold(f32::NEG_INFINITY, f32::max) as f64;
    let (mut z, mut sum_xe) = (0.0f64, 0.0f64);
    for &l in logits {
        if l.is_finite() {
            let x = (l as f64 - max) / t;
            let e = x.exp();
            z += e;
            sum_xe += x * e;
        }
    }
    let ln_z = z.ln();
    let x_tok = logits
        .get(token as usize)
        .map_or(f64::NEG_INFINITY, |&l| (l as f64 - max) / t);
    (x_tok - ln_z, ln_z - sum_xe / z)
}

/// The generation loop of [`provmark::lm::generate`], also recording, from the unbiased
/// logits of each step, ln p(token) at temperature 1 and the entropy at the sampling
/// temperature.
fn generate_measured(
    lm: &dyn LanguageModel,
    kgw: Option<&Kgw>,
    prompt: &[u32],
    n: usize,
    sampler: &mut Sampler,
    uniform: &mut dyn FnMut() -> f64,
) -> Result<Generation> {
    let t = f64::from(sampler.config().temperature).max(1e-6);
    let mut history = Vec::with_capacity(prompt.len() + n);
    history.extend_from_slice(prompt);
    let mut logits = vec![0.0f32; lm.vocab_size()];
    let mut raw = vec![0.0f32; lm.vocab_size()];
    let mut g = Generation::default();
    for _ in 0..n {
        lm.logits(&history, &mut logits)?;
        raw.copy_from_slice(&logits);
        let u = uniform();
        let tok = match kgw {
            Some(k) => k.sample_step(&history, &mut logits, sampler, u)?,
            None => sampler.sample(&logits, u)?,
        };
        if lm.stop_tokens().contains(&tok) {
            break;
        }
        let (lp, _) = log_prob_and_entropy(&raw, 1.0, tok);
        let (_, h) = log_prob_and_entropy(&raw, t, tok);
        g.ids.push(tok);
        g.logp.push(lp as f32);
        g.entropy.push(h as f32);
        history.push(tok);
    }
    Ok(g)
}

/// Share of the 4-grams of `ids` that repeat an earlier one.
fn rep4(ids: &[u32]) -> f64 {
    let grams: Vec<&[u32]> = ids.windows(4).collect();
    if grams.is_empty() {
        return 0.0;
    }
    let distinct: std::collections::HashSet<&[u32]> = grams.iter().copied().collect();
    1.0 - distinct.len() as f64 / grams.len() as f64
}

/// The evaluation's k-th key: k = 0 is the one the answers are watermarked with.
fn eval_key(seed: u64, k: usize) -> SecretKey {
    let mut material = b"provmark-eval-real-key".to_vec();
    material.extend_from_slice(&seed.to_le_bytes());
    if k > 0 {
        material.extend_from_slice(&(k as u64).to_le_bytes());
    }
    SecretKey::from_bytes(Sha256::digest(&material).into())
}

/// A factory of model instances (one per worker thread).
pub type ModelFactory<'a> = dyn Fn() -> Result<Box<dyn LanguageModel>> + Sync + 'a;

/// The model under evaluation.
pub struct ModelUnderTest<'a> {
    /// Makes one instance per worker thread.
    pub make: &'a ModelFactory<'a>,
    /// What it is, for the report.
    pub name: &'a str,
    /// Its identity for the cache: must change whenever the model does (the CLI uses the
    /// file's SHA-256).
    pub id: &'a str,
    /// Its tokenizer (the detector's too).
    pub tokenizer: &'a dyn Tokenizer,
}

/// Runs the evaluation. `prompts` are the token ids to continue (chat-formatted); `human` is
/// the text of the false-positive table.
///
/// # Errors
/// [`Error::InvalidInput`] without prompts or settings; model, tokenizer and sampling errors.
pub fn run(
    m: &ModelUnderTest<'_>,
    prompts: &[Vec<u32>],
    human: &[HumanDomain],
    cfg: &RealConfig,
    progress: &(dyn Fn() + Sync),
) -> Result<RealResult> {
    let (make_model, model, model_id, tok) = (m.make, m.name, m.id, m.tokenizer);
    if prompts.is_empty() || cfg.settings.is_empty() || cfg.tokens == 0 {
        return Err(Error::InvalidInput(
            "the evaluation needs prompts, settings and a positive length".into(),
        ));
    }
    let key = eval_key(cfg.seed, 0);
    let kgw = Kgw::new(&key, cfg.params);
    let det = Detector::for_scheme(
        Kgw::new(&key, cfg.params),
        key.key_id(),
        tok.vocab_size(),
        DetectorConfig::default(),
    )?;
    // Every job's identity: what its tokens depend on.
    let job_id = |s: usize, p: usize, wm: bool| -> String {
        let mut h = Sha256::new();
        h.update(b"provmark-eval-real-v2");
        h.update(model_id.as_bytes());
        h.update(key.key_id().to_string().as_bytes());
        h.update(serde_json::to_vec(&cfg.params).unwrap_or_default());
        h.update(serde_json::to_vec(&cfg.settings.get(s)).unwrap_or_default());
        h.update((cfg.tokens as u64).to_le_bytes());
        h.update(cfg.seed.to_le_bytes());
        h.update([u8::from(wm)]);
        for t in prompts.get(p).map(Vec::as_slice).unwrap_or_default() {
            h.update(t.to_le_bytes());
        }
        provmark::key::to_hex(&h.finalize()[..16])
    };
    let cache_path = cfg.cache_dir.as_ref().map(|d| d.join("real-eval.jsonl"));
    let mut cache: HashMap<String, Generation> = HashMap::new();
    if let Some(p) = &cache_path
        && let Ok(text) = std::fs::read_to_string(p)
    {
        for line in text.lines() {
            // A torn last line (an interrupted run) is skipped and regenerated.
            if let Ok(c) = serde_json::from_str::<Cached>(line) {
                let g = Generation {
                    ids: c.ids,
                    logp: c.logp,
                    entropy: c.entropy,
                };
                cache.insert(c.job, g);
            }
        }
    }
    let jobs: Vec<(usize, usize, bool, String)> = (0..cfg.settings.len())
        .flat_map(|s| (0..prompts.len()).flat_map(move |p| [(s, p, true), (s, p, false)]))
        .map(|(s, p, wm)| (s, p, wm, job_id(s, p, wm)))
        .collect();
    let todo: Vec<usize> = (0..jobs.len())
        .filter(|&j| jobs.get(j).is_some_and(|job| !cache.contains_key(&job.3)))
        .collect();
    let writer = match &cache_path {
        Some(p) => {
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| Error::io(p, e))?;
            Some(Mutex::new(f))
        }
        None => None,
    };
    let fresh: Mutex<HashMap<String, Generation>> = Mutex::new(HashMap::new());
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let worker = || -> Result<()> {
        let lm = make_model()?;
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(&j) = todo.get(i) else { return Ok(()) };
            if failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                return Ok(());
            }
            let Some((s, p, wm, id)) = jobs.get(j) else {
                return Ok(());
            };
            let setting = cfg.settings.get(*s).copied().unwrap_or_default();
            let mut sampler = Sampler::new(setting)?;
            // The twin answers share their draws: the watermark is the only difference.
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(
                cfg.seed ^ ((*s as u64) << 32) ^ (*p as u64),
            );
            let prompt = prompts.get(*p).map(Vec::as_slice).unwrap_or_default();
            let g = generate_measured(
                lm.as_ref(),
                wm.then_some(&kgw),
                prompt,
                cfg.tokens,
                &mut sampler,
                &mut || rng.random(),
            )?;
            if let Some(w) = &writer {
                let line = serde_json::to_string(&Cached {
                    job: id.clone(),
                    ids: g.ids.clone(),
                    logp: g.logp.clone(),
                    entropy: g.entropy.clone(),
                })
                .map_err(|e| Error::InvalidInput(e.to_string()))?;
                let mut f = w
                    .lock()
                    .map_err(|_| Error::InvalidInput("cache writer poisoned".into()))?;
                writeln!(f, "{line}")
                    .map_err(|e| Error::io(cache_path.clone().unwrap_or_default(), e))?;
            }
            if let Ok(mut m) = fresh.lock() {
                m.insert(id.clone(), g);
            }
            progress();
        }
    };
    let threads = cfg.threads.clamp(1, todo.len().max(1));
    // A worker's error is recorded at once, so the other workers stop at their next job.
    let record = |e: Error| {
        if let Ok(mut f) = failure.lock()
            && f.is_none()
        {
            *f = Some(e);
        }
    };
    std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                sc.spawn(|| {
                    if let Err(e) = worker() {
                        record(e);
                    }
                })
            })
            .collect();
        for h in handles {
            if h.join().is_err() {
                record(Error::InvalidInput("an evaluation worker panicked".into()));
            }
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    let fresh = fresh.into_inner().unwrap_or_default();
    let generated = fresh.len();
    cache.extend(fresh);
    let mut rows = Vec::with_capacity(jobs.len());
    let mut lengths = Vec::new(); // (setting, watermarked, length, z, log10 p)
    let mut prefixes = Vec::new(); // (setting, watermarked prefix of attack_length tokens)
    for (s, p, wm, id) in &jobs {
        let g = cache
            .get(id)
            .ok_or_else(|| Error::InvalidInput(format!("generation {id} is missing")))?;
        let text = tok.decode(&g.ids)?;
        let ids = tok.encode(&text)?;
        let d = det.detect(&ids)?;
        let steps = g.entropy.len().max(1) as f64;
        rows.push(RealRow {
            setting: *s,
            prompt: *p,
            watermarked: *wm,
            tokens: d.tokens,
            scored: d.scored,
            green: d.green,
            z: d.z_score,
            log10_p: d.log10_p_value,
            generated: g.ids.len(),
            sum_logp: g.logp.iter().map(|&x| f64::from(x)).sum(),
            mean_entropy: g.entropy.iter().map(|&x| f64::from(x)).sum::<f64>() / steps,
            rep4: rep4(&g.ids),
        });
        for &len in &cfg.lengths {
            if let Some(prefix) = ids.get(..len) {
                let d = det.detect(prefix)?;
                lengths.push((*s, *wm, len, d.z_score, d.log10_p_value));
            }
        }
        if *wm && let Some(prefix) = ids.get(..cfg.attack_length) {
            prefixes.push((*s, prefix.to_vec()));
        }
    }
    let summaries = summarize(&rows, &cfg.settings);
    let by_length = summarize_lengths(&lengths, cfg);
    let human_ids = tokenize_human(human, tok, cfg)?;
    // Substituted and inserted tokens come from human text (or, without any, the twins).
    let mut pool: Vec<u32> = human_ids.iter().flat_map(|(_, c)| c.concat()).collect();
    if pool.is_empty() {
        for (_, _, wm, id) in &jobs {
            if !*wm && let Some(g) = cache.get(id) {
                pool.extend_from_slice(&g.ids);
            }
        }
    }
    let attacks = attack_prefixes(&prefixes, &pool, &det, tok, cfg)?;
    let human = human_false_positives(&human_ids, tok.vocab_size(), cfg)?;
    let mut exchanges = Vec::new();
    for (_, p, wm, id) in &jobs {
        if *wm && let Some(g) = cache.get(id) {
            let mut ex = prompts.get(*p).cloned().unwrap_or_default();
            ex.extend_from_slice(&g.ids);
            exchanges.push(ex);
        }
    }
    let human_docs: Vec<Vec<u32>> = human_ids.iter().flat_map(|(_, c)| c.clone()).collect();
    let radioactivity = radioactivity(&exchanges, &human_docs, tok, cfg)?;
    Ok(RealResult {
        model: model.to_owned(),
        gamma: cfg.params.gamma(),
        delta: cfg.params.delta(),
        context: cfg.params.context(),
        max_tokens: cfg.tokens,
        generated,
        settings: cfg.settings.clone(),
        summaries,
        by_length,
        attacks,
        human,
        radioactivity,
        rows,
    })
}

/// Keys the radioactivity audit tests besides the serving one.
const RADIO_OTHER_KEYS: usize = 100;

/// Does an n-gram student trained on the model's watermarked exchanges inherit the watermark?
/// Each student (order 4) trains on `radio_train_tokens`: the first exchanges (prompt and
/// watermarked answer, as a distillation set holds them) making up the given share, human text
/// the rest (when the exchanges run out, the share is smaller and the table says so). The
/// auditor forwards the first `radio_forward_tokens` of those exchanges through
/// the student (the open-model test: its most likely next token at every position,
/// [`Audit::add_predictions`], prompt contexts excluded) and audits against the serving key and
/// 100 other keys, Holm-corrected at 1e-6. The 0 % student never saw an exchange (control).
fn radioactivity(
    exchanges: &[Vec<u32>],
    human: &[Vec<u32>],
    tok: &dyn Tokenizer,
    cfg: &RealConfig,
) -> Result<Vec<RadioRow>> {
    use crate::ngram::NgramLm;
    use provmark::key::KeyFile;
    use provmark::provenance::audit::{Audit, AuditConfig};
    use provmark::scheme::SchemeConfig;
    let mut out = Vec::new();
    if exchanges.is_empty() || human.is_empty() {
        return Ok(out);
    }
    let key_file = |k: usize| KeyFile {
        secret: eval_key(cfg.seed, k),
        scheme: SchemeConfig::kgw(cfg.params),
        tokenizer: tok.spec(),
        account: None,
        normalization: Default::default(),
        validity: Default::default(),
        coded: None,
    };
    // Keys 0 (serving) and 10_000.. (others; apart from the false-positive keys).
    let keys: Vec<KeyFile> = std::iter::once(key_file(0))
        .chain((0..RADIO_OTHER_KEYS).map(|k| key_file(10_000 + k)))
        .collect();
    let take = |docs: &[Vec<u32>], budget: usize| -> Vec<Vec<u32>> {
        let mut left = budget;
        let mut v = Vec::new();
        for d in docs {
            if left == 0 {
                break;
            }
            let n = d.len().min(left);
            v.push(d.get(..n).unwrap_or_default().to_vec());
            left -= n;
        }
        v
    };
    let forwarded = take(exchanges, cfg.radio_forward_tokens);
    for &share in &cfg.radio_shares {
        let n_teacher = (share * cfg.radio_train_tokens as f64).round() as usize;
        let teacher = take(exchanges, n_teacher);
        let teacher_tokens: usize = teacher.iter().map(Vec::len).sum();
        let human_part = take(human, cfg.radio_train_tokens.saturating_sub(teacher_tokens));
        let train_tokens = teacher_tokens + human_part.iter().map(Vec::len).sum::<usize>();
        let student = NgramLm::train(
            teacher.into_iter().chain(human_part),
            4,
            tok.vocab_size(),
            tok.spec(),
        )?;
        let mut audit = Audit::new(AuditConfig::default())?;
        for k in &keys {
            audit.add_key(k)?;
        }
        for ex in &forwarded {
            let preds = provmark::lm::greedy_predictions(&student, ex)?;
            audit.add_predictions(ex, &preds)?;
        }
        let report = audit.report()?;
        let served = report.rows.first();
        let best_other = report
            .rows
            .iter()
            .skip(1)
            .map(|r| r.corrected_log10_p_value)
            .fold(0.0f64, f64::min);
        out.push(RadioRow {
            share,
            teacher_tokens,
            train_tokens,
            forwarded: forwarded.iter().map(Vec::len).sum(),
            scored: served.map_or(0, |r| r.scored),
            log10_p_served: served.map_or(0.0, |r| r.corrected_log10_p_value),
            log10_p_best_other: best_other,
            attributed: served.is_some_and(|r| {
                report.attribution.as_deref() == Some(r.label()) && report.tied.is_empty()
            }),
        });
    }
    Ok(out)
}

/// The edits of the evaluation, at the strength the n-gram evaluation reports (30 %).
const ATTACKS: [Attack; 5] = [
    Attack::Substitute(0.3),
    Attack::Delete(0.3),
    Attack::Insert(0.3),
    Attack::WordDelete(0.3),
    Attack::WordSwap(0.3),
];

fn attack_prefixes(
    prefixes: &[(usize, Vec<u32>)],
    pool: &[u32],
    det: &Detector,
    tok: &dyn Tokenizer,
    cfg: &RealConfig,
) -> Result<Vec<AttackSummary>> {
    let mut out = Vec::new();
    for s in 0..cfg.settings.len() {
        for (a, attack) in ATTACKS.iter().enumerate() {
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(
                cfg.seed ^ 0x00a7_7ac4 ^ ((s as u64) << 40) ^ ((a as u64) << 32),
            );
            let (mut n, mut d3, mut d6, mut zs) = (0usize, 0usize, 0usize, 0.0f64);
            for (_, ids) in prefixes.iter().filter(|(ps, _)| *ps == s) {
                let edited = match attack {
                    Attack::Substitute(f) => attacks::substitute(ids, *f, pool, &mut rng),
                    Attack::Delete(f) => attacks::delete(ids, *f, &mut rng),
                    Attack::Insert(f) => attacks::insert(ids, *f, pool, &mut rng),
                    _ => tok.encode(&attacks::word_edit(&tok.decode(ids)?, *attack, &mut rng))?,
                };
                let d = det.detect(&edited)?;
                n += 1;
                d3 += usize::from(d.log10_p_value <= -3.0);
                d6 += usize::from(d.log10_p_value <= -6.0);
                zs += d.z_score;
            }
            let m = n.max(1) as f64;
            out.push(AttackSummary {
                setting: s,
                attack: *attack,
                n,
                detected_1e3: d3 as f64 / m,
                detected_1e6: d6 as f64 / m,
                mean_z: zs / m,
            });
        }
    }
    Ok(out)
}

/// Each domain's documents tokenized and cut into non-overlapping chunks, in a seeded random
/// order of documents, at most `max_chunks / documents` (and at least 2) from each, so that
/// neither one long book nor many short pages dominate.
fn tokenize_human(
    human: &[HumanDomain],
    tok: &dyn Tokenizer,
    cfg: &RealConfig,
) -> Result<Vec<(String, Vec<Vec<u32>>)>> {
    use rand::seq::SliceRandom;
    let mut out = Vec::new();
    for (i, dom) in human.iter().enumerate() {
        let mut order: Vec<usize> = (0..dom.texts.len()).collect();
        order.shuffle(&mut rand_chacha::ChaCha20Rng::seed_from_u64(
            cfg.seed ^ 0x0004_c0de ^ i as u64,
        ));
        let per_doc = (cfg.human_max_chunks / dom.texts.len().max(1)).max(2);
        let mut chunks = Vec::new();
        for j in order {
            if chunks.len() >= cfg.human_max_chunks {
                break;
            }
            let Some(text) = dom.texts.get(j) else {
                continue;
            };
            let ids = tok.encode(text)?;
            for c in ids.chunks_exact(cfg.human_chunk.max(1)).take(per_doc) {
                if chunks.len() < cfg.human_max_chunks {
                    chunks.push(c.to_vec());
                }
            }
        }
        out.push((dom.name.clone(), chunks));
    }
    Ok(out)
}

fn human_false_positives(
    human: &[(String, Vec<Vec<u32>>)],
    vocab: usize,
    cfg: &RealConfig,
) -> Result<Vec<HumanSummary>> {
    let detectors: Vec<Detector> = (0..cfg.human_keys.max(1))
        .map(|k| {
            Detector::for_scheme(
                Kgw::new(&eval_key(cfg.seed, k), cfg.params),
                eval_key(cfg.seed, k).key_id(),
                vocab,
                DetectorConfig::default(),
            )
        })
        .collect::<Result<_>>()?;
    let mut out = Vec::new();
    for (name, chunks) in human {
        let mut h = HumanSummary {
            domain: name.clone(),
            chunks: chunks.len(),
            tests: 0,
            fp_1e2: 0,
            fp_1e3: 0,
            fp_1e6: 0,
            max_z: f64::NEG_INFINITY,
        };
        for c in chunks {
            for det in &detectors {
                let d = det.detect(c)?;
                h.tests += 1;
                h.fp_1e2 += usize::from(d.log10_p_value <= -2.0);
                h.fp_1e3 += usize::from(d.log10_p_value <= -3.0);
                h.fp_1e6 += usize::from(d.log10_p_value <= -6.0);
                h.max_z = h.max_z.max(d.z_score);
            }
        }
        out.push(h);
    }
    Ok(out)
}

fn summarize_lengths(
    points: &[(usize, bool, usize, f64, f64)],
    cfg: &RealConfig,
) -> Vec<LengthSummary> {
    let mut out = Vec::new();
    for s in 0..cfg.settings.len() {
        for wm in [true, false] {
            for &len in &cfg.lengths {
                let cell: Vec<_> = points
                    .iter()
                    .filter(|p| p.0 == s && p.1 == wm && p.2 == len)
                    .collect();
                if cell.is_empty() {
                    continue;
                }
                let n = cell.len() as f64;
                out.push(LengthSummary {
                    setting: s,
                    watermarked: wm,
                    length: len,
                    n: cell.len(),
                    flagged_1e3: cell.iter().filter(|p| p.4 <= -3.0).count() as f64 / n,
                    flagged_1e6: cell.iter().filter(|p| p.4 <= -6.0).count() as f64 / n,
                    mean_z: cell.iter().map(|p| p.3).sum::<f64>() / n,
                });
            }
        }
    }
    out
}

fn summarize(rows: &[RealRow], settings: &[SamplingConfig]) -> Vec<RealSummary> {
    let mut out = Vec::new();
    for (s, sampling) in settings.iter().enumerate() {
        for wm in [true, false] {
            let cell: Vec<&RealRow> = rows
                .iter()
                .filter(|r| r.setting == s && r.watermarked == wm)
                .collect();
            let n = cell.len().max(1) as f64;
            let share =
                |f: &dyn Fn(&RealRow) -> bool| cell.iter().filter(|r| f(r)).count() as f64 / n;
            out.push(RealSummary {
                sampling: *sampling,
                watermarked: wm,
                n: cell.len(),
                mean_tokens: cell.iter().map(|r| r.tokens as f64).sum::<f64>() / n,
                mean_z: cell.iter().map(|r| r.z).sum::<f64>() / n,
                min_z: cell.iter().map(|r| r.z).fold(f64::INFINITY, f64::min),
                max_z: cell.iter().map(|r| r.z).fold(f64::NEG_INFINITY, f64::max),
                flagged_1e6: share(&|r| r.log10_p <= -6.0),
                flagged_1e3: share(&|r| r.log10_p <= -3.0),
                z_above_4: share(&|r| r.z > 4.0),
                perplexity: (-cell.iter().map(|r| r.sum_logp).sum::<f64>()
                    / cell.iter().map(|r| r.generated).sum::<usize>().max(1) as f64)
                    .exp(),
                mean_entropy: cell.iter().map(|r| r.mean_entropy).sum::<f64>() / n,
                rep4: cell.iter().map(|r| r.rep4).sum::<f64>() / n,
            });
        }
    }
    out
}

/// The results as Markdown tables.
pub fn markdown(r: &RealResult) -> String {
    use std::fmt::Write as _;
    let mut s = format!(
        "# provmark on a real model\n\n{}; KGW γ {}, δ {}, h {}; answers of up to {} tokens \
         (the model's end-of-turn token ends an answer), detected from the decoded text; \
         unwatermarked twins share the watermarked answers' prompts and random draws.\n\n\
         | T | top-p | answers | mean tokens | mean z | min z | max z | p ≤ 1e-6 | p ≤ 1e-3 | \
         perplexity | entropy/token | repeated 4-grams |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
        r.model, r.gamma, r.delta, r.context, r.max_tokens
    );
    for c in &r.summaries {
        let _ = writeln!(
            s,
            "| {} | {} | {} {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} % | {:.1} % | {:.2} | {:.2} | {:.1} % |",
            c.sampling.temperature,
            c.sampling.top_p,
            c.n,
            if c.watermarked {
                "watermarked"
            } else {
                "unwatermarked"
            },
            c.mean_tokens,
            c.mean_z,
            c.min_z,
            c.max_z,
            100.0 * c.flagged_1e6,
            100.0 * c.flagged_1e3,
            c.perplexity,
            c.mean_entropy,
            100.0 * c.rep4
        );
    }
    s.push_str(
        "\nPerplexity: of the generated tokens under the unwatermarked model at temperature 1; \
         entropy: of the model's distribution at the sampling temperature (nats per token).\n\n\
         ## By length (each answer's re-tokenized prefix; answers at least that long)\n\n\
         | T | top-p | answers | length | n | p ≤ 1e-3 | p ≤ 1e-6 | mean z |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    let setting = |i: usize| {
        r.settings
            .get(i)
            .map_or((0.0, 0.0), |c| (c.temperature, c.top_p))
    };
    for l in &r.by_length {
        let (t, p) = setting(l.setting);
        let _ = writeln!(
            s,
            "| {t} | {p} | {} | {} | {} | {:.1} % | {:.1} % | {:.2} |",
            if l.watermarked {
                "watermarked"
            } else {
                "unwatermarked"
            },
            l.length,
            l.n,
            100.0 * l.flagged_1e3,
            100.0 * l.flagged_1e6,
            l.mean_z
        );
    }
    s.push_str(
        "\n## Edits (watermarked prefixes, then detected)\n\n\
         | T | top-p | edit | strength | n | detected at 1e-3 | at 1e-6 | mean z |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for a in &r.attacks {
        let (t, p) = setting(a.setting);
        let _ = writeln!(
            s,
            "| {t} | {p} | {} | {:.0} % | {} | {:.1} % | {:.1} % | {:.2} |",
            a.attack.name(),
            100.0 * a.attack.strength(),
            a.n,
            100.0 * a.detected_1e3,
            100.0 * a.detected_1e6,
            a.mean_z
        );
    }
    if !r.human.is_empty() {
        s.push_str(
            "\n## False positives on human text (chunks × keys)\n\n\
             | domain | chunks | tests | p ≤ 1e-2 | p ≤ 1e-3 | p ≤ 1e-6 | max z |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for h in &r.human {
            let t = h.tests.max(1) as f64;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} ({:.2} %) | {} ({:.3} %) | {} | {:.2} |",
                h.domain,
                h.chunks,
                h.tests,
                h.fp_1e2,
                100.0 * h.fp_1e2 as f64 / t,
                h.fp_1e3,
                100.0 * h.fp_1e3 as f64 / t,
                h.fp_1e6,
                h.max_z
            );
        }
    }
    if !r.radioactivity.is_empty() {
        s.push_str(
            "\n## Radioactivity: n-gram students trained on this model's watermarked exchanges\n\n\
             Open-model audit of the served exchanges forwarded through each student, against \
             the serving key and 100 others (Holm-corrected, α 1e-6).\n\n\
             | teacher share | teacher tokens | training tokens | forwarded | scored | \
             log10 p, serving key | best other key | named |\n\
             |---|---|---|---|---|---|---|---|\n",
        );
        for x in &r.radioactivity {
            let _ = writeln!(
                s,
                "| {:.0} % | {} | {} | {} | {} | {:.1} | {:.1} | {} |",
                100.0 * x.teacher_tokens as f64 / x.train_tokens.max(1) as f64,
                x.teacher_tokens,
                x.train_tokens,
                x.forwarded,
                x.scored,
                x.log10_p_served,
                x.log10_p_best_other,
                if x.attributed { "yes" } else { "no" }
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_prob_and_entropy_match_closed_forms() {
        // Uniform over 4: ln p = −ln 4, entropy ln 4, at any temperature.
        let (lp, h) = log_prob_and_entropy(&[3.0; 4], 0.7, 2);
        assert!((lp + 4f64.ln()).abs() < 1e-12 && (h - 4f64.ln()).abs() < 1e-12);
        // Logits (0, ln 3) at T 1: p = (1/4, 3/4); entropy −(¼ ln ¼ + ¾ ln ¾) = 0.5623351446188083.
        let (lp, h) = log_prob_and_entropy(&[0.0, 3f32.ln()], 1.0, 1);
        assert!((lp - 0.75f64.ln()).abs() < 1e-7, "{lp}");
        assert!((h - 0.562_335_144_618_808_3).abs() < 1e-7, "{h}");
        // Masked entries (−inf) carry no mass; a masked token has ln p = −inf.
        let (lp, h) = log_prob_and_entropy(&[0.0, f32::NEG_INFINITY, 0.0], 1.0, 1);
        assert!(lp == f64::NEG_INFINITY && (h - 2f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn rep4_counts_repeated_four_grams() {
        assert_eq!(rep4(&[1, 2, 3]), 0.0);
        assert_eq!(rep4(&[1, 2, 3, 4, 5, 6]), 0.0);
        // 1 2 3 4 1 2 3 4: five 4-grams, four distinct.
        assert!((rep4(&[1, 2, 3, 4, 1, 2, 3, 4]) - 0.2).abs() < 1e-12);
        assert!((rep4(&[7; 10]) - 6.0 / 7.0).abs() < 1e-12);
    }
}
