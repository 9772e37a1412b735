//! `provmark.Key` and `provmark.MasterKey`: key files (the CLI's files and rules: mode 0600,
//! never overwritten, integrity-checked on load), generation, per-account derivation, and the
//! server-side call, `Key.bias`. Secrets never reach `repr`, errors or pickles.

use crate::errors::{IntoPy, invalid};
use crate::ids::{self, Logits};
use provmark::key::{KeyFile, SecretKey, TokenizerSpec};
use provmark::lm::GenerationContexts;
use provmark::prf::PrfVersion;
use provmark::provenance::accounts::{AccountMode, MasterKey as CoreMaster};
use provmark::sampling::{Sampler, SamplingConfig};
use provmark::scheme::{
    GumbelParams, KgwParams, Scheme, SchemeConfig, SelfHashParams, SynthIdParams, VllmAlgorithm,
    VllmParams,
};
use provmark::text::Tokenizer;
use pyo3::exceptions::{PyTypeError, PyUserWarning};
use pyo3::prelude::*;
use std::ffi::CString;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;

/// Emits each load warning (loose permissions, say) as a Python `UserWarning`.
fn warn_all(py: Python<'_>, warnings: &[String]) -> PyResult<()> {
    let category = py.get_type::<PyUserWarning>();
    for w in warnings {
        let msg = CString::new(w.replace('\0', " ")).unwrap_or_default();
        PyErr::warn(py, &category, &msg, 2)?;
    }
    Ok(())
}

/// A token id from Python, or `TokenOutOfRangeError` outside `0 .. 2^21`.
fn token_id(token: i64) -> PyResult<u32> {
    u32::try_from(token)
        .ok()
        .filter(|&t| (t as usize) < provmark::prf::MAX_VOCAB)
        .ok_or_else(|| {
            crate::errors::raise(
                "TokenOutOfRangeError",
                format!("token id {token} is outside 0 .. 2^21"),
            )
        })
}

fn no_pickle(what: &str) -> PyErr {
    PyTypeError::new_err(format!(
        "{what} holds a secret and cannot be pickled or copied; load it from its key file in each process"
    ))
}

fn params(gamma: f64, delta: f64, context: usize) -> PyResult<KgwParams> {
    KgwParams::new(gamma, delta, context).py()
}

fn load_tokenizer(py: Python<'_>, spec: &TokenizerSpec) -> PyResult<Box<dyn Tokenizer>> {
    let spec = spec.clone();
    py.detach(move || provmark_text::load(&spec)).py()
}

/// A watermark key: the secret, the scheme with its parameters, and the tokenizer the
/// watermark is embedded with — the contents of a key file.
///
/// One `Key` serves every request of a server: it is immutable and thread-safe.
#[pyclass(module = "provmark", frozen)]
pub struct Key {
    pub(crate) file: KeyFile,
    /// Whether the scheme watermarks by a logit bias (kgw, selfhash), so `bias` applies.
    biases: bool,
    /// The keyed scheme, whatever it is.
    scheme: Arc<dyn Scheme>,
    key_id: String,
    tokenizer: OnceLock<Box<dyn Tokenizer>>,
}

impl Key {
    pub(crate) fn new(file: KeyFile, tokenizer: Option<Box<dyn Tokenizer>>) -> PyResult<Self> {
        let cell = OnceLock::new();
        if let Some(t) = tokenizer {
            let _ = cell.set(t);
        }
        Ok(Key {
            biases: file.scheme.is_logit_bias(),
            scheme: file.scheme(),
            key_id: file.key_id().to_string(),
            file,
            tokenizer: cell,
        })
    }

    /// The key's tokenizer, loaded on first use and kept.
    pub(crate) fn tokenizer(&self, py: Python<'_>) -> PyResult<&dyn Tokenizer> {
        if self.tokenizer.get().is_none() {
            let t = load_tokenizer(py, &self.file.tokenizer)?;
            let _ = self.tokenizer.set(t);
        }
        match self.tokenizer.get() {
            Some(t) => Ok(t.as_ref()),
            None => Err(crate::errors::raise(
                "TokenizerError",
                "tokenizer could not be kept",
            )),
        }
    }

