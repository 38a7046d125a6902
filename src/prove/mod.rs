//! STARK proofs of a guest's execution (Plonky3: KoalaBear field, Poseidon2 Merkle
//! commitments, FRI, batch STARK with LogUp lookups).
//!
//! [`prove`] runs the guest in the VM's tracing mode and proves the run; the proof file
//! carries the [`Statement`] (image digest, entry, layout including the memory limit, public
//! input, outputs, exit code, cycle count), the public data the verifier needs to rebuild the
//! fixed tables (initial image, instruction ranges, system-call transcript) and the STARK.
//! [`verify`] checks all of it; with the ELF it also recomputes the image and the layout from
//! it. See [`air`] for the tables and what each constrains.

pub mod air;
pub mod statement;
pub mod witness;

use crate::elf::Image;
use crate::layout::Layout;
use crate::vm::{Abi, RunConfig, Vm};
use p3_batch_stark::{prove_batch, verify_batch, BatchProof, ProverData, StarkInstance};
use p3_challenger::DuplexChallenger;
use p3_commit::ExtensionMmcs;
use p3_dft::Radix2DitParallel;
use p3_field::extension::BinomialExtensionField;
use p3_field::{Field, PrimeCharacteristicRing};
use p3_fri::{FriParameters, TwoAdicFriPcs};
use p3_koala_bear::{default_koalabear_poseidon2_16, KoalaBear, Poseidon2KoalaBear};
use p3_merkle_tree::MerkleTreeMmcs;
use p3_symmetric::{PaddingFreeSponge, TruncatedPermutation};
pub use statement::{Event, Public, Statement};

pub type Val = KoalaBear;
type Challenge = BinomialExtensionField<Val, 4>;
type Perm = Poseidon2KoalaBear<16>;
type Hash = PaddingFreeSponge<Perm, 16, 8, 8>;
type Compress = TruncatedPermutation<Perm, 2, 8, 16>;
type ValMmcs =
    MerkleTreeMmcs<<Val as Field>::Packing, <Val as Field>::Packing, Hash, Compress, 2, 8>;
type ChallengeMmcs = ExtensionMmcs<Val, Challenge, ValMmcs>;
type Challenger = DuplexChallenger<Val, Perm, 16, 8>;
type Pcs = TwoAdicFriPcs<Val, Radix2DitParallel<Val>, ValMmcs, ChallengeMmcs>;
pub type Config = p3_uni_stark::StarkConfig<Pcs, Challenge, Challenger>;

/// FRI: rate 1/2, 100 queries, 16 bits of query proof-of-work (about 116 conjectured bits),
/// folding arity 8.
pub fn config() -> Config {
    let perm = default_koalabear_poseidon2_16();
    let val_mmcs = ValMmcs::new(Hash::new(perm.clone()), Compress::new(perm.clone()), 0);
    let fri = FriParameters {
        log_blowup: 1,
        log_final_poly_len: 0,
        max_log_arity: 3,
        num_queries: 100,
        batch_proof_of_work_bits: 0,
        commit_proof_of_work_bits: 0,
        query_proof_of_work_bits: 16,
        mmcs: ChallengeMmcs::new(val_mmcs.clone()),
    };
    let pcs = Pcs::new(Radix2DitParallel::default(), val_mmcs, fri);
    Config::new(pcs, Challenger::new(perm))
}

/// The largest memory limit: the whole 32-bit address space.
pub const MAX_MEMLIMIT: u64 = 1 << 32;

const MAGIC: &[u8; 8] = b"NXRPROOF";
/// Version of the proof file format and of the constraint system.
pub const VERSION: u32 = 1;

/// Why proving failed.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    #[error("{0}")]
    Vm(#[from] crate::vm::VmError),
    #[error("the guest did not exit: {0}")]
    NoExit(String),
    #[error("{0}")]
    Unprovable(String),
    #[error(transparent)]
    Witness(#[from] witness::WitnessError),
    #[error("the prover failed: {0}")]
    Backend(String),
}

/// Why a proof was rejected.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("not a proof file: {0}")]
    Format(String),
    #[error("the proof does not match the ELF: {0}")]
    ElfMismatch(String),
    #[error("the statement is inconsistent: {0}")]
    Statement(String),
    #[error("the STARK proof is invalid: {0}")]
    Stark(String),
}

