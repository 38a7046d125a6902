//! Continuations: a run proven as a chain of segments (`src/prove/segment.rs`,
//! `docs/CONTINUATIONS.md`). Honest chains verify and state what one proof states; every
//! test after that is a proof of something false that `verify` must reject: segments dropped,
//! duplicated or swapped; the state between segments changed (a memory word, a register, the
//! pc) by a *modified prover* whose changed segment is valid on its own terms; a last segment
//! that does not exit; a first segment that does not start from the image; a store at a
//! boundary not carried over; a boundary that splits an instruction's accesses; the
//! single-proof attacks inside a middle segment (and `tests/soundness.rs`'s attacks A-D). Segments are
//! small (a few hundred cycles) so that chains stay fast.

mod common;
#[path = "common/forge.rs"]
mod forge;
#[path = "../benches/guest/mod.rs"]
mod guest;

use nexus_relink::elf::Image;
use nexus_relink::isa::{encode, split_hi_lo, Inst, Op};
use nexus_relink::layout::Layout;
use nexus_relink::prove::air::{sel, CpuCols};
use nexus_relink::prove::witness::{self, SegmentWitness};
use nexus_relink::prove::{
    self, statement, Chain, ProofFile, ProveOptions, SegmentProof, SegmentStart, VerifyError,
};
use nexus_relink::vm::trace::{SegmentedTrace, Trace};
use nexus_relink::vm::{RunConfig, Vm};
use p3_field::PrimeCharacteristicRing;
use p3_matrix::Matrix;

struct Asm(Vec<u32>);

impl Asm {
    fn i(&mut self, inst: Inst) {
        self.0.push(encode(&inst).unwrap());
    }
    fn li(&mut self, rd: u8, v: u32) {
        let (hi, lo) = split_hi_lo(v);
        self.i(Inst::lui(rd, hi << 12));
        self.i(Inst::addi(rd, rd, lo));
    }
}

const SHAPE: guest::Shape = guest::Shape {
    text: 0x1_0000,
    stack_top: 0x40_0000,
    stack_bottom: 0x30_0000,
};
/// The counter word (the first heap word: the text is shorter than a page).
const COUNTER: u32 = 0x1_1000;
const ITERATIONS: u32 = 60;
/// Segment size of the tests: the loop's 10 instructions do not divide it, so boundaries fall
/// at different places of the loop body.
const SEG: u64 = 128;

/// `ITERATIONS` times: load the counter, add 3, store it, write its 4 bytes to stdout; then
/// exit with the counter's low byte. Every segment loads, stores and makes a system call.
fn counter_guest() -> (Image, Layout) {
    let mut a = Asm(Vec::new());
    a.li(5, COUNTER); // t0
    a.li(7, ITERATIONS); // t2
    let top = a.0.len();
    a.i(Inst::new(Op::Lw, 6, 5, 0, 0)); // t1 = [t0]
    a.i(Inst::addi(6, 6, 3));
    a.i(Inst::new(Op::Sw, 0, 5, 6, 0)); // [t0] = t1
    a.i(Inst::addi(10, 0, 1)); // write(1, t0, 4)
    a.i(Inst::addi(11, 5, 0));
    a.i(Inst::addi(12, 0, 4));
    a.i(Inst::addi(17, 0, 64));
    a.i(Inst::new(Op::Ecall, 0, 0, 0, 0));
    a.i(Inst::addi(7, 7, -1));
    let back = -4 * (a.0.len() - top) as i32;
    a.i(Inst::new(Op::Bne, 0, 7, 0, back));
    a.i(Inst::new(Op::Lw, 10, 5, 0, 0));
    a.i(Inst::new(Op::Andi, 10, 10, 0, 0xff));
    a.i(Inst::addi(17, 0, 93));
    a.i(Inst::new(Op::Ecall, 0, 0, 0, 0));
    let img = Image::parse(guest::elf(&SHAPE, &a.0, &[])).unwrap();
    let layout = Layout::discover(&img).unwrap();
    (img, layout)
}

