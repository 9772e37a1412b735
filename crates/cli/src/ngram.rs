//! A token-level n-gram language model with interpolated modified Kneser–Ney smoothing
//! (Chen & Goodman 1998), trained from text over any [`provmark::text::Tokenizer`].
//!
//! `P(w | h)` interpolates every order from `n` down to a unigram *continuation* distribution,
//! itself interpolated with the uniform distribution over the vocabulary, so every token,
//! seen or not, has non-zero probability and the probabilities sum to one. Discounts `D1`,
//! `D2`, `D3+` per order come from the count-of-counts. Documents are padded on the left with
//! a start marker, so the model knows how documents begin.
//!
//! [`NgramLm::logits`] returns full-vocabulary logits in `O(V + successors)`: all tokens share
//! the backed-off unigram term, and only tokens seen after the context are patched.
//!
//! A trained model is saved to one file ([`NgramLm::save`]): a versioned header, the tokenizer,
//! the top-order n-gram counts (everything else is derived from them on load) and a SHA-256
//! checksum, so a truncated or corrupted file is a clear [`Error::ModelFormat`].
//!
//! ```
//! use provmark::lm::LanguageModel;
//! use provmark_cli::ngram::NgramLm;
//! use provmark::text::TokenizerSpec;
//! let docs = vec![vec![1, 2, 3, 1, 2, 3, 1, 2, 4]];
//! let lm = NgramLm::train(docs, 3, 10, TokenizerSpec::default())?;
//! let mut logits = vec![0.0; 10];
//! lm.logits(&[1, 2], &mut logits)?;
//! let total: f32 = logits.iter().map(|l| l.exp()).sum();
//! assert!((total - 1.0).abs() < 1e-4);
//! assert!(logits[3] > logits[4] && logits[4] > logits[9]); // seen 2x, 1x, never
//! # Ok::<(), provmark::Error>(())
//! ```

use provmark::lm::LanguageModel;
use provmark::text::TokenizerSpec;
use provmark::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// Lowest supported order.
pub const MIN_ORDER: usize = 2;
/// Highest supported order.
pub const MAX_ORDER: usize = 5;
/// Start-of-document marker used for left padding; never a token id (ids are below 2^21).
const BOS: u32 = u32::MAX;
/// First bytes of a model file.
const MAGIC: &[u8; 8] = b"PMNGRAM\0";
/// Model-file format version written and read by this code.
const FILE_VERSION: u32 = 1;

type Gram = [u32; MAX_ORDER];

/// The trained model. See the module docs.
#[derive(Clone)]
pub struct NgramLm {
    order: usize,
    vocab_size: usize,
    tokenizer: TokenizerSpec,
    /// Unique top-order n-grams (first `order` entries of each array) with their counts.
    top: Vec<(Gram, u32)>,
    /// `levels[n - 2]` holds the contexts of order `n`.
    levels: Vec<Level>,
    /// `ln P_1(w)`: the interpolated unigram continuation distribution.
    ln_base: Vec<f32>,
    /// Running sums of `exp(ln_base)`, for drawing from it in `O(log V)`.
    base_cdf: Vec<f64>,
}

impl std::fmt::Debug for NgramLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NgramLm")
            .field("order", &self.order)
            .field("vocab_size", &self.vocab_size)
            .field("tokenizer", &self.tokenizer)
            .field("top_ngrams", &self.top.len())
            .finish()
    }
}

#[derive(Clone, Default)]
struct Level {
    index: HashMap<u128, u32>,
    nodes: Vec<Node>,
    succ_tok: Vec<u32>,
    succ_p: Vec<f32>,
}

impl Level {
    /// The tokens seen after `node`'s context and their discounted probabilities.
    fn successors(&self, node: &Node) -> (&[u32], &[f32]) {
        let (s, e) = (node.start as usize, (node.start + node.len) as usize);
        (
            self.succ_tok.get(s..e).unwrap_or_default(),
            self.succ_p.get(s..e).unwrap_or_default(),
        )
    }
}

