//! Evaluation on a real model: for each sampling setting and chat prompt, a watermarked answer
//! and its unwatermarked twin (same prompt, same random draws), detected from the decoded text
//! as a third party would. Generations are cached on disk, keyed by everything they depend on,
//! so a full run (hours of CPU on a small machine) is resumable and re-rendering is free.
//!
//! The evaluation key is derived from the seed, so cached generations stay valid across runs;
//! it is an evaluation key, public by construction, never one to serve with.

use provmark::detect::{Detector, DetectorConfig};
use provmark::key::SecretKey;
use provmark::lm::{LanguageModel, generate};
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
            tokens: 200,
            params: KgwParams::default(),
            seed: 1,
            threads: 1,
            cache_dir: None,
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
    /// One summary per (setting, kind).
    pub summaries: Vec<RealSummary>,
    /// Every answer.
    pub rows: Vec<RealRow>,
}

/// A cached generation.
#[derive(Serialize, Deserialize)]
struct Cached {
    job: String,
    ids: Vec<u32>,
}

/// A factory of model instances (one per worker thread).
pub type ModelFactory<'a> = dyn Fn() -> Result<Box<dyn LanguageModel>> + Sync + 'a;

/// Runs the evaluation. `model_id` must change whenever the model does (the CLI uses the
/// file's SHA-256); `prompts` are the token ids to continue (chat-formatted).
///
/// # Errors
/// [`Error::InvalidInput`] without prompts or settings; model, tokenizer and sampling errors.
pub fn run(
    make_model: &ModelFactory<'_>,
    model: &str,
    model_id: &str,
    tok: &dyn Tokenizer,
    prompts: &[Vec<u32>],
    cfg: &RealConfig,
    progress: &(dyn Fn() + Sync),
) -> Result<RealResult> {
    if prompts.is_empty() || cfg.settings.is_empty() || cfg.tokens == 0 {
        return Err(Error::InvalidInput(
            "the evaluation needs prompts, settings and a positive length".into(),
        ));
    }
    let key = SecretKey::from_bytes(
        Sha256::digest(
            [
                b"provmark-eval-real-key".as_slice(),
                &cfg.seed.to_le_bytes(),
            ]
            .concat(),
        )
        .into(),
    );
    let kgw = Kgw::new(&key, cfg.params);
    let det = Detector::new(
        &key,
        cfg.params,
        tok.vocab_size(),
        DetectorConfig::default(),
    )?;
    // Every job's identity: what its tokens depend on.
    let job_id = |s: usize, p: usize, wm: bool| -> String {
        let mut h = Sha256::new();
        h.update(b"provmark-eval-real-v1");
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
    let mut cache: HashMap<String, Vec<u32>> = HashMap::new();
    if let Some(p) = &cache_path
        && let Ok(text) = std::fs::read_to_string(p)
    {
        for line in text.lines() {
            // A torn last line (an interrupted run) is skipped and regenerated.
            if let Ok(c) = serde_json::from_str::<Cached>(line) {
                cache.insert(c.job, c.ids);
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
    let fresh: Mutex<HashMap<String, Vec<u32>>> = Mutex::new(HashMap::new());
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
            let ids = generate(
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
                    ids: ids.clone(),
                })
                .map_err(|e| Error::InvalidInput(e.to_string()))?;
                let mut f = w
                    .lock()
                    .map_err(|_| Error::InvalidInput("cache writer poisoned".into()))?;
                writeln!(f, "{line}")
                    .map_err(|e| Error::io(cache_path.clone().unwrap_or_default(), e))?;
            }
            if let Ok(mut m) = fresh.lock() {
                m.insert(id.clone(), ids);
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
    for (s, p, wm, id) in &jobs {
        let ids = cache
            .get(id)
            .ok_or_else(|| Error::InvalidInput(format!("generation {id} is missing")))?;
        let text = tok.decode(ids)?;
        let ids = tok.encode(&text)?;
        let d = det.detect(&ids)?;
        rows.push(RealRow {
            setting: *s,
            prompt: *p,
            watermarked: *wm,
            tokens: d.tokens,
            scored: d.scored,
            green: d.green,
            z: d.z_score,
            log10_p: d.log10_p_value,
        });
    }
    let summaries = summarize(&rows, &cfg.settings);
    Ok(RealResult {
        model: model.to_owned(),
        gamma: cfg.params.gamma(),
        delta: cfg.params.delta(),
        context: cfg.params.context(),
        max_tokens: cfg.tokens,
        generated,
        summaries,
        rows,
    })
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
            });
        }
    }
    out
}

/// The results as a Markdown table.
pub fn markdown(r: &RealResult) -> String {
    let mut s = format!(
        "# provmark on a real model\n\n{}; KGW γ {}, δ {}, h {}; answers of up to {} tokens \
         (the model's end-of-turn token ends an answer), detected from the decoded text; \
         unwatermarked twins share the watermarked answers' prompts and random draws.\n\n\
         | T | top-p | answers | mean tokens | mean z | min z | max z | p ≤ 1e-6 | p ≤ 1e-3 | z > 4 |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        r.model, r.gamma, r.delta, r.context, r.max_tokens
    );
    for c in &r.summaries {
        s.push_str(&format!(
            "| {} | {} | {} {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} % | {:.1} % | {:.1} % |\n",
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
            100.0 * c.z_above_4
        ));
    }
    s
}
