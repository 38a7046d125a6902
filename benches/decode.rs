//! Decode throughput: `isa::decode` over every code word of every fixture.
//!
//! ```text
//! cargo bench --bench decode -- --measurement-time 5
//! ```

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nexus_relink::elf::Image;
use nexus_relink::isa::decode;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "elf"))
        .collect();
    paths.sort();
    let mut words = Vec::new();
    for p in &paths {
        let img = Image::read(p).expect("fixture");
        words.extend(img.code_words().map(|(_, w)| w));
    }
    let ok = words.iter().filter(|&&w| decode(w).is_ok()).count();
    eprintln!(
        "{} code words from {} fixtures ({ok} decode)",
        words.len(),
        paths.len()
    );
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(words.len() as u64));
    g.bench_function("fixture_code_words", |b| {
        b.iter(|| {
            for &w in &words {
                black_box(decode(black_box(w)).ok());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
