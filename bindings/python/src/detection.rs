//! The detector side: `provmark.detect` (one text or id sequence, exact p-value), its result
//! `Detection` (the fields of `provmark detect --json`), and `provmark.Audit` (pooled evidence
//! over a corpus, per key or account, Holm-corrected), all releasing the GIL while they score.

use crate::errors::{IntoPy, invalid};
use crate::ids;
use crate::keys::{Key, MasterKey};
use provmark::detect::{Detector, DetectorConfig, Rotation, TokenFlag, format_p};
use provmark::provenance::audit::{Audit as CoreAudit, AuditConfig};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

/// The result of `provmark.detect`: the fields of `provmark detect --json`, plus per-token
/// flags.
///
/// `p_value` is the exact binomial tail `P[X >= green]`, `X ~ Binomial(scored, gamma)`; it is
/// `None` below the smallest normal double (2.2e-308; 0.0 would read as certainty), so
/// `log10_p_value` (always finite) is the authoritative figure.
#[pyclass(module = "provmark", frozen, get_all)]
pub struct Detection {
    /// The scheme's name (`"kgw"`).
    scheme: &'static str,
    /// The key id tested for.
    key_id: String,
    /// Tokens seen.
    tokens: usize,
    /// Distinct (context, token) tuples scored.
    scored: usize,
    /// The test statistic: the green count (kgw, vllm-red-green) or the summed Gumbel scores.
    score: f64,
    /// Green among the scored.
    green: usize,
    /// The null green probability.
    gamma: f64,
    /// `(green - gamma * scored) / sqrt(scored * gamma * (1 - gamma))`.
    z_score: f64,
    /// The exact p-value (`None` below 2.2e-308; see `log10_p_value`).
    p_value: Option<f64>,
    /// log10 of the p-value.
    log10_p_value: f64,
    /// For vLLM's dual-key keys (alpha not 0, 1/2 or 1), whose `p_value` is vLLM's
    /// moment-matched approximation: log10 of the exact tail, which the verdict uses. `None`
    /// otherwise.
    exact_log10_p_value: Option<f64>,
    /// `"watermarked"`, `"not_watermarked"` or `"insufficient"`.
    verdict: String,
    /// The significance level the verdict was taken at.
    alpha: f64,
    /// One of `"green"`, `"red"`, `"repeated"`, `"no_context"` per token.
    flags: Vec<&'static str>,
}

#[pymethods]
impl Detection {
    /// Whether the verdict is `"watermarked"`.
    #[getter]
    fn watermarked(&self) -> bool {
        self.verdict == "watermarked"
    }

    /// The fields of `provmark detect --json` as a dict (without `flags`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("scheme", self.scheme)?;
        d.set_item("key_id", &self.key_id)?;
        d.set_item("tokens", self.tokens)?;
        d.set_item("scored", self.scored)?;
        d.set_item("score", self.score)?;
        d.set_item("green", self.green)?;
        d.set_item("gamma", self.gamma)?;
        d.set_item("z_score", self.z_score)?;
        d.set_item("test", "fixed")?;
        d.set_item("p_value", self.p_value)?;
        d.set_item("p_value_text", format_p(self.log10_p_value))?;
        d.set_item("log10_p_value", self.log10_p_value)?;
        if let Some(e) = self.exact_log10_p_value {
            d.set_item("exact_log10_p_value", e)?;
        }
        d.set_item("verdict", &self.verdict)?;
        Ok(d)
    }

    fn __bool__(&self) -> bool {
        self.watermarked()
    }

    fn __repr__(&self) -> String {
        format!(
            "Detection(verdict={:?}, green={}, scored={}, tokens={}, z_score={:.2}, log10_p_value={:.2}, key_id={:?})",
            self.verdict,
            self.green,
            self.scored,
            self.tokens,
            self.z_score,
            self.log10_p_value,
            self.key_id
        )
    }
}

fn flag_name(f: TokenFlag) -> &'static str {
    match f {
        TokenFlag::Green => "green",
        TokenFlag::Red => "red",
        TokenFlag::Repeated => "repeated",
        TokenFlag::NoContext => "no_context",
    }
}

