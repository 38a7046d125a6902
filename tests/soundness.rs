//! One machine: every rule by which the VM faults or stops is a rule of the proof. Each test
//! here is an attack by a *modified prover*: it takes a run that the VM does not allow (found
//! by running a looser machine: a layout without the rule, the same program with one rule
//! switched off), states it about the real program and layout, builds the witness without the
//! honest builder's refusals (`witness::build_unchecked`) and proves it. The unmodified
//! verifier must reject every such proof, with and without the ELF. The honest prover refuses
//! the same runs by name. `docs/RULES.md` lists the rules and these tests. Attacks A-E also
//! run in zero-knowledge mode (`*_in_zk_mode`: the forged proof made with the hiding
//! configuration, `prove --zk`); attacks A-D and the misaligned lane also inside a middle
//! segment of a chain (`*_in_a_middle_segment`: continuations; E needs private input, which
//! a chain refuses, `tests/segments.rs`). Attack F states an honest run under an ABI the
//! machine does not encode.

mod common;
#[path = "common/forge.rs"]
mod forge;
#[path = "../benches/guest/mod.rs"]
mod guest;

use nexus_relink::elf::Image;
use nexus_relink::isa::{encode, split_hi_lo, Inst, Op};
use nexus_relink::layout::Layout;
use nexus_relink::prove::air::{sel, CpuCols};
use nexus_relink::prove::witness;
use nexus_relink::prove::{self, ProofFile, Val, VerifyError};
use nexus_relink::relink::Relinker;
use nexus_relink::vm::trace::Trace;
use nexus_relink::vm::{Abi, RunConfig, Vm};
use p3_field::PrimeCharacteristicRing;
use p3_matrix::Matrix;

fn parse(bytes: Vec<u8>) -> (Image, Layout) {
    let img = Image::parse(bytes).unwrap();
    let layout = Layout::discover(&img).unwrap();
    (img, layout)
}

fn data(name: &str) -> Vec<u8> {
    std::fs::read(common::root().join("tests/data/soundness").join(name)).unwrap()
}

/// How a forged run is proven: as one proof (plain or zero-knowledge, `prove --zk`), or as a
/// chain of segments in which the attack falls inside a middle segment (`Middle`: the attack
/// picks a segment size around the cycle it happens at, [`Mode::around`]).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Plain,
    Zk,
    Middle,
    Chain(u64),
}

impl Mode {
    /// For `Middle`: segments of the largest size that puts cycles `at - 1 ..= at + 1` in one
    /// segment that is neither the first nor the last of a run of `total` cycles.
    fn around(self, at: u64, total: u64) -> Mode {
        if self != Mode::Middle {
            return self;
        }
        let s = (1..=at)
            .rev()
            .find(|&s| {
                let k = (at - 1) / s;
                k >= 1 && k == (at + 1) / s && k < (total - 1) / s
            })
            .expect("the run is long enough for a middle segment");
        Mode::Chain(s)
    }

    /// The forged proof was rejected for its STARK, in a chain at the segment holding `at`.
    fn check(self, why: &str, at: u64) {
        assert!(why.contains("STARK"), "{why}");
        if let Mode::Chain(s) = self {
            let k = at / s;
            assert!(why.contains(&format!("segment {k} of")), "{why}");
        }
    }
}

/// The modified prover: the run of `run_img` under `run_layout`, stated about `img` under
/// `layout` (its image, instruction ranges, layout and `tohost`; the run's cycles, exit code,
/// outputs and transcript), proven as `mode` says.
fn forge(
    img: &Image,
    layout: &Layout,
    run_img: &Image,
    run_layout: &Layout,
    cfg: RunConfig,
    mode: Mode,
) -> ProofFile {
    forge_changed(img, layout, run_img, run_layout, cfg, mode, None)
}

/// [`forge`], and `change = (cycle, address, word)`: the word is changed in the VM when
/// `cycle` instructions have run (a code word changed is fetched changed), and the run goes on
/// from there. In a chain, `cycle` must be a segment boundary.
fn forge_changed(
    img: &Image,
    layout: &Layout,
    run_img: &Image,
    run_layout: &Layout,
    cfg: RunConfig,
    mode: Mode,
    change: Option<(u64, u32, u32)>,
) -> ProofFile {
    let seg = match mode {
        Mode::Chain(s) => s,
        Mode::Plain | Mode::Zk => u64::MAX,
        Mode::Middle => unreachable!("resolve Middle with Mode::around first"),
    };
    let mut run = Vm::new(run_img, run_layout, cfg.clone())
        .expect("the looser machine loads it")
        .trace_segments();
    let mut pieces: Vec<Trace> = Vec::new();
    loop {
        let done = run.cycles();
        let mut max = seg;
        if let Some((at, a, w)) = change {
            if done == at {
                assert!(run.vm_mut().tamper(None, None, Some((a, w))));
            } else if done < at {
                max = max.min(at - done);
                assert!(seg == u64::MAX || at % seg == 0, "change at a boundary");
            }
        }
        match run.next_segment(max) {
            Some(t) => pieces.push(t),
            None => break,
        }
    }
    let res = run.result().expect("the run ended").clone();
    let mut public =
        prove::public_of_run(img, layout, cfg.abi, cfg.input.clone(), &pieces, res).unwrap();
    if let Mode::Chain(_) = mode {
        return forge::chain_edited(public, &pieces, &mut |_, _| {});
    }
    public.statement.zk = mode == Mode::Zk;
    let trace = concat(pieces);
    let (tables, traces) = witness::build_unchecked(&public, &trace).unwrap();
    prove::prove_traces(public, &tables, &traces).expect("a proof is produced")
}

/// Pieces of a run as one trace.
fn concat(pieces: Vec<Trace>) -> Trace {
    let mut it = pieces.into_iter();
    let mut whole = it.next().unwrap_or_default();
    for t in it {
        let off = whole.mem.len() as u32;
        whole.rows.extend(t.rows.into_iter().map(|mut r| {
            r.mem_start += off;
            r
        }));
        whole.mem.extend(t.mem);
    }
    whole
}

/// Cycles of a run to its end.
fn cycles_of(img: &Image, layout: &Layout) -> u64 {
    Vm::new(img, layout, RunConfig::default())
        .unwrap()
        .run()
        .cycles
}

/// Both verifications reject the forged proof; returns the reason without the ELF.
fn rejected(pf: &ProofFile, img: &Image, layout: &Layout) -> String {
    let bytes = pf.to_bytes();
    let back = ProofFile::from_bytes(&bytes).unwrap();
    let with = prove::verify(&back, Some((img, layout)));
    assert!(with.is_err(), "verify --elf accepted a forged proof");
    match prove::verify(&back, None) {
        Ok(st) => panic!(
            "verify accepted a forged proof: exit {} after {} cycles",
            st.exit_code, st.cycles
        ),
        Err(e) => e.to_string(),
    }
}

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
    fn pc(&self, shape: &guest::Shape) -> u32 {
        shape.text + 4 * self.0.len() as u32
    }
    fn exit_linux(&mut self) {
        self.i(Inst::addi(17, 0, 93));
        self.i(Inst::new(Op::Ecall, 0, 0, 0, 0));
    }
}

const SHAPE: guest::Shape = guest::Shape {
    text: 0x1_0000,
    stack_top: 0x40_0000,
    stack_bottom: 0x30_0000,
};

