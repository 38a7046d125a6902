//! STARK proofs of a guest's execution (Plonky3: KoalaBear field, Poseidon2 Merkle
//! commitments, FRI, batch STARK with LogUp lookups).
//!
//! [`prove`] runs the guest in the VM's tracing mode and proves the run; the proof file
//! carries the [`Statement`] (image digest, entry, layout including the memory limit, public
//! input, outputs, exit code, cycle count), the public data the verifier needs to rebuild the
//! fixed tables (initial image, instruction ranges, system-call transcript) and the STARK.
//! [`verify`] checks all of it; with the ELF it also recomputes the image and the layout from
//! it. See [`tables`] for the tables and what each constrains (a file each: columns,
//! constraints, trace generation); [`witness`] runs a trace through them.
//!
//! With [`ProveOptions::zk`] the STARK is zero-knowledge ([`ZkConfig`]: hiding FRI PCS over
//! salted Merkle trees, OS randomness); the statement's `zk` flag says so and selects the
//! verifier's configuration (`docs/ZK.md`).

pub mod budget;
pub mod statement;
pub mod tables;
pub mod witness;

/// The tables under their former name (`prove::air::Table`, `prove::air::CPU_PUBLIC`, ...).
pub use tables as air;

use crate::elf::Image;
use crate::layout::Layout;
use crate::vm::{Abi, RunConfig, Vm};
use p3_batch_stark::StarkGenericConfig;
use p3_batch_stark::{prove_batch, verify_batch, BatchProof, ProverData, StarkInstance};
use p3_challenger::DuplexChallenger;
use p3_commit::ExtensionMmcs;
use p3_dft::Radix2DitParallel;
use p3_field::coset::TwoAdicMultiplicativeCoset;
use p3_field::extension::BinomialExtensionField;
use p3_field::{Field, PrimeCharacteristicRing};
use p3_fri::{FriParameters, HidingFriPcs, TwoAdicFriPcs};
use p3_koala_bear::{default_koalabear_poseidon2_16, KoalaBear, Poseidon2KoalaBear};
use p3_merkle_tree::{MerkleTreeHidingMmcs, MerkleTreeMmcs};
use p3_symmetric::{PaddingFreeSponge, TruncatedPermutation};
use rand::rngs::{StdRng, SysRng};
use rand::SeedableRng;
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

/// Random field elements salting each leaf of a hiding Merkle tree: 4 × 31 bits.
pub const SALT_ELEMS: usize = 4;
/// Random codewords the hiding PCS appends to every committed matrix (at least the extension
/// degree, 4, so that the batching over the extension field is masked too).
pub const RANDOM_CODEWORDS: usize = 4;
type ZkValMmcs = MerkleTreeHidingMmcs<
    <Val as Field>::Packing,
    <Val as Field>::Packing,
    Hash,
    Compress,
    StdRng,
    2,
    8,
    SALT_ELEMS,
>;
type ZkChallengeMmcs = ExtensionMmcs<Val, Challenge, ZkValMmcs>;
type ZkPcs = HidingFriPcs<Val, Radix2DitParallel<Val>, ZkValMmcs, ZkChallengeMmcs, StdRng>;
/// The zero-knowledge configuration: hiding FRI (random codewords, randomised quotient) over
/// salted Merkle trees, with the same hash, field and FRI parameters as [`Config`].
pub type ZkConfig = p3_uni_stark::StarkConfig<ZkPcs, Challenge, Challenger>;

fn fri_params<M>(mmcs: M) -> FriParameters<M> {
    FriParameters {
        log_blowup: 1,
        log_final_poly_len: 0,
        max_log_arity: 3,
        num_queries: 100,
        batch_proof_of_work_bits: 0,
        commit_proof_of_work_bits: 0,
        query_proof_of_work_bits: 16,
        mmcs,
    }
}