    pub(crate) fn key_id(&self) -> &str {
        &self.key_id
    }

    pub(crate) fn scheme_name(&self) -> &'static str {
        self.file.scheme.name()
    }

    /// The scheme when it watermarks by a logit bias, or `InvalidParameterError`.
    fn biasing(&self) -> PyResult<&dyn Scheme> {
        if self.biases {
            Ok(self.scheme.as_ref())
        } else {
            Err(crate::errors::raise(
                "InvalidParameterError",
                format!(
                    "a {} key chooses the token itself: use Key.sample, not a logit bias",
                    self.scheme_name()
                ),
            ))
        }
    }

    /// The scheme's context of the next step from the sequence so far: its last `width` ids,
    /// left-padded when the scheme pads (vLLM's schemes, whose contexts hold generated tokens
    /// only).
    fn step_context(&self, context: &Bound<'_, PyAny>) -> PyResult<ids::Tail> {
        let rule = self.scheme.context_rule();
        let mut tail = ids::tail(context, rule.width, "context")?;
        if let Some(pad) = rule.pad {
            tail.pad_front(rule.width, pad);
        }
        Ok(tail)
    }
}

#[pymethods]
impl Key {
    /// A new key with a fresh 256-bit secret from the operating system.
    ///
    /// The tokenizer (`o200k_base`, `cl100k_base`, or the path of a Hugging Face
    /// `tokenizer.json` or a GGUF model) is loaded once, so a key is never made for a tokenizer
    /// that cannot be used. γ is rounded to a multiple of 1/256 (see `Key.gamma`).
    ///
    /// `scheme` is `"kgw"` (green lists; `gamma`, `delta`, `context`, and `prf` `"v2"` or
    /// `"v1"`), `"gumbel"` (Gumbel-max; `context`, default 2) or `"synthid"` (tournament;
    /// `context`, default 4 with `None`, and `depth`) or `"selfhash"` (min-hash green lists;
    /// `gamma`, `delta`, `context`, default 3).
    #[staticmethod]
    #[pyo3(signature = (*, scheme = "kgw", gamma = 0.25, delta = 2.0, context = None, prf = "v2", depth = 30, tokenizer = "o200k_base"))]
    #[allow(clippy::too_many_arguments)]
    fn generate(
        py: Python<'_>,
        scheme: &str,
        gamma: f64,
        delta: f64,
        context: Option<usize>,
        prf: &str,
        depth: usize,
        tokenizer: &str,
    ) -> PyResult<Key> {
        let scheme = match scheme {
            "kgw" => SchemeConfig::Kgw {
                prf: match prf {
                    "v1" => PrfVersion::V1,
                    "v2" => PrfVersion::V2,
                    other => {
                        return Err(invalid(format!(
                            "prf must be \"v1\" or \"v2\", not {other:?}"
                        )));
                    }
                },
                params: params(gamma, delta, context.unwrap_or(2))?,
                shift: 0,
            },
            "gumbel" => SchemeConfig::Gumbel(GumbelParams::new(context.unwrap_or(2)).py()?),
            "synthid" => {
                SchemeConfig::SynthId(SynthIdParams::new(context.unwrap_or(4), depth).py()?)
            }
            "selfhash" => SchemeConfig::SelfHash(
                SelfHashParams::new(gamma, delta, context.unwrap_or(3)).py()?,
            ),
            other => {
                return Err(invalid(format!(
                    "scheme must be \"kgw\", \"gumbel\", \"synthid\" or \"selfhash\", not {other:?} (vLLM keys: Key.from_vllm)"
                )));
            }
        };
        let spec = TokenizerSpec::parse(tokenizer);
        let tok = load_tokenizer(py, &spec)?;
        let file = KeyFile {
            secret: SecretKey::generate().py()?,
            scheme,
            tokenizer: spec,
            account: None,
            normalization: provmark::text::Normalization::LATEST,
            validity: Default::default(),
            coded: None,
        };
        Key::new(file, Some(tok))
    }

