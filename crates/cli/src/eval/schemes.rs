//! The schemes side by side: every scheme with its default parameters, on the same model, the
//! same prompts and the same human texts — detection power at α 1e-6 by length, false
//! positives on human text, text quality (negative log-likelihood of the output under the
//! unwatermarked model), diversity (how often two samples of one prompt under one key agree)
//! and robustness to token substitution.
//!
//! Works on any [`LanguageModel`]: the n-gram model of `provmark eval` and the real model of
//! `provmark eval --model`.

use super::attacks;
use super::grid::par_map;
use provmark::detect::{Detector, DetectorConfig, Verdict};
use provmark::key::{KeyFile, SecretKey};
use provmark::lm::{LanguageModel, generate};
use provmark::prf::PrfVersion;
use provmark::sampling::{Sampler, SamplingConfig};
use provmark::scheme::{
    GumbelParams, KgwParams, SchemeConfig, SelfHashParams, SynthIdParams, VllmAlgorithm, VllmParams,
};
use provmark::{Error, Result};
use rand::RngExt;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// What to compare.
#[derive(Clone, Debug, Serialize)]
pub struct SchemesConfig {
    /// Generations per scheme.
    pub samples: usize,
    /// Prefix lengths at which power is measured.
    pub lengths: Vec<usize>,
    /// Sampling temperature.
    pub temperature: f32,
    /// Keys each human text is tested against, per scheme.
    pub human_keys: usize,
    /// Token substitution rates of the robustness columns.
    pub substitutions: Vec<f64>,
    /// Master seed.
    pub seed: u64,
    /// Worker threads.
    pub threads: usize,
}

impl SchemesConfig {
    /// The full comparison.
    pub fn full(threads: usize) -> Self {
        SchemesConfig {
            samples: 100,
            lengths: vec![25, 50, 100, 200],
            temperature: 1.0,
            human_keys: 20,
            substitutions: vec![0.1, 0.3],
            seed: 2026,
            threads,
        }
    }

    /// A CI-sized comparison.
    pub fn quick(threads: usize) -> Self {
        SchemesConfig {
            samples: 5,
            human_keys: 5,
            ..Self::full(threads)
        }
    }
}

/// One scheme's results.
#[derive(Clone, Debug, Serialize)]
pub struct SchemeRow {
    /// Scheme name.
    pub scheme: String,
    /// Its parameters, as in key files.
    pub config: SchemeConfig,
    /// Whether the scheme leaves each step's output distribution unchanged.
    pub distortion_free: bool,
    /// `(length, fraction detected at α 1e-6)`.
    pub power: Vec<(usize, f64)>,
    /// Median log10 p at the longest length.
    pub median_log10_p: f64,
    /// Human texts (× keys) tested.
    pub human_tests: usize,
    /// Fraction of human texts flagged at α 1e-3 and 1e-6.
    pub fpr_1e3: f64,
    /// At α 1e-6.
    pub fpr_1e6: f64,
    /// Mean negative log-likelihood per token of the output under the unwatermarked model at
    /// temperature 1.
    pub nll: f64,
    /// Fraction of positions at which two samples of one prompt under one key (different
    /// sampling seeds) emit the same token.
    pub repeat_agreement: f64,
    /// `(substitution rate, fraction detected at α 1e-6)` at the longest length.
    pub robustness: Vec<(f64, f64)>,
}

/// The comparison.
#[derive(Clone, Debug, Serialize)]
pub struct SchemeComparison {
    /// The configuration.
    pub config: SchemesConfig,
    /// The unwatermarked baseline: NLL per token and repeat agreement.
    pub baseline_nll: f64,
    /// Agreement of two unwatermarked samples.
    pub baseline_agreement: f64,
    /// One row per scheme.
    pub rows: Vec<SchemeRow>,
}

