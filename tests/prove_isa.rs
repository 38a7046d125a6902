//! Completeness over the instruction set: a generated guest executes every RV32IM instruction
//! the prover supports over edge-case operands (0, ±1, INT_MIN, INT_MAX, ...): signed and
//! unsigned compares and branches both ways, shifts by 0/1/31/32+, MULH/MULHSU/MULHU, division
//! by zero and INT_MIN / -1, loads and stores of every width at every lane with sign extension,
//! `jal`/`jalr` (including an odd `jalr` target), `lui`/`auipc`, machine CSRs and `mret`, and
//! `read`/`write` system calls on unaligned buffers. The VM runs it (its semantics are checked against qemu elsewhere);
//! the run must prove and verify, and a checksum of every result must survive into the
//! statement's exit code and output.

#[path = "../benches/guest/mod.rs"]
mod guest;

use nexus_relink::elf::Image;
use nexus_relink::isa::{encode, split_hi_lo, Inst, Op};
use nexus_relink::layout::Layout;
use nexus_relink::prove::{self, ProofFile};
use nexus_relink::vm::{RunConfig, Vm};

const SP: u8 = 2;
const A: u8 = 5; // t0
const B: u8 = 6; // t1
const R: u8 = 7; // t2
const SUM: u8 = 28; // t3
const MIX: u8 = 29; // t4
const CNT: u8 = 30; // t5

const EDGES: [u32; 9] = [
    0,
    1,
    u32::MAX,
    0x8000_0000,
    0x7fff_ffff,
    5,
    (-7i32) as u32,
    0x1234_5678,
    0xdead_beef,
];

struct Asm(Vec<u32>);

impl Asm {
    fn i(&mut self, inst: Inst) {
        self.0
            .push(encode(&inst).unwrap_or_else(|e| panic!("{inst:?}: {e}")));
    }
    fn li(&mut self, rd: u8, v: u32) {
        let (hi, lo) = split_hi_lo(v);
        self.i(Inst::lui(rd, hi << 12));
        self.i(Inst::addi(rd, rd, lo));
    }
    /// Fold R into the checksums.
    fn fold(&mut self) {
        self.i(Inst::new(Op::Add, SUM, SUM, R, 0));
        self.i(Inst::new(Op::Xor, MIX, MIX, R, 0));
        self.i(Inst::new(Op::Slli, MIX, MIX, 0, 1));
    }
}

