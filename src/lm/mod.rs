//! The interface between a language model and the watermark: a model hands full-vocabulary
//! logits to the scheme, which biases them or samples from them.
//!
//! [`LanguageModel`] is what an engine adapter implements (the candle adapter in
//! `provmark-candle`, the n-gram model in `provmark-cli`); [`generate`] is the sampling loop a
//! server runs over it, and [`greedy_predictions`] is the forward pass an open-model audit
//! needs. [`synthetic::SyntheticLm`] is a stand-in model with a controlled spread of entropies,
//! for tests and benches.

pub mod synthetic;

use crate::Result;
use crate::fingerprint::{CONTEXT_DOMAIN, FingerprintHasher, fingerprint};
use crate::scheme::{GenerationRule, Scheme};

/// A next-token model over a fixed vocabulary.
pub trait LanguageModel: Send + Sync {
    /// Vocabulary size: the length of the logits.
    fn vocab_size(&self) -> usize;

    /// Writes the next-token logits after `history` into `out` (length [`Self::vocab_size`]).
    /// `-inf` marks tokens the model never emits.
    ///
    /// # Errors
    /// [`crate::Error::LogitsShape`] when `out` has the wrong length.
    fn logits(&self, history: &[u32], out: &mut [f32]) -> Result<()>;

    /// Tokens that end a generation (a chat model's end-of-turn token). [`generate`] stops
    /// when it samples one and does not return it. None by default.
    fn stop_tokens(&self) -> &[u32] {
        &[]
    }
}

impl LanguageModel for synthetic::SyntheticLm {
    fn vocab_size(&self) -> usize {
        synthetic::SyntheticLm::vocab_size(self)
    }

    fn logits(&self, history: &[u32], out: &mut [f32]) -> Result<()> {
        synthetic::SyntheticLm::logits(self, history, out)
    }
}

/// Samples up to `n` tokens from `lm` after `prompt`, watermarked with `scheme` when given;
/// stops early at one of the model's [`LanguageModel::stop_tokens`] (not returned).
///
/// Contexts follow the scheme's [`crate::scheme::GenerationRule`]: for KGW the prompt plus
/// what has been generated, exactly as in a server; for vLLM's schemes the generated tokens
/// alone, padded, with steps whose context already occurred left unwatermarked (vLLM's
/// `single_turn` dedup). `uniform` supplies one draw in `[0, 1)` per step (see
/// [`crate::sampling`]). Returns only the generated tokens.
///
/// # Errors
/// The model's, the scheme's and the sampler's errors.
///
/// ```
/// use provmark::{key::SecretKey, lm::{generate, synthetic::SyntheticLm}, sampling::*, scheme::*};
/// let lm = SyntheticLm::new(1000, (0..1000).collect())?;
/// let kgw = Kgw::new(&SecretKey::from_bytes([1; 32]), KgwParams::default());
/// let mut sampler = Sampler::new(SamplingConfig::default())?;
/// let mut i = 0u32;
/// let mut next = || { i += 1; f64::from(i % 97) / 97.0 };
/// let out = generate(&lm, Some(&kgw), &[5, 6], 20, &mut sampler, &mut next)?;
/// assert_eq!(out.len(), 20);
/// # Ok::<(), provmark::Error>(())
/// ```
pub fn generate(
    lm: &dyn LanguageModel,
    scheme: Option<&dyn Scheme>,
    prompt: &[u32],
    n: usize,
    sampler: &mut crate::sampling::Sampler,
    uniform: &mut dyn FnMut() -> f64,
) -> Result<Vec<u32>> {
    let mut history = Vec::with_capacity(prompt.len() + n);
    history.extend_from_slice(prompt);
    let mut logits = vec![0.0f32; lm.vocab_size()];
    let mut steps = scheme.map(|s| GenerationContexts::new(s, prompt, n));
    for _ in 0..n {
        lm.logits(&history, &mut logits)?;
        let u = uniform();
        let t = match (scheme, steps.as_mut()) {
            (Some(s), Some(ctx)) => match ctx.next_step() {
                Some(c) => s.sample(c, &mut logits, sampler, u)?,
                None => sampler.sample(&logits, u)?,
            },
            _ => sampler.sample(&logits, u)?,
        };
        if lm.stop_tokens().contains(&t) {
            break;
        }
        history.push(t);
        if let Some(ctx) = steps.as_mut() {
            ctx.push(t);
        }
    }
    Ok(history.split_off(prompt.len()))
}

/// The context of each generation step under a scheme's [`GenerationRule`], and whether the
/// step is watermarked. Allocates once, for `n` steps (beyond `n`, the record of earlier
/// contexts grows geometrically, so allocation stays amortised).
#[derive(Clone, Debug)]
pub struct GenerationContexts {
    rule: GenerationRule,
    /// Prompt tail (if the rule includes the prompt) or padding, then generated tokens.
    window: Vec<u32>,
    /// Generated tokens so far.
    generated: usize,
    /// Latest position at which each context (by fingerprint) occurred.
    seen: std::collections::HashMap<u64, usize, std::hash::BuildHasherDefault<FingerprintHasher>>,
}