/// Tests `input` (a `str`, tokenized with the key's tokenizer; or token ids, as a list or an
/// integer array) for `key`'s watermark.
///
/// Repeated (context, token) tuples are scored once unless `dedup=False`; the verdict is
/// `"watermarked"` when the exact p-value is at most `alpha` and at least `min_tokens` tuples
/// were scored. Token ids are checked against `vocab_size` (default: the key's tokenizer's).
#[pyfunction]
#[pyo3(signature = (key, input, *, alpha = 1e-6, dedup = true, min_tokens = 16, vocab_size = None))]
pub fn detect(
    py: Python<'_>,
    key: &Key,
    input: &Bound<'_, PyAny>,
    alpha: f64,
    dedup: bool,
    min_tokens: usize,
    vocab_size: Option<usize>,
) -> PyResult<Detection> {
    let config = DetectorConfig {
        alpha,
        dedup,
        min_scored: min_tokens,
    };
    config.validate().py()?;
    let (tokens, vocab) = tokens_of(py, key, input, vocab_size)?;
    let det = Detector::new(&key.file, vocab, config).py()?;
    let d = py.detach(|| det.detect(&tokens)).py()?;
    Ok(Detection {
        scheme: key.scheme_name(),
        key_id: key.key_id().to_string(),
        tokens: d.tokens,
        scored: d.scored,
        score: d.score,
        green: d.green,
        gamma: d.gamma,
        z_score: d.z_score,
        p_value: (d.p_value >= f64::MIN_POSITIVE).then_some(d.p_value),
        log10_p_value: d.log10_p_value,
        exact_log10_p_value: d.exact_log10_p_value,
        verdict: d.verdict.to_string(),
        alpha,
        flags: d.flags.into_iter().map(flag_name).collect(),
    })
}

/// The token ids of `input` (text is tokenized with `key`'s tokenizer and normalisation) and
/// the vocabulary size they are checked against.
fn tokens_of(
    py: Python<'_>,
    key: &Key,
    input: &Bound<'_, PyAny>,
    vocab_size: Option<usize>,
) -> PyResult<(Vec<u32>, usize)> {
    if let Ok(text) = input.cast::<PyString>() {
        let text = text.to_str()?;
        let tok = key.tokenizer(py)?;
        let norm = key.file.normalization;
        let ids = py
            .detach(|| provmark_text::encode_normalized(tok, norm, text))
            .py()?;
        Ok((ids, vocab_size.unwrap_or(tok.vocab_size())))
    } else {
        let ids = ids::read_ids(input, "input")?;
        let vocab = match vocab_size {
            Some(v) => v,
            None => key.tokenizer(py)?.vocab_size(),
        };
        Ok((ids, vocab))
    }
}

/// Tests `input` under keys rotated per request (each answer watermarked under one of them):
/// `"watermarked"` only when exactly one key's exact p-value is at most `alpha / len(keys)`
/// and every other key's is above `quiet`, which text biased toward stolen green lists does
/// not achieve. Returns a dict: `keys` (`key_id`, `log10_p_value` each), `fired` (the index of
/// the key that fired, or `None`), `strongest`, `corrected_log10_p_value`, `significant`,
/// `not_quiet`, `verdict`, and `detection` (the strongest key's detection, as
/// `Detection.to_dict()`). Text is tokenized with the first key's tokenizer; every key must
/// share it.
#[pyfunction]
#[pyo3(signature = (keys, input, *, alpha = 1e-6, quiet = 1e-3, dedup = true, min_tokens = 16, vocab_size = None))]
#[allow(clippy::too_many_arguments)]
pub fn detect_rotation<'py>(
    py: Python<'py>,
    keys: Vec<PyRef<'py, Key>>,
    input: &Bound<'py, PyAny>,
    alpha: f64,
    quiet: f64,
    dedup: bool,
    min_tokens: usize,
    vocab_size: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let config = DetectorConfig {
        alpha,
        dedup,
        min_scored: min_tokens,
    };
    config.validate().py()?;
    let Some(first) = keys.first() else {
        return Err(provmark::Error::param(
            "keys",
            "a rotation needs at least one key",
        ))
        .py();
    };
    let (tokens, vocab) = tokens_of(py, first, input, vocab_size)?;
    let files: Vec<provmark::key::KeyFile> = keys.iter().map(|k| k.file.clone()).collect();
    let rotation = Rotation::new(&files, vocab, config)
        .and_then(|r| r.with_quiet(quiet))
        .py()?;
    let r = py.detach(|| rotation.detect(&tokens)).py()?;
    let json = serde_json::to_string(&r)
        .map_err(|e| invalid(format!("result could not be serialised: {e}")))?;
    py.import("json")?.call_method1("loads", (json,))
}

