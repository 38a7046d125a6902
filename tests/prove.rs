//! The prover: completeness on the fixtures (original and rewritten) and soundness: for each
//! constraint family a tampered trace the verifier rejects, and tampered statements, ELFs and
//! proof files.

mod common;

use nexus_relink::elf::Image;
use nexus_relink::layout::Layout;
use nexus_relink::prove::air::{md as mdop, sel, CpuCols, MdCols, Table};
use nexus_relink::prove::{self, witness, ProofFile, Public, Val, VerifyError};
use nexus_relink::relink::Relinker;
use p3_field::PrimeCharacteristicRing;
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;

fn load(name: &str) -> (Image, Layout, common::Entry) {
    let e = common::manifest()
        .into_iter()
        .find(|e| e.name == name)
        .expect("fixture");
    let img = Image::parse(std::fs::read(e.elf()).unwrap()).unwrap();
    let layout = Layout::discover(&img).unwrap();
    (img, layout, e)
}

fn load_bytes(bytes: Vec<u8>) -> (Image, Layout) {
    let img = Image::parse(bytes).unwrap();
    let layout = Layout::discover(&img).unwrap();
    (img, layout)
}

/// Fixtures proven in the test suite: all but the three of 1.6 to 8 million cycles
/// (`jolt_heap`, `picolibc_printf`, `picolibc_malloc`: several GB each; see the README).
const PROVEN: [&str; 15] = [
    "linux_io",
    "medlow_fib",
    "c_bump",
    "c_bump_medlow",
    "deep_recursion",
    "sep_stack",
    "nexus_hello",
    "nexus_io",
    "risc0_word",
    "gp_relax",
    "relocs_hello",
    "linux_hello",
    "linux_fib",
    "linux_exit7",
    "hoisted_bound",
];

#[test]
fn fixtures_prove_and_verify() {
    for e in common::manifest()
        .into_iter()
        .filter(|e| PROVEN.contains(&e.name.as_str()))
    {
        let (img, layout, _) = load(&e.name);
        let (pf, stats) = prove::prove(&img, &layout, e.config(), &|_| {})
            .unwrap_or_else(|err| panic!("{}: {err}", e.name));
        let bytes = pf.to_bytes();
        let back = ProofFile::from_bytes(&bytes).unwrap();
        let st = prove::verify(&back, Some((&img, &layout)))
            .unwrap_or_else(|err| panic!("{}: {err}", e.name));
        assert_eq!(st.cycles, stats.cycles);
        assert_eq!(st.exit_code, e.expected_exit, "{}", e.name);
        assert_eq!(
            String::from_utf8_lossy(&st.stdout),
            e.expected_stdout,
            "{}",
            e.name
        );
        assert_eq!(
            common::hex(&st.public_output),
            e.expected_public_output_hex,
            "{}",
            e.name
        );
        assert_eq!(st.memlimit, layout.memlimit);
    }
}

/// The same program rewritten to two limits: each proof verifies against its own ELF and is
/// rejected for the other, and for another program.
#[test]
fn rewritten_guests_prove_under_their_limit_only() {
    let (img, _, e) = load("linux_fib");
    let mut proofs = Vec::new();
    for limit in [2 << 20, 256 << 20] {
        let out = Relinker::new(limit).rewrite(&img).unwrap().bytes;
        let (rimg, rlayout) = load_bytes(out);
        assert_eq!(rlayout.memlimit, limit);
        let (pf, _) = prove::prove(&rimg, &rlayout, e.config(), &|_| {}).unwrap();
        let st = prove::verify(&pf, Some((&rimg, &rlayout))).unwrap();
        assert_eq!(st.memlimit, limit);
        proofs.push((pf, rimg, rlayout));
    }
    let (p0, i0, l0) = &proofs[0];
    let (p1, i1, l1) = &proofs[1];
    assert!(matches!(
        prove::verify(p0, Some((i1, l1))),
        Err(VerifyError::ElfMismatch(_))
    ));
    assert!(matches!(
        prove::verify(p1, Some((i0, l0))),
        Err(VerifyError::ElfMismatch(_))
    ));
    // Another program.
    let (other, olayout, _) = load("linux_hello");
    assert!(matches!(
        prove::verify(p0, Some((&other, &olayout))),
        Err(VerifyError::ElfMismatch(_))
    ));
    // The limit changed inside the proof file (no ELF to compare with): the STARK's public
    // values no longer match.
    let mut pf = ProofFile::from_bytes(&p0.to_bytes()).unwrap();
    pf.public.statement.memlimit = 256 << 20;
    pf.public.statement.stack_top = l1.stack_top;
    pf.public.statement.regions[1].1 = 256 << 20;
    assert!(
        matches!(prove::verify(&pf, None), Err(VerifyError::Stark(_))),
        "a 2M proof must not verify as a 256M one"
    );
}

