//! The audio mixer's cost per 10 ms of program: four sources (one with noise suppression, one
//! with a noise gate and a compressor, two plain, one of them at a sync offset) and the
//! program limiter, inputs generated in memory. Before measuring, it checks that a block
//! allocates nothing (a counting allocator around the system's); `cargo test --all-targets`
//! runs that check and each benchmark once.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use criterion::{Criterion, criterion_group, criterion_main};

use onair::capture::tone::Tone;
use onair::capture::{AudioInput, AudioSource, SourceDevices};
use onair::config::mixer::{
    Compressor, Filter, MixerSettings, NoiseGate, SourceKind, SourceSettings,
};
use onair::mix::Mixer;

/// Counts allocations (and passes them to the system's allocator).
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed unchanged to `System`, which upholds GlobalAlloc's contract.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Speech-band noise: a pseudo-random signal at -20 dBFS, different per seed.
struct Noise(u32);

impl SourceDevices for Noise {}

impl AudioInput for Noise {
    fn fill(&mut self, _first: u64, out: &mut [f32]) {
        for v in out.iter_mut() {
            self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *v = ((self.0 >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0) * 0.17;
        }
    }
}

fn four_sources() -> Mixer {
    let mut mic = SourceSettings::new("Mic", SourceKind::Microphone, "");
    mic.filters = vec![Filter::NoiseSuppression {}];
    let mut guest = SourceSettings::new("Guest", SourceKind::Microphone, "");
    guest.filters = vec![
        Filter::NoiseGate(NoiseGate::DEFAULT),
        Filter::Compressor(Compressor::DEFAULT),
    ];
    let mut desktop = SourceSettings::new("Desktop", SourceKind::Desktop, "");
    desktop.sync_offset_ms = 150;
    let tone = SourceSettings::new("Tone", SourceKind::Tone, "");
    let inputs: Vec<(SourceSettings, Box<dyn AudioInput>)> = vec![
        (mic, Box::new(Noise(1))),
        (guest, Box::new(Noise(2))),
        (desktop, Box::new(Noise(3))),
        (tone, Box::new(Tone::new())),
    ];
    let settings = MixerSettings::with_sources(inputs.iter().map(|(s, _)| s.clone()).collect());
    Mixer::new(settings, inputs)
}

/// A block after warming up allocates nothing: checked before any measurement.
fn assert_no_allocation_per_block(m: &mut Mixer, chunk: &mut [i16], first: &mut u64) {
    for _ in 0..200 {
        m.fill(*first, chunk);
        *first += 480;
    }
    let before = ALLOCATIONS.load(Relaxed);
    for _ in 0..1_000 {
        m.fill(*first, chunk);
        *first += 480;
    }
    let allocated = ALLOCATIONS.load(Relaxed) - before;
    assert_eq!(
        allocated, 0,
        "the mixer allocated {allocated} times in 1000 blocks"
    );
    println!(
        "mixer: 0 allocations in 1000 blocks of 10 ms (4 sources, noise suppression, limiter)"
    );
}

fn mixer(c: &mut Criterion) {
    let mut m = four_sources();
    let mut chunk = vec![0i16; 960];
    let mut first = 0u64;
    assert_no_allocation_per_block(&mut m, &mut chunk, &mut first);
    c.bench_function(
        "mixer/4 sources + noise suppression + limiter, per 10 ms",
        |b| {
            b.iter(|| {
                m.fill(first, &mut chunk);
                first += 480;
                black_box(&chunk);
            })
        },
    );
    // The same without noise suppression, to show its share.
    let mut plain = four_sources();
    plain
        .controls()
        .update(|s| s.sources[0].filters.clear())
        .expect("valid");
    c.bench_function(
        "mixer/4 sources + limiter (no noise suppression), per 10 ms",
        |b| {
            b.iter(|| {
                plain.fill(first, &mut chunk);
                first += 480;
                black_box(&chunk);
            })
        },
    );
}

criterion_group!(benches, mixer);
criterion_main!(benches);
