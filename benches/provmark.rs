//! Criterion benchmarks. Ids are stable so results compare over time:
//! `bias/V/B`, `sample/V/B` (top-p 0.95, temperature 0.8), `sample_plain/V`, `detect/dedup`, `detect/nodedup`, `pvalue`, `prf/seed`,
//! `prf/byte`, `prf/keystream/V` (the keystream of one step: V bytes).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use provmark::detect::{Detector, DetectorConfig};
use provmark::key::SecretKey;
use provmark::prf::{PrfV1, PrfV2, PrfVersion};
use provmark::sampling::{Sampler, SamplingConfig};
use provmark::scheme::{
    Gumbel, GumbelParams, Scheme, SelfHash, SelfHashParams, SynthId, SynthIdParams, Vllm,
    VllmAlgorithm, VllmParams,
};
use provmark::scheme::{Kgw, KgwParams};
use std::hint::black_box;
use std::sync::Arc;

const VOCABS: [usize; 4] = [32_000, 49_152, 128_256, 201_088];
const BATCHES: [usize; 2] = [1, 8];

fn logits(n: usize) -> Vec<f32> {
    // Deterministic, varied logits (a cheap LCG), as a model's would be.
    let mut x = 0x1234_5678u32;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 8) as f32 / (1u32 << 24) as f32 * 12.0 - 6.0
        })
        .collect()
}

/// Row-major `b × v` logits and `b` two-token histories.
fn batch(v: usize, b: usize) -> (Vec<f32>, Vec<Vec<u32>>) {
    let hist = (0..b as u32)
        .map(|i| vec![1000 + i, 2000 + 3 * i])
        .collect();
    (logits(v * b), hist)
}

fn bias(c: &mut Criterion) {
    let kgw = Kgw::new(&SecretKey::from_bytes([1; 32]), KgwParams::default());
    let mut g = c.benchmark_group("bias");
    for v in VOCABS {
        for b in BATCHES {
            let (base, hist) = batch(v, b);
            let mut buf = base.clone();
            let refs: Vec<&[u32]> = hist.iter().map(Vec::as_slice).collect();
            let mut step = 0u32;
            g.bench_function(BenchmarkId::new(v.to_string(), b), |bench| {
                bench.iter(|| {
                    // A new context each step, as in decoding (no mask caching helps).
                    step = step.wrapping_add(1);
                    let h: Vec<[u32; 2]> = refs.iter().map(|r| [r[0], r[1] ^ step]).collect();
                    let hr: Vec<&[u32]> = h.iter().map(|x| x.as_slice()).collect();
                    kgw.bias_batch(&hr, &mut buf, v).unwrap();
                    black_box(&buf);
                })
            });
        }
    }
    g.finish();
}

fn sample(c: &mut Criterion) {
    let kgw = Kgw::new(&SecretKey::from_bytes([1; 32]), KgwParams::default());
    let mut g = c.benchmark_group("sample");
    for v in VOCABS {
        for b in BATCHES {
            let (base, hist) = batch(v, b);
            let mut buf = base.clone();
            let refs: Vec<&[u32]> = hist.iter().map(Vec::as_slice).collect();
            let mut sampler = Sampler::new(SamplingConfig {
                temperature: 0.8,
                top_k: 0,
                top_p: 0.95,
            })
            .unwrap();
            let uniforms: Vec<f64> = (0..b).map(|i| (i as f64 + 0.5) / b as f64).collect();
            let mut out = vec![0u32; b];
            g.bench_function(BenchmarkId::new(v.to_string(), b), |bench| {
                bench.iter(|| {
                    buf.copy_from_slice(&base);
                    kgw.sample_batch(&refs, &mut buf, v, &mut sampler, &uniforms, &mut out)
                        .unwrap();
                    black_box(&out);
                })
            });
        }
    }
    g.finish();
}

/// One plain softmax sampling step (temperature 1, no top-k / top-p), no watermark.
fn sample_plain(c: &mut Criterion) {
    let mut g = c.benchmark_group("sample_plain");
    for v in VOCABS {
        let l = logits(v);
        let mut sampler = Sampler::new(SamplingConfig::default()).unwrap();
        g.bench_function(v.to_string(), |b| {
            b.iter(|| sampler.sample(black_box(&l), 0.37).unwrap())
        });
    }
    g.finish();
}

/// Every scheme with its default parameters, named as the bench ids name them.
fn every_scheme(key: &SecretKey) -> Vec<(&'static str, Arc<dyn Scheme>)> {
    let vllm = |a| Arc::new(Vllm::new(42, VllmParams::new(a, 4).unwrap())) as Arc<dyn Scheme>;
    vec![
        ("kgw-v1", Arc::new(Kgw::new(key, KgwParams::default()))),
        (
            "kgw-v2",
            Arc::new(Kgw::with_prf(PrfVersion::V2, key, KgwParams::default(), 0)),
        ),
        (
            "gumbel",
            Arc::new(Gumbel::new(key, GumbelParams::default())),
        ),
        (
            "synthid",
            Arc::new(SynthId::new(key, SynthIdParams::default())),
        ),
        (
            "selfhash",
            Arc::new(SelfHash::new(key, SelfHashParams::default())),
        ),
        ("vllm-gumbel", vllm(VllmAlgorithm::Gumbel)),
        (
            "vllm-red-green",
            vllm(VllmAlgorithm::RedGreen {
                gamma: 0.25,
                delta: 2.0,
            }),
        ),
    ]
}