fn honest(img: &Image, layout: &Layout, seg: u64) -> ProofFile {
    let opts = ProveOptions {
        segment_cycles: seg,
        ..ProveOptions::default()
    };
    prove::prove_with(img, layout, RunConfig::default(), &opts, &|_| {})
        .unwrap()
        .0
}

fn reject(pf: &ProofFile) -> String {
    let back = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
    match prove::verify(&back, None) {
        Ok(st) => panic!(
            "verify accepted a forged chain: exit {} after {} cycles",
            st.exit_code, st.cycles
        ),
        Err(e) => e.to_string(),
    }
}

#[test]
fn an_honest_chain_verifies_and_states_what_one_proof_states() {
    let (img, layout) = counter_guest();
    let res = Vm::new(&img, &layout, RunConfig::default()).unwrap().run();
    assert_eq!(res.exit_code, Some((3 * ITERATIONS) as i32 & 0xff));
    let chain = honest(&img, &layout, SEG);
    let one = honest(&img, &layout, 1 << 20);
    assert_eq!(one.segments.len(), 1);
    assert_eq!(
        chain.segments.len() as u64,
        res.cycles.div_ceil(SEG),
        "segments of {SEG} cycles"
    );
    assert!(chain.segments.len() >= 4);
    assert!(chain.segments[..chain.segments.len() - 1]
        .iter()
        .all(|s| u64::from(s.meta.cycles) == SEG));
    let a = prove::verify(&chain, Some((&img, &layout))).unwrap();
    let b = prove::verify(&one, Some((&img, &layout))).unwrap();
    assert_eq!(a, b, "the same statement");
    assert_eq!(chain.public, one.public);
    assert_eq!(a.stdout.len(), 4 * ITERATIONS as usize);
    // Through the file format too.
    let back = ProofFile::from_bytes(&chain.to_bytes()).unwrap();
    prove::verify(&back, None).unwrap();
    // Every segment but the first states the words it touches, every segment but the last
    // the counter's new value.
    for (k, s) in chain.segments.iter().enumerate() {
        assert_eq!(s.meta.touched.is_empty(), k == 0, "segment {k}");
        let last = k + 1 == chain.segments.len();
        assert_eq!(
            s.meta.changed.iter().any(|c| c.0 == COUNTER / 4),
            !last,
            "segment {k}"
        );
        assert_eq!(s.meta.regs_out.len(), if last { 0 } else { 32 });
    }
}

#[test]
fn pieces_of_a_traced_run_are_the_whole_trace() {
    let (img, layout) = counter_guest();
    let (_, whole) = Vm::new(&img, &layout, RunConfig::default())
        .unwrap()
        .run_traced();
    let mut run = Vm::new(&img, &layout, RunConfig::default())
        .unwrap()
        .trace_segments();
    let mut rows = Vec::new();
    let mut mem = Vec::new();
    let mut first = true;
    while let Some(t) = run.next_segment(SEG) {
        assert!(t.rows.len() as u64 <= SEG);
        assert_eq!(t.init.is_empty(), !first);
        if first {
            assert_eq!(t.init, whole.init);
        }
        first = false;
        assert_eq!(t.entry, t.rows[0].pc);
        for r in &t.rows {
            let mut r = *r;
            r.mem_start += mem.len() as u32;
            rows.push(r);
        }
        mem.extend(t.mem);
    }
    assert_eq!(rows, whole.rows);
    assert_eq!(mem, whole.mem);
    assert_eq!(run.result().unwrap().exit_code, Some(180));
    assert!(run.next_segment(SEG).is_none());
}

