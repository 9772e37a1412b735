//! No heap allocation per decoding step after warm-up: a counting global allocator watches
//! the server-side calls. (Its own test binary, since the allocator is process-wide; the count is per thread.)

use provmark::key::SecretKey;
use provmark::sampling::{Sampler, SamplingConfig};
use provmark::scheme::{Kgw, KgwParams, StreamState};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    /// Allocations made by this thread: the test harness allocates on its own threads while a
    /// test runs, so a process-wide count would see them.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn decoding_steps_do_not_allocate() {
    let vocab = 50_000;
    let kgw = Kgw::new(&SecretKey::from_bytes([1; 32]), KgwParams::default());
    let base: Vec<f32> = (0..vocab)
        .map(|i| ((i * 7919) % 1000) as f32 / 100.0)
        .collect();
    let mut logits = base.clone();
    let mut batch: Vec<f32> = base.iter().chain(&base).copied().collect();
    let histories: [&[u32]; 2] = [&[1, 2], &[3, 4]];
    let mut out = [0u32; 2];
    for config in [
        SamplingConfig::default(),
        SamplingConfig {
            temperature: 0.7,
            top_k: 40,
            top_p: 1.0,
        },
        SamplingConfig {
            temperature: 0.9,
            top_k: 0,
            top_p: 0.9,
        },
        SamplingConfig {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
        },
    ] {
        let mut sampler = Sampler::new(config).unwrap();
        let mut state = StreamState::new(&[5, 6, 7]);
        // Warm-up: the sampler sizes its scratch buffers once.
        state.sample(&kgw, &mut logits, &mut sampler, 0.5).unwrap();
        kgw.sample_batch(
            &histories,
            &mut batch,
            vocab,
            &mut sampler,
            &[0.1, 0.9],
            &mut out,
        )
        .unwrap();
        let before = allocations();
        for step in 0..50 {
            logits.copy_from_slice(&base);
            let u = f64::from(step) / 50.0;
            state.sample(&kgw, &mut logits, &mut sampler, u).unwrap();
            kgw.bias(state.history(), &mut logits).unwrap();
            kgw.sample_batch(
                &histories,
                &mut batch,
                vocab,
                &mut sampler,
                &[u, 0.999 - u / 2.0],
                &mut out,
            )
            .unwrap();
        }
        let after = allocations();
        assert_eq!(
            after - before,
            0,
            "{config:?}: allocations during decoding steps"
        );
    }
}

/// Every scheme's `sample` and `sample_batch`, through the `Scheme` trait, with temperature,
/// top-k and top-p: no allocation once the sampler is warm.
#[test]
fn every_scheme_samples_without_allocating() {
    use provmark::key::KeyFile;
    use provmark::scheme::{SchemeConfig, VllmAlgorithm, VllmParams};
    let vocab = 50_000;
    let vllm = |a| KeyFile::vllm(42, VllmParams::new(a, 4).unwrap(), Default::default());
    let keys = [
        KeyFile {
            secret: SecretKey::from_bytes([1; 32]),
            scheme: SchemeConfig::kgw(KgwParams::default()),
            tokenizer: Default::default(),
            account: None,
            normalization: Default::default(),
            validity: Default::default(),
            coded: None,
        },
        KeyFile {
            secret: SecretKey::from_bytes([2; 32]),
            scheme: SchemeConfig::Gumbel(Default::default()),
            tokenizer: Default::default(),
            account: None,
            normalization: Default::default(),
            validity: Default::default(),
            coded: None,
        },
        KeyFile {
            secret: SecretKey::from_bytes([3; 32]),
            scheme: SchemeConfig::SynthId(Default::default()),
            tokenizer: Default::default(),
            account: None,
            normalization: Default::default(),
            validity: Default::default(),
            coded: None,
        },
        KeyFile {
            secret: SecretKey::from_bytes([4; 32]),
            scheme: SchemeConfig::SelfHash(Default::default()),
            tokenizer: Default::default(),
            account: None,
            normalization: Default::default(),
            validity: Default::default(),
            coded: None,
        },
        vllm(VllmAlgorithm::Gumbel),
        vllm(VllmAlgorithm::DualKeyGumbel { alpha: 0.3 }),
        vllm(VllmAlgorithm::RedGreen {
            gamma: 0.25,
            delta: 2.0,
        }),
    ];
    let base: Vec<f32> = (0..vocab)
        .map(|i| ((i * 7919) % 1000) as f32 / 100.0)
        .collect();
    for key in &keys {
        let scheme = key.scheme();
        for config in [
            SamplingConfig::default(),
            SamplingConfig {
                temperature: 0.7,
                top_k: 40,
                top_p: 0.9,
            },
            SamplingConfig {
                temperature: 0.9,
                top_k: 0,
                top_p: 0.9,
            },
        ] {
            let mut sampler = Sampler::new(config).unwrap();
            let mut logits = base.clone();
            let mut batch: Vec<f32> = base.iter().chain(&base).copied().collect();
            let contexts: [&[u32]; 2] = [&[1, 2, 3, 4], &[5, 6, 7, 8]];
            let mut out = [0u32; 2];
            let ctx: &[u32] = &[9, 10, 11, 12];
            let ctx = &ctx[4 - scheme.context_rule().width.min(4)..];
            scheme.sample(ctx, &mut logits, &mut sampler, 0.5).unwrap();
            scheme
                .sample_batch(
                    &contexts,
                    &mut batch,
                    vocab,
                    &mut sampler,
                    &[0.1, 0.9],
                    &mut out,
                )
                .unwrap();
            let before = allocations();
            for step in 0..20 {
                logits.copy_from_slice(&base);
                let u = f64::from(step) / 20.0;
                scheme.sample(ctx, &mut logits, &mut sampler, u).unwrap();
                batch[..vocab].copy_from_slice(&base);
                batch[vocab..].copy_from_slice(&base);
                scheme
                    .sample_batch(
                        &contexts,
                        &mut batch,
                        vocab,
                        &mut sampler,
                        &[u, 1.0 - u / 2.0 - 0.01],
                        &mut out,
                    )
                    .unwrap();
            }
            let after = allocations();
            assert_eq!(after - before, 0, "{}: {config:?}", scheme.name());
        }
    }
}