/// A. Self-modifying code: the guest stores `li a0, 0` over its own `li a0, 7` and runs it.
/// The VM runs the stored instruction (exit 0), and so does the proof: a word the run wrote is
/// stated (`code_written`), is writable memory, and every instruction at it is fetched from
/// memory (FETCH reads the word at its cycle, DYNPROG holds the verifier's decoding). The
/// forged run is the same program's with the word changed back after the store, so that it
/// executes the original instruction and claims exit 7. Stated as written, its FETCH row
/// claims the original word where memory holds the stored one (mutation-checked: without
/// FETCH's memory access it verifies); stated as never written, the word is read-only and the
/// store has no token. Both are rejected.
#[test]
fn a_self_modifying_code_runs_the_stored_instruction() {
    a_self_modifying_code_runs_the_stored_instruction_in(Mode::Plain)
}

#[test]
fn a_self_modifying_code_runs_the_stored_instruction_in_zk_mode() {
    a_self_modifying_code_runs_the_stored_instruction_in(Mode::Zk)
}

#[test]
fn a_self_modifying_code_runs_the_stored_instruction_in_a_middle_segment() {
    // Segments of 2 cycles: the store (cycle 3) in segment 1 of 5.
    a_self_modifying_code_runs_the_stored_instruction_in(Mode::Chain(2))
}

fn a_self_modifying_code_runs_the_stored_instruction_in(mode: Mode) {
    let li_a0_0 = encode(&Inst::addi(10, 0, 0)).unwrap();
    let li_a0_7 = encode(&Inst::addi(10, 0, 7)).unwrap();
    let mut a = Asm(Vec::new());
    // t0 = address of `target` (auipc-relative), t1 = the new instruction word.
    let at = a.pc(&SHAPE);
    a.i(Inst::auipc(5, 0));
    a.li(6, li_a0_0);
    let target = at + 4 * 6;
    let store = a.0.len() as u64;
    a.i(Inst::new(Op::Sw, 0, 5, 6, (target - at) as i32));
    a.i(Inst::new(Op::FenceI, 0, 0, 0, 0));
    a.i(Inst::addi(0, 0, 0));
    assert_eq!(a.pc(&SHAPE), target);
    a.i(Inst::addi(10, 0, 7)); // target: li a0, 7
    a.exit_linux();
    let (img, layout) = parse(guest::elf(&SHAPE, &a.0, &[]));
    let vm = Vm::new(&img, &layout, RunConfig::default()).unwrap().run();
    assert_eq!(vm.exit_code, Some(0), "the VM runs the stored instruction");
    assert_eq!(vm.code_written, vec![target]);
    let options = prove::ProveOptions {
        zk: mode == Mode::Zk,
        segment_cycles: match mode {
            Mode::Chain(s) => s,
            _ => prove::ProveOptions::default().segment_cycles,
        },
        ..Default::default()
    };
    let honest = prove::prove_with(&img, &layout, RunConfig::default(), &options, &|_| {});
    if mode == Mode::Zk {
        // The written word and the fetched instruction would be public: refused by name.
        let err = honest.err().expect("refused in zk mode").to_string();
        assert!(
            err.contains("self-modifying code") && err.contains("zero-knowledge"),
            "{err}"
        );
    } else {
        let (pf, _) = honest.expect("self-modifying code proves");
        let st = prove::verify(&pf, Some((&img, &layout))).expect("the honest proof verifies");
        assert_eq!((st.exit_code, st.code_written.clone()), (0, vec![target]));
        assert!(pf
            .segments
            .iter()
            .any(|s| s.meta.dyn_code == [(target, li_a0_0)]));
    }
    let change = Some((store + 1, target, li_a0_7));
    let cfg = RunConfig::default();
    let pf = forge_changed(&img, &layout, &img, &layout, cfg.clone(), mode, change);
    assert_eq!(pf.public.statement.exit_code, 7);
    assert_eq!(pf.public.statement.code_written, vec![target]);
    // Rejected where the changed word is fetched: `target`, three cycles after the store.
    mode.check(&rejected(&pf, &img, &layout), store + 3);
    // The same run stated as never writing its code: the word is read-only, PROGRAM's.
    if mode == Mode::Plain {
        let mut run = Vm::new(&img, &layout, cfg.clone())
            .unwrap()
            .trace_segments();
        let mut pieces = vec![run.next_segment(store + 1).unwrap()];
        assert!(run.vm_mut().tamper(None, None, Some((target, li_a0_7))));
        pieces.push(run.next_segment(u64::MAX).unwrap());
        let res = run.result().unwrap().clone();
        let mut public =
            prove::public_of_run(&img, &layout, None, Vec::new(), &pieces, res).unwrap();
        public.statement.code_written.clear();
        let (tables, traces) = witness::build_unchecked(&public, &concat(pieces)).unwrap();
        let pf = prove::prove_traces(public, &tables, &traces).unwrap();
        assert!(rejected(&pf, &img, &layout).contains("STARK"));
    }
}

/// A fetched instruction is the one memory holds *at its own cycle*: the CPU looks it up with
/// its clock (`clk + 1`), so a FETCH row read at another cycle cannot stand for it. The guest
/// runs `li a0, 7` and then stores `li a0, 0` over it (exit 7). The forged run executes the
/// stored instruction before the store (exit 0) and reads it, as FETCH, one cycle after the
/// store, where memory does hold it: every memory access is consistent and time-ordered, only
/// the FETCH row's clock is not its CPU row's. Mutation-checked: with the clock out of the
/// program lookup's key (CPU and FETCH), it verifies, also with `--elf`.
#[test]
fn a_fetched_instruction_is_read_at_its_own_cycle() {
    use nexus_relink::prove::air::{FetchCols, MemCols};
    let li_a0_0 = encode(&Inst::addi(10, 0, 0)).unwrap();
    let mut a = Asm(Vec::new());
    let at = a.pc(&SHAPE);
    a.i(Inst::auipc(5, 0));
    a.li(6, li_a0_0);
    let target = a.pc(&SHAPE);
    let (fetch_clk, store_clk, late_clk) = (3u32, 4u32, 5u32);
    a.i(Inst::addi(10, 0, 7)); // cycle 3: li a0, 7
    a.i(Inst::new(Op::Sw, 0, 5, 6, (target - at) as i32)); // cycle 4: over it, li a0, 0
    a.i(Inst::addi(7, 0, 0)); // cycle 5
    a.exit_linux();
    let (img, layout) = parse(guest::elf(&SHAPE, &a.0, &[]));
    let vm = Vm::new(&img, &layout, RunConfig::default()).unwrap().run();
    assert_eq!(vm.exit_code, Some(7));
    // The forged run: the word changed before it runs, so the VM executes `li a0, 0`.
    let mut run = Vm::new(&img, &layout, RunConfig::default())
        .unwrap()
        .trace_segments();
    let mut pieces = vec![run.next_segment(u64::from(fetch_clk)).unwrap()];
    assert!(run.vm_mut().tamper(None, None, Some((target, li_a0_0))));
    pieces.push(run.next_segment(u64::MAX).unwrap());
    let res = run.result().unwrap().clone();
    let public = prove::public_of_run(&img, &layout, None, Vec::new(), &pieces, res).unwrap();
    assert_eq!(public.statement.exit_code, 0);
    assert_eq!(public.statement.code_written, vec![target]);
    let (tables, mut traces) = witness::build_unchecked(&public, &concat(pieces)).unwrap();
    // Move the FETCH read from cycle 3 (before the store: memory holds `li a0, 7` there, which
    // the forger's row does not claim) to cycle 5 (after it), and re-chain the word's times:
    // the store now follows the image start, FETCH follows the store, MEM ends at FETCH.
    let f = |v: u32| Val::from_u32(v);
    let ts = |clk: u32, slot: u32| 8 * clk + slot;
    let mut range_fix: Vec<(u32, i32)> = Vec::new();
    let mut diff = |old: u32, new: u32| {
        for (d, sign) in [(old, -1), (new, 1)] {
            range_fix.push((d & 0xffff, sign));
            range_fix.push(((d >> 16) * 16, sign));
        }
    };
    {
        let fc = FetchCols::new();
        let m = &mut traces[12];
        let w = m.width;
        assert_eq!(m.values[fc.real], Val::ONE);
        assert_eq!(m.values[fc.clk], f(fetch_clk));
        let (prev, now) = (ts(store_clk, 3), ts(late_clk, 1));
        diff(ts(fetch_clk, 1) - 1, now - prev - 1);
        m.values[fc.clk] = f(late_clk);
        m.values[fc.pt] = f(prev);
        m.values[fc.tlo] = f((now - prev - 1) & 0xffff);
        m.values[fc.thi] = f((now - prev - 1) >> 16);
        assert!(m.values[w + fc.real] == Val::ZERO, "one fetch");
    }
    {
        let c = CpuCols::new();
        let m = &mut traces[0];
        let w = m.width;
        let row = &mut m.values[store_clk as usize * w..(store_clk as usize + 1) * w];
        assert_eq!(row[c.sel[sel::SW]], Val::ONE);
        let now = ts(store_clk, 3);
        diff(now - ts(fetch_clk, 1) - 1, now - 1);
        row[c.pt[2]] = Val::ZERO;
        row[c.tlo[2]] = f((now - 1) & 0xffff);
        row[c.thi[2]] = f((now - 1) >> 16);
    }
    {
        let mc = MemCols::new();
        let m = &mut traces[2];
        let w = m.width;
        let word = target >> 2;
        let row = (0..m.height())
            .find(|&i| {
                m.values[i * w + mc.real] == Val::ONE
                    && m.values[i * w + mc.lo] == f(word & 0xffff)
                    && m.values[i * w + mc.hi] == f(word >> 16)
            })
            .expect("the word's MEM row");
        assert_eq!(m.values[row * w + mc.fts], f(ts(store_clk, 3)));
        m.values[row * w + mc.fts] = f(ts(late_clk, 1));
    }
    {
        let m = &mut traces[5];
        let w = m.width;
        for (v, sign) in range_fix {
            let cell = &mut m.values[v as usize * w + 17];
            *cell = if sign > 0 {
                *cell + Val::ONE
            } else {
                *cell - Val::ONE
            };
        }
    }
    let pf = prove::prove_traces(public, &tables, &traces).expect("a proof is produced");
    let why = rejected(&pf, &img, &layout);
    assert!(why.contains("STARK"), "{why}");
}

