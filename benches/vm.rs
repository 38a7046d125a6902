//! VM speed on compute-bound fixtures: `Vm::new` + `run` to exit, reported as guest
//! instructions per second (`Throughput::Elements(cycles)`, the cycle count measured once).
//!
//! ```text
//! cargo bench --bench vm -- --measurement-time 5
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

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("vm");
    for name in ["medlow_fib", "jolt_heap"] {
        let (img, layout) = load(name);
        let first = Vm::new(&img, &layout, RunConfig::default()).unwrap().run();
        assert!(first.fault.is_none(), "{name}: {:?}", first.fault);
        eprintln!(
            "{name}: {} instructions, exit {:?}",
            first.cycles, first.exit_code
        );
        g.throughput(Throughput::Elements(first.cycles));
        g.bench_function(name, |b| {
            b.iter(|| {
                let r = Vm::new(&img, &layout, RunConfig::default()).unwrap().run();
                black_box(r.cycles)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