/// FRI: rate 1/2, 100 queries, 16 bits of query proof-of-work (about 116 conjectured bits),
/// folding arity 8.
pub fn config() -> Config {
    let perm = default_koalabear_poseidon2_16();
    let val_mmcs = ValMmcs::new(Hash::new(perm.clone()), Compress::new(perm.clone()), 0);
    let fri = fri_params(ChallengeMmcs::new(val_mmcs.clone()));
    let pcs = Pcs::new(Radix2DitParallel::default(), val_mmcs, fri);
    Config::new(pcs, Challenger::new(perm))
}

/// The zero-knowledge configuration ([`ZkConfig`]), its salts and masks drawn from
/// generators seeded by the operating system (`getrandom`), fresh for every call: make one
/// per proof.
pub fn zk_config() -> Result<ZkConfig, String> {
    let seeded = || {
        StdRng::try_from_rng(&mut SysRng)
            .map_err(|e| format!("no randomness from the operating system: {e}"))
    };
    Ok(zk_config_from(seeded()?, seeded()?))
}

/// The zero-knowledge configuration that commits the *public* preprocessed tables (program,
/// image, shift, transcript): the verifier recomputes that commitment, so its salts must be
/// ones the verifier can derive. They are drawn from a generator seeded with a hash of the
/// public part, which hides nothing and needs to hide nothing (the tables are public); the
/// trace, quotient and FRI commitments of a proof use [`zk_config`]'s OS randomness. The
/// verifier draws nothing else from it.
fn zk_public_config(p: &Public) -> ZkConfig {
    use sha2::{Digest, Sha256};
    let seed = |what: &[u8]| {
        let mut h = Sha256::new();
        h.update(b"nexus-relink zk public salts ");
        h.update(what);
        h.update(statement::public_digest(p));
        StdRng::from_seed(h.finalize().into())
    };
    zk_config_from(seed(b"mmcs"), seed(b"pcs"))
}

fn zk_config_from(mmcs_rng: StdRng, pcs_rng: StdRng) -> ZkConfig {
    let perm = default_koalabear_poseidon2_16();
    let val_mmcs = ZkValMmcs::new(
        Hash::new(perm.clone()),
        Compress::new(perm.clone()),
        0,
        mmcs_rng,
    );
    // The FRI commit-phase trees are salted too (a clone reseeds from the original's stream).
    let fri = fri_params(ZkChallengeMmcs::new(val_mmcs.clone()));
    let pcs = ZkPcs::new(
        Radix2DitParallel::default(),
        val_mmcs,
        fri,
        RANDOM_CODEWORDS,
        pcs_rng,
    );
    ZkConfig::new(pcs, Challenger::new(perm))
}

/// The STARK of a proof file: made with [`Config`], or with [`ZkConfig`] when the statement
/// says zero-knowledge.
pub enum Stark {
    Plain(BatchProof<Config>),
    Zk(BatchProof<ZkConfig>),
}

impl Stark {
    pub fn is_zk(&self) -> bool {
        matches!(self, Stark::Zk(_))
    }

    /// Per table: log2 of the committed (extended) trace domain, the trace height's log plus
    /// one in a zero-knowledge proof.
    pub fn degree_bits(&self) -> &[usize] {
        match self {
            Stark::Plain(p) => &p.degree_bits,
            Stark::Zk(p) => &p.degree_bits,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Stark::Plain(p) => postcard::to_allocvec(p),
            Stark::Zk(p) => postcard::to_allocvec(p),
        }
        .expect("serialisable")
    }

    /// Decode STARK bytes as a proof of the given kind; the whole slice must be one proof.
    pub fn from_bytes(b: &[u8], zk: bool) -> Result<Stark, String> {
        fn take<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, String> {
            let (v, tail): (T, &[u8]) = postcard::take_from_bytes(b)
                .map_err(|e| format!("the STARK proof cannot be decoded ({e})"))?;
            if !tail.is_empty() {
                return Err("trailing bytes after the STARK proof".into());
            }
            Ok(v)
        }
        Ok(if zk {
            Stark::Zk(take(b)?)
        } else {
            Stark::Plain(take(b)?)
        })
    }
}