#[derive(Clone, Copy)]
struct Node {
    start: u32,
    len: u32,
    /// Back-off weight: discounted mass / total.
    gamma: f32,
}

fn pack(ctx: &[u32]) -> u128 {
    ctx.iter()
        .fold(0u128, |acc, &t| (acc << 32) | u128::from(t))
}

/// Modified Kneser–Ney discounts `[D1, D2, D3+]` from the counts of one order.
fn discounts(counts: impl Iterator<Item = u32>) -> [f64; 3] {
    let mut n = [0f64; 5];
    for c in counts {
        if let Some(slot) = n.get_mut(c.min(5) as usize - 1) {
            *slot += 1.0;
        }
    }
    let [n1, n2, n3, n4, _] = n;
    let fallback = [0.5, 1.0, 1.5];
    if n1 == 0.0 || n2 == 0.0 || n3 == 0.0 {
        return fallback;
    }
    let y = n1 / (n1 + 2.0 * n2);
    let d = [
        1.0 - 2.0 * y * n2 / n1,
        2.0 - 3.0 * y * n3 / n2,
        3.0 - 4.0 * y * n4 / n3,
    ];
    let mut out = fallback;
    for (k, (o, v)) in out.iter_mut().zip(d).enumerate() {
        if v.is_finite() && v > 0.0 {
            *o = v.min(k as f64 + 1.0);
        }
    }
    out
}

fn discount(d: &[f64; 3], c: u32) -> f64 {
    match c {
        0 => 0.0,
        1 => d[0],
        2 => d[1],
        _ => d[2],
    }
}

/// Sorts n-grams (first `n` entries significant) and merges equal ones, summing counts.
fn sort_count(mut v: Vec<(Gram, u32)>) -> Vec<(Gram, u32)> {
    v.sort_unstable_by_key(|x| x.0);
    let mut out: Vec<(Gram, u32)> = Vec::with_capacity(v.len());
    for (g, c) in v {
        match out.last_mut() {
            Some(last) if last.0 == g => last.1 = last.1.saturating_add(c),
            _ => out.push((g, c)),
        }
    }
    out
}

impl NgramLm {
    /// Trains a model of the given order (2 to 5) on tokenized documents.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a bad order or vocabulary size, or when the documents hold
    /// no tokens; [`Error::TokenOutOfRange`] for an id `≥ vocab_size`.
    pub fn train(
        docs: impl IntoIterator<Item = Vec<u32>>,
        order: usize,
        vocab_size: usize,
        tokenizer: TokenizerSpec,
    ) -> Result<Self> {
        check_shape(order, vocab_size)?;
        let mut grams: Vec<(Gram, u32)> = Vec::new();
        let mut padded: Vec<u32> = Vec::new();
        for doc in docs {
            provmark::check_token_ids(&doc, vocab_size, 0)?;
            padded.clear();
            padded.resize(order - 1, BOS);
            padded.extend_from_slice(&doc);
            for w in padded.windows(order) {
                let mut g = [0u32; MAX_ORDER];
                g.get_mut(..order).unwrap_or_default().copy_from_slice(w);
                grams.push((g, 1));
            }
        }
        if grams.is_empty() {
            return Err(Error::param("corpus", "holds no tokens to train on"));
        }
        Self::from_top(order, vocab_size, tokenizer, sort_count(grams))
    }