/// B. A stack overflow into the heap: with heap end = stack bottom the two regions touch, so
/// only the stack rule (an sp-based access may not reach below the stack bottom) tells the
/// overflow from a heap access.
#[test]
fn b_a_stack_overflow_into_the_heap_is_not_provable() {
    b_a_stack_overflow_into_the_heap_is_not_provable_in(Mode::Plain)
}

#[test]
fn b_a_stack_overflow_into_the_heap_is_not_provable_in_zk_mode() {
    b_a_stack_overflow_into_the_heap_is_not_provable_in(Mode::Zk)
}

#[test]
fn b_a_stack_overflow_into_the_heap_is_not_provable_in_a_middle_segment() {
    b_a_stack_overflow_into_the_heap_is_not_provable_in(Mode::Middle)
}

/// `fixtures/deep_recursion.elf` rewritten to 2 MiB with a 64 KiB stack: its recursion
/// overflows the stack in the VM.
fn deep_recursion_2m() -> (Image, Layout) {
    let (img0, _) =
        parse(std::fs::read(common::root().join("fixtures/deep_recursion.elf")).unwrap());
    let out = Relinker::new(2 << 20)
        .stack(64 << 10)
        .rewrite(&img0)
        .unwrap()
        .bytes;
    parse(out)
}

fn b_a_stack_overflow_into_the_heap_is_not_provable_in(mode: Mode) {
    let (img, layout) = deep_recursion_2m();
    assert_eq!(layout.heap_end, layout.stack_bottom, "no guard gap");
    let vm = Vm::new(&img, &layout, RunConfig::default()).unwrap().run();
    assert_eq!(vm.fault.map(|f| f.kind.name()), Some("stack_overflow"));
    // The looser machine: no stack bottom (the stack may grow down to the heap start).
    let mut loose = layout.clone();
    loose.stack_bottom = layout.heap_start;
    loose.heap_end = layout.heap_start;
    // The first access below the stack bottom is the faulting instruction's.
    let at = vm.cycles - 1;
    let mode = mode.around(at, cycles_of(&img, &loose));
    let pf = forge(&img, &layout, &img, &loose, RunConfig::default(), mode);
    assert_eq!(pf.public.statement.exit_code, 0);
    assert_eq!(pf.public.statement.stack_bottom, layout.stack_bottom);
    mode.check(&rejected(&pf, &img, &layout), at);
}

/// The program identity: the audit's looser-layout proof. `deep_recursion` rewritten to 2 MiB
/// with a 64 KiB stack overflows its stack in the VM; proven (honestly) under the same image
/// with `image_end` raised to the heap end, which switches the stack rule off over the heap,
/// the run exits and the proof is valid: a true statement about another machine. Its image
/// digest, memory limit, stack and heap read like the ELF's; its program identity does not.
#[test]
fn a_looser_layout_proof_has_another_program_identity() {
    let (img, layout) = deep_recursion_2m();
    let real = prove::program_id(&img).unwrap();
    assert_eq!(real.len(), 64);
    assert!(real.bytes().all(|b| b.is_ascii_hexdigit()));
    let real_st = prove::public_from_elf(&img, &layout, None)
        .unwrap()
        .statement;
    assert_eq!(
        real_st.program_id(),
        real,
        "inspect's identity is the statement's"
    );
    let vm = Vm::new(&img, &layout, RunConfig::default()).unwrap().run();
    assert_eq!(vm.fault.map(|f| f.kind.name()), Some("stack_overflow"));
    let mut loose = layout.clone();
    loose.image_end = layout.heap_end;
    let (pf, _) = prove::prove(&img, &loose, RunConfig::default(), &|_| {}).unwrap();
    let st = prove::verify(&pf, None).expect("a valid proof about the looser machine");
    assert_eq!(st.exit_code, 0);
    assert_eq!(
        (&st.image_digest, st.memlimit, st.stack_bottom, st.stack_top),
        (
            &real_st.image_digest,
            real_st.memlimit,
            real_st.stack_bottom,
            real_st.stack_top
        )
    );
    assert_eq!(
        (st.heap_start, st.heap_end),
        (real_st.heap_start, real_st.heap_end)
    );
    assert_ne!(st.program_id(), real, "another machine, another identity");
    let e = prove::verify(&pf, Some((&img, &layout)))
        .expect_err("not a proof about the ELF")
        .to_string();
    assert!(e.contains(&real) && e.contains(&st.program_id()), "{e}");
}

/// B, the other side: the rule does not reject what the VM allows (an sp-based access into the
/// image, as `la sp, WORD; lw sp, 0(sp)` does, and below-stack-top frames) — every fixture
/// that proves in tests/prove.rs goes through it; here a generated guest does both.
#[test]
fn b_sp_based_accesses_the_vm_allows_prove() {
    let mut a = Asm(Vec::new());
    let word = SHAPE.text + 4 * 7; // the `li a0, 0` instruction word below, read through sp
    a.li(2, word);
    a.i(Inst::new(Op::Lw, 6, 2, 0, 0)); // lw t1, 0(sp): inside the image
    a.li(2, SHAPE.stack_top);
    a.i(Inst::new(Op::Sw, 0, 2, 6, -4)); // a frame under the stack top
    a.i(Inst::addi(10, 0, 0));
    a.i(Inst::new(Op::Lw, 10, 2, 0, -4));
    a.i(Inst::new(Op::Sub, 10, 10, 6, 0)); // 0 when the round trip held
    a.exit_linux();
    let (img, layout) = parse(guest::elf(&SHAPE, &a.0, &[]));
    let (pf, _) = prove::prove(&img, &layout, RunConfig::default(), &|_| {}).unwrap();
    let st = prove::verify(&pf, Some((&img, &layout))).unwrap();
    assert_eq!(st.exit_code, 0);
}