// ------------------------------------------------------------------ tampered traces

struct Setup {
    public: Public,
    tables: Vec<Table>,
    traces: Vec<RowMajorMatrix<Val>>,
}

fn setup(name: &str) -> Setup {
    let (img, layout, e) = load(name);
    let (public, trace) = prove::trace_run(&img, &layout, e.config()).unwrap();
    let (tables, traces) = witness::build(&public, &trace).unwrap();
    Setup {
        public,
        tables,
        traces,
    }
}

impl Setup {
    /// Honest first: the untampered traces verify.
    fn check_honest(&self) {
        let pf = prove::prove_traces(self.public.clone(), &self.tables, &self.traces).unwrap();
        prove::verify(&pf, None).expect("the untampered trace verifies");
    }
    fn cpu_row(&self, s: usize, from: usize) -> usize {
        let c = CpuCols::new();
        let t = &self.traces[0];
        (from..t.height())
            .find(|&i| t.values[i * t.width + c.sel[s]] == Val::ONE)
            .unwrap_or_else(|| panic!("no row of class {s}"))
    }
    fn get(&self, table: usize, row: usize, col: usize) -> Val {
        let t = &self.traces[table];
        t.values[row * t.width + col]
    }
    fn add(&mut self, table: usize, row: usize, col: usize, d: i32) {
        let t = &mut self.traces[table];
        let w = t.width;
        t.values[row * w + col] += Val::from_i32(d);
    }
    /// The verifier rejects a proof of the tampered traces (or the prover gives up).
    fn rejected(&self) -> bool {
        match prove::prove_traces(self.public.clone(), &self.tables, &self.traces) {
            Err(_) => true,
            Ok(pf) => matches!(prove::verify(&pf, None), Err(VerifyError::Stark(_))),
        }
    }
}

fn tamper(name: &str, f: impl FnOnce(&mut Setup)) {
    let mut s = setup(name);
    f(&mut s);
    assert!(s.rejected(), "tampered trace accepted");
}

#[test]
fn honest_traces_verify() {
    setup("linux_fib").check_honest();
}

#[test]
fn alu_result_tampered() {
    let c = CpuCols::new();
    tamper("linux_fib", |s| {
        let r = s.cpu_row(sel::ADD, 10);
        s.add(0, r, c.c[0], 1);
    });
}

#[test]
fn branch_outcome_tampered() {
    let c = CpuCols::new();
    tamper("linux_fib", |s| {
        // Claim a branch went the other way: flip `taken` and continue at the other pc.
        let r = s.cpu_row(sel::BNE, 10).min(s.cpu_row(sel::BEQ, 10));
        let taken = s.get(0, r, c.taken);
        let d = if taken == Val::ONE { -1 } else { 1 };
        s.add(0, r, c.taken, d);
        let pc1 = s.get(0, r, c.pcw) + Val::ONE;
        let tgt = s.get(0, r, c.tgt);
        let new = if taken == Val::ONE { pc1 } else { tgt };
        let t = &mut s.traces[0];
        let w = t.width;
        t.values[r * w + c.npc] = new;
        t.values[(r + 1) * w + c.pcw] = new;
    });
}