    /// Builds every derived table from the unique top-order n-grams and their counts.
    fn from_top(
        order: usize,
        vocab_size: usize,
        tokenizer: TokenizerSpec,
        top: Vec<(Gram, u32)>,
    ) -> Result<Self> {
        // counts[n - 1]: unique n-grams of order n with raw (top) or continuation counts.
        let mut counts: Vec<Vec<(Gram, u32)>> = vec![Vec::new(); order];
        if let Some(last) = counts.last_mut() {
            *last = top.clone();
        }
        for n in (1..order).rev() {
            let higher = counts.get(n).map(Vec::as_slice).unwrap_or_default();
            let suffixes: Vec<(Gram, u32)> = higher
                .iter()
                .map(|(g, _)| {
                    let mut s = [0u32; MAX_ORDER];
                    for (d, src) in s.iter_mut().zip(g.iter().skip(1).take(n)) {
                        *d = *src;
                    }
                    (s, 1)
                })
                .collect();
            if let Some(slot) = counts.get_mut(n - 1) {
                *slot = sort_count(suffixes);
            }
        }
        // Unigram continuation distribution, interpolated with uniform.
        let uni = counts.first().map(Vec::as_slice).unwrap_or_default();
        let d1 = discounts(uni.iter().map(|x| x.1));
        let total: f64 = uni.iter().map(|x| f64::from(x.1)).sum();
        if total <= 0.0 {
            return Err(Error::param("corpus", "holds no tokens to train on"));
        }
        let mass: f64 = uni.iter().map(|x| discount(&d1, x.1)).sum();
        let uniform = mass / total / vocab_size as f64;
        let mut base = vec![uniform; vocab_size];
        for (g, c) in uni {
            if let Some(b) = base.get_mut(g[0] as usize) {
                *b += (f64::from(*c) - discount(&d1, *c)).max(0.0) / total;
            }
        }
        let ln_base: Vec<f32> = base.iter().map(|&p| p.ln() as f32).collect();
        let base_cdf = ln_base
            .iter()
            .scan(0.0f64, |acc, &l| {
                *acc += f64::from(l).exp();
                Some(*acc)
            })
            .collect();
        let mut levels = Vec::with_capacity(order.saturating_sub(1));
        for n in 2..=order {
            let grams = counts.get(n - 1).map(Vec::as_slice).unwrap_or_default();
            levels.push(build_level(grams, n));
        }
        Ok(NgramLm {
            order,
            vocab_size,
            tokenizer,
            top,
            levels,
            ln_base,
            base_cdf,
        })
    }

    /// One token drawn from `P(t | history) · accept(t) / Z`, where `accept(t)` is in [0, 1]
    /// (a logit bias `b(t) ≤ B` is `accept = e^(b − B)`), by rejection: a proposal picks one
    /// of the interpolated orders by its mass, then a token within it, in `O(log V)` plus the
    /// order's successor count, without the `O(V)` logits. `uniform` supplies draws in
    /// [0, 1). `None` when `max_tries` proposals were all rejected (the caller falls back to
    /// full logits).
    ///
    /// The result has exactly the distribution of sampling `softmax(logits + b)` at
    /// temperature 1, which is what makes million-token evaluations affordable (tested
    /// against the full logits in this module).
    pub fn sample_weighted(
        &self,
        history: &[u32],
        accept: &mut dyn FnMut(u32) -> f64,
        uniform: &mut dyn FnMut() -> f64,
        max_tries: usize,
    ) -> Option<u32> {
        let (nodes, w_final) = self.walk(history);
        for _ in 0..max_tries {
            let mut u = uniform();
            let mut token = None;
            for ((node, w), level) in nodes.iter().zip(&self.levels) {
                let Some(node) = node else { continue };
                let (toks, ps) = level.successors(node);
                for (&t, &p) in toks.iter().zip(ps) {
                    let m = w * f64::from(p);
                    if u < m {
                        token = Some(t);
                        break;
                    }
                    u -= m;
                }
                if token.is_some() {
                    break;
                }
            }
            let t = match token {
                Some(t) => t,
                None => {
                    // The unigram term: what is left of u, scaled to its mass.
                    let total = self.base_cdf.last().copied().unwrap_or(1.0);
                    let x = (u / w_final.max(f64::MIN_POSITIVE)).min(1.0) * total;
                    let i = self.base_cdf.partition_point(|&c| c <= x);
                    i.min(self.vocab_size.saturating_sub(1)) as u32
                }
            };
            if uniform() < accept(t) {
                return Some(t);
            }
        }
        None
    }