/// C. Code outside the executable segments: an `"ax"` section in a RW PT_LOAD. The VM faults
/// at the jump; the forged run (the same file with the segment made executable) exits 42.
#[test]
fn c_code_outside_executable_segments_is_not_provable() {
    c_code_outside_executable_segments_is_not_provable_in(Mode::Plain)
}

#[test]
fn c_code_outside_executable_segments_is_not_provable_in_zk_mode() {
    c_code_outside_executable_segments_is_not_provable_in(Mode::Zk)
}

#[test]
fn c_code_outside_executable_segments_is_not_provable_in_a_middle_segment() {
    c_code_outside_executable_segments_is_not_provable_in(Mode::Middle)
}

fn c_code_outside_executable_segments_is_not_provable_in(mode: Mode) {
    let (img, layout) = parse(data("ram_code.elf"));
    let vm = Vm::new(&img, &layout, RunConfig::default()).unwrap().run();
    assert_eq!(vm.fault.map(|f| f.kind.name()), Some("illegal_instruction"));
    let (run_img, run_layout) = parse(data("ram_code_rwx.elf"));
    // The first instruction fetched from the RAM code.
    let at = vm.cycles;
    let mode = mode.around(at, cycles_of(&run_img, &run_layout));
    let cfg = RunConfig::default();
    let pf = forge(&img, &layout, &run_img, &run_layout, cfg, mode);
    assert_eq!(pf.public.statement.exit_code, 42);
    // PROGRAM holds only the executable segment's words.
    let ram = img.symbol("ramfn").map(|s| s.value).unwrap_or(0x20000);
    assert!(pf
        .public
        .code
        .iter()
        .all(|&(a, n)| !(a..a + 4 * n).contains(&ram)));
    mode.check(&rejected(&pf, &img, &layout), at);
}

/// D. HTIF `tohost`: an odd word stored there ends the VM's run (exit word >> 1). The forged
/// run (the same code with the symbol renamed) carries on to `exit(3)`. `tohost` is read-only
/// in the proof and bound by the image digest.
#[test]
fn d_running_past_a_tohost_exit_is_not_provable() {
    d_running_past_a_tohost_exit_is_not_provable_in(Mode::Plain)
}

#[test]
fn d_running_past_a_tohost_exit_is_not_provable_in_zk_mode() {
    d_running_past_a_tohost_exit_is_not_provable_in(Mode::Zk)
}

#[test]
fn d_running_past_a_tohost_exit_is_not_provable_in_a_middle_segment() {
    d_running_past_a_tohost_exit_is_not_provable_in(Mode::Middle)
}

fn d_running_past_a_tohost_exit_is_not_provable_in(mode: Mode) {
    let tohost = 0x2_0000; // in the heap (NOBITS), past the text
    let mut a = Asm(Vec::new());
    a.li(5, 1);
    a.li(6, tohost);
    a.i(Inst::new(Op::Sw, 0, 6, 5, 0)); // tohost = 1: pass, exit 0
    a.i(Inst::addi(10, 0, 3));
    a.exit_linux();
    let with = |name: &str| guest::elf(&SHAPE, &a.0, &[(name.to_string(), tohost, 8)]);
    let (img, layout) = parse(with("tohost"));
    let vm = Vm::new(&img, &layout, RunConfig::default()).unwrap().run();
    assert_eq!((vm.exit_code, vm.cycles), (Some(0), 5));
    // The honest run ends with the HTIF exit and proves so.
    let (honest, _) = prove::prove(&img, &layout, RunConfig::default(), &|_| {}).unwrap();
    let st = prove::verify(&honest, Some((&img, &layout))).unwrap();
    assert_eq!((st.exit_code, st.htif_exit, st.cycles), (0, true, 5));
    let (run_img, run_layout) = parse(with("tohosx"));
    // The store to tohost, the VM's last instruction.
    let at = vm.cycles - 1;
    let mode = mode.around(at, cycles_of(&run_img, &run_layout));
    let cfg = RunConfig::default();
    let pf = forge(&img, &layout, &run_img, &run_layout, cfg, mode);
    assert_eq!(pf.public.statement.exit_code, 3);
    assert_eq!(pf.public.statement.tohost, Some(tohost));
    mode.check(&rejected(&pf, &img, &layout), at);
    // Claiming the ELF has no tohost word: the image digest differs from the ELF's.
    let mut pf2 = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
    pf2.public.statement.tohost = None;
    assert!(prove::verify(&pf2, Some((&img, &layout))).is_err());
}

/// D'. The HTIF exit states the word stored: a modified prover that ends with the same `sw`
/// to `tohost` but states another exit code (the stored word 5, exit 2, claimed as 7, exit 3)
/// passes the replay and is rejected by the STARK; one claiming an HTIF exit for a run that
/// ended with the exit system call is rejected by the replay.
#[test]
fn d_an_htif_exit_states_the_word_stored() {
    let tohost = 0x2_0000;
    let mut a = Asm(Vec::new());
    a.li(5, 5);
    a.li(6, tohost);
    a.i(Inst::new(Op::Sw, 0, 6, 5, 0)); // tohost = 5: exit 2
    let img = Image::parse(guest::elf(
        &SHAPE,
        &a.0,
        &[("tohost".to_string(), tohost, 8)],
    ))
    .unwrap();
    let layout = nexus_relink::layout::MemoryMap::discover(&img)
        .prove_layout()
        .unwrap();
    let (public, trace) = prove::trace_run(&img, &layout, RunConfig::default()).unwrap();
    assert_eq!(
        (public.statement.exit_code, public.statement.htif_exit),
        (2, true)
    );
    let (tables, traces) = witness::build(&public, &trace).unwrap();
    let honest = prove::prove_traces(public.clone(), &tables, &traces).unwrap();
    prove::verify(&honest, None).unwrap();
    let mut forged = public.clone();
    forged.statement.exit_code = 3;
    prove::statement::replay(&forged).expect("the forged statement is consistent");
    let (tables, traces) = witness::build_unchecked(&forged, &trace).unwrap();
    let pf = prove::prove_traces(forged, &tables, &traces).unwrap();
    let back = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
    let why = prove::verify(&back, None).expect_err("a forged HTIF exit code");
    assert!(why.to_string().contains("STARK"), "{why}");
    // A run that ends with the exit ecall, stated as an HTIF exit: the replay rejects it.
    let mut b = Asm(Vec::new());
    b.i(Inst::addi(10, 0, 2));
    b.exit_linux();
    let img = Image::parse(guest::elf(
        &SHAPE,
        &b.0,
        &[("tohost".to_string(), tohost, 8)],
    ))
    .unwrap();
    let (mut public, _) = prove::trace_run(&img, &layout, RunConfig::default()).unwrap();
    assert!(!public.statement.htif_exit);
    public.statement.htif_exit = true;
    let why = prove::statement::replay(&public).expect_err("an ecall exit stated as HTIF");
    assert!(why.contains("before the HTIF exit"), "{why}");
}