#[test]
fn program_tampered() {
    let c = CpuCols::new();
    tamper("linux_fib", |s| {
        // Execute `addi` with another immediate than the ELF's (result kept consistent).
        let r = s.cpu_row(sel::ADD, 10);
        s.add(0, r, c.imm[0], 1);
        s.add(0, r, c.op2[0], 1);
        s.add(0, r, c.c[0], 1);
    });
}

#[test]
fn memory_read_tampered() {
    let c = CpuCols::new();
    tamper("linux_fib", |s| {
        // A load that returns another value than memory holds (load result consistent).
        let r = s.cpu_row(sel::LW, 0);
        s.add(0, r, c.m[0], 1);
        s.add(0, r, c.nw[0], 1);
        s.add(0, r, c.c[0], 1);
    });
}

#[test]
fn register_read_tampered() {
    let c = CpuCols::new();
    tamper("linux_fib", |s| {
        let r = s.cpu_row(sel::ADD, 20);
        s.add(0, r, c.a[0], 1);
        s.add(0, r, c.c[0], 1);
    });
}

#[test]
fn timestamp_order_tampered() {
    let c = CpuCols::new();
    tamper("linux_fib", |s| {
        // Read rs1 "from the future": previous time equal to this access's time.
        let r = s.cpu_row(sel::ADD, 20);
        let ts = s.get(0, r, c.clk) * Val::from_u32(8) + Val::ONE;
        let t = &mut s.traces[0];
        let w = t.width;
        t.values[r * w + c.pt[0]] = ts;
    });
}

#[test]
fn muldiv_result_tampered() {
    let c = CpuCols::new();
    let m = MdCols::new();
    tamper("linux_fib", |s| {
        let r = s.cpu_row(sel::MD, 0);
        s.add(0, r, c.c[0], 1);
        // The MULDIV row of the same operation, changed to agree with the CPU.
        s.add(9, 0, m.c[0], 1);
    });
}

#[test]
fn division_tampered() {
    // A quotient off by one with a remainder that makes q * b + r = a hold, but r >= b.
    let m = MdCols::new();
    let mut s = setup("linux_fib");
    let t = &s.traces[9];
    let row = (0..t.height()).find(|&i| {
        t.values[i * t.width + m.sel[mdop::DIVU]] == Val::ONE
            || t.values[i * t.width + m.sel[mdop::REMU]] == Val::ONE
    });
    let row = row.expect("linux_fib divides (it prints numbers)");
    s.add(9, row, m.x[0], -1);
    assert!(s.rejected());
}

#[test]
fn range_multiplicity_tampered() {
    tamper("linux_fib", |s| {
        // One more 16-bit lookup of value 5 than there are.
        s.add(5, 5, 17, 1);
    });
}

#[test]
fn byte_range_tampered() {
    let c = CpuCols::new();
    tamper("linux_fib", |s| {
        // c = 256 in one byte lane and one less in the next (the same integer).
        let r = s.cpu_row(sel::ADD, 10);
        s.add(0, r, c.c[0], 256);
        s.add(0, r, c.c[1], -1);
    });
}

#[test]
fn public_output_tampered() {
    // Change one stdout byte in the statement and in the transcript consistently: the native
    // replay agrees, the STARK (memory held other bytes) does not.
    let (img, layout, e) = load("linux_hello");
    let (pf, _) = prove::prove(&img, &layout, e.config(), &|_| {}).unwrap();
    let mut bad = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
    bad.public.statement.stdout[0] ^= 1;
    for ev in &mut bad.public.events {
        if let Some((_, b)) = ev.mem_read.as_mut() {
            b[0] ^= 1;
            break;
        }
    }
    assert!(matches!(
        prove::verify(&bad, None),
        Err(VerifyError::Stark(_))
    ));
    // Only in the statement: the replay catches it.
    let mut bad = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
    bad.public.statement.stdout[0] ^= 1;
    assert!(matches!(
        prove::verify(&bad, None),
        Err(VerifyError::Statement(_))
    ));
    // Exit code.
    let mut bad = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
    bad.public.statement.exit_code += 1;
    assert!(prove::verify(&bad, None).is_err());
}