    /// The model's order `n`.
    pub fn order(&self) -> usize {
        self.order
    }

    /// The tokenizer the model was trained with.
    pub fn tokenizer(&self) -> &TokenizerSpec {
        &self.tokenizer
    }

    /// Number of distinct top-order n-grams.
    pub fn num_ngrams(&self) -> usize {
        self.top.len()
    }

    /// The last `order − 1` tokens of `history`, left-padded with the start marker.
    fn context(&self, history: &[u32]) -> [u32; MAX_ORDER - 1] {
        let mut ctx = [BOS; MAX_ORDER - 1];
        let k = self.order - 1;
        let take = history.len().min(k);
        let src = history.get(history.len() - take..).unwrap_or_default();
        if let Some(dst) = ctx.get_mut(k - take..k) {
            dst.copy_from_slice(src);
        }
        ctx
    }

    /// For each order `n` (index `n − 2`): the node of the context, if seen, and the weight of
    /// that order's term; plus the final weight of the unigram term.
    fn walk(&self, history: &[u32]) -> ([(Option<Node>, f64); MAX_ORDER - 1], f64) {
        let ctx = self.context(history);
        let k = self.order - 1;
        let mut out = [(None, 0.0); MAX_ORDER - 1];
        let mut w = 1.0f64;
        for n in (2..=self.order).rev() {
            let h = ctx.get(k + 1 - n..k).unwrap_or_default();
            let node = self
                .levels
                .get(n - 2)
                .and_then(|l| l.index.get(&pack(h)).and_then(|&i| l.nodes.get(i as usize)))
                .copied();
            if let Some(slot) = out.get_mut(n - 2) {
                *slot = (node, w);
            }
            if let Some(node) = node {
                w *= f64::from(node.gamma);
            }
        }
        (out, w)
    }

    /// `P(token | history)`.
    ///
    /// # Errors
    /// [`Error::TokenOutOfRange`] for a token outside the vocabulary.
    pub fn prob(&self, history: &[u32], token: u32) -> Result<f64> {
        let base = self
            .ln_base
            .get(token as usize)
            .ok_or(Error::TokenOutOfRange {
                id: token,
                position: history.len(),
                vocab_size: self.vocab_size,
            })?;
        let (nodes, w_final) = self.walk(history);
        let mut p = w_final * f64::from(*base).exp();
        for (n, (node, w)) in nodes.iter().enumerate() {
            let (Some(node), Some(level)) = (node, self.levels.get(n)) else {
                continue;
            };
            let (toks, ps) = level.successors(node);
            if let Ok(i) = toks.binary_search(&token) {
                p += w * f64::from(ps.get(i).copied().unwrap_or(0.0));
            }
        }
        Ok(p)
    }