/// Every scheme with its default parameters.
pub fn default_schemes() -> Vec<SchemeConfig> {
    let vllm = |a| VllmParams::new(a, 4).map(SchemeConfig::Vllm);
    [
        Ok(SchemeConfig::Kgw {
            prf: PrfVersion::V2,
            params: KgwParams::default(),
            shift: 0,
        }),
        Ok(SchemeConfig::Gumbel(GumbelParams::default())),
        Ok(SchemeConfig::SynthId(SynthIdParams::default())),
        Ok(SchemeConfig::SelfHash(SelfHashParams::default())),
        vllm(VllmAlgorithm::Gumbel),
        vllm(VllmAlgorithm::RedGreen {
            gamma: 0.25,
            delta: 2.0,
        }),
    ]
    .into_iter()
    .filter_map(Result::ok)
    .collect()
}

fn derive(seed: u64, label: &str, a: u64, b: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"provmark-eval-schemes-v1");
    h.update(seed.to_le_bytes());
    h.update(label.as_bytes());
    h.update(a.to_le_bytes());
    h.update(b.to_le_bytes());
    h.finalize().into()
}

fn key_for(scheme: &SchemeConfig, seed: u64, s: usize, i: usize) -> KeyFile {
    let bytes = derive(seed, scheme.name(), s as u64, i as u64);
    match scheme {
        SchemeConfig::Vllm(p) => {
            let mut k = [0u8; 8];
            k.copy_from_slice(&bytes[..8]);
            KeyFile::vllm(u64::from_le_bytes(k), *p, Default::default())
        }
        _ => KeyFile {
            secret: SecretKey::from_bytes(bytes),
            scheme: scheme.clone(),
            tokenizer: Default::default(),
            account: None,
            normalization: Default::default(),
            validity: Default::default(),
            coded: None,
        },
    }
}

fn is_distortion_free(s: &SchemeConfig) -> bool {
    match s {
        SchemeConfig::Gumbel(_) | SchemeConfig::SynthId(_) => true,
        SchemeConfig::Vllm(p) => !matches!(p.algorithm, VllmAlgorithm::RedGreen { .. }),
        _ => false,
    }
}

/// Mean negative log-likelihood per token of `generated` after `prompt`, at temperature 1.
fn nll(lm: &dyn LanguageModel, prompt: &[u32], generated: &[u32]) -> Result<(f64, usize)> {
    let mut hist = prompt.to_vec();
    let mut logits = vec![0.0f32; lm.vocab_size()];
    let mut total = 0.0;
    for &t in generated {
        lm.logits(&hist, &mut logits)?;
        let max = logits
            .iter()
            .copied()
            .filter(|l| l.is_finite())
            .fold(f32::NEG_INFINITY, f32::max);
        let z: f64 = logits
            .iter()
            .filter(|l| l.is_finite())
            .map(|&l| f64::from(l - max).exp())
            .sum();
        let l = logits.get(t as usize).copied().unwrap_or(f32::NEG_INFINITY);
        total += z.ln() - f64::from(l - max);
        hist.push(t);
    }
    Ok((total, generated.len()))
}

fn agreement(a: &[u32], b: &[u32]) -> (usize, usize) {
    let n = a.len().min(b.len());
    (a.iter().zip(b).filter(|(x, y)| x == y).count(), n)
}