/// The largest memory limit: the whole 32-bit address space.
pub const MAX_MEMLIMIT: u64 = 1 << 32;

const MAGIC: &[u8; 8] = b"NXRPROOF";
/// Version of the proof file format and of the constraint system. Version 2: the whole public
/// part bound into the STARK, read-only code and `tohost`, the stack rule, the private-input
/// range. Files of other versions are refused by name.
pub const VERSION: u32 = 2;

/// Why proving failed.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    #[error("{0}")]
    Vm(#[from] crate::vm::VmError),
    #[error("the guest did not exit: {0}")]
    NoExit(String),
    /// The run reached its cycle limit.
    #[error("the guest did not exit: {0}")]
    CycleLimit(String),
    #[error("{0}")]
    Unprovable(String),
    #[error(transparent)]
    Witness(#[from] witness::WitnessError),
    #[error("the prover failed: {0}")]
    Backend(String),
    #[error("the guest ran more than {cap} cycles; one proof holds at most {cap} with {} of memory for the prover (raise it with --prover-memory; runs of any length need continuations, not implemented yet)", budget::gib(*budget))]
    TooLong { cap: u64, budget: u64 },
    #[error("proving these tables needs about {} of memory, more than the {} available (override with --prover-memory)", budget::gib(*need), budget::gib(*budget))]
    OutOfMemory { need: u64, budget: u64 },
}

/// Options of [`prove_with`].
#[derive(Debug, Clone, Default)]
pub struct ProveOptions {
    /// Memory the prover may use, in bytes; `None`: what the system says is available
    /// ([`budget::available_memory`]).
    pub memory: Option<u64>,
    /// A zero-knowledge proof ([`ZkConfig`]): the statement says so, the private input and
    /// the execution stay hidden. See `docs/ZK.md`.
    pub zk: bool,
}

/// Why a proof was rejected.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No readable header: not a proof file of this format (CLI exit 2).
    #[error("not a proof file: {0}")]
    Format(String),
    /// A proof file whose statement or STARK bytes cannot be decoded: an invalid proof.
    #[error("the proof file is damaged: {0}")]
    Malformed(String),
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
    pub proof: Stark,
}