    /// Perplexity on tokenized documents: `exp` of the mean negative log-likelihood per token.
    ///
    /// # Errors
    /// [`Error::TokenOutOfRange`] for an id outside the vocabulary;
    /// [`Error::InvalidParameter`] when the documents hold no tokens.
    pub fn perplexity<'a>(&self, docs: impl IntoIterator<Item = &'a [u32]>) -> Result<f64> {
        let (mut nll, mut n) = (0.0f64, 0usize);
        for doc in docs {
            for (i, &t) in doc.iter().enumerate() {
                nll -= self.prob(doc.get(..i).unwrap_or_default(), t)?.ln();
                n += 1;
            }
        }
        if n == 0 {
            return Err(Error::param("documents", "hold no tokens"));
        }
        Ok((nll / n as f64).exp())
    }

    /// Saves the model to a new file (an existing file is replaced atomically).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut buf: Vec<u8> = Vec::with_capacity(64 + self.top.len() * 4 * (self.order + 1));
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&FILE_VERSION.to_le_bytes());
        buf.extend_from_slice(&(self.order as u32).to_le_bytes());
        buf.extend_from_slice(&(self.vocab_size as u32).to_le_bytes());
        let spec = serde_json::to_vec(&self.tokenizer).unwrap_or_default();
        buf.extend_from_slice(&(spec.len() as u32).to_le_bytes());
        buf.extend_from_slice(&spec);
        buf.extend_from_slice(&(self.top.len() as u64).to_le_bytes());
        for (g, c) in &self.top {
            for t in g.iter().take(self.order) {
                buf.extend_from_slice(&t.to_le_bytes());
            }
            buf.extend_from_slice(&c.to_le_bytes());
        }
        let digest = Sha256::digest(&buf);
        buf.extend_from_slice(&digest);
        let tmp = path.with_extension("tmp-provmark");
        std::fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&buf).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| Error::io(path, e))
    }

    /// Loads a model saved by [`NgramLm::save`].
    ///
    /// # Errors
    /// [`Error::Io`] when unreadable; [`Error::ModelFormat`] when it is not a model file, is of
    /// another version, is truncated or corrupted.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes).map_err(|e| Error::ModelFormat(format!("{}: {e}", path.display())))
    }

    /// Parses the bytes of a model file.
    fn from_bytes(bytes: &[u8]) -> std::result::Result<Self, String> {
        if bytes.len() < MAGIC.len() + 32 || bytes.get(..MAGIC.len()) != Some(MAGIC) {
            return Err("not a provmark n-gram model file".into());
        }
        let (payload, digest) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(payload).as_slice() != digest {
            return Err("checksum mismatch (file truncated or corrupted)".into());
        }
        let mut r = Reader(payload.get(MAGIC.len()..).unwrap_or_default());
        let version = r.u32()?;
        if version != FILE_VERSION {
            return Err(format!(
                "format version {version} is not supported (this provmark reads {FILE_VERSION})"
            ));
        }
        let order = r.u32()? as usize;
        let vocab_size = r.u32()? as usize;
        check_shape(order, vocab_size).map_err(|e| e.to_string())?;
        let spec_len = r.u32()? as usize;
        let tokenizer: TokenizerSpec = serde_json::from_slice(r.take(spec_len)?)
            .map_err(|e| format!("bad tokenizer record: {e}"))?;
        let n = r.u64()?;
        let per = 4 * (order as u64 + 1);
        if n.checked_mul(per) != Some(r.0.len() as u64) {
            return Err("n-gram table length does not match the header".into());
        }
        let mut top = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let mut g = [0u32; MAX_ORDER];
            for (i, slot) in g.iter_mut().take(order).enumerate() {
                let t = r.u32()?;
                let is_padding = t == BOS && i + 1 < order;
                if t as usize >= vocab_size && !is_padding {
                    return Err(format!("token id {t} outside the vocabulary"));
                }
                *slot = t;
            }
            let c = r.u32()?;
            if c == 0 {
                return Err("zero count in n-gram table".into());
            }
            if top.last().is_some_and(|(prev, _): &(Gram, u32)| *prev >= g) {
                return Err("n-gram table is not sorted".into());
            }
            top.push((g, c));
        }
        if top.is_empty() {
            return Err("empty n-gram table".into());
        }
        Self::from_top(order, vocab_size, tokenizer, top).map_err(|e| e.to_string())
    }
}

fn check_shape(order: usize, vocab_size: usize) -> Result<()> {
    if !(MIN_ORDER..=MAX_ORDER).contains(&order) {
        return Err(Error::param(
            "order",
            format!("must be between {MIN_ORDER} and {MAX_ORDER}"),
        ));
    }
    if vocab_size == 0 || vocab_size > provmark::prf::MAX_VOCAB {
        return Err(Error::param("vocab_size", "must be between 1 and 2^21"));
    }
    Ok(())
}