/// Runs the comparison: `prompts` (token ids) and `humans` (human token sequences) are shared
/// by every scheme; `pool` supplies substitution tokens.
///
/// # Errors
/// Model, sampling and detection errors; [`Error::InvalidInput`] without prompts.
pub fn run(
    lm: &dyn LanguageModel,
    vocab_size: usize,
    prompts: &[&[u32]],
    humans: &[&[u32]],
    pool: &[u32],
    cfg: &SchemesConfig,
    tick: &(dyn Fn() + Sync),
) -> Result<SchemeComparison> {
    if prompts.is_empty() || cfg.samples == 0 {
        return Err(Error::InvalidInput(
            "the scheme comparison needs prompts".into(),
        ));
    }
    let max_len = cfg.lengths.iter().copied().max().unwrap_or(200);
    let sampling = SamplingConfig {
        temperature: cfg.temperature,
        ..Default::default()
    };
    let schemes = default_schemes();
    let n = cfg.samples;
    let sample_text = |key: Option<&KeyFile>, i: usize, stream: &str| -> Result<Vec<u32>> {
        let mut sampler = Sampler::new(sampling)?;
        let mut rng = ChaCha20Rng::from_seed(derive(cfg.seed, stream, i as u64, 0));
        let prompt = prompts.get(i % prompts.len()).copied().unwrap_or_default();
        let scheme = key.map(KeyFile::scheme);
        generate(
            lm,
            scheme.as_deref(),
            prompt,
            max_len,
            &mut sampler,
            &mut || rng.random(),
        )
    };
    // The baseline: two unwatermarked samples per prompt.
    let plain: Vec<(Vec<u32>, Vec<u32>)> = par_map(
        n,
        cfg.threads,
        |i| {
            Ok((
                sample_text(None, i, "plain-a")?,
                sample_text(None, i, "plain-b")?,
            ))
        },
        tick,
    )?;
    let (mut nll_sum, mut nll_n, mut agree, mut agree_n) = (0.0, 0, 0, 0);
    for (i, (a, b)) in plain.iter().enumerate() {
        let prompt = prompts.get(i % prompts.len()).copied().unwrap_or_default();
        let (x, k) = nll(lm, prompt, a)?;
        nll_sum += x;
        nll_n += k;
        let (s, m) = agreement(a, b);
        agree += s;
        agree_n += m;
    }
    let baseline_nll = nll_sum / nll_n.max(1) as f64;
    let baseline_agreement = agree as f64 / agree_n.max(1) as f64;

    let mut rows = Vec::new();
    for (si, scheme) in schemes.iter().enumerate() {
        // Two samples per prompt under one key, different sampling seeds.
        let outs: Vec<(Vec<u32>, Vec<u32>, KeyFile)> = par_map(
            n,
            cfg.threads,
            |i| {
                let key = key_for(scheme, cfg.seed, si, i);
                Ok((
                    sample_text(Some(&key), i, "a")?,
                    sample_text(Some(&key), i, "b")?,
                    key,
                ))
            },
            tick,
        )?;
        let det = |k: &KeyFile| Detector::new(k, vocab_size, DetectorConfig::default());
        let mut detected = vec![0usize; cfg.lengths.len()];
        let mut last_p = Vec::with_capacity(n);
        let mut robust = vec![0usize; cfg.substitutions.len()];
        let (mut nll_sum, mut nll_n, mut agree, mut agree_n) = (0.0, 0, 0, 0);
        for (i, (a, b, key)) in outs.iter().enumerate() {
            let d = det(key)?;
            for (slot, &len) in detected.iter_mut().zip(&cfg.lengths) {
                let r = d.detect(a.get(..len.min(a.len())).unwrap_or_default())?;
                *slot += usize::from(r.verdict == Verdict::Watermarked);
                if len == max_len {
                    last_p.push(r.log10_p_value);
                }
            }
            let mut rng = ChaCha20Rng::from_seed(derive(cfg.seed, "attack", si as u64, i as u64));
            for (slot, &frac) in robust.iter_mut().zip(&cfg.substitutions) {
                let edited = attacks::substitute(a, frac, pool, &mut rng);
                *slot += usize::from(d.detect(&edited)?.verdict == Verdict::Watermarked);
            }
            let prompt = prompts.get(i % prompts.len()).copied().unwrap_or_default();
            let (x, k) = nll(lm, prompt, a)?;
            nll_sum += x;
            nll_n += k;
            let (s, m) = agreement(a, b);
            agree += s;
            agree_n += m;
        }
        // False positives: human texts under fresh keys of this scheme.
        let flags: Vec<(usize, usize)> = par_map(
            cfg.human_keys,
            cfg.threads,
            |k| {
                let key = key_for(scheme, cfg.seed ^ 0x9E37_79B9, si, k);
                let d = det(&key)?;
                let (mut f3, mut f6) = (0, 0);
                for h in humans {
                    let r = d.detect(h)?;
                    f3 += usize::from(r.log10_p_value <= -3.0);
                    f6 += usize::from(r.log10_p_value <= -6.0);
                }
                Ok((f3, f6))
            },
            tick,
        )?;
        let tests = cfg.human_keys * humans.len();
        let (f3, f6) = flags
            .iter()
            .fold((0, 0), |acc, &(a, b)| (acc.0 + a, acc.1 + b));
        last_p.sort_by(f64::total_cmp);
        rows.push(SchemeRow {
            scheme: scheme.name().to_string(),
            config: scheme.clone(),
            distortion_free: is_distortion_free(scheme),
            power: cfg
                .lengths
                .iter()
                .zip(&detected)
                .map(|(&l, &d)| (l, d as f64 / n as f64))
                .collect(),
            median_log10_p: last_p.get(last_p.len() / 2).copied().unwrap_or(f64::NAN),
            human_tests: tests,
            fpr_1e3: f3 as f64 / tests.max(1) as f64,
            fpr_1e6: f6 as f64 / tests.max(1) as f64,
            nll: nll_sum / nll_n.max(1) as f64,
            repeat_agreement: agree as f64 / agree_n.max(1) as f64,
            robustness: cfg
                .substitutions
                .iter()
                .zip(&robust)
                .map(|(&f, &d)| (f, d as f64 / n as f64))
                .collect(),
        });
    }
    Ok(SchemeComparison {
        config: cfg.clone(),
        baseline_nll,
        baseline_agreement,
        rows,
    })
}