/// An incremental corpus audit (`provmark audit`): add keys or accounts, then documents (or a
/// suspect model's predictions), then read the report. Every distinct (context, token) tuple of
/// the corpus is scored once per key; p-values are exact and Holm-corrected across the keys.
#[pyclass(module = "provmark")]
pub struct Audit {
    inner: CoreAudit,
}

#[pymethods]
impl Audit {
    /// `alpha` is the family-wise level after Holm–Bonferroni; `exclude_prompts` leaves out
    /// tuples whose context occurs in a prompt (and, for predictions, earlier in the text).
    #[new]
    #[pyo3(signature = (*, alpha = 1e-6, exclude_prompts = true, min_tokens = 16))]
    fn new(alpha: f64, exclude_prompts: bool, min_tokens: u64) -> PyResult<Self> {
        let inner = CoreAudit::new(AuditConfig {
            alpha,
            exclude_prompts,
            min_scored: min_tokens,
        })
        .py()?;
        Ok(Audit { inner })
    }

    /// Tests for one more key (before any document is added).
    fn add_key(&mut self, key: &Key) -> PyResult<()> {
        self.inner.add_key(&key.file).py()
    }

    /// Tests for each account derived from `master` (in shifted mode all in one pass).
    fn add_accounts(&mut self, master: &MasterKey, accounts: Vec<String>) -> PyResult<()> {
        self.inner.add_accounts(master.core(), &accounts).py()
    }

    /// Records a prompt: tuples whose context occurs in it are excluded from then on.
    fn add_prompt(&mut self, prompt: &Bound<'_, PyAny>) -> PyResult<()> {
        let ids = ids::read_ids(prompt, "prompt")?;
        self.inner.add_prompt(&ids);
        Ok(())
    }

    /// Scores a document's token ids (its prompt, if given, is recorded first).
    #[pyo3(signature = (ids, prompt = None))]
    fn add_document(
        &mut self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        prompt: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let doc = ids::read_ids(ids, "ids")?;
        let prompt = prompt.map(|p| ids::read_ids(p, "prompt")).transpose()?;
        let inner = &mut self.inner;
        py.detach(|| inner.add_document(&doc, prompt.as_deref()))
            .py()
    }

    /// Scores a suspect model's next-token `predictions` along `text` (the open-model test):
    /// `predictions[t]` is its choice after `text[:t]`; both have the same length.
    fn add_predictions(
        &mut self,
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        predictions: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let text = ids::read_ids(text, "text")?;
        let preds = ids::read_ids(predictions, "predictions")?;
        let inner = &mut self.inner;
        py.detach(|| inner.add_predictions(&text, &preds)).py()
    }

    /// Documents added so far.
    #[getter]
    fn documents(&self) -> u64 {
        self.inner.documents()
    }

    /// The report as a dict, as `provmark audit --json` prints it: `rows` (one per key or
    /// account: `key_id`, `account`, `documents`, `tokens`, `scored`, `green`,
    /// `expected_green`, `z_score`, `p_value`, `log10_p_value`, `corrected_p_value`,
    /// `corrected_log10_p_value`, `verdict`, `explained_by`), `attribution` (named only when
    /// separated from every other target and, for coded accounts, when the evidence follows
    /// the account's codeword), `tied` (when not: every target that cannot be told apart),
    /// `separations` (the evidence), `alternatives`, `additional`, `codeword` (the codeword
    /// tests), `unlisted_source` (the strongest account is separated from the listed ones but
    /// its evidence does not follow its codeword: an account not listed may be the source),
    /// `excluded_prompt`, `excluded_ledger`.
    fn report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let report = self.inner.report().py()?;
        let json = serde_json::to_string(&report)
            .map_err(|e| invalid(format!("report could not be serialised: {e}")))?;
        py.import("json")?.call_method1("loads", (json,))
    }

    /// The codeword test of every coded account, in the order added: a list of dicts
    /// (`account`, `green`, `expected_green`, `log10_p_value`, `corrected_log10_p_value`,
    /// `step`, `consistent`). An account is consistent when its evidence beats random
    /// codewords' over the same class counts at `alpha`, corrected over every target: no
    /// source without its codeword, listed or not, explains the evidence.
    fn codeword_tests<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let tests = self.inner.codeword_tests().py()?;
        let json = serde_json::to_string(&tests)
            .map_err(|e| invalid(format!("codeword tests could not be serialised: {e}")))?;
        py.import("json")?.call_method1("loads", (json,))
    }

    fn __repr__(&self) -> String {
        format!("Audit(documents={})", self.inner.documents())
    }
}