fn program(shape: &guest::Shape) -> Vec<u32> {
    use Op::*;
    let mut a = Asm(Vec::new());
    let (hi, lo) = split_hi_lo(shape.stack_top.wrapping_sub(shape.text));
    a.i(Inst::auipc(SP, hi << 12));
    a.i(Inst::addi(SP, SP, lo));
    let rr = [
        Add, Sub, Sll, Slt, Sltu, Xor, Srl, Sra, Or, And, Mul, Mulh, Mulhsu, Mulhu, Div, Divu, Rem,
        Remu,
    ];
    let br = [Beq, Bne, Blt, Bge, Bltu, Bgeu];
    for &x in &EDGES {
        for &y in EDGES.iter().chain([32u32, 33, 31, 63].iter()) {
            a.li(A, x);
            a.li(B, y);
            for op in rr {
                a.i(Inst::new(op, R, A, B, 0));
                a.fold();
            }
            for op in br {
                // Taken: skip the increment.
                a.i(Inst::new(op, 0, A, B, 8));
                a.i(Inst::addi(CNT, CNT, 1));
            }
        }
        for imm in [0, 1, -1, 2047, -2048, 0x555, -0x7ff] {
            for op in [Addi, Slti, Sltiu, Xori, Ori, Andi] {
                a.i(Inst::new(op, R, A, 0, imm));
                a.fold();
            }
        }
        for sh in [0, 1, 7, 31] {
            for op in [Slli, Srli, Srai] {
                a.i(Inst::new(op, R, A, 0, sh));
                a.fold();
            }
        }
        // Memory: store the word, read it back every way, overwrite lanes.
        a.li(A, x);
        a.i(Inst::store(Sw, A, SP, -56));
        for off in 0..4 {
            for op in [Lb, Lbu] {
                a.i(Inst::load(op, R, SP, -56 + off));
                a.fold();
            }
        }
        for off in [0, 2] {
            for op in [Lh, Lhu] {
                a.i(Inst::load(op, R, SP, -56 + off));
                a.fold();
            }
        }
        for off in 0..4 {
            a.i(Inst::store(Sb, CNT, SP, -48 + off));
        }
        a.i(Inst::store(Sh, A, SP, -44));
        a.i(Inst::store(Sh, SUM, SP, -42));
        a.i(Inst::load(Lw, R, SP, -48));
        a.fold();
        a.i(Inst::load(Lw, R, SP, -44));
        a.fold();
    }
    // lui / auipc / jal / jalr (odd target: bit 0 is cleared).
    a.i(Inst::lui(R, 0xfffff000));
    a.fold();
    a.i(Inst::auipc(R, 0x1000));
    a.fold();
    a.i(Inst::jal(1, 8));
    a.i(Inst::addi(CNT, CNT, 100)); // skipped
    a.i(Inst::auipc(R, 0));
    a.i(Inst::new(Jalr, 1, R, 0, 13)); // to auipc + 12
    a.i(Inst::addi(CNT, CNT, 100)); // skipped
    a.i(Inst::new(Sub, R, 1, R, 0)); // ra - label = 8
    a.fold();
    // Machine CSRs: counters, misa, mscratch in every form, then mret to mepc.
    a.i(Inst::new(Csrrs, R, 0, 0, 0xc00)); // rdcycle
    a.fold();
    a.i(Inst::new(Csrrs, R, 0, 0, 0x301)); // misa
    a.fold();
    a.i(Inst::new(Csrrwi, R, 5, 0, 0x340));
    a.i(Inst::new(Csrrsi, R, 2, 0, 0x340));
    a.fold();
    a.i(Inst::new(Csrrci, R, 1, 0, 0x340));
    a.fold();
    a.i(Inst::new(Csrrw, R, A, 0, 0x340));
    a.fold();
    a.i(Inst::new(Csrrc, R, SUM, 0, 0x340));
    a.fold();
    a.i(Inst::new(Csrrs, R, 0, 0, 0x340));
    a.fold();
    a.i(Inst::auipc(R, 0));
    a.i(Inst::addi(R, R, 20)); // past the mret and the instruction after it
    a.i(Inst::new(Csrrw, 0, R, 0, 0x341)); // mepc
    a.i(Inst::new(Mret, 0, 0, 0, 0));
    a.i(Inst::addi(CNT, CNT, 100)); // skipped
    a.i(Inst::new(Wfi, 0, 0, 0, 0));
    // read(0, sp - 31, 5) then write(1, sp - 31, n): unaligned buffers across words.
    a.i(Inst::addi(17, 0, 63));
    a.i(Inst::addi(10, 0, 0));
    a.i(Inst::addi(11, SP, -31));
    a.i(Inst::addi(12, 0, 5));
    a.i(Inst::new(Ecall, 0, 0, 0, 0));
    a.i(Inst::addi(12, 10, 0));
    a.i(Inst::addi(17, 0, 64));
    a.i(Inst::addi(10, 0, 1));
    a.i(Inst::addi(11, SP, -31));
    a.i(Inst::new(Ecall, 0, 0, 0, 0));
    // An unknown system call returns -ENOSYS.
    a.i(Inst::addi(17, 0, 999));
    a.i(Inst::new(Ecall, 0, 0, 0, 0));
    a.i(Inst::new(Add, R, 10, CNT, 0));
    a.fold();
    // exit((SUM ^ MIX) & 0xff)
    a.i(Inst::new(Xor, 10, SUM, MIX, 0));
    a.i(Inst::new(Andi, 10, 10, 0, 0xff));
    a.i(Inst::addi(17, 0, 93));
    a.i(Inst::new(Ecall, 0, 0, 0, 0));
    a.0
}

#[test]
fn every_instruction_proves() {
    let shape = guest::Shape {
        text: 0x1_0000,
        stack_top: 0x40_0000,
        stack_bottom: 0x30_0000,
    };
    let bytes = guest::elf(&shape, &program(&shape), &[]);
    let img = Image::parse(bytes).unwrap();
    let layout = Layout::discover(&img).unwrap();
    let cfg = RunConfig {
        input: b"hello, world".to_vec(),
        ..RunConfig::default()
    };
    let run = Vm::new(&img, &layout, cfg.clone()).unwrap().run();
    assert!(run.fault.is_none(), "{:?}", run.fault);
    assert_eq!(run.stdout, b"hello");
    let (pf, stats) = prove::prove(&img, &layout, cfg, &|_| {}).unwrap();
    assert_eq!(stats.cycles, run.cycles);
    let back = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
    let st = prove::verify(&back, Some((&img, &layout))).expect("every instruction verifies");
    assert_eq!(st.exit_code, run.exit_code.unwrap());
    assert_eq!(st.stdout, b"hello");
    // The statement carries the input bytes the guest read, not the whole input.
    assert_eq!(st.public_input, b"hello");
    // A 4 MiB input of which the guest reads 5 bytes: the proof holds those 5, and verifies.
    let mut big = b"HELLO".to_vec();
    big.resize(4 << 20, b'x');
    let cfg = RunConfig {
        input: big,
        ..RunConfig::default()
    };
    let (pf, _) = prove::prove(&img, &layout, cfg, &|_| {}).unwrap();
    let bytes = pf.to_bytes();
    assert!(bytes.len() < 2 << 20, "{} bytes", bytes.len());
    let back = ProofFile::from_bytes(&bytes).unwrap();
    let st = prove::verify(&back, Some((&img, &layout))).unwrap();
    assert_eq!(
        (&st.public_input[..], &st.stdout[..]),
        (&b"HELLO"[..], &b"HELLO"[..])
    );
}