    /// A key describing a watermark vLLM embeds natively: `vllm_key` is vLLM's integer
    /// `WatermarkConfig.key` (0 to 2^64 - 1; a secret), `algorithm` `"gumbel"`,
    /// `"dual_key_gumbel"` (with `alpha`) or `"red_green"` (with `gamma`, `delta`), `context`
    /// vLLM's context width. Detect with `provmark.detect(key, ids)` on the generated token ids.
    #[staticmethod]
    #[pyo3(signature = (vllm_key, *, algorithm = "gumbel", context = 4, alpha = 0.1, gamma = 0.25, delta = 2.0, tokenizer = "o200k_base"))]
    #[allow(clippy::too_many_arguments)]
    fn from_vllm(
        py: Python<'_>,
        vllm_key: u64,
        algorithm: &str,
        context: usize,
        alpha: f64,
        gamma: f64,
        delta: f32,
        tokenizer: &str,
    ) -> PyResult<Key> {
        let algorithm = match algorithm {
            "gumbel" => VllmAlgorithm::Gumbel,
            "dual_key_gumbel" => VllmAlgorithm::DualKeyGumbel { alpha },
            "red_green" => VllmAlgorithm::RedGreen { gamma, delta },
            other => {
                return Err(invalid(format!(
                    "algorithm must be \"gumbel\", \"dual_key_gumbel\" or \"red_green\", not {other:?}"
                )));
            }
        };
        let params = VllmParams::new(algorithm, context).py()?;
        let spec = TokenizerSpec::parse(tokenizer);
        let tok = load_tokenizer(py, &spec)?;
        Key::new(KeyFile::vllm(vllm_key, params, spec), Some(tok))
    }

