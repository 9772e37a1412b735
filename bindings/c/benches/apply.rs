//! The llama.cpp sampler's `apply` (`provmark_sampler_apply`) on a full SmolLM2-sized candidate
//! array (in id order, as llama.cpp builds it, and reversed), and on a top-k 40 array; and
//! `select` (`provmark_sampler_select`, the keyed draw of distortion-free keys) with a Gumbel
//! key on the same arrays.
//!
//! `cargo bench -p provmark-c --bench apply`

use criterion::{Criterion, criterion_group, criterion_main};
use provmark::key::SecretKey;
use provmark::scheme::{Gumbel, GumbelParams, Kgw, KgwParams};
use provmark_c::{CandidateSampler, TokenData};
use std::hint::black_box;
use std::sync::Arc;

fn candidates(ids: impl Iterator<Item = i32>) -> Vec<TokenData> {
    ids.map(|id| TokenData {
        id,
        logit: (id % 13) as f32,
        p: 0.0,
    })
    .collect()
}

fn apply(c: &mut Criterion) {
    let kgw = Kgw::new(&SecretKey::from_bytes([9; 32]), KgwParams::default());
    let mut g = c.benchmark_group("llama_sampler_apply");
    for (name, data) in [
        ("full/49152", candidates(0..49_152)),
        ("full_reversed/49152", candidates((0..49_152).rev())),
        (
            "top_k40/49152",
            candidates((0..40).map(|i| i * 1_201 % 49_152)),
        ),
    ] {
        let mut s = CandidateSampler::for_kgw(kgw.clone());
        s.accept(11).unwrap_or_default();
        let mut data = data;
        let mut next = 0i32;
        g.bench_function(name, |b| {
            b.iter(|| {
                // A new context each step, as in decoding.
                next = (next + 1) % 49_152;
                s.accept(next).unwrap_or_default();
                s.apply(black_box(&mut data)).unwrap_or_default();
            })
        });
    }
    g.finish();
}

fn select(c: &mut Criterion) {
    let gumbel = Gumbel::new(&SecretKey::from_bytes([9; 32]), GumbelParams::default());
    let mut g = c.benchmark_group("llama_sampler_select");
    for (name, data) in [
        ("gumbel/full/49152", candidates(0..49_152)),
        (
            "gumbel/top_k40/49152",
            candidates((0..40).map(|i| i * 1_201 % 49_152)),
        ),
    ] {
        let Ok(mut s) = CandidateSampler::new(Arc::new(gumbel.clone()), None, false) else {
            return;
        };
        s.seed(1);
        let mut next = 0i32;
        g.bench_function(name, |b| {
            b.iter(|| {
                next = (next + 1) % 49_152;
                s.accept(next).unwrap_or_default();
                black_box(s.select(black_box(&data)).unwrap_or_default())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, apply, select);
criterion_main!(benches);