impl GenerationContexts {
    /// Starts a generation of up to `n` tokens after `prompt`.
    pub fn new(scheme: &dyn Scheme, prompt: &[u32], n: usize) -> Self {
        let rule = scheme.generation_rule();
        let w = rule.context.width;
        let mut window = Vec::with_capacity(w + 1);
        match rule.context.pad {
            Some(pad) if !rule.prompt_in_context => window.resize(w, pad),
            _ => window.extend(prompt.iter().rev().take(w).rev()),
        }
        let mut seen = std::collections::HashMap::default();
        if rule.skip_repeated.is_some() {
            seen.reserve(n);
        }
        GenerationContexts {
            rule,
            window,
            generated: 0,
            seen,
        }
    }

    /// The next step's context, or `None` when the step must not be watermarked (a context
    /// that occurred before, under a rule that skips those). Without padding the context may
    /// be shorter than the width at the start; the scheme then leaves the step unwatermarked.
    pub fn next_step(&mut self) -> Option<&[u32]> {
        if let Some(max_history) = self.rule.skip_repeated {
            let fp = fingerprint(CONTEXT_DOMAIN, &self.window, None);
            let l = self.generated;
            // Repeated iff the context occurred at a position q ≥ l − max_history; the latest
            // occurrence decides.
            let earlier = self.seen.insert(fp, l);
            if earlier.is_some_and(|q| q.saturating_add(max_history) >= l) {
                return None;
            }
        }
        Some(&self.window)
    }

    /// Records the token emitted at this step.
    pub fn push(&mut self, token: u32) {
        let w = self.rule.context.width;
        if w > 0 {
            if self.window.len() == w {
                self.window.remove(0);
            }
            self.window.push(token);
        }
        self.generated += 1;
    }
}

/// The model's most likely next token at every position of `text`: element `t` is the
/// argmax of the logits after `text[..t]` (ties go to the smaller id; NaN logits are never
/// chosen). This is what [`crate::provenance::audit::Audit::add_predictions`] scores when the
/// suspect's weights are at hand.
///
/// # Errors
/// The model's errors; [`crate::Error::InvalidInput`] if a position has no finite logit.
///
/// ```
/// use provmark::lm::{greedy_predictions, synthetic::SyntheticLm};
/// let lm = SyntheticLm::new(50, (0..50).collect())?;
/// let p = greedy_predictions(&lm, &[3, 4, 5])?;
/// assert_eq!(p.len(), 3);
/// # Ok::<(), provmark::Error>(())
/// ```
pub fn greedy_predictions(lm: &dyn LanguageModel, text: &[u32]) -> Result<Vec<u32>> {
    let mut logits = vec![0.0f32; lm.vocab_size()];
    let mut out = Vec::with_capacity(text.len());
    for t in 0..text.len() {
        lm.logits(text.get(..t).unwrap_or_default(), &mut logits)?;
        let best = logits
            .iter()
            .enumerate()
            .filter(|(_, x)| !x.is_nan() && **x > f32::NEG_INFINITY)
            .fold(None, |best: Option<(usize, f32)>, (i, &x)| match best {
                Some((_, b)) if b >= x => best,
                _ => Some((i, x)),
            });
        let (i, _) = best.ok_or_else(|| {
            crate::Error::InvalidInput(format!("no finite logit after position {t}"))
        })?;
        out.push(u32::try_from(i).unwrap_or(u32::MAX));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::{Sampler, SamplingConfig};

    /// Puts all mass on `next(history)`; `stop` is its end-of-turn token.
    struct Scripted {
        stop: [u32; 1],
    }

    impl LanguageModel for Scripted {
        fn vocab_size(&self) -> usize {
            8
        }
        fn logits(&self, history: &[u32], out: &mut [f32]) -> Result<()> {
            out.fill(f32::NEG_INFINITY);
            // 4, 5, then the stop token 7.
            let next = match history.len() {
                0 | 1 => 4 + history.len(),
                _ => 7,
            };
            if let Some(l) = out.get_mut(next) {
                *l = 0.0;
            }
            Ok(())
        }
        fn stop_tokens(&self) -> &[u32] {
            &self.stop
        }
    }

    #[test]
    fn generation_stops_at_a_stop_token_and_drops_it() {
        let lm = Scripted { stop: [7] };
        let mut s = Sampler::new(SamplingConfig::default()).unwrap();
        let out = generate(&lm, None, &[], 10, &mut s, &mut || 0.5).unwrap();
        assert_eq!(out, [4, 5]);
    }
}