    /// Reads a key file written by `Key.save` or `provmark keygen`. A file that group or
    /// others may read gives a `UserWarning`; a corrupted or edited one a `KeyFormatError`.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Key> {
        let loaded = py.detach(|| KeyFile::load(&path)).py()?;
        warn_all(py, &loaded.warnings)?;
        Key::new(loaded.key, None)
    }

    /// Parses key-file JSON (for keys kept in a secret manager rather than a file).
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Key> {
        Key::new(KeyFile::from_json(text).py()?, None)
    }

    /// Writes the key file with mode 0600. Never overwrites: an existing `path` raises
    /// `WouldOverwriteError`.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.file.write_new(&path)).py()
    }

    /// The public key id (`pm1-…`; shifted account keys add `+shift`). Safe to publish.
    #[getter(key_id)]
    fn get_key_id(&self) -> &str {
        &self.key_id
    }

    /// The scheme's name (`"kgw"`).
    #[getter]
    fn scheme(&self) -> &'static str {
        self.scheme_name()
    }

    /// γ, the green fraction of the vocabulary (kgw: a multiple of 1/256; vllm-red-green);
    /// `None` for schemes without a green list.
    #[getter]
    fn gamma(&self) -> Option<f64> {
        match &self.file.scheme {
            SchemeConfig::Kgw { params, .. } | SchemeConfig::KgwCoded(params) => {
                Some(params.gamma())
            }
            SchemeConfig::SelfHash(params) => Some(params.gamma()),
            SchemeConfig::Vllm(p) => match p.algorithm {
                VllmAlgorithm::RedGreen { gamma, .. } => Some(gamma),
                _ => None,
            },
            _ => None,
        }
    }

    /// δ, the logit bias added to green tokens; `None` for distortion-free schemes.
    #[getter]
    fn delta(&self) -> Option<f32> {
        match &self.file.scheme {
            SchemeConfig::Kgw { params, .. } | SchemeConfig::KgwCoded(params) => {
                Some(params.delta())
            }
            SchemeConfig::SelfHash(params) => Some(params.delta()),
            SchemeConfig::Vllm(p) => match p.algorithm {
                VllmAlgorithm::RedGreen { delta, .. } => Some(delta),
                _ => None,
            },
            _ => None,
        }
    }

    /// h, how many preceding tokens seed the keyed choice.
    #[getter]
    fn context(&self) -> usize {
        self.scheme.context_rule().width
    }

    /// One watermarked sampling step, for every scheme: the next token id after `context`
    /// (the sequence so far; for vllm-* keys the generated tokens only), drawn from `logits`
    /// (a writable float32 array, overwritten) with temperature, top-k and top-p, using the
    /// uniform draw `uniform` in [0, 1). Distortion-free schemes (gumbel, synthid, vLLM's
    /// Gumbel) choose with the key; green-list schemes bias, then sample.
    #[pyo3(signature = (context, logits, uniform, *, temperature = 1.0, top_k = 0, top_p = 1.0))]
    #[allow(clippy::too_many_arguments)]
    fn sample(
        &self,
        py: Python<'_>,
        context: &Bound<'_, PyAny>,
        logits: &Bound<'_, PyAny>,
        uniform: f64,
        temperature: f32,
        top_k: usize,
        top_p: f32,
    ) -> PyResult<u32> {
        let tail = self.step_context(context)?;
        let mut sampler = Sampler::new(SamplingConfig {
            temperature,
            top_k,
            top_p,
        })
        .py()?;
        let mut buf = Logits::get(logits, 1)?;
        // SAFETY: held only during this call, which runs no Python code while it lives.
        let row = unsafe { buf.as_mut_slice() };
        py.detach(|| {
            self.scheme
                .sample(tail.as_slice(), row, &mut sampler, uniform)
        })
        .py()
    }

    /// Whether the scheme chooses the token itself (gumbel, synthid, vllm-*), so engines must
    /// let it select (`Key.sampler`, or the adapters' select mode) rather than add `bias`.
    #[getter]
    fn chooses_token(&self) -> bool {
        !self.biases
    }

    /// A per-sequence sampler after `prompt` (token ids): the scheme's generation rules
    /// (which tokens form contexts; gumbel's and vLLM's unwatermarked steps at repeated
    /// contexts) applied step by step. `temperature`, `top_k` and `top_p` are applied to each
    /// step's logits. See `KeyedSampler`.
    #[pyo3(signature = (prompt, *, temperature = 1.0, top_k = 0, top_p = 1.0))]
    fn sampler(
        &self,
        prompt: &Bound<'_, PyAny>,
        temperature: f32,
        top_k: usize,
        top_p: f32,
    ) -> PyResult<KeyedSampler> {
        let prompt = ids::read_ids(prompt, "prompt")?;
        let sampler = Sampler::new(SamplingConfig {
            temperature,
            top_k,
            top_p,
        })
        .py()?;
        Ok(KeyedSampler {
            steps: GenerationContexts::new(self.scheme.as_ref(), &prompt, 0),
            scheme: self.scheme.clone(),
            sampler,
            key_id: self.key_id.clone(),
        })
    }

    /// The tokenizer, as written in the key file (`o200k_base` or a path).
    #[getter(tokenizer)]
    fn get_tokenizer(&self) -> String {
        self.file.tokenizer.to_string()
    }

    /// The account this key was derived for, if any.
    #[getter]
    fn account(&self) -> Option<&str> {
        self.file.account.as_deref()
    }

    /// The vocabulary size of the key's tokenizer (loads the tokenizer on first use).
    #[getter]
    fn vocab_size(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.tokenizer(py)?.vocab_size())
    }

    /// Token ids of `text` under the key's normalisation and tokenizer (what detection does to
    /// suspect text, and what a prompt should go through at generation).
    fn encode(&self, py: Python<'_>, text: &str) -> PyResult<Vec<u32>> {
        let tok = self.tokenizer(py)?;
        let norm = self.file.normalization;
        py.detach(|| provmark_text::encode_normalized(tok, norm, text))
            .py()
    }

    /// `text` as the key's normalisation leaves it (what `encode` and detection tokenize).
    fn normalize(&self, text: &str) -> String {
        provmark_text::normalize::normalize(text, self.file.normalization).into_owned()
    }

    /// How text is normalised before tokenizing: `"none"` or `"v1"`.
    #[getter]
    fn normalization(&self) -> &'static str {
        self.file.normalization.name()
    }

    /// The text of token ids under the key's tokenizer.
    fn decode(&self, py: Python<'_>, ids: &Bound<'_, PyAny>) -> PyResult<String> {
        let ids = ids::read_ids(ids, "ids")?;
        let tok = self.tokenizer(py)?;
        py.detach(|| tok.decode(&ids)).py()
    }

    /// Adds δ to the green logits of the next step, in place and without a copy.
    ///
    /// `context` is the sequence so far (prompt included; only its last `context` tokens are
    /// read), as a list or an integer array. `logits` is the step's one-dimensional, writable,
    /// C-contiguous float32 array indexed by token id (any length up to 2^21). With fewer than
    /// h tokens of context nothing changes. A NaN or +inf logit raises `NonFiniteLogitError`
    /// and leaves the array untouched; `check_finite=False` skips that scan (one pass over the
    /// logits, about 3 to 10 us at V 49 152 to 128 256) for engines that guarantee finite
    /// logits, and then NaN stays NaN.
    #[pyo3(signature = (context, logits, *, check_finite = true))]
    fn bias(
        &self,
        py: Python<'_>,
        context: &Bound<'_, PyAny>,
        logits: &Bound<'_, PyAny>,
        check_finite: bool,
    ) -> PyResult<()> {
        let scheme = self.biasing()?;
        let tail = ids::tail(context, scheme.context_rule().width, "context")?;
        let mut buf = match ids::Row::get(logits)? {
            ids::Row::Strided(mut strided) => {
                return bias_strided(scheme, tail.as_slice(), &mut strided, check_finite);
            }
            ids::Row::Contiguous(buf) => buf,
        };
        // SAFETY: held only during this call, which runs no Python code while it lives.
        let row = unsafe { buf.as_mut_slice() };
        py.detach(|| {
            if check_finite {
                if let Some(index) = ids::first_non_finite(row) {
                    return Err(provmark::Error::NonFiniteLogit { index });
                }
            }
            scheme.bias_logits(tail.as_slice(), row).map(drop)
        })
        .py()
    }

    /// `bias` for a batch: `logits` is a `(batch, vocab)` float32 array and `contexts` a
    /// `(batch, length)` integer array or a sequence of `batch` sequences; row `i` of the logits
    /// is biased under context `i`.
    fn bias_batch(
        &self,
        py: Python<'_>,
        contexts: &Bound<'_, PyAny>,
        logits: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let mut buf = Logits::get(logits, 2)?;
        let (rows, vocab) = match *buf.shape() {
            [r, v] => (r, v),
            _ => return Err(invalid("logits must be two-dimensional")),
        };
        // Shapes first, so that an error leaves every row untouched.
        let n = contexts.len().unwrap_or(usize::MAX);
        if n != rows {
            return Err(invalid(format!(
                "contexts must have one row per logits row ({rows}); got {}",
                if n == usize::MAX {
                    "no length".to_string()
                } else {
                    n.to_string()
                }
            )));
        }
        // SAFETY: as in `bias`; Python code runs only to read `contexts`, never touching it.
        let all = unsafe { buf.as_mut_slice() };
        let scheme = self.biasing()?;
        let h = scheme.context_rule().width;
        if let Some(i) = ids::first_non_finite(all) {
            return Err(crate::errors::to_py(provmark::Error::NonFiniteLogit {
                index: i,
            }));
        }
        // Read every context before changing any row.
        let mut tails = Vec::with_capacity(rows);
        ids::for_each_row_tail(contexts, h, |_, tail| {
            tails.push(tail);
            Ok(())
        })?;
        py.detach(|| {
            for (tail, row) in tails.iter().zip(all.chunks_exact_mut(vocab.max(1))) {
                scheme.bias_logits(tail.as_slice(), row)?;
            }
            Ok(())
        })
        .py()
    }

    /// Whether `token` is green after `context` (green-list schemes: kgw, selfhash); `None`
    /// when fewer than h tokens precede it.
    fn is_green(&self, context: &Bound<'_, PyAny>, token: i64) -> PyResult<Option<bool>> {
        let scheme = self.biasing()?;
        let width = scheme.context_rule().width;
        let tail = ids::tail(context, width, "context")?;
        let token = token_id(token)?;
        if tail.as_slice().len() < width {
            return Ok(None);
        }
        Ok(Some(scheme.score(tail.as_slice(), token).py()? > 0.5))
    }

    /// For `benches/overhead.py` only: the mean seconds of `iters` calls of the core's bias on
    /// `logits` under `context`, timed inside Rust (the baseline the Python call is compared
    /// with).
    fn _core_bias_seconds(
        &self,
        context: &Bound<'_, PyAny>,
        logits: &Bound<'_, PyAny>,
        iters: u32,
    ) -> PyResult<f64> {
        let scheme = self.biasing()?;
        let tail = ids::tail(context, scheme.context_rule().width, "context")?;
        let mut buf = Logits::get(logits, 1)?;
        // SAFETY: as in `bias`.
        let row = unsafe { buf.as_mut_slice() };
        let start = std::time::Instant::now();
        for _ in 0..iters.max(1) {
            scheme.bias_logits(tail.as_slice(), row).py()?;
        }
        Ok(start.elapsed().as_secs_f64() / f64::from(iters.max(1)))
    }

    fn __repr__(&self) -> String {
        let account = match &self.file.account {
            Some(a) => format!(", account={a:?}"),
            None => String::new(),
        };
        let mut params = String::new();
        if let Some(g) = self.gamma() {
            params.push_str(&format!(", gamma={g}"));
        }
        if let Some(d) = self.delta() {
            params.push_str(&format!(", delta={d}"));
        }
        format!(
            "Key(key_id={:?}, scheme={:?}{params}, context={}, tokenizer={:?}{account})",
            self.key_id,
            self.scheme_name(),
            self.context(),
            self.file.tokenizer.to_string()
        )
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(no_pickle("provmark.Key"))
    }

    fn __reduce_ex__(&self, _protocol: i64) -> PyResult<()> {
        Err(no_pickle("provmark.Key"))
    }

    fn __copy__(&self) -> PyResult<()> {
        Err(no_pickle("provmark.Key"))
    }

    fn __deepcopy__(&self, _memo: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(no_pickle("provmark.Key"))
    }
}