#[test]
fn program_image_tampered() {
    // Another instruction word in the image, digest recomputed: the program table's
    // commitment differs, so the STARK fails.
    let (img, layout, e) = load("linux_exit7");
    let (pf, _) = prove::prove(&img, &layout, e.config(), &|_| {}).unwrap();
    let mut bad = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
    let (addr, n) = bad.public.code[0];
    assert!(n > 2);
    let entry = bad.public.statement.entry;
    let region = bad
        .public
        .image
        .iter_mut()
        .find(|(a, b)| *a <= addr && addr < *a + b.len() as u32)
        .unwrap();
    let off = (addr + 4 * (n - 1) - region.0) as usize;
    region.1[off] ^= 0x80; // an immediate bit of the last instruction
    bad.public.statement.image_digest = prove::statement::image_digest(
        entry,
        &bad.public.code,
        &bad.public.exec,
        &bad.public.image,
        None,
    );
    assert!(matches!(
        prove::verify(&bad, None),
        Err(VerifyError::Stark(_))
    ));
}

#[test]
fn out_of_limit_access_is_unprovable() {
    // The VM (and so the prover) refuses a run whose stack crosses the limit...
    let (img, _, e) = load("deep_recursion");
    let out = Relinker::new(2 << 20)
        .stack(64 << 10)
        .rewrite(&img)
        .unwrap()
        .bytes;
    let (small, slayout) = load_bytes(out);
    assert!(matches!(
        prove::prove(&small, &slayout, e.config(), &|_| {}),
        Err(prove::ProveError::NoExit(_))
    ));
    // ...and a forged trace that claims a lower limit than the words it touches is rejected:
    // honest tables, statement limit 4 KiB below the stack top.
    let mut s = setup("linux_fib");
    let top = s.public.statement.stack_top as u64;
    s.public.statement.memlimit = top - 4096;
    s.public.statement.stack_top = (top - 4096) as u32;
    s.public.statement.regions[1].1 = top - 4096;
    s.public.statement.brk = s.public.statement.brk.min((top - 4096) as u32 & !0xfff);
    s.public.statement.check_consistency().unwrap();
    assert!(s.rejected());
    // ...and one that claims a stack region starting above the words the stack touched.
    let mut s = setup("linux_fib");
    let top = s.public.statement.stack_top;
    s.public.statement.regions[1].0 = u64::from(top) - 64;
    s.public.statement.stack_bottom = top - 64;
    s.public.statement.check_consistency().unwrap();
    assert!(s.rejected());
}

#[test]
fn flipped_bytes_are_rejected() {
    let (img, layout, e) = load("linux_exit7");
    let (pf, _) = prove::prove(&img, &layout, e.config(), &|_| {}).unwrap();
    let bytes = pf.to_bytes();
    // Every byte of the header and statement region, and a spread of the proof.
    let n = bytes.len();
    let mut positions: Vec<usize> = (0..64.min(n)).collect();
    positions.extend((0..48).map(|k| 64 + k * (n - 65) / 47));
    // And 200 seeded random places.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        positions.push((x % n as u64) as usize);
    }
    for pos in positions {
        let mut b = bytes.clone();
        b[pos] ^= 0x01;
        let ok = ProofFile::from_bytes(&b)
            .map(|pf| prove::verify(&pf, None).is_ok())
            .unwrap_or(false);
        assert!(!ok, "flipping byte {pos} of {n} still verifies");
    }
    assert!(ProofFile::from_bytes(&bytes[..n - 1]).is_err());
    assert!(ProofFile::from_bytes(b"NXRPROOF").is_err());
    assert!(ProofFile::from_bytes(&[]).is_err());
}