/// Timings and sizes of one proof.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ProveStats {
    pub cycles: u64,
    pub trace_seconds: f64,
    pub prove_seconds: f64,
    /// Rows per table (padded), in [`tables::TABLE_NAMES`] order.
    pub heights: Vec<usize>,
    /// The peak memory [`budget::estimate_peak_bytes`] expected.
    pub estimated_peak_bytes: u64,
    /// The memory budget the run was held to, and the longest run it allows.
    pub memory_budget: u64,
    pub max_cycles: u64,
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
    if !vm.abi().provable() {
        return Err(ProveError::Unprovable(format!(
            "the {} ABI is not in the proof's machine; only nexus and linux-rv32 runs can be proven",
            vm.abi().name()
        )));
    }
    let image = vm.initial_regions().to_vec();
    let mut code: Vec<(u32, u32)> = Vec::new();
    for (addr, _) in img.executable_words() {
        match code.last_mut() {
            Some((a, n)) if *a + 4 * *n == addr => *n += 1,
            _ => code.push((addr, 1)),
        }
    }
    let tohost = vm.tohost();
    let statement = Statement {
        abi: vm.abi(),
        image_digest: statement::image_digest(img.entry, &code, &image, tohost),
        entry: img.entry,
        memlimit: layout.memlimit,
        image_start: layout.image_start,
        image_end: layout.image_end,
        stack_bottom: layout.stack_bottom,
        stack_top: layout.stack_top,
        heap_start: layout.heap_start,
        heap_end: layout.heap_end,
        shared: layout.shared,
        brk: vm.initial_brk(),
        regions: vm.allowed_ranges(),
        tohost,
        zk: false,
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
    {
        // The statement's rules, before the run (the cycle count is not known yet).
        let mut st = public.statement.clone();
        st.cycles = 1;
        st.check_consistency().map_err(|e| {
            ProveError::Unprovable(format!("the layout cannot be stated in a proof: {e}"))
        })?;
    }
    let input = cfg.input.clone();
    let vm = Vm::new(img, layout, cfg)?;
    let (res, trace) = vm.run_traced();
    let Some(code) = res.exit_code else {
        return Err(match res.fault {
            Some(f) if f.kind == crate::vm::FaultKind::CycleLimit => {
                ProveError::CycleLimit(f.message)
            }
            f => ProveError::NoExit(f.map(|f| f.message).unwrap_or_default()),
        });
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

/// Prove tables and their traces (the second half of [`prove`]), with [`Config`] or, when
/// the statement says zero-knowledge, a fresh [`zk_config`]. Public so that tests can hand it
/// tampered traces: nothing here checks the witness, the verifier does.
pub fn prove_traces(
    public: Public,
    tables: &[tables::Table],
    traces: &[RowMajorMatrix<Val>],
) -> Result<ProofFile, ProveError> {
    let pvs = public_values(&public);
    let proof = if public.statement.zk {
        let config = zk_config().map_err(ProveError::Backend)?;
        let public_config = zk_public_config(&public);
        Stark::Zk(prove_stark(&public_config, &config, tables, traces, &pvs)?)
    } else {
        let config = config();
        Stark::Plain(prove_stark(&config, &config, tables, traces, &pvs)?)
    };
    Ok(ProofFile { public, proof })
}

/// Proving with either configuration (one code path; the bounds say what both have).
///
/// `public_config` commits the preprocessed (public) tables, `config` everything else.
fn prove_stark<SC>(
    public_config: &SC,
    config: &SC,
    tables: &[tables::Table],
    traces: &[RowMajorMatrix<Val>],
    pvs: &[Vec<Val>],
) -> Result<BatchProof<SC>, ProveError>
where
    SC: StarkGenericConfig<Challenge = Challenge, Challenger = Challenger> + Sync,
    SC::Pcs: p3_commit::Pcs<Challenge, Challenger, Domain = TwoAdicMultiplicativeCoset<Val>> + Sync,
    <SC::Pcs as p3_commit::Pcs<Challenge, Challenger>>::ProverData: Sync,
    <SC::Pcs as p3_commit::Pcs<Challenge, Challenger>>::Commitment: Sync,
    <SC::Pcs as p3_commit::Pcs<Challenge, Challenger>>::ProverError: Send + std::fmt::Debug,
    <SC::Pcs as p3_commit::Pcs<Challenge, Challenger>>::Error: std::fmt::Debug,
{
    let instances: Vec<StarkInstance<'_, SC, tables::Table>> = tables
        .iter()
        .zip(traces)
        .zip(pvs)
        .map(|((air, trace), pv)| StarkInstance {
            air,
            trace,
            public_values: pv.clone(),
        })
        .collect();
    let pd = ProverData::from_instances(public_config, &instances)
        .map_err(|e| ProveError::Backend(format!("{e:?}")))?;
    prove_batch(config, &instances, &pd).map_err(|e| ProveError::Backend(format!("{e:?}")))
}

/// Run and prove, with the memory budget the system reports.
pub fn prove(
    img: &Image,
    layout: &Layout,
    cfg: RunConfig,
    progress: &dyn Fn(&str),
) -> Result<(ProofFile, ProveStats), ProveError> {
    prove_with(img, layout, cfg, &ProveOptions::default(), progress)
}

/// Run and prove. Before tracing, the run is capped at the longest one proof holds within the
/// memory budget ([`budget::max_cycles_for`]): a longer run stops there with
/// [`ProveError::TooLong`] instead of filling memory; before committing, the tables' estimated
/// peak is checked against the budget ([`ProveError::OutOfMemory`]).
pub fn prove_with(
    img: &Image,
    layout: &Layout,
    mut cfg: RunConfig,
    opts: &ProveOptions,
    progress: &dyn Fn(&str),
) -> Result<(ProofFile, ProveStats), ProveError> {
    let t0 = std::time::Instant::now();
    let budget = opts
        .memory
        .or_else(budget::available_memory)
        .unwrap_or(u64::MAX);
    let cap = budget::max_cycles_for(budget, opts.zk);
    let capped = cap < cfg.max_cycles;
    cfg.max_cycles = cfg.max_cycles.min(cap);
    progress("running the guest (tracing)");
    let (public, trace) = match trace_run(img, layout, cfg) {
        Err(ProveError::CycleLimit(_)) if capped => {
            return Err(ProveError::TooLong { cap, budget })
        }
        r => r?,
    };
    let mut public = public;
    public.statement.zk = opts.zk;
    progress("building the trace tables");
    let (tables, traces) = witness::build(&public, &trace)?;
    drop(trace);
    let need = budget::estimate_peak_bytes(
        &tables,
        &traces.iter().map(|t| t.height()).collect::<Vec<_>>(),
        opts.zk,
    );
    if need > budget {
        return Err(ProveError::OutOfMemory { need, budget });
    }
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
        estimated_peak_bytes: need,
        memory_budget: budget,
        max_cycles: cap,
    };
    Ok((pf, stats))
}

use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;

/// Word bounds of the two regions, inclusive: `[low_min, low_max, high_min, high_max]`. The
/// regions are word-aligned and non-empty ([`Statement::check_consistency`]), as the VM
/// enforces them.
pub fn mem_bounds(st: &Statement) -> [u32; 4] {
    let [(s0, e0), (s1, e1)] = st.regions;
    let w = |v: u64| (v / 4) as u32;
    [w(s0), w(e0.max(s0 + 4)) - 1, w(s1), w(e1.max(s1 + 4)) - 1]
}

fn halves(v: u32) -> [Val; 2] {
    [Val::from_u32(v >> 16), Val::from_u32(v & 0xffff)]
}

fn public_values(p: &Public) -> Vec<Vec<Val>> {
    let st = &p.statement;
    let mut v = vec![Vec::new(); tables::NUM_TABLES];
    let mut cpu = vec![Val::from_u32(st.entry / 4), Val::from_u64(st.cycles)];
    cpu.extend(halves(st.image_end.wrapping_sub(1)));
    cpu.extend(halves(st.stack_bottom));
    let digest = statement::public_digest(p);
    cpu.extend(
        digest
            .chunks(2)
            .map(|c| Val::from_u32(u32::from(c[0]) | u32::from(c[1]) << 8)),
    );
    debug_assert_eq!(cpu.len(), tables::CPU_PUBLIC);
    v[0] = cpu;
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
        out.extend(self.proof.to_bytes());
        out
    }

    pub fn from_bytes(b: &[u8]) -> Result<ProofFile, VerifyError> {
        if b.len() < 20 || &b[..8] != MAGIC {
            return Err(VerifyError::Format("no NXRPROOF header".into()));
        }
        let version = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            let why = if version < VERSION {
                "; proofs of earlier versions did not bind the whole statement: prove again with this build"
            } else {
                "; it was made by a newer build"
            };
            return Err(VerifyError::Format(format!(
                "proof format version {version}, this build reads version {VERSION} only{why}"
            )));
        }
        let bad = |m: String| VerifyError::Malformed(m);
        let n = u64::from_le_bytes(b[12..20].try_into().expect("8 bytes"));
        let rest = &b[20..];
        if n > rest.len() as u64 {
            return Err(bad("the statement is truncated".into()));
        }
        let (pb, sb) = rest.split_at(n as usize);
        let public: Public = postcard::from_bytes(pb)
            .map_err(|e| bad(format!("the statement cannot be decoded ({e})")))?;
        // One encoding per statement: the public digest is over the canonical bytes, so a file
        // whose bytes differ from them is refused rather than read as the same statement.
        if postcard::to_allocvec(&public).map_or(true, |c| c != pb) {
            return Err(bad("the statement is not in canonical form".into()));
        }
        // The statement says which configuration made the STARK (the flag is bound by the
        // public digest): its bytes are decoded as a proof of that kind only.
        let proof = Stark::from_bytes(sb, public.statement.zk).map_err(bad)?;
        Ok(ProofFile { public, proof })
    }
}

