//! Rewrite time of a large generated guest.
//!
//! The guest is generated in memory, laid out like `fixtures/linux_hello.elf` scaled up: an
//! R+X PT_LOAD of text at 0x10000 whose `_start` sets `sp` with `auipc`+`addi`, then an RW
//! PT_LOAD (no file bytes) covering the NOBITS `.bss`, `.heap` and `.stack` sections, and the
//! boundary symbols `_stack_top`, `_stack_bottom`, `_heap_start`, `_heap_end`. The text holds
//! [`FUNCTIONS`] functions of [`FUNCTION_LEN`] instructions (over 1,000,000 in all); each
//! materialises `_heap_end` with `lui a5, %hi(_heap_end)` + `addi a5, a5, %lo(_heap_end)` among
//! ALU filler and short forward branches.
//!
//! The file is also written to `target/bench-large.elf` so the CLI and `cp` can be timed on it:
//!
//! ```text
//! cargo bench --bench rewrite -- --quick
//! hyperfine 'cp target/bench-large.elf /tmp/x' \
//!     'target/release/nexus-relink target/bench-large.elf --memlimit 16M -o /tmp/y'
//! ```

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use nexus_relink::elf::Image;
use nexus_relink::isa::{encode, split_hi_lo, Inst, Op};
use nexus_relink::relink::Relinker;
use std::hint::black_box;

mod guest;

const TEXT: u32 = 0x1_0000;
/// Boundaries of the generated layout (8 MiB guest; the text alone is over 4 MiB).
const STACK_TOP: u32 = 0x80_0000;
const STACK_BOTTOM: u32 = 0x70_0000;
const HEAP_END: u32 = STACK_BOTTOM;
const FUNCTIONS: usize = 10_000;
const FUNCTION_LEN: usize = 101;

const RA: u8 = 1;
const SP: u8 = 2;
const A0: u8 = 10;
const A5: u8 = 15;
const A7: u8 = 17;

fn w(inst: Inst) -> u32 {
    encode(&inst).unwrap_or_else(|e| panic!("{inst:?}: {e}"))
}

/// The text: `_start`, then the functions.
fn text() -> Vec<u32> {
    let mut t = Vec::with_capacity(8 + FUNCTIONS * FUNCTION_LEN);
    // _start: la sp, _stack_top (auipc + addi); call the first function; exit(a0); j .
    let (hi, lo) = split_hi_lo(STACK_TOP.wrapping_sub(TEXT));
    t.push(w(Inst::auipc(SP, hi << 12)));
    t.push(w(Inst::addi(SP, SP, lo)));
    t.push(w(Inst::jal(RA, 4 * 4))); // to TEXT + 24
    t.push(w(Inst::addi(A7, 0, 93)));
    t.push(w(Inst::new(Op::Ecall, 0, 0, 0, 0)));
    t.push(w(Inst::jal(0, 0)));
    assert_eq!(t.len(), 6);
    // ALU filler over a0..a4 and t0..t2 (no lui/auipc, no x0-relative addi).
    let regs = [10u8, 11, 12, 13, 14, 5, 6, 7];
    let filler = |k: usize| -> Inst {
        let (rd, rs1, rs2) = (regs[k % 8], regs[(k + 3) % 8], regs[(k + 5) % 8]);
        match k % 12 {
            0 => Inst::new(Op::Add, rd, rs1, rs2, 0),
            1 => Inst::new(Op::Xor, rd, rs1, rs2, 0),
            2 => Inst::new(Op::Slli, rd, rs1, 0, (k % 31) as i32),
            3 => Inst::addi(rd, rs1, (k % 2000) as i32 - 1000),
            4 => Inst::new(Op::Sub, rd, rs1, rs2, 0),
            5 => Inst::new(Op::Mul, rd, rs1, rs2, 0),
            6 => Inst::new(Op::Srai, rd, rs1, 0, (k % 29) as i32),
            7 => Inst::new(Op::Andi, rd, rs1, 0, 0x7f0),
            8 => Inst::load(Op::Lw, rd, SP, 4 * (k % 3) as i32),
            9 => Inst::new(Op::Sltu, rd, rs1, rs2, 0),
            10 => Inst::new(Op::Or, rd, rs1, rs2, 0),
            _ => Inst::new(Op::Bne, 0, rs1, rs2, 8), // skips the next instruction
        }
    };
    let (hi, lo) = split_hi_lo(HEAP_END);
    for f in 0..FUNCTIONS {
        let start = t.len();
        t.push(w(Inst::addi(SP, SP, -16)));
        t.push(w(Inst::store(Op::Sw, RA, SP, 12)));
        let body = FUNCTION_LEN - 5;
        let site_at = (f * 7) % (body - 2);
        for k in 0..body {
            if k == site_at {
                t.push(w(Inst::lui(A5, hi << 12)));
            } else if k == site_at + 1 {
                t.push(w(Inst::addi(A5, A5, lo)));
            } else if k == site_at + 2 {
                t.push(w(Inst::store(Op::Sw, A0, A5, -4)));
            } else if k + 1 == body || k == site_at.wrapping_sub(1) {
                // Never a branch just before the pair or at the end (it would skip a part).
                t.push(w(Inst::new(Op::Add, A0, A0, 11, 0)));
            } else {
                t.push(w(filler(f * FUNCTION_LEN + k)));
            }
        }
        t.push(w(Inst::load(Op::Lw, RA, SP, 12)));
        t.push(w(Inst::addi(SP, SP, 16)));
        t.push(w(Inst::new(Op::Jalr, 0, RA, 0, 0)));
        debug_assert_eq!(t.len() - start, FUNCTION_LEN);
    }
    t
}

/// The whole ELF file.
pub fn large_guest() -> Vec<u8> {
    let funcs: Vec<(String, u32, u32)> = (0..FUNCTIONS)
        .map(|f| {
            let addr = TEXT + 24 + 4 * (f * FUNCTION_LEN) as u32;
            (format!("f{f}"), addr, 4 * FUNCTION_LEN as u32)
        })
        .collect();
    let shape = guest::Shape {
        text: TEXT,
        stack_top: STACK_TOP,
        stack_bottom: STACK_BOTTOM,
    };
    guest::elf(&shape, &text(), &funcs)
}

fn bench(c: &mut Criterion) {
    let bytes = large_guest();
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-large.elf");
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&out, &bytes).expect("write target/bench-large.elf");

    let image = Image::parse(bytes.clone()).expect("the generated guest parses");
    let words = image.code_words().count();
    let t = std::time::Instant::now();
    let rw = Relinker::new(16 << 20)
        .rewrite(&image)
        .expect("the generated guest rewrites to 16 MiB");
    let once = t.elapsed();
    let heap_end_pairs = rw
        .sites
        .sites
        .iter()
        .filter(|s| s.boundary.contains("heap_end") && s.location.contains('+'))
        .count();
    eprintln!(
        "generated guest: {} bytes, {words} instructions, {} sites ({heap_end_pairs} heap-end lui/addi pairs), written to {}; one rewrite took {once:?}",
        bytes.len(),
        rw.sites.sites.len(),
        out.display()
    );
    assert!(words >= 1_000_000);
    assert!(
        heap_end_pairs >= FUNCTIONS,
        "{heap_end_pairs} heap-end pairs"
    );

    let mut g = c.benchmark_group("large_guest");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.sample_size(10);
    g.bench_function("parse", |b| {
        b.iter_batched(
            || bytes.clone(),
            |v| black_box(Image::parse(v).unwrap()),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("rewrite_16M", |b| {
        b.iter(|| black_box(Relinker::new(16 << 20).rewrite(&image).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