/// A proof and what it proves.
pub struct ProofFile {
    pub public: Public,
    pub proof: BatchProof<Config>,
}

/// Timings and sizes of one proof.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ProveStats {
    pub cycles: u64,
    pub trace_seconds: f64,
    pub prove_seconds: f64,
    /// Rows per table (padded), in [`air::TABLE_NAMES`] order.
    pub heights: Vec<usize>,
}

/// The parts of the public data an ELF determines: initial image, instruction ranges, entry,
/// layout, ABI, initial break.
pub fn public_from_elf(
    img: &Image,
    layout: &Layout,
    abi: Option<Abi>,
) -> Result<Public, ProveError> {
    let cfg = RunConfig {
        abi,
        ..RunConfig::default()
    };
    let vm = Vm::new(img, layout, cfg)?;
    let image = vm.initial_regions().to_vec();
    let mut code: Vec<(u32, u32)> = Vec::new();
    for (addr, _) in img.code_words() {
        match code.last_mut() {
            Some((a, n)) if *a + 4 * *n == addr => *n += 1,
            _ => code.push((addr, 1)),
        }
    }
    let statement = Statement {
        abi: vm.abi(),
        image_digest: statement::image_digest(img.entry, &code, &image),
        entry: img.entry,
        memlimit: layout.memlimit,
        stack_bottom: layout.stack_bottom,
        stack_top: layout.stack_top,
        heap_start: layout.heap_start,
        heap_end: layout.heap_end,
        brk: vm.initial_brk(),
        regions: vm.allowed_ranges(),
        cycles: 0,
        exit_code: 0,
        public_input: Vec::new(),
        stdout: Vec::new(),
        stderr: Vec::new(),
        public_output: Vec::new(),
    };
    Ok(Public {
        statement,
        image,
        code,
        events: Vec::new(),
    })
}

fn check_limits(st: &Statement) -> Result<(), String> {
    if st.memlimit > MAX_MEMLIMIT || st.memlimit % 4 != 0 || st.memlimit == 0 {
        return Err(format!(
            "memory limit {:#x}: the proof system handles multiples of 4 up to 4 GiB",
            st.memlimit
        ));
    }
    if st.entry % 4 != 0 {
        return Err("the entry point is not 4-byte aligned".into());
    }
    Ok(())
}

/// Run the guest in tracing mode: the public data of the run and its trace (the first half
/// of [`prove`]). `cfg.stdin_passthrough` is ignored: a proof's input is what the statement
/// says.
pub fn trace_run(
    img: &Image,
    layout: &Layout,
    mut cfg: RunConfig,
) -> Result<(Public, crate::vm::trace::Trace), ProveError> {
    cfg.stdin_passthrough = false;
    let mut public = public_from_elf(img, layout, cfg.abi)?;
    check_limits(&public.statement).map_err(ProveError::Unprovable)?;
    let input = cfg.input.clone();
    let vm = Vm::new(img, layout, cfg)?;
    let (res, trace) = vm.run_traced();
    let Some(code) = res.exit_code else {
        let why = res.fault.map(|f| f.message).unwrap_or_default();
        return Err(ProveError::NoExit(why));
    };
    if let Some(last) = trace.rows.last() {
        if last.inst.op != crate::isa::Op::Ecall {
            return Err(ProveError::Unprovable(format!(
                "the run ends with `{}` at pc {:#x} (a store to the HTIF `tohost` word); the prover handles runs that end with an exit system call",
                last.inst.op.mnemonic(),
                last.pc
            )));
        }
    }
    let st = &mut public.statement;
    st.cycles = res.cycles;
    st.exit_code = code;
    st.public_input = input;
    st.stdout = res.stdout;
    st.stderr = res.stderr;
    st.public_output = res.public_output;
    public.events = events_of(&public, &trace)?;
    statement::replay(&public).map_err(|e| {
        ProveError::Unprovable(format!("the run's system calls cannot be stated: {e}"))
    })?;
    Ok((public, trace))
}