#[test]
fn segments_dropped_duplicated_or_swapped_are_rejected() {
    let (img, layout) = counter_guest();
    let pf = honest(&img, &layout, SEG);
    let n = pf.segments.len();
    let bytes = pf.to_bytes();
    let fresh = || ProofFile::from_bytes(&bytes).unwrap();
    // Dropped: a middle segment, and the last one.
    for k in [1, n - 1] {
        let mut f = fresh();
        f.segments.remove(k);
        reject(&f);
        // With the statement's cycle count adjusted too (so the count check passes).
        let mut f = fresh();
        let gone = f.segments.remove(k);
        f.public.statement.cycles -= u64::from(gone.meta.cycles);
        reject(&f);
    }
    // Duplicated.
    let mut f = fresh();
    let dup = ProofFile::from_bytes(&bytes).unwrap().segments.remove(1);
    f.segments.insert(1, dup);
    reject(&f);
    // Swapped (two full segments: the cycle count is unchanged).
    let mut f = fresh();
    f.segments.swap(1, 2);
    let why = reject(&f);
    assert!(why.contains("segment 1 of"), "{why}");
}

#[test]
fn a_changed_end_state_in_the_file_is_rejected() {
    let (img, layout) = counter_guest();
    let pf = honest(&img, &layout, SEG);
    let bytes = pf.to_bytes();
    let fresh = || ProofFile::from_bytes(&bytes).unwrap();
    // A changed word's value.
    let mut f = fresh();
    let c = f.segments[1]
        .meta
        .changed
        .iter_mut()
        .find(|c| c.0 == COUNTER / 4)
        .unwrap();
    c.1 ^= 1;
    reject(&f);
    // A changed word left out (the next segment would start from the old value).
    let mut f = fresh();
    f.segments[1].meta.changed.retain(|c| c.0 != COUNTER / 4);
    reject(&f);
    // A word added to the touched list, or one left out.
    let mut f = fresh();
    f.segments[2].meta.touched.push(COUNTER / 4 + 100);
    reject(&f);
    let mut f = fresh();
    f.segments[2].meta.touched.retain(|&w| w != COUNTER / 4);
    reject(&f);
    // A register, the pc.
    let mut f = fresh();
    f.segments[1].meta.regs_out[7] += 1;
    reject(&f);
    let mut f = fresh();
    f.segments[1].meta.pc_out += 4;
    reject(&f);
    // Unsorted lists and a last segment with an end state are refused before any STARK.
    let mut f = fresh();
    let w = f.segments[2].meta.touched[0];
    f.segments[2].meta.touched.push(w);
    assert!(matches!(
        prove::verify(&f, None),
        Err(VerifyError::Statement(_))
    ));
    let mut f = fresh();
    let last = f.segments.len() - 1;
    f.segments[last].meta.regs_out = vec![0; 32];
    assert!(matches!(
        prove::verify(&f, None),
        Err(VerifyError::Statement(_))
    ));
}

// ---------------------------------------------------------------- the modified prover

/// What a modified prover changes at the start of segment `k`: the VM's state (so that the
/// run goes on from the changed state), and the start it proves segment `k` from.
#[derive(Clone, Copy, Default)]
struct Tamper {
    at: usize,
    word: Option<(u32, u32)>,
    reg: Option<(u8, u32)>,
    pc: Option<u32>,
    /// Change the run only: segment `at` is proven from the chain's own start, and the lie
    /// is in the end state of the segment before it (an `edit` states it).
    vm_only: bool,
}