/// D''. The HTIF exit is a store to `tohost` itself. A modified prover ends the run at a `sw`
/// of an exit word to the word after `tohost` (an ordinary store, after which the real run goes
/// on to store to `tohost`), with the `halt` flag set on it, and states that HTIF exit: the
/// statement (with the real `tohost`) passes the replay and the STARK rejects it (the `halt`
/// row's address must be the public `tohost` word). Mutation-checked: with that constraint
/// deleted from the CPU AIR, the forged proof verifies.
#[test]
fn d_an_htif_exit_is_a_store_to_tohost() {
    let tohost = 0x2_0000;
    let mut a = Asm(Vec::new());
    a.li(5, 5);
    a.li(7, tohost + 4);
    a.i(Inst::new(Op::Sw, 0, 7, 5, 0)); // the word after tohost = 5: no exit
    a.li(6, tohost);
    a.i(Inst::new(Op::Sw, 0, 6, 5, 0)); // tohost = 5: exit 2
    let img = Image::parse(guest::elf(
        &SHAPE,
        &a.0,
        &[("tohost".to_string(), tohost, 8)],
    ))
    .unwrap();
    let layout = nexus_relink::layout::MemoryMap::discover(&img)
        .prove_layout()
        .unwrap();
    let (public, trace) = prove::trace_run(&img, &layout, RunConfig::default()).unwrap();
    assert_eq!(
        (public.statement.exit_code, public.statement.htif_exit),
        (2, true)
    );
    // The run cut after the first store, stated as ending there with the HTIF exit.
    let cut = trace
        .rows
        .iter()
        .position(|r| r.inst.op == Op::Sw)
        .expect("a store")
        + 1;
    // The forger's witness builder takes the last row's store for the exit.
    htif_forgery_is_rejected(
        &public,
        &trace,
        cut,
        &[cut - 1],
        "an HTIF exit to another word",
    );
}

/// A modified prover's HTIF exit: the run's trace cut after `cut` rows, stated as ending there
/// (the rest of `public` as it is), its witness built unchecked; the rows `halts` carry the
/// halt flag, the statement passes the replay, and the STARK rejects the proof.
fn htif_forgery_is_rejected(
    public: &prove::Public,
    trace: &Trace,
    cut: usize,
    halts: &[usize],
    what: &str,
) {
    let mut t = trace.clone();
    t.rows.truncate(cut);
    let last = t.rows[cut - 1];
    t.mem.truncate((last.mem_start + last.mem_len) as usize);
    let mut forged = public.clone();
    forged.statement.cycles = cut as u64;
    prove::statement::replay(&forged).expect("the forged statement is consistent");
    let (tables, traces) = witness::build_unchecked(&forged, &t).unwrap();
    let cols = CpuCols::new();
    for &k in halts {
        assert_eq!(
            traces[0].get(k, cols.halt).unwrap(),
            Val::ONE,
            "{what}: row {k} halts"
        );
    }
    let pf = prove::prove_traces(forged, &tables, &traces).unwrap();
    let back = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
    let why = prove::verify(&back, None).expect_err(what);
    assert!(why.to_string().contains("STARK"), "{what}: {why}");
}

/// D''' (three). The HTIF exit is the last instruction. A modified prover runs past a `sw` of
/// an exit word to `tohost` (the VM stops there) to a second such store, flags both as the
/// halt, and states the exit at the second: the STARK rejects it (`halt` only on the last real
/// row). Mutation-checked: with that constraint deleted from the CPU AIR, the forged proof
/// verifies.
#[test]
fn d_an_htif_exit_is_the_last_instruction() {
    let tohost = 0x2_0000;
    let mut a = Asm(Vec::new());
    a.li(5, 5);
    a.li(6, tohost);
    a.i(Inst::new(Op::Sw, 0, 6, 5, 0)); // tohost = 5: exit 2, where the VM stops
    a.i(Inst::addi(10, 0, 3));
    a.i(Inst::new(Op::Sw, 0, 6, 5, 0)); // the same store again
    let with = |name: &str| guest::elf(&SHAPE, &a.0, &[(name.to_string(), tohost, 8)]);
    let (img, layout) = parse(with("tohost"));
    let (public, _) = prove::trace_run(&img, &layout, RunConfig::default()).unwrap();
    assert_eq!(
        (public.statement.exit_code, public.statement.htif_exit),
        (2, true)
    );
    // The run past the first store (the same code without the `tohost` symbol), cut after
    // the second.
    let (run_img, run_layout) = parse(with("tohosx"));
    let (_, trace) = Vm::new(&run_img, &run_layout, RunConfig::default())
        .unwrap()
        .run_traced();
    let stores: Vec<usize> = (0..trace.rows.len())
        .filter(|&k| trace.rows[k].inst.op == Op::Sw)
        .collect();
    assert!(stores.len() >= 2, "{stores:?}");
    htif_forgery_is_rejected(
        &public,
        &trace,
        stores[1] + 1,
        &stores[..2],
        "a run past the HTIF exit",
    );
}

/// E. Nexus private input: `ecall 0x400` returns one byte, or `u32::MAX` once the input is
/// used up, and from then on. A forged value outside that set, or a byte after the end, is
/// rejected.
#[test]
fn e_private_input_values_outside_the_vm_s_are_not_provable() {
    e_private_input_values_outside_the_vm_s_are_not_provable_in(false)
}

#[test]
fn e_private_input_values_outside_the_vm_s_are_not_provable_in_zk_mode() {
    e_private_input_values_outside_the_vm_s_are_not_provable_in(true)
}

fn e_private_input_values_outside_the_vm_s_are_not_provable_in(zk: bool) {
    let mut a = Asm(Vec::new());
    for _ in 0..2 {
        // a0 = 0 before each call: the transcript's register reads do not depend on the value.
        a.i(Inst::addi(10, 0, 0));
        a.i(Inst::addi(17, 0, 0x400));
        a.i(Inst::new(Op::Ecall, 0, 0, 0, 0));
        a.i(Inst::new(Op::Add, 8, 8, 10, 0)); // s0 += a0 (only to use it)
    }
    a.i(Inst::addi(10, 0, 0));
    a.i(Inst::addi(17, 0, 0x201));
    a.i(Inst::new(Op::Ecall, 0, 0, 0, 0));
    let (img, layout) = parse(guest::elf(&SHAPE, &a.0, &[]));
    let cfg = RunConfig {
        abi: Some(Abi::Nexus),
        private_input: vec![0x41],
        ..RunConfig::default()
    };
    let (mut public, trace) = prove::trace_run(&img, &layout, cfg.clone()).unwrap();
    public.statement.zk = zk;
    // Honest: one byte, then the end.
    let (t, tr) = witness::build(&public, &trace).unwrap();
    let pf = prove::prove_traces(public.clone(), &t, &tr).unwrap();
    prove::verify(&pf, Some((&img, &layout))).expect("the honest run verifies");
    let reads: Vec<usize> = trace
        .rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.inst.op == Op::Ecall && r.rd == 10)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(reads.len(), 2);
    for values in [[0x7fff_ffff, u32::MAX], [0x100, u32::MAX], [u32::MAX, 0x41]] {
        let mut forged = trace.clone();
        for (k, &i) in reads.iter().enumerate() {
            forged.rows[i].rd_val = values[k];
        }
        let (t, tr) = witness::build_unchecked(&public, &forged).unwrap();
        let pf = prove::prove_traces(public.clone(), &t, &tr).unwrap();
        let why = rejected(&pf, &img, &layout);
        assert!(why.contains("STARK"), "{values:x?}: {why}");
    }
}

