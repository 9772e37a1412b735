//! The demo: watermark a model's answers with a throwaway key, detect them beside unwatermarked
//! (and, for the n-gram model, human) texts, and render an HTML report. [`run`] trains (or
//! reuses) an n-gram model on a corpus and continues held-out prompts; [`run_prompts`] answers
//! given prompts with any [`LanguageModel`] (a real model through an engine adapter).

use super::data::{self, Split};
use crate::ngram::NgramLm;
use crate::report::{HtmlReport, ReportItem, pieces};
use provmark::detect::{
    Detection, Detector, DetectorConfig, Span, Verdict, WindowConfig, format_p,
};
use provmark::key::{KeyId, SecretKey};
use provmark::lm::{LanguageModel, generate};
use provmark::sampling::{Sampler, SamplingConfig};
use provmark::scheme::{Kgw, KgwParams};
use provmark::text::Tokenizer;
use provmark::{Error, Result};
use provmark_text::corpus::Document;
use rand::{RngExt, SeedableRng};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Demo settings.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// n-gram order.
    pub order: usize,
    /// Tokens per continuation.
    pub tokens: usize,
    /// Number of held-out prompts.
    pub prompts: usize,
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// Sampling temperature.
    pub temperature: f32,
    /// Nucleus mass (1 = off).
    pub top_p: f32,
    /// Seed of the sampling RNG.
    pub seed: u64,
    /// Watermark parameters.
    pub params: KgwParams,
    /// Where trained models are cached (none: always train).
    pub cache_dir: Option<PathBuf>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            order: 4,
            tokens: 200,
            prompts: 6,
            prompt_tokens: 32,
            temperature: 0.8,
            top_p: 1.0,
            seed: 1,
            params: KgwParams::default(),
            cache_dir: None,
        }
    }
}

/// Which text a row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The corpus's own continuation of the prompt (held out, human-written).
    Human,
    /// The model's continuation without the watermark.
    Plain,
    /// The model's continuation with the watermark.
    Watermarked,
    /// A watermarked answer pasted into the unwatermarked texts (the localised scan's case).
    Pasted,
}

impl Kind {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Human => "human",
            Kind::Plain => "unwatermarked",
            Kind::Watermarked => "watermarked",
            Kind::Pasted => "pasted",
        }
    }
}

/// One detected text.
#[derive(Clone, Debug)]
pub struct DemoRow {
    /// Index of the prompt.
    pub prompt: usize,
    /// Which text.
    pub kind: Kind,
    /// The prompt text.
    pub prompt_text: String,
    /// The text, as a detector receives it.
    pub text: String,
    /// Token ids after re-tokenizing `text`.
    pub ids: Vec<u32>,
    /// The detection result.
    pub detection: Detection,
    /// The most significant window of the localised scan.
    pub span: Option<Span>,
}

/// The demo's results.
#[derive(Clone, Debug)]
pub struct DemoResult {
    /// One row per (prompt, kind).
    pub rows: Vec<DemoRow>,
    /// Public id of the throwaway key.
    pub key_id: KeyId,
    /// What the model is (for the n-gram model: order, training tokens, held-out perplexity).
    pub model: String,
    /// Held-out perplexity of the n-gram model (none for a given model).
    pub perplexity: Option<f64>,
}

/// A throwaway key and what one demo row needs to generate and detect.
struct Rig {
    key: SecretKey,
    kgw: Kgw,
    det: Detector,
    sampler: Sampler,
    rng: rand_chacha::ChaCha20Rng,
}

impl Rig {
    fn new(tok: &dyn Tokenizer, cfg: &DemoConfig) -> Result<Self> {
        let key = SecretKey::generate()?;
        Ok(Rig {
            kgw: Kgw::new(&key, cfg.params),
            det: Detector::for_scheme(
                Kgw::new(&key, cfg.params),
                key.key_id(),
                tok.vocab_size(),
                DetectorConfig::default(),
            )?,
            sampler: Sampler::new(SamplingConfig {
                temperature: cfg.temperature,
                top_k: 0,
                top_p: cfg.top_p,
            })?,
            rng: rand_chacha::ChaCha20Rng::seed_from_u64(cfg.seed),
            key,
        })
    }