/// A chain proven the way `prove` does, with `tamper` applied at the start of its segment and
/// `edit` applied to each segment's witness before proving it. Returns the proof file and the
/// start (and memory) each segment was proven from.
fn forge(
    img: &Image,
    layout: &Layout,
    seg: u64,
    tamper: Tamper,
    edit: &mut dyn FnMut(usize, &mut SegmentWitness),
) -> (ProofFile, Vec<Chain>) {
    // Run (and change) the execution, keeping its pieces.
    let mut run: SegmentedTrace = Vm::new(img, layout, RunConfig::default())
        .unwrap()
        .trace_segments();
    let mut pieces: Vec<Trace> = Vec::new();
    loop {
        if pieces.len() == tamper.at {
            assert!(run.vm_mut().tamper(tamper.reg, tamper.pc, tamper.word));
        }
        match run.next_segment(seg) {
            Some(t) => pieces.push(t),
            None => break,
        }
    }
    let res = run.result().unwrap().clone();
    let public = prove::public_of_run(img, layout, None, Vec::new(), &pieces, res).unwrap();
    let mut starts = Vec::new();
    let witnessed = public.clone();
    let hooks = forge::Hooks {
        before: &mut |k, chain, pt| {
            if k != tamper.at || tamper.vm_only {
                return;
            }
            if let Some((a, v)) = tamper.word {
                chain.mem.insert(a / 4, v.to_le_bytes());
                if k == 0 {
                    pt.image_words.insert(a / 4, v.to_le_bytes());
                }
            }
            if let Some((r, v)) = tamper.reg {
                chain.start.regs[r as usize] = v;
            }
            if let Some(p) = tamper.pc {
                chain.start.pc = p;
            }
        },
        edit,
        after: &mut |_, chain, _| starts.push(chain.clone()),
    };
    let pf = forge::chain(public, &witnessed, &pieces, hooks);
    (pf, starts)
}

/// The forged segment `k` is valid on its own terms (from the start its prover chose), and
/// the chain is rejected.
fn valid_alone_rejected_in_chain(pf: &ProofFile, starts: &[Chain], k: usize) -> String {
    let c = &starts[k];
    prove::verify_segment(&pf.public, c.count, &c.start, &c.mem, &pf.segments[k])
        .expect("the forged segment is valid from the start its prover chose");
    reject(pf)
}

#[test]
fn the_forging_harness_is_honest_without_a_change() {
    let (img, layout) = counter_guest();
    let (pf, starts) = forge(&img, &layout, SEG, Tamper::default(), &mut |_, _| {});
    prove::verify(&pf, Some((&img, &layout))).expect("the untampered chain verifies");
    assert_eq!(starts.len(), pf.segments.len());
}

#[test]
fn a_memory_word_changed_between_segments_is_rejected() {
    let (img, layout) = counter_guest();
    // Segment 3 starts at the loop's `lw` (cycle 384 = 4 + 38 * 10).
    let tamper = Tamper {
        at: 3,
        word: Some((COUNTER, 1000)),
        ..Tamper::default()
    };
    let (pf, starts) = forge(&img, &layout, SEG, tamper, &mut |_, _| {});
    // The forged run: another exit code and other output, stated consistently.
    assert_ne!(pf.public.statement.exit_code, 180);
    let why = valid_alone_rejected_in_chain(&pf, &starts, 3);
    assert!(why.contains("segment 3 of"), "{why}");
}

#[test]
fn a_register_changed_between_segments_is_rejected() {
    let (img, layout) = counter_guest();
    // t2, the loop counter: the forged run loops fewer times.
    let tamper = Tamper {
        at: 3,
        reg: Some((7, 2)),
        ..Tamper::default()
    };
    let (pf, starts) = forge(&img, &layout, SEG, tamper, &mut |_, _| {});
    let why = valid_alone_rejected_in_chain(&pf, &starts, 3);
    assert!(why.contains("segment 3 of"), "{why}");
}

#[test]
fn a_pc_changed_between_segments_is_rejected() {
    let (img, layout) = counter_guest();
    // Skip to the exit sequence (`lw a0` after the loop).
    let exit_seq = SHAPE.text + 4 * 14;
    let tamper = Tamper {
        at: 2,
        pc: Some(exit_seq),
        ..Tamper::default()
    };
    let (pf, starts) = forge(&img, &layout, SEG, tamper, &mut |_, _| {});
    assert_eq!(pf.segments.len(), 3, "the forged run exits in segment 2");
    let why = valid_alone_rejected_in_chain(&pf, &starts, 2);
    assert!(why.contains("segment 2 of"), "{why}");
}