/// A STARK verification failure in words (Plonky3's errors are debug dumps).
fn stark_failure(e: &p3_batch_stark::BatchVerificationError<impl std::fmt::Debug>) -> String {
    use p3_batch_stark::BatchVerificationError as B;
    use p3_uni_stark::VerificationError as V;
    match e {
        B::Verification(V::InvalidProofShape(_)) => {
            "the proof's shape does not fit the tables (sizes or counts differ)".into()
        }
        B::Verification(V::InvalidOpeningArgument(_)) => {
            "an opening does not match its commitment: the proof does not belong to this statement, or its bytes were altered".into()
        }
        B::Verification(V::OodEvaluationMismatch { .. }) => {
            "the constraints do not hold: the committed execution is not one the machine allows".into()
        }
        B::Lookup(_) => {
            "the lookup and memory arguments do not balance: a value read is not the one written, or a lookup has no table entry".into()
        }
        B::Transcript(_) | B::Verification(V::InvalidOodPowWitness) => {
            "a proof-of-work check failed".into()
        }
        _ => "the proof is invalid".into(),
    }
}

/// Verify a proof; with `elf` (and the layout discovered from it) also check that the proof
/// is about that ELF. Returns the statement.
pub fn verify(pf: &ProofFile, elf: Option<(&Image, &Layout)>) -> Result<Statement, VerifyError> {
    let p = &pf.public;
    let st = &p.statement;
    if let Some((img, layout)) = elf {
        // The ABI detected from the ELF, as `run` would pick it.
        let mine = public_from_elf(img, layout, None)
            .map_err(|e| VerifyError::ElfMismatch(e.to_string()))?;
        let m = &mine.statement;
        let mut diffs = Vec::new();
        if m.abi != st.abi {
            diffs.push(format!(
                "the proof is for the {} ABI, the ELF's is {}",
                st.abi.name(),
                m.abi.name()
            ));
        }
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
        if m.tohost != st.tohost {
            diffs.push("the HTIF tohost word differs".into());
        }
        if (
            m.image_start,
            m.image_end,
            m.stack_bottom,
            m.stack_top,
            m.heap_start,
            m.heap_end,
            m.shared,
            m.brk,
            m.regions,
        ) != (
            st.image_start,
            st.image_end,
            st.stack_bottom,
            st.stack_top,
            st.heap_start,
            st.heap_end,
            st.shared,
            st.brk,
            st.regions,
        ) {
            diffs.push("the stack/heap layout differs".into());
        }
        if !diffs.is_empty() {
            return Err(VerifyError::ElfMismatch(diffs.join("; ")));
        }
    }
    st.check_consistency().map_err(VerifyError::Statement)?;
    p.check_shape().map_err(VerifyError::Statement)?;
    if statement::image_digest(st.entry, &p.code, &p.image, st.tohost) != st.image_digest {
        return Err(VerifyError::Statement(
            "the image digest does not match the image".into(),
        ));
    }
    if st.cycles == 0 || st.cycles >= 1 << 25 {
        return Err(VerifyError::Statement(format!("cycle count {}", st.cycles)));
    }
    statement::replay(p).map_err(VerifyError::Statement)?;
    let tables = witness::verifier_tables(p);
    if pf.proof.is_zk() != st.zk {
        return Err(VerifyError::Stark(format!(
            "the statement says zero-knowledge: {}, the STARK was made {} hiding commitments",
            yes_no(st.zk),
            if pf.proof.is_zk() { "with" } else { "without" }
        )));
    }
    // The committed domains are twice the traces in a zero-knowledge proof.
    let zk = usize::from(st.zk);
    if pf.proof.degree_bits().len() != tables::NUM_TABLES {
        return Err(VerifyError::Stark("wrong number of tables".into()));
    }
    let mut bits = Vec::with_capacity(tables::NUM_TABLES);
    for &b in pf.proof.degree_bits() {
        bits.push(
            b.checked_sub(zk)
                .ok_or_else(|| VerifyError::Stark("table heights out of range".into()))?,
        );
    }
    let fixed = [
        (
            1,
            match &tables[1] {
                tables::Table::Program(t) => t.height,
                _ => 0,
            },
        ),
        (
            3,
            match &tables[3] {
                tables::Table::Image(t) => t.height,
                _ => 0,
            },
        ),
        (4, witness::reg_rows(st)),
        (5, 1 << 16),
        (6, 512),
        (
            7,
            match &tables[7] {
                tables::Table::Events(t) => t.height,
                _ => 0,
            },
        ),
        (
            8,
            match &tables[8] {
                tables::Table::IoWords(t) => t.height,
                _ => 0,
            },
        ),
    ];
    for (i, h) in fixed {
        let want = h.trailing_zeros() as usize;
        if bits[i] != want {
            return Err(VerifyError::Stark(format!(
                "table {} has 2^{} rows, expected 2^{want}",
                tables::TABLE_NAMES[i],
                bits[i]
            )));
        }
    }
    // The CPU table has a padding row after the last cycle; every table has at least the
    // statement's fewest rows.
    let min_bits = witness::min_rows(st).trailing_zeros() as usize;
    if bits[0] > 25
        || (1u64 << bits[0]) <= st.cycles
        || bits.iter().any(|&b| b > 28 || b < min_bits)
    {
        return Err(VerifyError::Stark("table heights out of range".into()));
    }
    let pvs = public_values(p);
    match &pf.proof {
        Stark::Plain(proof) => verify_stark(&config(), &tables, proof, &pvs),
        Stark::Zk(proof) => verify_stark(&zk_public_config(p), &tables, proof, &pvs),
    }?;
    Ok(st.clone())
}

