//! The llama.cpp sampler's `apply` (`provmark_sampler_apply`) on a full SmolLM2-sized candidate
//! array (in id order, as llama.cpp builds it, and reversed), and on a top-k 40 array.
//!
//! `cargo bench -p provmark-c --bench apply`

use criterion::{Criterion, criterion_group, criterion_main};
use provmark::key::SecretKey;
use provmark::scheme::{Kgw, KgwParams};
use provmark_c::{CandidateSampler, TokenData};
use std::hint::black_box;

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
        let mut s = CandidateSampler::new(kgw.clone());
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

criterion_group!(benches, apply);
criterion_main!(benches);