// ---------------------------------------------- the end side of a boundary (mutation-pinned)
//
// In each test below the modified prover states a false boundary on the side the segment
// proves: the words a middle segment touches, or the registers and pc it ends with (the next
// segment then starts from them, as the chain says). It runs the VM on from that false state,
// so every other segment is honest about the run it proves. One constraint stands in the way:
// each test was checked to be accepted by `verify` when that constraint is deleted (exit 66,
// 120 and 114 instead of the honest 180; `docs/RULES.md`, "Segments").

/// MEM: after the first segment, every word starts from IMAGE (`(1 - first) (real - img)`).
/// The forged segment 3 reads the counter without listing it in `touched`, so IMAGE does not
/// hold it, and MEM starts it at zero as the first segment may start a word outside the image.
#[test]
fn a_word_read_without_being_listed_as_touched_is_rejected() {
    let (img, layout) = counter_guest();
    let tamper = Tamper {
        at: 3,
        // The run, and the modified prover's own memory (so its witness reads zero); the
        // verifier's memory is the chain's.
        word: Some((COUNTER, 0)),
        ..Tamper::default()
    };
    let st = statement_of(&img, &layout);
    let m = nexus_relink::prove::air::MemCols::new();
    let (pf, _) = forge(&img, &layout, SEG, tamper, &mut |k, w| {
        if k != 3 {
            return;
        }
        let height_before = witness::rows_for(&st, w.meta.touched.len());
        w.meta.touched.retain(|&a| a != COUNTER / 4);
        assert_eq!(
            witness::rows_for(&st, w.meta.touched.len()),
            height_before,
            "the same table heights: only the constraint can reject it"
        );
        let nexus_relink::prove::air::Table::Image(t) = &mut w.tables[3] else {
            panic!("IMAGE is table 3")
        };
        let w7 = nexus_relink::prove::air::IMAGE_W;
        let at = t
            .rows
            .chunks(w7)
            .position(|r| r[1] == COUNTER / 4)
            .expect("the counter is in IMAGE");
        t.rows.drain(at * w7..(at + 1) * w7);
        let mt = &mut w.traces[2];
        let width = mt.width;
        let mut found = false;
        for row in mt.values.chunks_mut(width) {
            let wa = row[m.hi] * nexus_relink::prove::Val::from_u32(1 << 16) + row[m.lo];
            if row[m.real] == nexus_relink::prove::Val::ONE
                && wa == nexus_relink::prove::Val::from_u32(COUNTER / 4)
            {
                row[m.img] = nexus_relink::prove::Val::ZERO;
                for c in m.iv {
                    row[c] = nexus_relink::prove::Val::ZERO;
                }
                found = true;
            }
        }
        assert!(found, "MEM starts the counter");
    });
    // The forged run restarts the counter at zero in segment 3 (which starts at the loop's `lw`).
    assert_ne!(pf.public.statement.exit_code, 180);
    let why = reject(&pf);
    assert!(
        why.contains("segment 3 of") && !why.contains("rows"),
        "{why}"
    );
}

/// REG: before the last segment every register ends at the stated end
/// (`notlast (fv - ov) = 0`). The forged segment 2 states t2 = 2 at its end (the loop counter),
/// and the run goes on from there: segment 3 is honest about that start.
#[test]
fn a_false_register_end_state_is_rejected() {
    let (img, layout) = counter_guest();
    let tamper = Tamper {
        at: 3,
        reg: Some((7, 2)),
        vm_only: true,
        ..Tamper::default()
    };
    let (pf, _) = forge(&img, &layout, SEG, tamper, &mut |k, w| {
        if k != 2 {
            return;
        }
        assert_ne!(w.meta.regs_out[7], 2);
        w.meta.regs_out[7] = 2;
        let nexus_relink::prove::air::Table::Regs(t) = &mut w.tables[4] else {
            panic!("REG is table 4")
        };
        let pw = nexus_relink::prove::air::REG_PW;
        for (k, b) in 2u32.to_le_bytes().iter().enumerate() {
            t.rows[7 * pw + 5 + k] = u32::from(*b);
        }
    });
    assert_ne!(
        pf.public.statement.exit_code, 180,
        "the forged run loops less"
    );
    let why = reject(&pf);
    assert!(
        why.contains("segment 2 of") && !why.contains("rows"),
        "{why}"
    );
}

