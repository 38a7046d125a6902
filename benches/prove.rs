//! Proving throughput, proof size, verify time and peak memory.
//!
//! The guest is generated (see `guest/mod.rs`): a loop of 12 instructions (ALU, shift,
//! multiply, remainder, store, load, compare, branch) run `n` times, then `exit`. Sizes are
//! chosen so the CPU table is just under 2^16, 2^18 and 2^20 rows. The same 2^16 guest is also
//! proven laid out for a 64 KiB memory and rewritten (by this tool) to 256 MiB: proving cost
//! follows the memory touched, not the limit.
//!
//! ```text
//! cargo bench --bench prove
//! cargo bench --bench prove -- zk
//! cargo bench --bench prove -- segments
//! NXR_BENCH_LONG=1 cargo bench --bench prove -- segments/long
//! ```
//! The `segments` group proves runs as chains of segments (continuations): the 2^20-row guest
//! run four times as long in segments of 2^20 - 1 cycles (CPU tables of 2^20 rows:
//! throughput with the state binding, verify time per segment), 2 M and 12 M cycles in such
//! segments (peak memory must not grow with the run), and a criterion measurement of four
//! segments of 2^16 - 1 cycles against the same run as one 2^18-row proof.
//! `segments/long` (only with `NXR_BENCH_LONG=1`: about an hour) proves a 167 M-cycle run.
//! The `zk` group proves the 2^16 and 2^18 guests with and without `--zk` (zero-knowledge:
//! hiding PCS and salted Merkle trees), side by side so both are measured under the same
//! load. With a filter, only the matching benchmarks' one-off lines are printed.
//! Before the criterion samples, each size is proven once and one line is printed with
//! cycles, proving time and rate (kHz), proof size, verify time and peak memory (VmHWM,
//! reset before each proof).

use criterion::{criterion_group, criterion_main, Criterion};
use nexus_relink::elf::Image;
use nexus_relink::isa::{encode, split_hi_lo, Inst, Op};
use nexus_relink::layout::Layout;
use nexus_relink::prove::{self, ProofFile};
use nexus_relink::relink::Relinker;
use nexus_relink::vm::RunConfig;
use std::hint::black_box;

mod guest;

const SP: u8 = 2;
const T0: u8 = 5;
const A0: u8 = 10;

fn w(inst: Inst) -> u32 {
    encode(&inst).unwrap_or_else(|e| panic!("{inst:?}: {e}"))
}

/// The loop guest: about `12 n + 8` cycles.
fn loop_guest(shape: &guest::Shape, n: u32) -> Vec<u8> {
    let mut t = Vec::new();
    let (hi, lo) = split_hi_lo(shape.stack_top.wrapping_sub(shape.text));
    t.push(w(Inst::auipc(SP, hi << 12)));
    t.push(w(Inst::addi(SP, SP, lo)));
    let (nh, nl) = split_hi_lo(n);
    t.push(w(Inst::lui(T0, nh << 12)));
    t.push(w(Inst::addi(T0, T0, nl)));
    t.push(w(Inst::addi(A0, 0, 0)));
    t.push(w(Inst::addi(11, 0, 1)));
    let body = [
        Inst::new(Op::Add, 12, 10, 11, 0),
        Inst::new(Op::Xor, 13, 12, T0, 0),
        Inst::new(Op::Slli, 14, 13, 0, 3),
        Inst::new(Op::Mul, 15, 14, 11, 0),
        Inst::store(Op::Sw, 15, SP, -4),
        Inst::load(Op::Lw, 16, SP, -4),
        Inst::new(Op::Sltu, 11, 10, 16, 0),
        Inst::addi(A0, 12, 7),
        Inst::new(Op::Srai, 13, 16, 0, 2),
        Inst::new(Op::Remu, 14, 12, T0, 0),
        Inst::addi(T0, T0, -1),
    ];
    for i in body {
        t.push(w(i));
    }
    t.push(w(Inst::new(Op::Bne, 0, T0, 0, -4 * body.len() as i32)));
    t.push(w(Inst::addi(17, 0, 93)));
    t.push(w(Inst::new(Op::Ecall, 0, 0, 0, 0)));
    guest::elf(shape, &t, &[])
}

const SMALL: guest::Shape = guest::Shape {
    text: 0x1000,
    stack_top: 0x1_0000,
    stack_bottom: 0x8000,
};
const MEDIUM: guest::Shape = guest::Shape {
    text: 0x1_0000,
    stack_top: 0x40_0000,
    stack_bottom: 0x30_0000,
};

fn load(bytes: Vec<u8>) -> (Image, Layout) {
    let img = Image::parse(bytes).expect("the generated guest parses");
    let layout = Layout::discover(&img).expect("and has a layout");
    (img, layout)
}

