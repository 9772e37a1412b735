//! One decoding step of the reference model in candle, with and without the watermark: what
//! provmark adds to a real engine's step; and the plain step with the weights as stored
//! (Q4_1, candle's scalar kernel), what [`Llama::load`]'s Q8_0 requantization saves. Needs the
//! model (scripts/fetch-model.sh); without it the benchmarks are skipped, saying so.
//!
//! `cargo bench -p provmark-candle --bench decode` (set `CANDLE_NUM_THREADS`, one thread is the
//! steady figure on a busy 2-core machine).

use criterion::{Criterion, criterion_group, criterion_main};
use provmark::key::SecretKey;
use provmark::lm::LanguageModel;
use provmark::sampling::{Sampler, SamplingConfig};
use provmark::scheme::{Kgw, KgwParams};
use provmark_candle::{Llama, Message};
use std::time::{Duration, Instant};

/// Steps generated from one prompt before the cache is reset (untimed).
const RUN: usize = 32;

fn steps(c: &mut Criterion) {
    let Some(path) = provmark_text::smollm2_path() else {
        eprintln!("skipped: the reference model is not fetched (scripts/fetch-model.sh)");
        return;
    };
    let (Ok(lm), Ok(stored), Ok(tok)) = (
        Llama::load(&path),
        Llama::load_as_stored(&path),
        provmark_text::gguf::load(&path),
    ) else {
        eprintln!("skipped: the reference model does not load");
        return;
    };
    let Ok(prompt) = lm.encode_chat(tok.as_ref(), &[Message::user("Tell me about rivers.")]) else {
        return;
    };
    let kgw = Kgw::new(&SecretKey::from_bytes([3; 32]), KgwParams::default());
    let mut g = c.benchmark_group("candle_step");
    g.sample_size(10);
    let config = SamplingConfig {
        temperature: 0.7,
        top_k: 0,
        top_p: 0.95,
    };
    let runs = [
        ("smollm2/plain", &lm, None),
        ("smollm2/watermarked", &lm, Some(&kgw)),
        ("smollm2-as-stored/plain", &stored, None),
    ];
    for (name, lm, wm) in runs {
        let Ok(mut sampler) = Sampler::new(config) else {
            return;
        };
        g.bench_function(name, |b| {
            let mut logits = vec![0.0f32; lm.vocab_size()];
            let mut history = prompt.clone();
            let mut u = 0.0f64;
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    if i as usize % RUN == 0 {
                        history.truncate(prompt.len());
                        let _ = lm.logits(&history[..history.len() - 1], &mut logits);
                    }
                    u = (u + 0.618_033_988_75) % 1.0;
                    let t0 = Instant::now();
                    let step = lm.logits(&history, &mut logits).and_then(|()| match wm {
                        Some(k) => k.sample_step(&history, &mut logits, &mut sampler, u),
                        None => sampler.sample(&logits, u),
                    });
                    total += t0.elapsed();
                    history.push(step.unwrap_or(0));
                }
                total
            });
        });
    }
    g.finish();
}

criterion_group!(benches, steps);
criterion_main!(benches);