/// CPU: the last instruction of a segment before the last continues at the stated next pc.
/// The forged segment 2 states the exit sequence as its next pc, and the run goes on from
/// there.
#[test]
fn a_false_next_pc_is_rejected() {
    let (img, layout) = counter_guest();
    let exit_seq = SHAPE.text + 4 * 14;
    let tamper = Tamper {
        at: 3,
        pc: Some(exit_seq),
        vm_only: true,
        ..Tamper::default()
    };
    let (pf, _) = forge(&img, &layout, SEG, tamper, &mut |k, w| {
        if k == 2 {
            assert_ne!(w.meta.pc_out, exit_seq);
            w.meta.pc_out = exit_seq;
        }
    });
    assert_eq!(pf.segments.len(), 4, "the forged run exits in segment 3");
    let why = reject(&pf);
    assert!(
        why.contains("segment 2 of") && !why.contains("rows"),
        "{why}"
    );
}

#[test]
fn a_first_segment_not_starting_from_the_image_is_rejected() {
    let (img, layout) = counter_guest();
    // The counter starts at 1000 instead of the image's zero.
    let tamper = Tamper {
        at: 0,
        word: Some((COUNTER, 1000)),
        ..Tamper::default()
    };
    let (pf, _) = forge(&img, &layout, SEG, tamper, &mut |_, _| {});
    assert_ne!(pf.public.statement.exit_code, 180);
    let why = reject(&pf);
    assert!(why.contains("segment 0 of"), "{why}");
}

#[test]
fn a_last_segment_that_does_not_exit_is_rejected() {
    let (img, layout) = counter_guest();
    let pf = honest(&img, &layout, SEG);
    // The chain cut after segment 2, the statement made to match a run that stops there.
    let mut f = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
    f.segments.truncate(3);
    let cycles: u64 = f.segments.iter().map(|s| u64::from(s.meta.cycles)).sum();
    f.public.statement.cycles = cycles;
    f.public.events.retain(|e| e.clk < cycles);
    reject(&f);
    // A modified prover that proves the run's first three segments as the whole chain, the
    // third as the last one (no end state): the STARK of that segment does not hold, since
    // the last segment must end with the exit system call. Checked on its own, without the
    // statement's replay (which refuses a transcript that does not end with the exit).
    let (public, _) = prove::trace_run(&img, &layout, RunConfig::default()).unwrap();
    let mut public = public;
    public.statement.cycles = cycles;
    public.events.retain(|e| e.clk < cycles);
    let pt = witness::public_tables(&public);
    let digest = statement::statement_digest(&public);
    let mut run = Vm::new(&img, &layout, RunConfig::default())
        .unwrap()
        .trace_segments();
    let mut mem = pt.image_words.clone();
    let mut start = SegmentStart::whole_run(&public.statement);
    start.last = false;
    for k in 0..3 {
        let t = run.next_segment(SEG).unwrap();
        start.last = k == 2;
        let w = witness::build_segment_unchecked(&public, &pt, &start, &mem, &t).unwrap();
        let proof =
            prove::prove_segment(&public, &digest, 3, &start, &w.meta, &w.tables, &w.traces)
                .unwrap();
        let sp = SegmentProof {
            meta: w.meta.clone(),
            proof,
        };
        let alone = prove::verify_segment(&public, 3, &start, &mem, &sp);
        if k < 2 {
            alone.expect("segments before the cut are valid");
        } else {
            let e = alone.expect_err("a last segment without the exit is invalid");
            assert!(matches!(e, VerifyError::Stark(_)), "{e}");
        }
        for &(a, v) in &w.meta.changed {
            mem.insert(a, v.to_le_bytes());
        }
        start = start.next(&w.meta, k == 1);
    }
}