thread_local! {
    /// Per-thread scratch row for strided logits, reused across steps.
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Strided logits: after a NaN/+inf check, the bias is computed into a -0.0 scratch row, then
/// added element by element, which is bit for bit the in-place bias.
fn bias_strided(
    scheme: &dyn Scheme,
    context: &[u32],
    logits: &mut ids::StridedLogits,
    check_finite: bool,
) -> PyResult<()> {
    SCRATCH.with(|cell| {
        let mut adds = cell.borrow_mut();
        if let Some(index) = check_finite.then(|| logits.first_non_finite()).flatten() {
            return Err(crate::errors::to_py(provmark::Error::NonFiniteLogit {
                index,
            }));
        }
        adds.clear();
        adds.resize(logits.len(), -0.0);
        scheme.bias_logits(context, &mut adds).py()?;
        logits.add(&adds);
        Ok(())
    })
}

/// One sequence's watermarked sampling, step by step, for every scheme (from `Key.sampler`):
/// `step(logits, uniform)` chooses the next token, `accept(token)` records the token the
/// sequence actually continued with.
///
/// >>> key = provmark.Key.generate(scheme="gumbel")               # doctest: +SKIP
/// >>> s = key.sampler(prompt_ids, temperature=0.8)                # doctest: +SKIP
/// >>> tok = s.step(logits, rng.random()); s.accept(tok)           # doctest: +SKIP
#[pyclass(module = "provmark")]
pub struct KeyedSampler {
    scheme: Arc<dyn Scheme>,
    steps: GenerationContexts,
    sampler: Sampler,
    key_id: String,
}

#[pymethods]
impl KeyedSampler {
    /// The next token from `logits` (a writable float32 array, overwritten) with the uniform
    /// draw `uniform` in [0, 1). Steps the scheme leaves unwatermarked (an incomplete context,
    /// a repeated context under gumbel and vllm-*) are ordinary draws. Not recorded: call
    /// `accept`.
    fn step(&mut self, py: Python<'_>, logits: &Bound<'_, PyAny>, uniform: f64) -> PyResult<u32> {
        let mut buf = Logits::get(logits, 1)?;
        // SAFETY: held only during this call, which runs no Python code while it lives.
        let row = unsafe { buf.as_mut_slice() };
        let (scheme, steps, sampler) = (&self.scheme, &mut self.steps, &mut self.sampler);
        py.detach(|| match steps.next_step() {
            Some(ctx) => scheme.sample(ctx, row, sampler, uniform),
            None => sampler.sample(row, uniform),
        })
        .py()
    }

    /// Records the token the sequence continued with.
    fn accept(&mut self, token: i64) -> PyResult<()> {
        let token = token_id(token)?;
        self.steps.push(token);
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!(
            "provmark.KeyedSampler(scheme={:?}, key_id={:?})",
            self.scheme.name(),
            self.key_id
        )
    }
}

/// A master secret from which every API account's key is derived (`provmark keygen --master`).
#[pyclass(module = "provmark", frozen)]
pub struct MasterKey {
    master: CoreMaster,
    key_id: String,
}

impl MasterKey {
    fn new(master: CoreMaster) -> Self {
        MasterKey {
            key_id: master.key_id().to_string(),
            master,
        }
    }

    pub(crate) fn core(&self) -> &CoreMaster {
        &self.master
    }
}

#[pymethods]
impl MasterKey {
    /// A new master secret. `accounts` is `"coded"` (a codeword per account over shared
    /// classes: a million accounts audited in one pass, account keys without the master
    /// secret), `"shifted"` (accounts version 1: a 20-bit shift per account, which collides
    /// among a few thousand accounts) or `"independent"` (a separate secret per account). Text
    /// is normalised (v1) for every account.
    #[staticmethod]
    #[pyo3(signature = (*, gamma = 0.25, delta = 2.0, context = 2, tokenizer = "o200k_base", accounts = "coded"))]
    fn generate(
        py: Python<'_>,
        gamma: f64,
        delta: f64,
        context: usize,
        tokenizer: &str,
        accounts: &str,
    ) -> PyResult<MasterKey> {
        let mode = match accounts {
            "coded" => AccountMode::Coded,
            "shifted" => AccountMode::Shifted,
            "independent" => AccountMode::Independent,
            other => {
                return Err(crate::errors::raise(
                    "InvalidParameterError",
                    format!(
                        "accounts must be \"coded\", \"shifted\" or \"independent\", not {other:?}"
                    ),
                ));
            }
        };
        let params = params(gamma, delta, context)?;
        let spec = TokenizerSpec::parse(tokenizer);
        load_tokenizer(py, &spec)?;
        Ok(MasterKey::new(CoreMaster {
            secret: SecretKey::generate().py()?,
            params,
            tokenizer: spec,
            mode,
            normalization: provmark::text::Normalization::V1,
            validity: Default::default(),
        }))
    }

    /// Reads a master file (`UserWarning` if group or others may read it).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<MasterKey> {
        let (master, warnings) = py.detach(|| CoreMaster::load(&path)).py()?;
        warn_all(py, &warnings)?;
        Ok(MasterKey::new(master))
    }

    /// Writes the master file with mode 0600; never overwrites (`WouldOverwriteError`).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.master.write_new(&path)).py()
    }

    /// The key of one account, usable like any other `Key`. In coded mode it holds only that
    /// account's material; in shifted mode it carries the master secret: hand it to no one
    /// outside the provider.
    fn derive(&self, account: &str) -> PyResult<Key> {
        Key::new(self.master.account_key(account), None)
    }

    /// The master's public key id.
    #[getter(key_id)]
    fn get_key_id(&self) -> &str {
        &self.key_id
    }

    /// `"coded"`, `"shifted"` or `"independent"`.
    #[getter]
    fn accounts(&self) -> &'static str {
        match self.master.mode {
            AccountMode::Coded => "coded",
            AccountMode::Shifted => "shifted",
            AccountMode::Independent => "independent",
        }
    }

    fn __repr__(&self) -> String {
        let p = &self.master.params;
        format!(
            "MasterKey(key_id={:?}, accounts={:?}, gamma={}, delta={}, context={}, tokenizer={:?})",
            self.key_id,
            self.accounts(),
            p.gamma(),
            p.delta(),
            p.context(),
            self.master.tokenizer.to_string()
        )
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(no_pickle("provmark.MasterKey"))
    }

    fn __reduce_ex__(&self, _protocol: i64) -> PyResult<()> {
        Err(no_pickle("provmark.MasterKey"))
    }

    fn __copy__(&self) -> PyResult<()> {
        Err(no_pickle("provmark.MasterKey"))
    }

    fn __deepcopy__(&self, _memo: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(no_pickle("provmark.MasterKey"))
    }
}