/// Prove tables and their traces (the second half of [`prove`]). Public so that tests can
/// hand it tampered traces: nothing here checks the witness, the verifier does.
pub fn prove_traces(
    public: Public,
    tables: &[air::Table],
    traces: &[RowMajorMatrix<Val>],
) -> Result<ProofFile, ProveError> {
    let pvs = public_values(&public.statement);
    let config = config();
    let instances: Vec<StarkInstance<'_, Config, air::Table>> = tables
        .iter()
        .zip(traces)
        .zip(&pvs)
        .map(|((air, trace), pv)| StarkInstance {
            air,
            trace,
            public_values: pv.clone(),
        })
        .collect();
    let pd = ProverData::from_instances(&config, &instances)
        .map_err(|e| ProveError::Backend(format!("{e:?}")))?;
    let proof =
        prove_batch(&config, &instances, &pd).map_err(|e| ProveError::Backend(format!("{e:?}")))?;
    Ok(ProofFile { public, proof })
}

/// Run and prove.
pub fn prove(
    img: &Image,
    layout: &Layout,
    cfg: RunConfig,
    progress: &dyn Fn(&str),
) -> Result<(ProofFile, ProveStats), ProveError> {
    let t0 = std::time::Instant::now();
    progress("running the guest (tracing)");
    let (public, trace) = trace_run(img, layout, cfg)?;
    progress("building the trace tables");
    let (tables, traces) = witness::build(&public, &trace)?;
    drop(trace);
    let trace_seconds = t0.elapsed().as_secs_f64();
    let heights: Vec<usize> = traces.iter().map(|t| t.height()).collect();
    let cycles = public.statement.cycles;
    progress("proving");
    let t1 = std::time::Instant::now();
    let pf = prove_traces(public, &tables, &traces)?;
    let stats = ProveStats {
        cycles,
        trace_seconds,
        prove_seconds: t1.elapsed().as_secs_f64(),
        heights,
    };
    Ok((pf, stats))
}

use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;

/// Word bounds of the two regions, inclusive: `[low_min, low_max, high_min, high_max]`; the
/// stack region ends at the memory limit. A region's partial words at unaligned ends count as
/// inside it.
pub fn mem_bounds(st: &Statement) -> [u32; 4] {
    let last = (st.memlimit / 4 - 1) as u32;
    let hi = ((st.regions[1].0 / 4) as u32, last);
    let (s, e) = st.regions[0];
    let e = e.min(st.memlimit);
    let lo = if s < e {
        ((s / 4) as u32, (e.div_ceil(4) - 1) as u32)
    } else {
        hi
    };
    [lo.0, lo.1, hi.0, hi.1]
}

fn public_values(st: &Statement) -> Vec<Vec<Val>> {
    let mut v = vec![Vec::new(); air::NUM_TABLES];
    v[0] = vec![Val::from_u32(st.entry / 4), Val::from_u64(st.cycles)];
    v[2] = mem_bounds(st)
        .iter()
        .flat_map(|&w| [Val::from_u32(w >> 16), Val::from_u32(w & 0xffff)])
        .collect();
    v
}

