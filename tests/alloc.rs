//! No heap allocation per decoding step after warm-up: a counting global allocator watches
//! the server-side calls. (Its own test binary, since the allocator is process-wide.)

use provmark::key::SecretKey;
use provmark::sampling::{Sampler, SamplingConfig};
use provmark::scheme::{Kgw, KgwParams, StreamState};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
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
        let before = ALLOCATIONS.load(Ordering::Relaxed);
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
        let after = ALLOCATIONS.load(Ordering::Relaxed);
        assert_eq!(
            after - before,
            0,
            "{config:?}: allocations during decoding steps"
        );
    }
}