#[test]
fn a_store_at_a_boundary_not_carried_over_is_rejected() {
    let (img, layout) = counter_guest();
    // The modified prover marks the counter unchanged in segment 1 (MEM's `chg = 0`) and
    // leaves it out of OUT: the next segment would start from the old value.
    let m = nexus_relink::prove::air::MemCols::new();
    let (pf, _) = forge(&img, &layout, SEG, Tamper::default(), &mut |k, w| {
        if k == 1 {
            w.meta.changed.retain(|c| c.0 != COUNTER / 4);
            if let nexus_relink::prove::air::Table::Out(t) = &mut w.tables[10] {
                *t = nexus_relink::prove::air::OutTable::from_changed(
                    &statement_of(&img, &layout),
                    &w.meta.changed,
                );
            }
            let mt = &mut w.traces[2];
            let width = mt.width;
            for row in mt.values.chunks_mut(width) {
                let wa = row[m.hi] * nexus_relink::prove::Val::from_u32(1 << 16) + row[m.lo];
                if row[m.real] == nexus_relink::prove::Val::ONE
                    && wa == nexus_relink::prove::Val::from_u32(COUNTER / 4)
                {
                    row[m.chg] = nexus_relink::prove::Val::ZERO;
                }
            }
        }
    });
    let why = reject(&pf);
    assert!(why.contains("segment 1 of"), "{why}");
}

#[test]
fn a_boundary_that_splits_an_instruction_s_accesses_is_rejected() {
    let (img, layout) = counter_guest();
    // Segments of 32 cycles: segment 0 ends with the `write` system call (cycle 31 = the
    // loop's third `ecall`). Its memory reads (the 4 bytes written to stdout) are the IOW rows
    // the verifier builds from its transcript event, in the segment of the event's cycle. A
    // boundary that splits the instruction (the call in segment 0, its accesses in segment 1)
    // is a statement with the event moved to cycle 32. The witness builder cannot express it
    // ("more system calls than events"); the modified prover proves the honest segments
    // against that statement.
    let (pieces, honest) = forge::pieces(&img, &layout, 32);
    let mut public = honest.clone();
    let last = pieces[0].rows.last().unwrap();
    assert_eq!((last.inst.op, last.rd), (Op::Ecall, 10));
    let ev = public.events.iter_mut().find(|e| e.clk == 31).unwrap();
    assert!(ev.mem_read.as_ref().is_some_and(|(_, b)| b.len() == 4));
    ev.clk = 32;
    let chain_public = public.clone();
    let hooks = forge::Hooks {
        before: &mut |_, _, _| {},
        edit: &mut |_, _| {},
        after: &mut |k, chain, sp| {
            if k < 2 {
                let alone =
                    prove::verify_segment(&chain_public, chain.count, &chain.start, &chain.mem, sp);
                assert!(
                    matches!(alone, Err(VerifyError::Stark(_))),
                    "segment {k} without (0) or with (1) the moved accesses: {alone:?}"
                );
            }
        },
    };
    let why = reject(&forge::chain(public, &honest, &pieces, hooks));
    assert!(why.contains("segment 0 of"), "{why}");
}

fn statement_of(img: &Image, layout: &Layout) -> nexus_relink::prove::Statement {
    prove::public_from_elf(img, layout, None).unwrap().statement
}