    /// Generates the unwatermarked and watermarked answers to `prompt` and detects them (and
    /// `human`, when given) as a third party would: from the text, re-tokenized.
    #[allow(clippy::too_many_arguments)]
    fn rows(
        &mut self,
        lm: &dyn LanguageModel,
        tok: &dyn Tokenizer,
        index: usize,
        prompt_text: &str,
        prompt: &[u32],
        human: Option<Vec<u32>>,
        tokens: usize,
        rows: &mut Vec<DemoRow>,
    ) -> Result<()> {
        let rng = &mut self.rng;
        let plain = generate(lm, None, prompt, tokens, &mut self.sampler, &mut || {
            rng.random()
        })?;
        let marked = generate(
            lm,
            Some(&self.kgw),
            prompt,
            tokens,
            &mut self.sampler,
            &mut || rng.random(),
        )?;
        let texts = human
            .map(|h| (Kind::Human, h))
            .into_iter()
            .chain([(Kind::Plain, plain), (Kind::Watermarked, marked)]);
        for (kind, ids) in texts {
            let text = tok.decode(&ids)?;
            rows.push(self.row(tok, index, kind, prompt_text, text)?);
        }
        Ok(())
    }

    /// Re-tokenizes `text` and detects it, with the localised scan.
    fn row(
        &self,
        tok: &dyn Tokenizer,
        prompt: usize,
        kind: Kind,
        prompt_text: &str,
        text: String,
    ) -> Result<DemoRow> {
        let ids = tok.encode(&text)?;
        let detection = self.det.detect(&ids)?;
        let span = self
            .det
            .localize(&detection, &WindowConfig::default())?
            .span;
        Ok(DemoRow {
            prompt,
            kind,
            prompt_text: prompt_text.to_owned(),
            text,
            ids,
            detection,
            span,
        })
    }

    /// The last row: the first watermarked answer pasted between the unwatermarked texts
    /// (human and plain), as a suspect document would quote it.
    fn pasted(&self, tok: &dyn Tokenizer, rows: &mut Vec<DemoRow>) -> Result<()> {
        let Some(marked) = rows.iter().find(|r| r.kind == Kind::Watermarked) else {
            return Ok(());
        };
        let others: Vec<&str> = rows
            .iter()
            .filter(|r| r.kind != Kind::Watermarked)
            .map(|r| r.text.trim())
            .collect();
        let half = others.len() / 2;
        let mut parts: Vec<&str> = others[..half].to_vec();
        parts.push(marked.text.trim());
        parts.extend(&others[half..]);
        let text = parts.join("\n\n");
        let row = self.row(tok, marked.prompt, Kind::Pasted, "", text)?;
        rows.push(row);
        Ok(())
    }
}

/// Loads a cached model trained on exactly this split, or trains and caches one.
///
/// The cache file name is a SHA-256 over the training tokens, the order and the tokenizer, so
/// any change to the corpus trains a new model.
///
/// # Errors
/// Training errors; an unreadable cache entry is retrained, not an error.
pub fn load_or_train(
    split: &Split,
    order: usize,
    tok: &dyn Tokenizer,
    cache_dir: Option<&Path>,
) -> Result<(NgramLm, bool)> {
    let mut h = Sha256::new();
    h.update(b"provmark-ngram-cache-v1");
    h.update((order as u64).to_le_bytes());
    h.update(serde_json::to_vec(&tok.spec()).unwrap_or_default());
    for chunk in &split.train {
        h.update((chunk.len() as u64).to_le_bytes());
        for t in chunk {
            h.update(t.to_le_bytes());
        }
    }
    let name = format!("ngram-{}.pmlm", provmark::key::to_hex(&h.finalize()[..12]));
    let path = cache_dir.map(|d| d.join(name));
    if let Some(p) = &path {
        if let Ok(lm) = NgramLm::load(p) {
            return Ok((lm, true));
        }
    }
    let lm = NgramLm::train(
        split.train.iter().cloned(),
        order,
        tok.vocab_size(),
        tok.spec(),
    )?;
    if let (Some(p), Some(d)) = (&path, cache_dir) {
        // A cache that cannot be written only costs time.
        let _ = std::fs::create_dir_all(d)
            .and_then(|()| lm.save(p).map_err(|e| std::io::Error::other(e.to_string())));
    }
    Ok((lm, false))
}