#[test]
fn isa_test_environment_without_self_modifying_code_proves() {
    // The "p" environment (CSR set-up, mret, rdcycle, M corner cases, data stores into the RWX
    // segment, `li a7, 93; ecall` exit) proves, for passing and failing variants.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/isa");
    // The HTIF variants end with `sw` of (code << 1) | 1 to `tohost` instead of the ecall.
    for (name, code) in [
        ("p_env_nosmc_pass", 0),
        ("p_env_nosmc_fail", (7 << 1) | 1),
        ("p_env_htif_nosmc_pass", 0),
        ("p_env_htif_nosmc_fail", 7),
        // Misaligned loads and stores of every width (the ma_data form), HTIF exit.
        ("p_env_ma_data_pass", 0),
        ("p_env_ma_data_fail", 7),
    ] {
        let img = Image::parse(std::fs::read(dir.join(format!("{name}.elf"))).unwrap()).unwrap();
        let layout = Layout::discover(&img).unwrap();
        let (pf, _) = prove::prove(&img, &layout, RunConfig::default(), &|_| {})
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let st =
            prove::verify(&pf, Some((&img, &layout))).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(st.exit_code, code, "{name}");
        assert_eq!(
            st.htif_exit,
            name.contains("htif") || name.contains("ma_data"),
            "{name}"
        );
        if name.contains("ma_data") {
            let misaligned = pf.public.events.iter().filter(|e| {
                matches!(&e.mem_read, Some((a, b)) if a % b.len() as u32 != 0)
                    || matches!(&e.mem_write, Some((a, b)) if a % b.len() as u32 != 0)
            });
            assert!(
                misaligned.count() >= 8,
                "{name}: its misaligned accesses are events"
            );
            // In a chain of 16-cycle segments, the events fall inside middle segments.
            let opts = prove::ProveOptions {
                segment_cycles: 16,
                ..Default::default()
            };
            let (pf, _) = prove::prove_with(&img, &layout, RunConfig::default(), &opts, &|_| {})
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(pf.segments.len() > 3);
            let st =
                prove::verify(&pf, Some((&img, &layout))).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(st.exit_code, code, "{name}");
        }
    }
}

#[test]
fn isa_test_environment_self_modifying_code_proves() {
    // The ISA tests' "p" environment style: CSR set-up, mret, then `li a7, 93; ecall` (or the
    // HTIF exit); these also rewrite their own code after `fence.i` (the form of the ISA
    // tests' fence_i). The stored word is stated as written and fetched from memory.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/isa");
    for (name, htif, code) in [
        ("p_env_pass", false, 0),
        ("p_env_htif_pass", true, 0),
        // The fence_i form: an instruction stored over code as two halfwords, twice.
        ("p_env_fence_i_pass", true, 0),
        ("p_env_fence_i_fail", true, 7),
    ] {
        let img = Image::parse(std::fs::read(dir.join(format!("{name}.elf"))).unwrap()).unwrap();
        let layout = Layout::discover(&img).unwrap();
        let patch = img.symbol("patch_me").expect("the patched word").value;
        for segment_cycles in [prove::ProveOptions::default().segment_cycles, 8] {
            let opts = prove::ProveOptions {
                segment_cycles,
                ..Default::default()
            };
            let (pf, _) = prove::prove_with(&img, &layout, RunConfig::default(), &opts, &|_| {})
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let st =
                prove::verify(&pf, Some((&img, &layout))).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((st.exit_code, st.htif_exit), (code, htif), "{name}");
            assert!(st.code_written.contains(&patch), "{name}");
            if name.contains("fence_i") {
                assert_eq!(
                    st.code_written.len(),
                    3,
                    "{name}: and the two halfword-patched words"
                );
            }
            // The patched instruction was fetched from memory as stored.
            let new_insn = img.symbol("new_insn").expect("the stored word").value;
            let word = pf.public.image_word(new_insn);
            assert!(
                pf.segments
                    .iter()
                    .any(|s| s.meta.dyn_code.contains(&(patch, word))),
                "{name}"
            );
        }
    }
}