#[test]
fn single_proof_attacks_inside_a_middle_segment_are_rejected() {
    let (img, layout) = counter_guest();
    let c = CpuCols::new();
    let row_of = |w: &SegmentWitness, s: usize| {
        let t = &w.traces[0];
        (0..t.height())
            .find(|&i| t.values[i * t.width + c.sel[s]] == nexus_relink::prove::Val::ONE)
            .unwrap()
    };
    type Edit = Box<dyn Fn(&mut SegmentWitness, usize)>;
    let attacks: Vec<(&str, usize, Edit)> = vec![
        (
            "an ALU result",
            sel::ADD,
            Box::new(move |w, r| {
                let t = &mut w.traces[0];
                t.values[r * t.width + c.c[0]] += nexus_relink::prove::Val::ONE;
            }),
        ),
        (
            "a loaded value",
            sel::LW,
            Box::new(move |w, r| {
                let t = &mut w.traces[0];
                t.values[r * t.width + c.c[0]] += nexus_relink::prove::Val::ONE;
            }),
        ),
        (
            "a branch outcome",
            sel::BNE,
            Box::new(move |w, r| {
                let t = &mut w.traces[0];
                t.values[r * t.width + c.npc] += nexus_relink::prove::Val::ONE;
            }),
        ),
    ];
    for (what, s, f) in attacks {
        let (pf, _) = forge(&img, &layout, SEG, Tamper::default(), &mut |k, w| {
            if k == 2 {
                let r = row_of(w, s);
                f(w, r);
            }
        });
        let why = reject(&pf);
        assert!(why.contains("segment 2 of"), "{what}: {why}");
    }
}

#[test]
fn zero_knowledge_and_private_input_are_one_segment() {
    let (img, layout) = counter_guest();
    let opts = ProveOptions {
        segment_cycles: SEG,
        zk: true,
        ..ProveOptions::default()
    };
    let err = prove::prove_with(&img, &layout, RunConfig::default(), &opts, &|_| {})
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("zero-knowledge proof of"), "{err}");
    // A plain chain relabelled zero-knowledge is refused by the verifier.
    let mut f = honest(&img, &layout, SEG);
    f.public.statement.zk = true;
    assert!(prove::verify(&f, None).is_err());
}

#[test]
fn earlier_format_versions_are_refused_by_name() {
    let (img, layout) = counter_guest();
    let mut b = honest(&img, &layout, 1 << 20).to_bytes();
    b[8..12].copy_from_slice(&2u32.to_le_bytes());
    let e = ProofFile::from_bytes(&b).err().unwrap().to_string();
    assert!(
        e.contains("version 2") && e.contains("without segments"),
        "{e}"
    );
    let _ = common::root();
}

/// A hostile file is refused by the checks that need no table (`prove::verifier::precheck`,
/// which `verify` runs on every segment before it builds or commits any table): word lists
/// longer than a segment's cycles and system calls can touch, and tables claimed larger than
/// the counts allow.
#[test]
fn a_crafted_file_is_refused_before_any_table_is_built() {
    let (img, layout) = counter_guest();
    let bytes = honest(&img, &layout, SEG).to_bytes();
    let fresh = || ProofFile::from_bytes(&bytes).unwrap();
    let refused_early = |f: &ProofFile| -> String {
        let early = prove::verifier::precheck(f).expect_err("refused before the tables");
        let e = prove::verify(f, None).expect_err("refused");
        assert_eq!(e.to_string(), early.to_string());
        e.to_string()
    };
    // Segment 1 states 2^20 touched words: an IMAGE table of 2^20 rows (with the heights to
    // match) from 128 cycles.
    let mut f = fresh();
    f.segments[1].meta.touched = (0..1u32 << 20).map(|w| 0x10_0000 + w).collect();
    if let prove::Stark::Plain(p) = &mut f.segments[1].proof {
        p.degree_bits[3] = 20;
        p.degree_bits[2] = 20;
    }
    let e = refused_early(&f);
    assert!(e.contains("touched") && e.contains("reach at most"), "{e}");
    // The last segment claims an IMAGE table of 2^27 rows.
    let mut f = fresh();
    let last = f.segments.len() - 1;
    if let prove::Stark::Plain(p) = &mut f.segments[last].proof {
        p.degree_bits[3] = 27;
    }
    let e = refused_early(&f);
    assert!(
        e.contains(&format!("segment {last} of")) && e.contains("table image has 2^27 rows"),
        "{e}"
    );
    // The honest file passes the same checks.
    let counts = prove::verifier::precheck(&fresh()).unwrap();
    assert!(counts.program_rows > 0 && counts.image_words >= counts.program_rows);
}