/// Jobs [`run`] reports through `tick`.
pub fn jobs(cfg: &SchemesConfig) -> usize {
    cfg.samples * (1 + default_schemes().len()) + cfg.human_keys * default_schemes().len()
}

/// The side-by-side table, in Markdown.
pub fn markdown(c: &SchemeComparison, model: &str) -> String {
    let cfg = &c.config;
    let mut m = String::new();
    let _ = writeln!(
        m,
        "## Schemes side by side\n\n{model}, temperature {}, {} generations of {} tokens per scheme \
         on the same prompts, default parameters, one fresh key per generation. Power: share \
         detected at α 1e-6. FPR: share of {} human-text tests (texts × keys) with p ≤ α. NLL: \
         mean negative log-likelihood per token under the unwatermarked model (unwatermarked \
         output: {:.3}). Agreement: share of positions where two samples of one prompt under one \
         key agree (unwatermarked: {:.3}). Substitution columns: power at α 1e-6 after replacing \
         that share of tokens.\n",
        cfg.temperature,
        cfg.samples,
        cfg.lengths.iter().max().unwrap_or(&0),
        c.rows.first().map_or(0, |r| r.human_tests),
        c.baseline_nll,
        c.baseline_agreement,
    );
    let mut head = String::from("| scheme | distortion-free |");
    let mut rule = String::from("|---|---|");
    for l in &cfg.lengths {
        let _ = write!(head, " power @{l} |");
        rule.push_str("---:|");
    }
    head.push_str(" median log10 p | FPR 1e-3 | FPR 1e-6 | NLL | agreement |");
    rule.push_str("---:|---:|---:|---:|---:|");
    for s in &cfg.substitutions {
        let _ = write!(head, " {:.0} % subst. |", s * 100.0);
        rule.push_str("---:|");
    }
    let _ = writeln!(m, "{head}\n{rule}");
    for r in &c.rows {
        let mut line = format!(
            "| {} | {} |",
            r.scheme,
            if r.distortion_free { "yes" } else { "no" }
        );
        for (_, p) in &r.power {
            let _ = write!(line, " {:.0} % |", p * 100.0);
        }
        let _ = write!(
            line,
            " {:.1} | {:.2} % | {:.2} % | {:.3} | {:.3} |",
            r.median_log10_p,
            r.fpr_1e3 * 100.0,
            r.fpr_1e6 * 100.0,
            r.nll,
            r.repeat_agreement
        );
        for (_, p) in &r.robustness {
            let _ = write!(line, " {:.0} % |", p * 100.0);
        }
        let _ = writeln!(m, "{line}");
    }
    m
}