fn peak_rss_reset() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// Whether criterion's command-line filter (if any) selects the benchmark `id`.
fn wanted(id: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().find(|a| !a.starts_with('-')) {
        Some(f) => id.contains(f.as_str()),
        None => true,
    }
}

fn prove_opts(img: &Image, layout: &Layout, zk: bool) -> (ProofFile, prove::ProveStats) {
    let opts = prove::ProveOptions {
        zk,
        ..prove::ProveOptions::default()
    };
    prove::prove_with(img, layout, RunConfig::default(), &opts, &|_| {}).expect("proves")
}

fn report(label: &str, img: &Image, layout: &Layout) -> ProofFile {
    report_zk(label, img, layout, false)
}

fn report_zk(label: &str, img: &Image, layout: &Layout, zk: bool) -> ProofFile {
    peak_rss_reset();
    let t = std::time::Instant::now();
    let (pf, stats) = prove_opts(img, layout, zk);
    let secs = t.elapsed().as_secs_f64();
    let peak = peak_rss_mib();
    let bytes = pf.to_bytes();
    let t = std::time::Instant::now();
    let back = ProofFile::from_bytes(&bytes).unwrap();
    prove::verify(&back, Some((img, layout))).expect("verifies");
    let vsecs = t.elapsed().as_secs_f64();
    eprintln!(
        "{label}{}: memlimit {:#x}, {} cycles (CPU table 2^{}), prove {:.2} s = {:.1} kHz, proof {} KiB, verify {:.1} ms, peak RSS {:.0} MiB (estimated {:.0} MiB)",
        if zk { " zk" } else { "" },
        layout.memlimit,
        stats.cycles,
        stats.heights[0].trailing_zeros(),
        secs,
        stats.cycles as f64 / secs / 1e3,
        bytes.len() / 1024,
        vsecs * 1e3,
        peak,
        stats.estimated_peak_bytes as f64 / (1 << 20) as f64
    );
    pf
}

/// A chain of segments proven once: one line with cycles, segments, time, rate, proof size,
/// verify time per segment and peak memory.
fn report_chain(label: &str, img: &Image, layout: &Layout, seg: u64) -> ProofFile {
    peak_rss_reset();
    let opts = prove::ProveOptions {
        segment_cycles: seg,
        ..prove::ProveOptions::default()
    };
    let t = std::time::Instant::now();
    let (pf, stats) =
        prove::prove_with(img, layout, RunConfig::default(), &opts, &|_| {}).expect("proves");
    let secs = t.elapsed().as_secs_f64();
    let peak = peak_rss_mib();
    let bytes = pf.to_bytes();
    let t = std::time::Instant::now();
    let back = ProofFile::from_bytes(&bytes).unwrap();
    prove::verify(&back, Some((img, layout))).expect("verifies");
    let vsecs = t.elapsed().as_secs_f64();
    let n = pf.segments.len();
    eprintln!(
        "{label}: {} cycles in {n} segments of {} cycles, prove {:.1} s = {:.1} kHz (STARKs {:.1} s, {:.1} s per full segment), proof {} KiB ({} KiB per segment), verify {:.1} ms ({:.1} ms per segment), peak RSS {:.0} MiB (estimated {:.0} MiB)",
        stats.cycles,
        seg,
        secs,
        stats.cycles as f64 / secs / 1e3,
        stats.prove_seconds,
        stats.segments[0].prove_seconds + stats.segments[0].trace_seconds,
        bytes.len() / 1024,
        bytes.len() / 1024 / n,
        vsecs * 1e3,
        vsecs * 1e3 / n as f64,
        peak,
        stats.estimated_peak_bytes as f64 / (1 << 20) as f64
    );
    pf
}