/// "yes" or "no".
pub fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Verifying with either configuration.
fn verify_stark<SC>(
    config: &SC,
    tables: &[tables::Table],
    proof: &BatchProof<SC>,
    pvs: &[Vec<Val>],
) -> Result<(), VerifyError>
where
    SC: StarkGenericConfig<Challenge = Challenge, Challenger = Challenger> + Sync,
    SC::Pcs: p3_commit::Pcs<Challenge, Challenger, Domain = TwoAdicMultiplicativeCoset<Val>> + Sync,
    <SC::Pcs as p3_commit::Pcs<Challenge, Challenger>>::ProverData: Sync,
    <SC::Pcs as p3_commit::Pcs<Challenge, Challenger>>::Commitment: Sync,
    <SC::Pcs as p3_commit::Pcs<Challenge, Challenger>>::ProverError: Send + std::fmt::Debug,
    <SC::Pcs as p3_commit::Pcs<Challenge, Challenger>>::Error: std::fmt::Debug,
{
    // A decodable but malformed proof must be an error, not a crash: Plonky3 checks shapes,
    // and anything it asserts instead is caught here.
    let run = || -> Result<(), VerifyError> {
        let common = ProverData::from_airs_and_degrees(config, tables, &proof.degree_bits)
            .map_err(|_| VerifyError::Stark("the proof's table sizes do not fit".into()))?
            .common;
        verify_batch(config, tables, proof, pvs, &common)
            .map_err(|e| VerifyError::Stark(stark_failure(&e)))
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
        .map_err(|_| VerifyError::Stark("malformed proof (the verifier gave up)".into()))?
}