/// The system-call transcript of a traced run.
fn events_of(p: &Public, t: &crate::vm::trace::Trace) -> Result<Vec<Event>, ProveError> {
    use crate::isa::Op;
    let mut regs = [0u32; 32];
    let mut out = Vec::new();
    let nexus = p.statement.abi == Abi::Nexus;
    for (i, r) in t.rows.iter().enumerate() {
        let reads: Vec<(u8, u32)> = match r.inst.op {
            Op::Ecall => [17u8, 10, 11, 12]
                .iter()
                .map(|&x| (x, regs[x as usize]))
                .collect(),
            Op::NexusRead => vec![(r.inst.rs1, regs[r.inst.rs1 as usize])],
            Op::NexusWrite if r.inst.rs1 == r.inst.rs2 => {
                vec![(r.inst.rs1, regs[r.inst.rs1 as usize])]
            }
            Op::NexusWrite => vec![
                (r.inst.rs1, regs[r.inst.rs1 as usize]),
                (r.inst.rs2, regs[r.inst.rs2 as usize]),
            ],
            Op::Csrrw | Op::Csrrs | Op::Csrrc => vec![(r.inst.rs1, regs[r.inst.rs1 as usize])],
            Op::Csrrwi | Op::Csrrsi | Op::Csrrci | Op::Mret => vec![],
            _ => {
                if r.rd != 0 {
                    regs[r.rd as usize] = r.rd_val;
                }
                continue;
            }
        };
        // The register an ecall writes follows from the ABI (the trace names only a register
        // whose value changed).
        let target = match r.inst.op {
            Op::Ecall => match (nexus, regs[17]) {
                (true, 0x201) | (false, 93 | 94) => None,
                (true, 0x402) => Some(2u8),
                _ => Some(10u8),
            },
            Op::Mret => None,
            _ => (r.inst.rd != 0).then_some(r.inst.rd),
        };
        let private = nexus && r.inst.op == Op::Ecall && regs[17] == 0x400;
        let write = target.map(|rd| {
            let v = if r.rd == rd {
                r.rd_val
            } else {
                regs[rd as usize]
            };
            (rd, (!private).then_some(v))
        });
        let acc = &t.mem[r.mem_start as usize..(r.mem_start + r.mem_len) as usize];
        type Bytes = Option<(u32, Vec<u8>)>;
        let (mut mem_read, mut mem_write): (Bytes, Bytes) = (None, None);
        for a in acc {
            let slot = if a.write {
                &mut mem_write
            } else {
                &mut mem_read
            };
            let s = slot.get_or_insert((a.addr, Vec::new()));
            if a.width != 1 || s.0.wrapping_add(s.1.len() as u32) != a.addr {
                return Err(ProveError::Unprovable(format!(
                    "cycle {i}: a system call's memory accesses are not one byte range"
                )));
            }
            s.1.push(a.value as u8);
        }
        out.push(Event {
            clk: i as u32,
            pc: r.pc,
            reads,
            write,
            mem_read,
            mem_write,
            next_pc: (r.inst.op == Op::Mret).then_some(r.next_pc),
        });
        if let Some(&(rd, _)) = write.as_ref() {
            regs[rd as usize] = if r.rd == rd {
                r.rd_val
            } else {
                regs[rd as usize]
            };
        }
    }
    Ok(out)
}

impl ProofFile {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend(VERSION.to_le_bytes());
        let public = postcard::to_allocvec(&self.public).expect("serialisable");
        out.extend((public.len() as u64).to_le_bytes());
        out.extend(public);
        out.extend(postcard::to_allocvec(&self.proof).expect("serialisable"));
        out
    }

    pub fn from_bytes(b: &[u8]) -> Result<ProofFile, VerifyError> {
        let bad = |m: &str| VerifyError::Format(m.to_string());
        if b.len() < 20 || &b[..8] != MAGIC {
            return Err(bad("no NXRPROOF header"));
        }
        let version = u32::from_le_bytes(b[8..12].try_into().unwrap());
        if version != VERSION {
            return Err(VerifyError::Format(format!(
                "proof format version {version}; this build reads version {VERSION}"
            )));
        }
        let n = u64::from_le_bytes(b[12..20].try_into().unwrap());
        let rest = &b[20..];
        if n > rest.len() as u64 {
            return Err(bad("truncated statement"));
        }
        let (pb, sb) = rest.split_at(n as usize);
        let public: Public =
            postcard::from_bytes(pb).map_err(|e| VerifyError::Format(format!("statement: {e}")))?;
        let (proof, tail): (BatchProof<Config>, &[u8]) = postcard::take_from_bytes(sb)
            .map_err(|e| VerifyError::Format(format!("proof: {e}")))?;
        if !tail.is_empty() {
            return Err(bad("trailing bytes after the proof"));
        }
        Ok(ProofFile { public, proof })
    }
}

