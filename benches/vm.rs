//! VM speed, reported as guest instructions per second (`Throughput::Elements(cycles)`, the
//! cycle count measured once):
//! - `vm/*`: `Vm::new` + `run` to exit on the small fixtures and the benchmark guests of
//!   `fixtures/bench/` (the untraced run of `run`, and of `prove`'s first pass, which is
//!   `run_to_end`);
//! - `traced/*`: the segment tracer `prove` uses (`trace_segments` + `next_segment`), over the
//!   first 8 segments of `DEFAULT_SEGMENT_CYCLES` instructions of `bench_compute` and
//!   `bench_sort`; `*_recycled` hands each piece's buffers back (`SegmentedTrace::recycle`).
//!
//! ```text
//! cargo bench --bench vm -- --measurement-time 5
//! cargo bench --bench vm -- 'vm/bench_'      # one group or guest
//! ```

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nexus_relink::elf::Image;
use nexus_relink::layout::Layout;
use nexus_relink::vm::{RunConfig, Vm};
use std::hint::black_box;

fn load(name: &str) -> (Image, Layout) {
    let path = format!("{}/fixtures/{name}.elf", env!("CARGO_MANIFEST_DIR"));
    let img = Image::read(std::path::Path::new(&path)).expect("fixture");
    let layout = Layout::discover(&img).expect("layout");
    (img, layout)
}

fn untraced(c: &mut Criterion) {
    let mut g = c.benchmark_group("vm");
    for name in [
        "medlow_fib",
        "jolt_heap",
        "bench/bench_compute",
        "bench/bench_chase",
        "bench/bench_sort",
    ] {
        let (img, layout) = load(name);
        let first = Vm::new(&img, &layout, RunConfig::default()).unwrap().run();
        assert!(first.fault.is_none(), "{name}: {:?}", first.fault);
        eprintln!(
            "{name}: {} instructions, exit {:?}",
            first.cycles, first.exit_code
        );
        if first.cycles > 10_000_000 {
            g.sample_size(10);
        }
        g.throughput(Throughput::Elements(first.cycles));
        let id = name.trim_start_matches("bench/");
        g.bench_function(id, |b| {
            b.iter(|| {
                let r = Vm::new(&img, &layout, RunConfig::default()).unwrap().run();
                black_box(r.cycles)
            })
        });
    }
    g.finish();
}

/// Segments as `prove` cuts them by default.
const SEGMENT: u64 = nexus_relink::prove::DEFAULT_SEGMENT_CYCLES;
const SEGMENTS: u64 = 8;

fn traced(c: &mut Criterion) {
    let mut g = c.benchmark_group("traced");
    g.sample_size(10);
    for name in ["bench/bench_compute", "bench/bench_sort"] {
        let (img, layout) = load(name);
        g.throughput(Throughput::Elements(SEGMENT * SEGMENTS));
        // As `prove` uses it (each piece in new buffers), and handing each piece back
        // (`recycle`, as `run --profile` does): the difference is the page faults of 40 MiB
        // of new rows per piece.
        for recycle in [false, true] {
            let id = format!(
                "{}{}",
                name.trim_start_matches("bench/"),
                if recycle { "_recycled" } else { "" }
            );
            g.bench_function(&id, |b| {
                b.iter(|| {
                    let mut run = Vm::new(&img, &layout, RunConfig::default())
                        .unwrap()
                        .trace_segments();
                    let mut rows = 0;
                    for _ in 0..SEGMENTS {
                        let t = run.next_segment(SEGMENT).expect("a segment");
                        rows += t.rows.len();
                        black_box(&t);
                        if recycle {
                            run.recycle(t);
                        }
                    }
                    assert_eq!(rows as u64, SEGMENT * SEGMENTS);
                    rows
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, untraced, traced);
criterion_main!(benches);