/// Runs the demo on `docs`.
///
/// # Errors
/// [`Error::InvalidInput`] when the corpus has no held-out chunk long enough for a prompt and a
/// continuation; tokenizer, training and sampling errors.
pub fn run(docs: &[Document], tok: &dyn Tokenizer, cfg: &DemoConfig) -> Result<DemoResult> {
    let tokens = data::tokenize(docs, tok)?;
    let split = data::split(&tokens);
    let (lm, cached) = load_or_train(&split, cfg.order, tok, cfg.cache_dir.as_deref())?;
    let perplexity = lm.perplexity(split.held_out.iter().map(Vec::as_slice))?;
    let need = cfg.prompt_tokens + cfg.tokens;
    let candidates: Vec<&Vec<u32>> = split.held_out.iter().filter(|c| c.len() >= need).collect();
    if candidates.is_empty() {
        return Err(Error::InvalidInput(format!(
            "the corpus is too small: no held-out chunk has {need} tokens (use a larger corpus)"
        )));
    }
    let n = cfg.prompts.min(candidates.len()).max(1);
    let mut rig = Rig::new(tok, cfg)?;
    let mut rows = Vec::new();
    for p in 0..n {
        let chunk = candidates
            .get(p * candidates.len() / n)
            .ok_or(Error::NoCandidates)?;
        let prompt = chunk.get(..cfg.prompt_tokens).unwrap_or_default();
        let human = chunk
            .get(cfg.prompt_tokens..need)
            .unwrap_or_default()
            .to_vec();
        let prompt_text = tok.decode(prompt)?;
        rig.rows(
            &lm,
            tok,
            p,
            &prompt_text,
            prompt,
            Some(human),
            cfg.tokens,
            &mut rows,
        )?;
    }
    rig.pasted(tok, &mut rows)?;
    Ok(DemoResult {
        rows,
        key_id: rig.key.key_id(),
        model: format!(
            "order-{} n-gram model trained on {} tokens (held-out perplexity {perplexity:.1}{})",
            cfg.order,
            split.train_tokens(),
            if cached { ", cached" } else { "" }
        ),
        perplexity: Some(perplexity),
    })
}

/// Runs the demo on `lm` with given prompts: `(text, token ids to continue)` each, for
/// example a chat model's templated prompts. Rows are unwatermarked and watermarked answers.
///
/// # Errors
/// [`Error::InvalidInput`] when there are no prompts; model, tokenizer and sampling errors.
pub fn run_prompts(
    lm: &dyn LanguageModel,
    model: &str,
    tok: &dyn Tokenizer,
    prompts: &[(String, Vec<u32>)],
    cfg: &DemoConfig,
) -> Result<DemoResult> {
    if prompts.is_empty() {
        return Err(Error::InvalidInput(
            "the demo needs at least one prompt".into(),
        ));
    }
    let mut rig = Rig::new(tok, cfg)?;
    let mut rows = Vec::new();
    for (p, (text, ids)) in prompts.iter().enumerate() {
        rig.rows(lm, tok, p, text, ids, None, cfg.tokens, &mut rows)?;
    }
    rig.pasted(tok, &mut rows)?;
    Ok(DemoResult {
        rows,
        key_id: rig.key.key_id(),
        model: model.to_owned(),
        perplexity: None,
    })
}

/// Renders the demo's HTML report.
///
/// # Errors
/// Tokenizer errors while splitting texts into token pieces.
pub fn report(result: &DemoResult, tok: &dyn Tokenizer, cfg: &DemoConfig) -> Result<String> {
    let mut r = HtmlReport::new("provmark demo: KGW watermark");
    r.paragraph(&format!(
        "Key {} (throwaway). Watermark gamma = {}, delta = {}, context h = {}. Model: {}; \
         answers of up to {} tokens at temperature {}, top-p {} (the bias is added before \
         temperature). Each text was decoded and re-tokenized before detection.",
        result.key_id,
        cfg.params.gamma(),
        cfg.params.delta(),
        cfg.params.context(),
        result.model,
        cfg.tokens,
        cfg.temperature,
        cfg.top_p
    ));
    for row in &result.rows {
        let d = &row.detection;
        let mut summary: Vec<(String, String)> = Vec::new();
        if !row.prompt_text.is_empty() {
            summary.push(("prompt".into(), row.prompt_text.clone()));
        }
        summary.extend([
            ("verdict".into(), d.verdict.to_string()),
            ("tokens".into(), d.tokens.to_string()),
            ("scored".into(), d.scored.to_string()),
            (
                "green".into(),
                format!("{} ({:.1} %)", d.green, pct(d.green, d.scored)),
            ),
            ("z-score".into(), format!("{:.2}", d.z_score)),
            ("p-value".into(), format_p(d.log10_p_value)),
        ]);
        if let Some(s) = &row.span {
            summary.push((
                "localised span".into(),
                format!(
                    "tokens {}..{}, p {} corrected for every window",
                    s.start_token,
                    s.end_token,
                    format_p(s.log10_p_corrected)
                ),
            ));
        }
        let title = match row.kind {
            Kind::Pasted => "A watermarked answer pasted into unwatermarked text".to_string(),
            k => format!("Prompt {} — {}", row.prompt + 1, k.name()),
        };
        r.push(ReportItem {
            title,
            verdict: d.verdict.to_string(),
            p_value: format_p(d.log10_p_value),
            tokens: d.tokens,
            pieces: pieces(tok, &row.ids, &d.flags)?,
            // Outlined where the scan finds the span significant.
            span: row
                .span
                .as_ref()
                .filter(|s| s.verdict == Verdict::Watermarked)
                .map(|s| s.start_token..s.end_token),
            summary,
        });
    }
    Ok(r.render())
}

fn pct(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        100.0 * a as f64 / b as f64
    }
}