/// F. A statement naming an ABI outside the proof's machine: the run is a linux-rv32 one (its
/// exit is `a7 = 93`), proven with `build_unchecked` and stated under each other ABI, whose
/// system calls mean something else (SP1's `ecall` takes its number from t0, nexus-legacy
/// halts on `unimp`, ...). The STARK holds (it does not know the ABI); the verifier's replay of
/// the transcript rejects any system call under an ABI it does not encode, by name.
#[test]
fn f_a_statement_naming_an_abi_outside_the_machine_is_rejected() {
    let mut a = Asm(Vec::new());
    a.i(Inst::addi(10, 0, 7));
    a.exit_linux();
    let (img, layout) = parse(guest::elf(&SHAPE, &a.0, &[]));
    let pf = forge(
        &img,
        &layout,
        &img,
        &layout,
        RunConfig::default(),
        Mode::Plain,
    );
    prove::verify(&pf, Some((&img, &layout))).expect("the honest linux-rv32 statement verifies");
    let others = [
        Abi::NexusLegacy,
        Abi::Sp1,
        Abi::Risc0,
        Abi::Ceno,
        Abi::OpenVm,
        Abi::NexusMixed,
        Abi::Unknown,
    ];
    for abi in others {
        let mut public = pf.public.clone();
        public.statement.abi = abi;
        let trace = Vm::new(&img, &layout, RunConfig::default())
            .unwrap()
            .run_traced()
            .1;
        let (tables, traces) = witness::build_unchecked(&public, &trace).unwrap();
        let forged = prove::prove_traces(public, &tables, &traces).unwrap();
        let why = rejected(&forged, &img, &layout);
        // The ABIs in the machine number their calls in t0 (s2 before Nexus 0.3, a7 with
        // Nexus's numbers in the late-2024 runtime; OpenVM makes none): a linux call does not
        // follow them.
        let want = if abi == Abi::NexusLegacy {
            "an ecall reads s2, a1, a2, a7".to_string()
        } else if abi == Abi::OpenVm {
            "the openvm ABI makes no ecall".to_string()
        } else if abi == Abi::NexusMixed {
            "unknown Nexus system call 0x5d".to_string()
        } else if abi.provable() {
            "an ecall reads t0, a0, a1, a2".to_string()
        } else {
            format!("the {} ABI is not in the proof's machine", abi.name())
        };
        assert!(why.contains(&want), "{}: {why}", abi.name());
    }
}

/// G. The halts of the ABIs added to the machine (SP1, RISC Zero, Ceno): a modified prover
/// states another exit code and the halt's `a0` to match it (so the native replay accepts the
/// transcript); the registers the EVENT table states are the CPU's, so the STARK fails. The
/// Nexus runtime before 0.3 halts with `unimp`, which has no exit code (that VM ends the run
/// with success): a statement of another exit code is rejected by the replay. The honest
/// proof of each verifies.
#[test]
fn g_the_exit_code_of_each_added_abi_s_halt_is_bound() {
    let root = common::root().join("fixtures/abi");
    let sp1 = Image::read(&root.join("sp1_io.elf")).unwrap();
    let ceno = Image::read(&root.join("ceno_halt.elf")).unwrap();
    // RISC Zero: `li t0, 0; li a0, 5 << 8; ecall` (halt, terminate, exit code 5).
    let mut a = Asm(Vec::new());
    a.i(Inst::addi(5, 0, 0));
    a.i(Inst::addi(10, 0, 5 << 8));
    a.i(Inst::new(Op::Ecall, 0, 0, 0, 0));
    let risc0 = Image::parse(guest::elf(&SHAPE, &a.0, &[])).unwrap();
    let legacy = Image::read(&root.join("nexus_legacy.elf")).unwrap();
    let mixed = Image::read(&root.join("nexus_mixed.elf")).unwrap();
    let frames = [5u8, 0, 0, 0, b'h', b'e', b'l', b'l', b'o'].to_vec();
    for (img, abi, input, private_input, exit, bump) in [
        (&sp1, Abi::Sp1, frames, Vec::new(), 0, 1u32),
        (&ceno, Abi::Ceno, Vec::new(), Vec::new(), 42, 1),
        (&risc0, Abi::Risc0, Vec::new(), Vec::new(), 5, 1 << 8),
        (&legacy, Abi::NexusLegacy, Vec::new(), b"abc".to_vec(), 0, 0),
        (&mixed, Abi::NexusMixed, Vec::new(), b"abc".to_vec(), 0, 0),
    ] {
        let layout = nexus_relink::layout::MemoryMap::discover(img)
            .prove_layout()
            .unwrap();
        let cfg = RunConfig {
            abi: Some(abi),
            input,
            private_input,
            ..RunConfig::default()
        };
        let (public, trace) = prove::trace_run(img, &layout, cfg).unwrap();
        assert_eq!(public.statement.exit_code, exit, "{}", abi.name());
        let (tables, traces) = witness::build(&public, &trace).unwrap();
        let honest = prove::prove_traces(public.clone(), &tables, &traces).unwrap();
        prove::verify(&honest, None).unwrap_or_else(|e| panic!("{}: {e}", abi.name()));
        let mut forged = public;
        if bump == 0 {
            // The `unimp` halt: exit code 0 whatever the registers hold.
            forged.statement.exit_code = 3;
            let why = prove::statement::replay(&forged).expect_err("a forged unimp exit code");
            assert!(why.contains("exit code"), "{}: {why}", abi.name());
            continue;
        }
        let halt = forged.events.last_mut().unwrap();
        assert_eq!(halt.reads[1].0, 10, "a0");
        halt.reads[1].1 = halt.reads[1].1.wrapping_add(bump);
        forged.statement.exit_code += 1;
        prove::statement::replay(&forged).expect("the forged transcript is consistent");
        let (tables, traces) = witness::build_unchecked(&forged, &trace).unwrap();
        let pf = prove::prove_traces(forged, &tables, &traces).unwrap();
        let back = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
        let why = prove::verify(&back, None).expect_err("a forged exit code");
        assert!(why.to_string().contains("STARK"), "{}: {why}", abi.name());
    }
}

/// RISC Zero's software calls return two words: SYS_READ puts whole words of the input in the
/// buffer and the last 0-3 bytes in a1 (the transcript's second write). A modified prover
/// states the input "hellp" and a1 = 'p' for a run that read "hello" (the guest's output, sum
/// 532, is the honest one): the native replay accepts the transcript, and the STARK rejects
/// it, as the EVENT table writes a1 with the transcript's value and the CPU read 'o'. A
/// precompile call (t0 = 3, SHA) is refused by name.
#[test]
fn g_a_risc0_software_call_s_second_word_is_bound() {
    let root = common::root().join("fixtures/abi");
    let img = Image::read(&root.join("risc0_halt.elf")).unwrap();
    let layout = nexus_relink::layout::MemoryMap::discover(&img)
        .prove_layout()
        .unwrap();
    let cfg = RunConfig {
        abi: Some(Abi::Risc0),
        input: b"hello".to_vec(),
        ..RunConfig::default()
    };
    let (public, trace) = prove::trace_run(&img, &layout, cfg).unwrap();
    assert_eq!(public.statement.exit_code, 5);
    assert_eq!(public.statement.stdout, b"risc0: read 5 bytes, sum 532\n");
    let read = public
        .events
        .iter()
        .position(|e| e.write2 == Some((11, u32::from(b'o'))))
        .expect("SYS_READ returns 'o' in a1");
    let (tables, traces) = witness::build(&public, &trace).unwrap();
    let honest = prove::prove_traces(public.clone(), &tables, &traces).unwrap();
    prove::verify(&honest, None).unwrap();
    let mut forged = public;
    forged.events[read].write2 = Some((11, u32::from(b'p')));
    forged.statement.public_input = b"hellp".to_vec();
    prove::statement::replay(&forged).expect("the forged transcript is consistent");
    let (tables, traces) = witness::build_unchecked(&forged, &trace).unwrap();
    let pf = prove::prove_traces(forged, &tables, &traces).unwrap();
    let back = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
    let why = prove::verify(&back, None).expect_err("a forged second word");
    assert!(why.to_string().contains("STARK"), "{why}");

    // `li t0, 3; ecall` (SHA): a precompile; the run faults on it by name, so nothing proves.
    let mut a = Asm(Vec::new());
    a.i(Inst::addi(5, 0, 3));
    a.i(Inst::new(Op::Ecall, 0, 0, 0, 0));
    a.i(Inst::addi(5, 0, 0));
    a.i(Inst::new(Op::Ecall, 0, 0, 0, 0));
    let sha = Image::parse(guest::elf(&SHAPE, &a.0, &[])).unwrap();
    let layout = nexus_relink::layout::MemoryMap::discover(&sha)
        .prove_layout()
        .unwrap();
    let cfg = RunConfig {
        abi: Some(Abi::Risc0),
        ..RunConfig::default()
    };
    let why = prove::trace_run(&sha, &layout, cfg).expect_err("refused");
    assert!(why.to_string().contains("SHA (t0 = 3)"), "{why}");
}