/// Groups sorted n-grams of order `n` by their context (first `n − 1` tokens).
fn build_level(grams: &[(Gram, u32)], n: usize) -> Level {
    let d = discounts(grams.iter().map(|x| x.1));
    let mut level = Level::default();
    let mut i = 0;
    while i < grams.len() {
        let ctx = grams.get(i).map(|x| &x.0[..n - 1]).unwrap_or_default();
        let mut j = i;
        while grams.get(j).is_some_and(|x| &x.0[..n - 1] == ctx) {
            j += 1;
        }
        let group = grams.get(i..j).unwrap_or_default();
        let total: f64 = group.iter().map(|x| f64::from(x.1)).sum();
        let mass: f64 = group.iter().map(|x| discount(&d, x.1)).sum();
        let start = level.succ_tok.len() as u32;
        for (g, c) in group {
            level.succ_tok.push(g[n - 1]);
            level
                .succ_p
                .push(((f64::from(*c) - discount(&d, *c)).max(0.0) / total) as f32);
        }
        level.index.insert(pack(ctx), level.nodes.len() as u32);
        level.nodes.push(Node {
            start,
            len: group.len() as u32,
            gamma: (mass / total) as f32,
        });
        i = j;
    }
    level
}

/// A bounds-checked little-endian reader.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("unexpected end of file".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> std::result::Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> std::result::Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
}