fn detect(c: &mut Criterion) {
    let key = SecretKey::from_bytes([1; 32]);
    let ids: Vec<u32> = (0..1000u32)
        .map(|i| i.wrapping_mul(2_654_435_761) % 128_000)
        .collect();
    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements(ids.len() as u64));
    let schemes = every_scheme(&key);
    for (scheme, keyed) in schemes {
        for (name, dedup) in [("dedup", true), ("nodedup", false)] {
            let det = Detector::shared(
                keyed.clone(),
                key.key_id(),
                128_256,
                DetectorConfig {
                    dedup,
                    ..Default::default()
                },
            )
            .unwrap();
            g.bench_function(format!("{scheme}/{name}"), |b| {
                b.iter(|| black_box(det.detect(black_box(&ids)).unwrap()))
            });
        }
    }
    g.finish();
}

fn tails(c: &mut Criterion) {
    c.bench_function("pvalue", |b| {
        b.iter(|| {
            provmark::stats::binomial_sf_ln(black_box(560), black_box(1000), black_box(0.25))
                .unwrap()
        })
    });
    let prf = PrfV1::new(&SecretKey::from_bytes([1; 32]));
    c.bench_function("prf/seed", |b| {
        b.iter(|| prf.seed(black_box(&[464, 3290])).unwrap())
    });
    let seed = prf.seed(&[1, 2]).unwrap();
    c.bench_function("prf/byte", |b| b.iter(|| seed.byte(black_box(77_777))));
    let v2 = PrfV2::new(&SecretKey::from_bytes([1; 32]), "kgw");
    c.bench_function("prf-v2/seed", |b| {
        b.iter(|| v2.seed(black_box(&[464, 3290])).unwrap())
    });
    let seed2 = v2.seed(&[1, 2]).unwrap();
    c.bench_function("prf-v2/byte", |b| b.iter(|| seed2.byte(black_box(77_777))));
    // The keystream floor of one biasing step: one byte per vocabulary entry.
    for v in [49_152usize, 128_256] {
        let mut buf = vec![0u8; v];
        c.bench_function(&format!("prf/keystream/{v}"), |b| {
            b.iter(|| seed.fill_wrapped(0, black_box(&mut buf)))
        });
        c.bench_function(&format!("prf-v2/keystream/{v}"), |b| {
            b.iter(|| seed2.fill_wrapped(0, black_box(&mut buf)))
        });
    }
}

/// One watermarked sampling step through the `Scheme` trait (temperature 1, no filtering), for
/// every scheme, at the SmolLM2 vocabulary size, on logits shaped like a language model's.
fn scheme_step(c: &mut Criterion) {
    let key = SecretKey::from_bytes([1; 32]);
    let vocab = 49_152;
    let base: Vec<f32> = (0..vocab)
        .map(|i| -((i as f32 + 1.0).ln() * 1.1) + ((i * 7919) % 13) as f32 * 0.1)
        .collect();
    // PRF v1 keeps KGW's step (the same keystream pass): one kgw row suffices.
    let schemes = every_scheme(&key)
        .into_iter()
        .filter(|(n, _)| *n != "kgw-v1");
    let mut g = c.benchmark_group("scheme_step");
    for (name, scheme) in schemes {
        let mut sampler = Sampler::new(SamplingConfig::default()).unwrap();
        let mut logits = base.clone();
        let w = scheme.context_rule().width;
        let ctx: Vec<u32> = (0..w as u32).map(|i| 100 + i).collect();
        g.bench_function(BenchmarkId::new(name, vocab), |b| {
            b.iter(|| {
                logits.copy_from_slice(&base);
                black_box(
                    scheme
                        .sample(&ctx, &mut logits, &mut sampler, 0.37)
                        .unwrap(),
                )
            })
        });
    }
    g.finish();
}

/// The localised scan of a scored 1 000-token text (a few hundred exact window tails), and one
/// update of the sequential test's e-process (per scored token).
fn localize_and_sequential(c: &mut Criterion) {
    use provmark::detect::{EProcess, WindowConfig};
    let key = SecretKey::from_bytes([3; 32]);
    let ids: Vec<u32> = (0..1000u32)
        .map(|i| i.wrapping_mul(2_654_435_761) % 128_000)
        .collect();
    let det = Detector::for_scheme(
        Kgw::new(&key, KgwParams::default()),
        key.key_id(),
        128_256,
        DetectorConfig::default(),
    )
    .unwrap();
    let d = det.detect(&ids).unwrap();
    let mut g = c.benchmark_group("localize");
    g.throughput(Throughput::Elements(ids.len() as u64));
    g.bench_function("kgw/1000", |b| {
        b.iter(|| {
            black_box(
                det.localize(black_box(&d), &WindowConfig::default())
                    .unwrap(),
            )
        })
    });
    g.finish();
    let mut e = EProcess::new(det.scheme().null(), 1e-6).unwrap();
    let mut s = 0.0;
    c.bench_function("sequential/update", |b| {
        b.iter(|| {
            s = 1.0 - s;
            black_box(e.update(black_box(s)))
        })
    });
}

criterion_group!(
    benches,
    bias,
    sample,
    sample_plain,
    detect,
    scheme_step,
    tails,
    localize_and_sequential
);
criterion_main!(benches);