/// OpenVM's `terminate` states its exit code in its immediate: the event must be the
/// instruction the CPU executed. A modified prover that moves the halt event to another
/// `terminate` (exit 0 instead of the 1 the run reached) passes the replay and is rejected by
/// the STARK.
#[test]
fn g_an_openvm_terminate_event_is_the_instruction_executed() {
    let mut a = Asm(Vec::new());
    a.i(Inst::addi(10, 0, 7));
    a.i(Inst::new(Op::Terminate, 0, 0, 0, 1));
    a.i(Inst::new(Op::Terminate, 0, 0, 0, 0));
    let img = Image::parse(guest::elf(&SHAPE, &a.0, &[])).unwrap();
    let layout = nexus_relink::layout::MemoryMap::discover(&img)
        .prove_layout()
        .unwrap();
    let cfg = RunConfig {
        abi: Some(Abi::OpenVm),
        ..RunConfig::default()
    };
    let (public, trace) = prove::trace_run(&img, &layout, cfg).unwrap();
    assert_eq!(public.statement.exit_code, 1);
    let (tables, traces) = witness::build(&public, &trace).unwrap();
    let honest = prove::prove_traces(public.clone(), &tables, &traces).unwrap();
    prove::verify(&honest, None).unwrap();
    let mut forged = public;
    forged.events.last_mut().unwrap().pc += 4;
    forged.statement.exit_code = 0;
    prove::statement::replay(&forged).expect("the forged transcript is consistent");
    let (tables, traces) = witness::build_unchecked(&forged, &trace).unwrap();
    let pf = prove::prove_traces(forged, &tables, &traces).unwrap();
    let back = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
    let why = prove::verify(&back, None).expect_err("a moved terminate");
    assert!(why.to_string().contains("STARK"), "{why}");
}

/// Misaligned loads and stores: the VM performs them (as qemu-user does), and a proof states
/// each as a transcript event (its bytes in IOW, any two words; its value checked by the
/// replay): a word store across a word boundary, word and halfword loads across it, a
/// halfword store at an odd lane. The proof verifies and states the VM's exit code. A forged
/// load (other bytes and the value they make, which the replay accepts) is rejected by the
/// STARK; in zero-knowledge mode (the transcript is public) the prover refuses by name. An
/// aligned access relabelled to another lane is rejected.
#[test]
fn misaligned_accesses_are_proven_as_events() {
    let mut a = Asm(Vec::new());
    a.li(5, SHAPE.stack_top - 16);
    a.li(6, 0x1122_3344);
    a.i(Inst::new(Op::Sw, 0, 5, 6, 2)); // word store across a word boundary
    a.i(Inst::new(Op::Lw, 11, 5, 0, 2)); // and the word back
    a.i(Inst::new(Op::Lh, 12, 5, 0, 3)); // halfword across the boundary: 0x2211 (its top byte)
    a.i(Inst::new(Op::Lhu, 13, 5, 0, 1)); // 0x3344... low lanes
    a.i(Inst::new(Op::Sh, 0, 5, 6, 7)); // halfword store at lane 3
    a.i(Inst::new(Op::Lw, 14, 5, 0, 5)); // a word over both stores
                                         // a0 = (a1 - 0x11223344) + (a2 + a3 + a4) & 0x7f: the exit code depends on every value.
    a.i(Inst::new(Op::Sub, 10, 11, 6, 0));
    a.i(Inst::new(Op::Add, 10, 10, 12, 0));
    a.i(Inst::new(Op::Add, 10, 10, 13, 0));
    a.i(Inst::new(Op::Add, 10, 10, 14, 0));
    a.i(Inst::new(Op::Andi, 10, 10, 0, 0x7f));
    a.exit_linux();
    let (img, layout) = parse(guest::elf(&SHAPE, &a.0, &[]));
    let vm = Vm::new(&img, &layout, RunConfig::default()).unwrap().run();
    let code = vm.exit_code.expect("the VM performs misaligned accesses");
    let (pf, _) = prove::prove(&img, &layout, RunConfig::default(), &|_| {}).unwrap();
    let st = prove::verify(&pf, Some((&img, &layout))).unwrap();
    assert_eq!(st.exit_code, code);
    assert_eq!(
        pf.public.events.len(),
        7,
        "six misaligned accesses and the exit"
    );
    // A forged load: the word at offset 2 read as other bytes, and the value they make.
    let (public, trace) = prove::trace_run(&img, &layout, RunConfig::default()).unwrap();
    let mut forged = public.clone();
    let ev = &mut forged.events[1];
    let (_, bytes) = ev.mem_read.as_mut().expect("the lw reads 4 bytes");
    bytes[0] ^= 1;
    let v = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    ev.write = Some((11, Some(v)));
    prove::statement::replay(&forged).expect("the forged transcript is consistent");
    let (tables, traces) = witness::build_unchecked(&forged, &trace).unwrap();
    let pf = prove::prove_traces(forged, &tables, &traces).unwrap();
    let why = prove::verify(&pf, None).expect_err("forged bytes");
    assert!(why.to_string().contains("STARK"), "{why}");
    // Zero knowledge: refused by name.
    let err = prove::prove_with(
        &img,
        &layout,
        RunConfig::default(),
        &prove::ProveOptions {
            zk: true,
            ..Default::default()
        },
        &|_| {},
    )
    .err()
    .expect("refused in zk mode")
    .to_string();
    assert!(
        err.contains("misaligned") && err.contains("zero-knowledge"),
        "{err}"
    );
    // A forged aligned access relabelled to another lane: the word store must use lane 0.
    let mut b = Asm(Vec::new());
    b.li(5, SHAPE.stack_top - 16);
    b.i(Inst::new(Op::Sw, 0, 5, 0, 0));
    b.i(Inst::addi(10, 0, 0));
    b.exit_linux();
    let (img, layout) = parse(guest::elf(&SHAPE, &b.0, &[]));
    let (public, trace) = prove::trace_run(&img, &layout, RunConfig::default()).unwrap();
    let (t, mut tr) = witness::build(&public, &trace).unwrap();
    let c = CpuCols::new();
    let m = &mut tr[0];
    let w = m.width;
    let row = (0..m.values.len() / w)
        .find(|&i| m.values[i * w + c.sel[sel::SW]] == Val::ONE)
        .unwrap();
    m.values[row * w + c.f[0]] = Val::ZERO;
    m.values[row * w + c.f[2]] = Val::ONE;
    m.values[row * w + c.d[0]] += Val::from_u32(2);
    let pf = prove::prove_traces(public, &t, &tr).unwrap();
    assert!(matches!(
        prove::verify(&pf, None),
        Err(VerifyError::Stark(_))
    ));
    // The same forged lane inside a middle segment (segments of 2 cycles: the store, cycle 2,
    // in segment 1 of 3).
    let (pieces, public) = forge::pieces(&img, &layout, 2);
    let honest = forge::chain_edited(public.clone(), &pieces, &mut |_, _| {});
    assert_eq!(honest.segments.len(), 3);
    prove::verify(&honest, Some((&img, &layout))).expect("the honest chain verifies");
    let pf = forge::chain_edited(public, &pieces, &mut |k, w| {
        if k == 1 {
            let m = &mut w.traces[0];
            let row = (0..m.height())
                .find(|&i| m.values[i * m.width + c.sel[sel::SW]] == Val::ONE)
                .unwrap();
            m.values[row * m.width + c.f[0]] = Val::ZERO;
            m.values[row * m.width + c.f[2]] = Val::ONE;
            m.values[row * m.width + c.d[0]] += Val::from_u32(2);
        }
    });
    Mode::Chain(2).check(&rejected(&pf, &img, &layout), 2);
}