/// Verify a proof; with `elf` (and the layout discovered from it) also check that the proof
/// is about that ELF. Returns the statement.
pub fn verify(pf: &ProofFile, elf: Option<(&Image, &Layout)>) -> Result<Statement, VerifyError> {
    let p = &pf.public;
    let st = &p.statement;
    if let Some((img, layout)) = elf {
        let mine = public_from_elf(img, layout, Some(st.abi))
            .map_err(|e| VerifyError::ElfMismatch(e.to_string()))?;
        let m = &mine.statement;
        let mut diffs = Vec::new();
        if m.image_digest != st.image_digest || mine.image != p.image || mine.code != p.code {
            diffs.push("the initial memory image (program) differs".to_string());
        }
        if m.entry != st.entry {
            diffs.push(format!("entry {:#x} vs {:#x}", st.entry, m.entry));
        }
        if m.memlimit != st.memlimit {
            diffs.push(format!(
                "the proof is for memory limit {:#x}, the ELF's is {:#x}",
                st.memlimit, m.memlimit
            ));
        }
        if (
            m.stack_bottom,
            m.stack_top,
            m.heap_start,
            m.heap_end,
            m.brk,
            m.regions,
        ) != (
            st.stack_bottom,
            st.stack_top,
            st.heap_start,
            st.heap_end,
            st.brk,
            st.regions,
        ) {
            diffs.push("the stack/heap layout differs".into());
        }
        if !diffs.is_empty() {
            return Err(VerifyError::ElfMismatch(diffs.join("; ")));
        }
    }
    check_limits(st).map_err(VerifyError::Statement)?;
    p.check_shape().map_err(VerifyError::Statement)?;
    let [(s0, e0), (s1, e1)] = st.regions;
    if e1 != st.memlimit || e0 > st.memlimit || s0 > e0 || s1 > e1 {
        return Err(VerifyError::Statement(
            "the memory regions do not fit the memory limit".into(),
        ));
    }
    if statement::image_digest(st.entry, &p.code, &p.image) != st.image_digest {
        return Err(VerifyError::Statement(
            "the image digest does not match the image".into(),
        ));
    }
    if st.cycles == 0 || st.cycles >= 1 << 25 {
        return Err(VerifyError::Statement(format!("cycle count {}", st.cycles)));
    }
    statement::replay(p).map_err(VerifyError::Statement)?;
    let tables = witness::verifier_tables(p);
    let proof = &pf.proof;
    if proof.degree_bits.len() != air::NUM_TABLES {
        return Err(VerifyError::Stark("wrong number of tables".into()));
    }
    let mut bits = proof.degree_bits.clone();
    let fixed = [
        (
            1,
            match &tables[1] {
                air::Table::Program(t) => t.height,
                _ => 0,
            },
        ),
        (
            3,
            match &tables[3] {
                air::Table::Image(t) => t.height,
                _ => 0,
            },
        ),
        (4, 32),
        (5, 1 << 16),
        (6, 512),
        (
            7,
            match &tables[7] {
                air::Table::Events(t) => t.height,
                _ => 0,
            },
        ),
        (
            8,
            match &tables[8] {
                air::Table::IoWords(t) => t.height,
                _ => 0,
            },
        ),
    ];
    for (i, h) in fixed {
        let want = h.trailing_zeros() as usize;
        if bits[i] != want {
            return Err(VerifyError::Stark(format!(
                "table {} has 2^{} rows, expected 2^{want}",
                air::TABLE_NAMES[i],
                bits[i]
            )));
        }
        bits[i] = want;
    }
    // The CPU table has a padding row after the last cycle.
    if bits[0] > 25 || (1u64 << bits[0]) <= st.cycles || bits.iter().any(|&b| b > 28) {
        return Err(VerifyError::Stark("table heights out of range".into()));
    }
    let config = config();
    // A decodable but malformed proof must be an error, not a crash: Plonky3 checks shapes,
    // and anything it asserts instead is caught here.
    let run = || -> Result<(), VerifyError> {
        let common = ProverData::from_airs_and_degrees(&config, &tables, &bits)
            .map_err(|e| VerifyError::Stark(format!("{e:?}")))?
            .common;
        verify_batch(&config, &tables, proof, &public_values(st), &common)
            .map_err(|e| VerifyError::Stark(format!("{e:?}")))
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
        .map_err(|_| VerifyError::Stark("malformed proof (the verifier gave up)".into()))??;
    Ok(st.clone())
}