impl LanguageModel for NgramLm {
    fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    fn logits(&self, history: &[u32], out: &mut [f32]) -> Result<()> {
        if out.len() != self.vocab_size {
            return Err(Error::LogitsShape {
                expected: self.vocab_size,
                actual: out.len(),
            });
        }
        let (nodes, w_final) = self.walk(history);
        let ln_w = w_final.ln() as f32;
        for (o, &b) in out.iter_mut().zip(&self.ln_base) {
            *o = b + ln_w;
        }
        for ((node, w), level) in nodes.iter().zip(&self.levels) {
            let Some(node) = node else { continue };
            let (toks, ps) = level.successors(node);
            for (&t, &p) in toks.iter().zip(ps) {
                if let Some(o) = out.get_mut(t as usize) {
                    // Log-add this order's term to what the token already has.
                    *o = (f64::from(o.exp()) + w * f64::from(p)).ln() as f32;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> NgramLm {
        let docs = vec![
            vec![1, 2, 3, 4, 1, 2, 3, 5, 1, 2, 6],
            vec![7, 8, 1, 2, 3, 4, 9, 9, 9],
            vec![3, 4, 1, 2, 3, 4],
        ];
        NgramLm::train(docs, 3, 20, TokenizerSpec::default()).unwrap()
    }

    #[test]
    fn probabilities_sum_to_one_and_match_logits() {
        let lm = toy();
        let mut logits = vec![0.0; 20];
        for hist in [
            &[][..],
            &[1],
            &[1, 2],
            &[2, 3],
            &[9, 9],
            &[15, 16],
            &[3, 4, 1],
        ] {
            let total: f64 = (0..20).map(|w| lm.prob(hist, w).unwrap()).sum();
            // Tables are stored in f32: sums are exact to about 1e-7.
            assert!((total - 1.0).abs() < 1e-6, "{hist:?}: {total}");
            lm.logits(hist, &mut logits).unwrap();
            for w in 0..20u32 {
                let p = lm.prob(hist, w).unwrap();
                assert!(p > 0.0, "unseen tokens keep mass");
                assert!((f64::from(logits[w as usize]) - p.ln()).abs() < 1e-4);
            }
        }
        // After [1, 2]: 3 seen four times > 6 seen once > 19 never seen anywhere.
        let p = |w| lm.prob(&[1, 2], w).unwrap();
        assert!(p(3) > p(6) && p(6) > p(19), "{} {} {}", p(3), p(6), p(19));
    }

    /// The full context is used: what follows `[1, 2]` differs from what follows `[4, 2]`.
    #[test]
    fn longer_context_changes_prediction() {
        let mut doc = Vec::new();
        for _ in 0..20 {
            doc.extend_from_slice(&[1, 2, 3, 7, 4, 2, 5, 7]);
        }
        for order in 3..=5 {
            let lm =
                NgramLm::train(vec![doc.clone()], order, 10, TokenizerSpec::default()).unwrap();
            let p = |h: &[u32], w| lm.prob(h, w).unwrap();
            assert!(
                p(&[7, 1, 2], 3) > 0.8 && p(&[7, 4, 2], 3) < 0.1,
                "order {order}"
            );
            assert!(
                p(&[7, 4, 2], 5) > 0.8 && p(&[7, 1, 2], 5) < 0.1,
                "order {order}"
            );
        }
    }

    #[test]
    fn save_load_identical_and_corruption_detected() {
        let lm = toy();
        let dir = std::env::temp_dir().join(format!("provmark-ngram-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.pmlm");
        lm.save(&path).unwrap();
        let back = NgramLm::load(&path).unwrap();
        let (mut a, mut b) = (vec![0.0; 20], vec![0.0; 20]);
        for hist in [&[][..], &[1, 2], &[4, 9]] {
            lm.logits(hist, &mut a).unwrap();
            back.logits(hist, &mut b).unwrap();
            assert_eq!(a, b);
        }
        let bytes = std::fs::read(&path).unwrap();
        for bad in [
            bytes[..bytes.len() - 1].to_vec(),
            bytes[..10].to_vec(),
            b"not a model".to_vec(),
            {
                let mut x = bytes.clone();
                x[20] ^= 1;
                x
            },
        ] {
            let err = NgramLm::from_bytes(&bad).err().unwrap();
            assert!(!err.is_empty());
        }
        assert!(matches!(
            NgramLm::load(&dir.join("missing")),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn training_is_deterministic_and_validates() {
        let a = toy();
        let b = toy();
        assert_eq!(a.top, b.top);
        assert!(NgramLm::train(vec![vec![1, 25]], 3, 20, TokenizerSpec::default()).is_err());
        assert!(NgramLm::train(vec![vec![1, 2]], 6, 20, TokenizerSpec::default()).is_err());
        assert!(NgramLm::train(vec![vec![]], 3, 20, TokenizerSpec::default()).is_err());
    }

    /// The rejection sampler draws from softmax(logits + bias): 40 000 draws per history
    /// against the exact probabilities, chi-square over the 20 tokens (19 degrees of freedom),
    /// each history's test failing by chance with probability 1e-6 (fixed seed).
    #[test]
    fn weighted_sampling_matches_biased_logits() {
        use rand::{RngExt, SeedableRng};
        let lm = toy();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let bias = |t: u32| if t % 3 == 0 { 2.0f64 } else { 0.0 };
        let mut logits = vec![0.0f32; 20];
        for hist in [&[][..], &[1, 2], &[9, 9], &[3, 4, 1], &[15, 16]] {
            lm.logits(hist, &mut logits).unwrap();
            let w: Vec<f64> = logits
                .iter()
                .enumerate()
                .map(|(t, &l)| (f64::from(l) + bias(t as u32)).exp())
                .collect();
            let z: f64 = w.iter().sum();
            let draws = 40_000;
            let mut seen = [0u64; 20];
            for _ in 0..draws {
                let t = lm
                    .sample_weighted(
                        hist,
                        &mut |t| (bias(t) - 2.0).exp(),
                        &mut || rng.random(),
                        1000,
                    )
                    .unwrap();
                seen[t as usize] += 1;
            }
            let chi2: f64 = seen
                .iter()
                .zip(&w)
                .map(|(&o, &wi)| {
                    let e = draws as f64 * wi / z;
                    (o as f64 - e).powi(2) / e
                })
                .sum();
            let ln_p = provmark::stats::gamma_sf_ln(9.5, chi2 / 2.0).unwrap();
            assert!(ln_p > (1e-6f64).ln(), "{hist:?}: chi2 {chi2}");
        }
        // All-rejecting weights give up after max_tries.
        assert_eq!(
            lm.sample_weighted(&[1], &mut |_| 0.0, &mut || 0.5, 10),
            None
        );
    }
}