#[test]
fn mret_and_csr_values_are_bound() {
    use nexus_relink::prove::air::{sel, CpuCols};
    use nexus_relink::prove::{witness, Val, VerifyError};
    use p3_field::PrimeCharacteristicRing;
    let shape = guest::Shape {
        text: 0x1_0000,
        stack_top: 0x40_0000,
        stack_bottom: 0x30_0000,
    };
    let img = Image::parse(guest::elf(&shape, &program(&shape), &[])).unwrap();
    let layout = Layout::discover(&img).unwrap();
    let cfg = RunConfig {
        input: b"hello".to_vec(),
        ..RunConfig::default()
    };
    let (public, trace) = prove::trace_run(&img, &layout, cfg).unwrap();
    // The transcript claims another CSR value: the native replay rejects it.
    let mut bad = public.clone();
    let e = bad
        .events
        .iter_mut()
        .find(|e| {
            matches!(e.write, Some((_, Some(_)))) && e.mem_read.is_none() && e.reads.len() <= 1
        })
        .unwrap();
    if let Some((_, Some(v))) = e.write.as_mut() {
        *v ^= 1;
    }
    let (tables, traces) = witness::build(&public, &trace).unwrap();
    let pf = prove::prove_traces(bad, &tables, &traces).unwrap();
    assert!(matches!(
        prove::verify(&pf, None),
        Err(VerifyError::Statement(_))
    ));
    // The CPU continues elsewhere after mret than the transcript says: the STARK rejects it.
    let c = CpuCols::new();
    let mut traces = traces;
    let t = &mut traces[0];
    let w = t.width;
    let ev_rows: Vec<usize> = (0..t.values.len() / w)
        .filter(|&i| t.values[i * w + c.sel[sel::EV]] == Val::ONE)
        .collect();
    let mret = ev_rows
        .into_iter()
        .find(|&i| t.values[i * w + c.npc] != t.values[i * w + c.pcw] + Val::ONE)
        .expect("the mret row");
    t.values[mret * w + c.evn] += Val::ONE;
    t.values[mret * w + c.npc] += Val::ONE;
    t.values[(mret + 1) * w + c.pcw] += Val::ONE;
    let pf = prove::prove_traces(public, &tables, &traces).unwrap();
    assert!(matches!(
        prove::verify(&pf, None),
        Err(VerifyError::Stark(_))
    ));
}

/// DYNPROG is built by the verifier from each segment's `dyn_code`, and only from valid pairs:
/// a pair at a read-only instruction word (PROGRAM's), outside the executable segments, or
/// holding a system call (whose replay decodes the ELF), a list out of order, and a list
/// longer than the segment's cycles are refused by name before any table is built; a list
/// without the fetched word, or with another word for it, leaves the STARK unbalanced.
#[test]
fn a_segment_s_fetched_instructions_are_checked_before_any_table_is_built() {
    use nexus_relink::prove::VerifyError;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/isa");
    let img = Image::parse(std::fs::read(dir.join("p_env_pass.elf")).unwrap()).unwrap();
    let layout = Layout::discover(&img).unwrap();
    let (pf, _) = prove::prove(&img, &layout, RunConfig::default(), &|_| {}).unwrap();
    let honest = pf.segments[0].meta.dyn_code.clone();
    assert_eq!(honest.len(), 1, "the patched word, fetched once");
    let (pc, word) = honest[0];
    let ecall = encode(&Inst::new(Op::Ecall, 0, 0, 0, 0)).unwrap();
    let nop = encode(&Inst::addi(0, 0, 0)).unwrap();
    let cases: Vec<(Vec<(u32, u32)>, &str)> = vec![
        (
            vec![(img.entry, nop), (pc, word)],
            "read-only instruction word",
        ),
        (
            vec![(0x10, nop), (pc, word)],
            "not a word of an executable segment",
        ),
        (vec![(pc, ecall)], "system call"),
        (vec![(pc, word), (pc, word)], "increasing"),
        (
            vec![(pc, word); 200],
            "more instruction words than it has cycles",
        ),
    ];
    for (list, why) in cases {
        let mut bad = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
        bad.segments[0].meta.dyn_code = list;
        match prove::verify(&bad, None) {
            Err(VerifyError::Statement(e)) => assert!(e.contains(why), "{why}: {e}"),
            other => panic!("{why}: {other:?}"),
        }
        assert!(prove::verifier::precheck(&bad).is_err(), "{why}");
    }
    for list in [vec![], vec![(pc, nop)]] {
        let mut bad = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
        bad.segments[0].meta.dyn_code = list.clone();
        assert!(
            matches!(prove::verify(&bad, None), Err(VerifyError::Stark(_))),
            "{list:?}"
        );
    }
}