#[test]
fn hostile_statements_are_errors() {
    let (img, layout, e) = load("linux_exit7");
    let (pf, _) = prove::prove(&img, &layout, e.config(), &|_| {}).unwrap();
    // Instruction ranges far past the image: refused before anything iterates over them.
    let mut bad = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
    bad.public.code = vec![(bad.public.code[0].0, u32::MAX)];
    assert!(matches!(
        prove::verify(&bad, None),
        Err(VerifyError::Statement(_))
    ));
    // A memory limit the constraint system cannot express.
    let mut bad = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
    bad.public.statement.memlimit = (1 << 32) + 4;
    assert!(matches!(
        prove::verify(&bad, None),
        Err(VerifyError::Statement(_))
    ));
    // A different cycle count: the exit is no longer the last cycle.
    let mut bad = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
    bad.public.statement.cycles += 1;
    assert!(prove::verify(&bad, None).is_err());
    // Another format version.
    let mut b = pf.to_bytes();
    b[8] = 9;
    assert!(matches!(
        ProofFile::from_bytes(&b),
        Err(VerifyError::Format(_))
    ));
}

#[test]
fn store_byte_lane_tampered() {
    let c = CpuCols::new();
    tamper("linux_fib", |s| {
        // `sb` writes another byte than rs2's low byte.
        let r = s.cpu_row(sel::SB, 0);
        let lane = (0..4).find(|&j| s.get(0, r, c.f[j]) == Val::ONE).unwrap();
        s.add(0, r, c.nw[lane], 1);
    });
}

#[test]
fn load_zero_extension_tampered() {
    let c = CpuCols::new();
    tamper("linux_fib", |s| {
        // `lbu` returns a value with a high byte set.
        let r = s.cpu_row(sel::LBU, 0);
        s.add(0, r, c.c[1], 1);
    });
}

#[test]
fn jump_target_tampered() {
    let c = CpuCols::new();
    tamper("linux_fib", |s| {
        // `jalr` (`ret`) continues one instruction after its computed target.
        let r = s.cpu_row(sel::JALR, 0);
        s.add(0, r, c.npc, 1);
        s.add(0, r + 1, c.pcw, 1);
    });
}

/// A Nexus guest reads tape words at any offset: the statement holds the input's length and
/// the input up to the highest word read, not a long input file whole. `nexus_io` reads the
/// length word and the word after it. A statement that drops a byte read, or states another
/// length, is rejected by the replay before the STARK.
#[test]
fn a_nexus_statement_states_the_input_up_to_the_highest_word_read() {
    let (img, layout, e) = load("nexus_io");
    let mut cfg = e.config();
    let mut input = 50u32.to_le_bytes().to_vec();
    input.extend(std::iter::repeat_n(0xab, 4096));
    cfg.input = input;
    let (pf, _) = prove::prove(&img, &layout, cfg, &|_| {}).unwrap();
    let st = &pf.public.statement;
    assert_eq!(st.public_input, 50u32.to_le_bytes());
    assert_eq!(st.input_len, 4100);
    assert_eq!(
        st.public_output,
        common::unhex(&e.expected_public_output_hex)
    );
    prove::verify(&pf, None).unwrap();
    let rejected = |edit: &dyn Fn(&mut prove::Statement), why: &str| {
        let mut bad = ProofFile::from_bytes(&pf.to_bytes()).unwrap();
        edit(&mut bad.public.statement);
        match prove::verify(&bad, None) {
            Err(VerifyError::Statement(m)) => assert!(m.contains(why), "{m}"),
            other => panic!("expected a statement error ({why}), got {other:?}"),
        }
    };
    // The word the guest read at offset 4 is not all stated.
    rejected(&|s| s.public_input.truncate(2), "past the 6 stated");
    // Another length: the guest read the length word.
    rejected(&|s| s.input_len = 8, "input tape word mismatch");
    // More bytes stated than the input holds.
    rejected(&|s| s.input_len = 2, "input length 2");
}