/// A misaligned row takes no memory access of its own: its event must exist. A modified prover
/// leaves the misaligned `lw`'s event out of the transcript, so the row loads 0 (no access, no
/// event) and the guest exits 0 instead of 0x22; the transcript and statement say so and the
/// replay accepts them. The CPU sends every misaligned row to EVENT, so the STARK rejects it
/// (mutation-checked: without `mis` in the CPU's event-bus count it verifies).
#[test]
fn a_misaligned_row_without_its_event_is_rejected() {
    let mut a = Asm(Vec::new());
    a.li(5, SHAPE.stack_top - 16);
    a.li(6, 0x1122_3344);
    a.i(Inst::new(Op::Sw, 0, 5, 6, 0));
    a.i(Inst::new(Op::Sw, 0, 5, 6, 4));
    a.i(Inst::new(Op::Lw, 10, 5, 0, 2)); // 0x33441122
    a.i(Inst::new(Op::Andi, 10, 10, 0, 0x7f));
    a.exit_linux();
    let (img, layout) = parse(guest::elf(&SHAPE, &a.0, &[]));
    let (public, trace) = prove::trace_run(&img, &layout, RunConfig::default()).unwrap();
    assert_eq!(public.statement.exit_code, 0x22);
    assert_eq!(public.events.len(), 2, "the misaligned lw and the exit");
    let mut forged = public;
    forged.events.remove(0);
    let exit = forged.events.last_mut().unwrap();
    assert_eq!(exit.reads[1].0, 10, "a0");
    exit.reads[1].1 = 0;
    forged.statement.exit_code = 0;
    prove::statement::replay(&forged).expect("the forged transcript is consistent");
    let (tables, traces) = witness::build_unchecked(&forged, &trace).unwrap();
    let pf = prove::prove_traces(forged, &tables, &traces).unwrap();
    let why = rejected(&pf, &img, &layout);
    assert!(why.contains("STARK"), "{why}");
}

/// The cycle count is stated exactly: a proof of n cycles is not one of n + 1, and a run the
/// VM stops at its cycle limit has no exit to prove.
#[test]
fn the_cycle_count_is_exact() {
    let mut a = Asm(Vec::new());
    for _ in 0..20 {
        a.i(Inst::addi(5, 5, 1));
    }
    a.i(Inst::addi(10, 0, 0));
    a.exit_linux();
    let (img, layout) = parse(guest::elf(&SHAPE, &a.0, &[]));
    let cfg = RunConfig {
        max_cycles: 10,
        ..RunConfig::default()
    };
    let err = prove::prove(&img, &layout, cfg, &|_| {})
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("cycle limit"), "{err}");
    let (pf, _) = prove::prove(&img, &layout, RunConfig::default(), &|_| {}).unwrap();
    assert_eq!(pf.public.statement.cycles, 23);
    let mut bad = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
    bad.public.statement.cycles = 24;
    if let Some(e) = bad.public.events.last_mut() {
        e.clk += 1;
    }
    assert!(prove::verify(&bad, None).is_err());
}

#[test]
fn committed_soundness_guests_match_their_source() {
    if !common::have("riscv64-unknown-elf-gcc") {
        eprintln!("riscv64-unknown-elf-gcc not installed: rebuild check skipped");
        return;
    }
    if !common::same_toolchain() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = common::root().join("tests/data/soundness");
    let st = std::process::Command::new("sh")
        .arg(dir.join("build.sh"))
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(st.success());
    for name in ["ram_code.elf", "ram_code_rwx.elf"] {
        assert!(
            std::fs::read(tmp.path().join(name)).unwrap() == data(name),
            "{name} differs from its source; run tests/data/soundness/build.sh"
        );
    }
}

/// Every single-bit flip over the whole statement part of a proof file (header, statement,
/// image, instruction ranges, transcript) is rejected, with and without the ELF: exhaustively,
/// since the public digest in the STARK's public values binds every byte. A generated guest and
/// two fixtures (a linux-rv32 `write`, a Nexus guest).
#[test]
fn every_bit_flip_of_the_statement_is_rejected() {
    let mut a = Asm(Vec::new());
    a.li(5, SHAPE.stack_top - 16);
    a.i(Inst::new(Op::Sw, 0, 5, 5, 0));
    a.i(Inst::addi(10, 0, 5));
    a.exit_linux();
    let generated = guest::elf(&SHAPE, &a.0, &[]);
    let fixture =
        |n: &str| std::fs::read(common::root().join(format!("fixtures/{n}.elf"))).unwrap();
    for elf in [generated, fixture("linux_hello"), fixture("nexus_hello")] {
        let (img, layout) = parse(elf);
        let (pf, _) = prove::prove(&img, &layout, RunConfig::default(), &|_| {}).unwrap();
        sweep(&pf.to_bytes(), &img, &layout);
    }
}

fn sweep(bytes: &[u8], img: &Image, layout: &Layout) {
    let statement_end = 20 + u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
    let flips: Vec<(usize, u8)> = (0..statement_end)
        .flat_map(|i| (0..8).map(move |b| (i, 1u8 << b)))
        .collect();
    let accepted = std::sync::Mutex::new(Vec::new());
    let stark_checked = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for chunk in flips.chunks(flips.len().div_ceil(2)) {
            let (accepted, stark_checked) = (&accepted, &stark_checked);
            s.spawn(move || {
                for &(i, bit) in chunk {
                    let mut b = bytes.to_vec();
                    b[i] ^= bit;
                    let Ok(pf) = ProofFile::from_bytes(&b) else {
                        continue;
                    };
                    for elf in [None, Some((img, layout))] {
                        match prove::verify(&pf, elf) {
                            Ok(_) => accepted.lock().unwrap().push((i, bit, elf.is_some())),
                            Err(VerifyError::Stark(_)) => {
                                stark_checked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            Err(_) => {}
                        }
                    }
                }
            });
        }
    });
    let accepted = accepted.into_inner().unwrap();
    assert!(
        accepted.is_empty(),
        "{} of {} flips verify, e.g. byte {} bit {:#x} (with the ELF: {})",
        accepted.len(),
        flips.len(),
        accepted[0].0,
        accepted[0].1,
        accepted[0].2
    );
    // Many flips decode to another consistent statement, which only the STARK's public digest
    // catches.
    let n = stark_checked.into_inner();
    eprintln!("{} flips, {n} rejected by the STARK", flips.len());
    assert!(n > 0);
}