fn segments(c: &mut Criterion) {
    // About 12 n + 8 cycles.
    let cycles = |c: u64| ((c - 8) / 12) as u32;
    // Four segments of 2^16 - 1 cycles hold 262,140: the guest just under (cycles(4 << 16)
    // would make a fifth segment of a few cycles).
    // Segments of 2^20 - 1 cycles: CPU tables of 2^20 rows (the default).
    let full = prove::DEFAULT_SEGMENT_CYCLES;
    if wanted("segments/2^20") {
        // Four full segments (4,194,292 cycles), against one 2^20-row proof.
        let (img, layout) = load(loop_guest(&MEDIUM, cycles(4 * ((1 << 20) - 1))));
        report_chain("segments/2^20 x 4", &img, &layout, full);
    }
    if wanted("segments/peak") {
        for (label, n) in [("2M", 2_000_000u64), ("12M", 12_000_000)] {
            let (img, layout) = load(loop_guest(&MEDIUM, cycles(n)));
            report_chain(&format!("segments/peak {label}"), &img, &layout, full);
        }
    }
    if wanted("segments/long") && std::env::var_os("NXR_BENCH_LONG").is_some() {
        let (img, layout) = load(loop_guest(&MEDIUM, cycles(167_000_000)));
        report_chain("segments/long 167M", &img, &layout, full);
    }
    if !wanted("segments/prove_2^16x4") && !wanted("segments/verify_2^16x4") {
        return;
    }
    // Criterion: four 2^16-cycle segments, and the same run as one proof (CPU table 2^18).
    let (img, layout) = load(loop_guest(&MEDIUM, cycles(4 * ((1 << 16) - 1))));
    let pf = report_chain("segments/2^16 x 4", &img, &layout, (1 << 16) - 1);
    let mut g = c.benchmark_group("segments");
    g.sample_size(10);
    for (label, seg) in [("2^16x4", (1u64 << 16) - 1), ("1x2^18", 1 << 20)] {
        let opts = prove::ProveOptions {
            segment_cycles: seg,
            ..prove::ProveOptions::default()
        };
        g.bench_function(format!("prove_{label}"), |b| {
            b.iter(|| {
                black_box(
                    prove::prove_with(&img, &layout, RunConfig::default(), &opts, &|_| {}).unwrap(),
                )
            })
        });
    }
    let bytes = pf.to_bytes();
    g.bench_function("verify_2^16x4", |b| {
        b.iter(|| {
            let pf = ProofFile::from_bytes(&bytes).unwrap();
            black_box(prove::verify(&pf, None).unwrap())
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    segments(c);
    // n for CPU tables just under 2^16, 2^18, 2^20 rows.
    let sizes = [("2^16", 5_400u32), ("2^18", 21_800), ("2^20", 87_300)];
    let mut g = c.benchmark_group("prove");
    g.sample_size(10);
    for (label, n) in sizes {
        if !wanted(&format!("prove/prove_{label}")) && !wanted(&format!("prove/verify_{label}")) {
            continue;
        }
        let (img, layout) = load(loop_guest(&MEDIUM, n));
        let pf = report(label, &img, &layout);
        g.bench_function(format!("prove_{label}"), |b| {
            b.iter(|| {
                black_box(prove::prove(&img, &layout, RunConfig::default(), &|_| {}).unwrap())
            })
        });
        let bytes = pf.to_bytes();
        g.bench_function(format!("verify_{label}"), |b| {
            b.iter(|| {
                let pf = ProofFile::from_bytes(&bytes).unwrap();
                black_box(prove::verify(&pf, None).unwrap())
            })
        });
    }
    g.finish();

    // Zero knowledge against plain, side by side.
    let mut g = c.benchmark_group("zk");
    g.sample_size(10);
    for (label, n) in [("2^16", 5_400u32), ("2^18", 21_800)] {
        if !wanted(&format!("zk/prove_{label}")) && !wanted(&format!("zk/verify_{label}")) {
            continue;
        }
        let (img, layout) = load(loop_guest(&MEDIUM, n));
        for zk in [false, true] {
            let kind = if zk { "zk" } else { "plain" };
            let pf = report_zk(label, &img, &layout, zk);
            g.bench_function(format!("prove_{label}_{kind}"), |b| {
                b.iter(|| black_box(prove_opts(&img, &layout, zk)))
            });
            let bytes = pf.to_bytes();
            g.bench_function(format!("verify_{label}_{kind}"), |b| {
                b.iter(|| {
                    let pf = ProofFile::from_bytes(&bytes).unwrap();
                    black_box(prove::verify(&pf, None).unwrap())
                })
            });
        }
    }
    g.finish();

    if !wanted("memlimit/prove_64K") && !wanted("memlimit/prove_256M") {
        return;
    }
    // The same guest at 64 KiB and rewritten to 256 MiB.
    let small = loop_guest(&SMALL, 5_400);
    let (img64, l64) = load(small.clone());
    let big = Relinker::new(256 << 20)
        .rewrite(&img64)
        .expect("rewrites to 256M")
        .bytes;
    let (img256, l256) = load(big);
    report("64K", &img64, &l64);
    report("256M", &img256, &l256);
    let mut g = c.benchmark_group("memlimit");
    g.sample_size(10);
    for (label, img, layout) in [("64K", &img64, &l64), ("256M", &img256, &l256)] {
        g.bench_function(format!("prove_{label}"), |b| {
            b.iter(|| black_box(prove::prove(img, layout, RunConfig::default(), &|_| {}).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
