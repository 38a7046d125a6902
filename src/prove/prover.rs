//! Proving a run: the statement run (untraced), the traced run a segment at a time, each
//! segment's tables and STARK ([`prove_segment`]), and the system-call transcript
//! (`EventCollector`) read from the traced pieces.

use super::config::{config, zk_config, zk_public_config, Challenge, Challenger, Stark, Val};
use super::segment::{self, SegmentMeta, SegmentProof, SegmentStart, DEFAULT_SEGMENT_CYCLES};
use super::statement::{self, Event, Public, Statement};
use super::{budget, tables, witness, ProofFile};
use crate::elf::Image;
use crate::layout::Layout;
use crate::vm::{Abi, RunConfig, Vm};
use p3_batch_stark::StarkGenericConfig;
use p3_batch_stark::{prove_batch, BatchProof, ProverData, StarkInstance};
use p3_field::coset::TwoAdicMultiplicativeCoset;
use p3_field::PrimeCharacteristicRing;
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;

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
    #[error("{}", budget::too_long_text(*segment, *cap, *budget))]
    TooLong { segment: u64, cap: u64, budget: u64 },
    #[error("proving these tables needs about {} of memory, more than the {} available (override with --prover-memory)", budget::size_text(*need), budget::size_text(*budget))]
    OutOfMemory { need: u64, budget: u64 },
    /// A segment job whose claims do not hold (`prove-segment`).
    #[error("the segment job is refused: {0}")]
    Job(String),
}

/// Options of [`prove_with`].
#[derive(Debug, Clone)]
pub struct ProveOptions {
    /// Cycles per segment (at most [`segment::MAX_SEGMENT_CYCLES`]): the run is proven as a
    /// chain of segments of this many cycles (the last one shorter), one at a time.
    pub segment_cycles: u64,
    /// Memory the prover may use, in bytes; `None`: what the system says is available
    /// ([`budget::available_memory`]).
    pub memory: Option<u64>,
    /// A zero-knowledge proof ([`super::ZkConfig`]): the statement says so, the private input and
    /// the execution stay hidden. See `docs/ZK.md`.
    pub zk: bool,
}

impl Default for ProveOptions {
    fn default() -> Self {
        ProveOptions {
            segment_cycles: DEFAULT_SEGMENT_CYCLES,
            memory: None,
            zk: false,
        }
    }
}

/// What [`prove_with`] reports while it works.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A step: running the guest, building tables, ...
    Stage(&'a str),
    /// `done` of `total` segments proven.
    Segments { done: usize, total: usize },
}

impl std::fmt::Display for Progress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Progress::Stage(s) => f.write_str(s),
            Progress::Segments { done, total } if done >= total => {
                write!(
                    f,
                    "proved {total} segment{}",
                    if *total == 1 { "" } else { "s" }
                )
            }
            Progress::Segments { done, total } => {
                write!(f, "proving segment {} of {total}", done + 1)
            }
        }
    }
}

/// Timings and sizes of one segment's proof.
#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
pub struct SegmentStats {
    pub cycles: u64,
    pub trace_seconds: f64,
    pub prove_seconds: f64,
    pub proof_bytes: usize,
}

/// Timings and sizes of one proof.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ProveStats {
    pub cycles: u64,
    /// Executing the guest (both passes) and building the tables, all segments.
    pub trace_seconds: f64,
    /// The STARKs, all segments.
    pub prove_seconds: f64,
    pub segment_cycles: u64,
    pub segments: Vec<SegmentStats>,
    /// Rows per table (padded), in [`tables::TABLE_NAMES`] order: the largest over the
    /// segments.
    pub heights: Vec<usize>,
    /// The peak memory [`budget::estimate_peak_bytes`] expected.
    pub estimated_peak_bytes: u64,
    /// The memory budget the prover was held to, and the longest segment it allows.
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
            "the {} ABI is not in the proof's machine; it holds nexus, nexus-legacy, nexus-mixed, linux-rv32, sp1 (halt, write, commit, hints), risc0 (halt and software calls), the halt of ceno, and openvm's terminate",
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
    let exec: Vec<(u64, u64)> = img
        .loads()
        .filter(|s| s.is_exec())
        .map(|s| (u64::from(s.vaddr), u64::from(s.vaddr) + u64::from(s.memsz)))
        .filter(|&(s, e)| s < e)
        .collect();
    let tohost = vm.tohost();
    let statement = Statement {
        abi: vm.abi(),
        image_digest: statement::image_digest(img.entry, &code, &exec, &image, tohost),
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
        initial_sp: vm.reg(2),
        regions: vm.allowed_ranges(),
        tohost,
        zk: false,
        cycles: 0,
        exit_code: 0,
        public_input: Vec::new(),
        input_len: 0,
        input_at: if vm.abi() == Abi::Ceno {
            img.symbol("_hints_start").map(|s| s.value)
        } else {
            None
        },
        stdout: Vec::new(),
        stderr: Vec::new(),
        public_output: Vec::new(),
        htif_exit: false,
        code_written: Vec::new(),
    };
    Ok(Public {
        statement,
        image,
        code,
        exec,
        events: Vec::new(),
    })
}

/// The program identity ([`Statement::program_id`]) of the machine a proof of this ELF
/// states: its proof layout ([`crate::layout::MemoryMap::prove_layout`]) and detected ABI.
/// What `inspect` prints and `verify --elf` compares; an error when the ELF cannot be proven
/// (the reason `prove` would give before running).
pub fn program_id(img: &Image) -> Result<String, crate::Error> {
    let layout = crate::layout::MemoryMap::discover(img).prove_layout()?;
    let public = public_from_elf(img, &layout, None)?;
    check_stateable(&public)?;
    Ok(public.statement.program_id())
}

/// Run the guest in tracing mode: the public data of the run and its trace (the first half
/// of proving a run as one segment; for tests and tools). `cfg.stdin_passthrough` is ignored:
/// a proof's input is what the statement says.
pub fn trace_run(
    img: &Image,
    layout: &Layout,
    cfg: RunConfig,
) -> Result<(Public, crate::vm::trace::Trace), ProveError> {
    let mut whole = None;
    let public = run_public(img, layout, cfg, u64::MAX, &mut |t| whole = Some(t))?;
    Ok((public, whole.unwrap_or_default()))
}

/// Run the guest without tracing: the public data of the run but its transcript (the
/// statement: exit code, outputs, cycles). Refuses, before anything is proven, a run that
/// does not exit or does not end with an exit system call.
pub(crate) fn statement_run(
    img: &Image,
    layout: &Layout,
    mut cfg: RunConfig,
) -> Result<Public, ProveError> {
    cfg.stdin_passthrough = false;
    let mut public = public_from_elf(img, layout, cfg.abi)?;
    check_stateable(&public)?;
    check_input(&public, &cfg)?;
    let input = cfg.input.clone();
    let (res, last) = Vm::new(img, layout, cfg)?.run_to_end();
    finish_statement(&mut public, res, input, last)?;
    Ok(public)
}

/// Input the statement cannot carry. A Ceno guest's hints are placed in memory at
/// `_hints_start` before the run: the statement states where (`input_at`) and the bytes, which
/// are initial memory beside the image.
fn check_input(public: &Public, cfg: &RunConfig) -> Result<(), ProveError> {
    if public.statement.abi == Abi::Ceno
        && !cfg.input.is_empty()
        && public.statement.input_at.is_none()
    {
        return Err(ProveError::Unprovable(
            "a Ceno guest's --input goes to its hints region at the symbol _hints_start, which this ELF does not have".into(),
        ));
    }
    Ok(())
}

/// The statement's rules that do not need the run (the cycle count is not known yet).
fn check_stateable(public: &Public) -> Result<(), ProveError> {
    let mut st = public.statement.clone();
    st.cycles = 1;
    st.check_consistency()
        .map_err(|e| ProveError::Unprovable(format!("the layout cannot be stated in a proof: {e}")))
}

/// The run's outcome into the statement; `last`: the op and pc of the last instruction.
fn finish_statement(
    public: &mut Public,
    res: crate::vm::RunResult,
    input: Vec<u8>,
    last: Option<(crate::isa::Op, u32)>,
) -> Result<(), ProveError> {
    let Some(code) = res.exit_code else {
        return Err(match res.fault {
            Some(f) if f.kind == crate::vm::FaultKind::CycleLimit => {
                ProveError::CycleLimit(f.message)
            }
            f => ProveError::NoExit(f.map(|f| f.message).unwrap_or_default()),
        });
    };
    if let Some((op, pc)) = last {
        // The exit: an ecall, or `unimp` (`csrrw x0, cycle, x0`) in the Nexus runtime before 0.3.
        let legacy_halt = matches!(public.statement.abi, Abi::NexusLegacy | Abi::NexusMixed)
            && op == crate::isa::Op::Csrrw;
        let terminate = public.statement.abi == Abi::OpenVm && op == crate::isa::Op::Terminate;
        if op != crate::isa::Op::Ecall && !legacy_halt && !terminate {
            // The HTIF exit: a store of an odd word to `tohost`. The proof's machine takes a
            // whole-word store (`sw`) of `(code << 1) | 1`.
            if op != crate::isa::Op::Sw {
                return Err(ProveError::Unprovable(format!(
                    "the run ends with `{}` at pc {pc:#x} (a store to the HTIF `tohost` word); the prover handles the HTIF exit as a whole-word store (`sw`)",
                    op.mnemonic(),
                )));
            }
            public.statement.htif_exit = true;
        }
    }
    let st = &mut public.statement;
    st.cycles = res.cycles;
    st.exit_code = code;
    // A linux-rv32 guest reads its input as a stream: the statement carries the bytes it
    // read, which answer every read the same way (a read that returned fewer bytes than asked
    // met the end, so all of the input was read). A Nexus guest reads tape words at any
    // offset, and the tape's first word is the input's length: the statement carries that
    // length and the input up to the end of the highest word read. RISC Zero's SYS_READ is a
    // stream as linux-rv32's `read`. SP1: the hint frames the guest saw (read, or its length
    // asked for), whole.
    let mut input = input;
    st.input_len = input.len() as u64;
    if matches!(st.abi, Abi::LinuxRv32 | Abi::Risc0 | Abi::Sp1) || st.abi.nexus_calls() {
        input.truncate(res.input_read);
    }
    if !st.abi.nexus_calls() {
        st.input_len = input.len() as u64;
    }
    st.public_input = input;
    // Self-modifying code: the instruction words the run wrote are writable, and fetched.
    st.code_written = res.code_written;
    st.stdout = res.stdout;
    st.stderr = res.stderr;
    st.public_output = res.public_output;
    Ok(())
}

/// The public data of a run given as its traced pieces and how it ended: what a *modified
/// prover* states about a run it changed between segments ([`crate::vm::Vm::tamper`]). For
/// soundness tests.
#[doc(hidden)]
pub fn public_of_run(
    img: &Image,
    layout: &Layout,
    abi: Option<Abi>,
    input: Vec<u8>,
    pieces: &[crate::vm::trace::Trace],
    res: crate::vm::RunResult,
) -> Result<Public, ProveError> {
    let mut public = public_from_elf(img, layout, abi)?;
    let mut events = EventCollector::new(&public.statement);
    let mut last = None;
    for t in pieces {
        events.add(t)?;
        if let Some(r) = t.rows.last() {
            last = Some((r.inst.op, r.pc));
        }
    }
    finish_statement(&mut public, res, input, last)?;
    public.events = events.out;
    Ok(public)
}

/// Run the guest traced, a piece of at most `piece` cycles at a time, handing each piece to
/// `keep`; returns the public data of the run (statement, transcript).
fn run_public(
    img: &Image,
    layout: &Layout,
    mut cfg: RunConfig,
    piece: u64,
    keep: &mut dyn FnMut(crate::vm::trace::Trace),
) -> Result<Public, ProveError> {
    cfg.stdin_passthrough = false;
    let mut public = public_from_elf(img, layout, cfg.abi)?;
    check_stateable(&public)?;
    check_input(&public, &cfg)?;
    let input = cfg.input.clone();
    let vm = Vm::new(img, layout, cfg)?;
    let mut run = vm.trace_segments();
    let mut events = EventCollector::new(&public.statement);
    let mut last = None;
    while let Some(t) = run.next_segment(piece) {
        events.add(&t)?;
        last = t.rows.last().map(|r| (r.inst.op, r.pc));
        keep(t);
    }
    let res = run.result().cloned().expect("the run has ended");
    finish_statement(&mut public, res, input, last)?;
    public.events = events.out;
    statement::replay(&public).map_err(|e| {
        ProveError::Unprovable(format!("the run's system calls cannot be stated: {e}"))
    })?;
    Ok(public)
}

/// Prove tables and their traces of a whole run as one segment (the second half of proving
/// it), with [`super::Config`] or, when the statement says zero-knowledge, a fresh [`zk_config`].
/// Public so that tests can hand it tampered traces: nothing here checks the witness, the
/// verifier does.
pub fn prove_traces(
    public: Public,
    tables: &[tables::Table],
    traces: &[RowMajorMatrix<Val>],
) -> Result<ProofFile, ProveError> {
    let start = SegmentStart::whole_run(&public.statement);
    // The instructions fetched from memory are DYNPROG's rows.
    let dyn_code = tables
        .iter()
        .find_map(|t| match t {
            tables::Table::DynProg(d) => Some(d.pairs()),
            _ => None,
        })
        .unwrap_or_default();
    let meta = SegmentMeta {
        cycles: public.statement.cycles as u32,
        dyn_code,
        ..SegmentMeta::default()
    };
    let digest = statement::statement_digest(&public);
    let proof = prove_segment(&public, &digest, 1, &start, &meta, tables, traces)?;
    Ok(ProofFile {
        public,
        segments: vec![SegmentProof { meta, proof }],
    })
}

/// Prove one segment's tables and traces: segment `start.index` of `count`, bound to the
/// statement's digest ([`statement::statement_digest`]) and the segment's events (those of
/// `public.events` in its cycles). Public so that tests can play a modified prover.
#[doc(hidden)]
pub fn prove_segment(
    public: &Public,
    statement_digest: &[u8; 32],
    count: usize,
    start: &SegmentStart,
    meta: &SegmentMeta,
    tables: &[tables::Table],
    traces: &[RowMajorMatrix<Val>],
) -> Result<Stark, ProveError> {
    let pvs = public_values(public, statement_digest, count, start, meta);
    Ok(if public.statement.zk {
        let config = zk_config().map_err(ProveError::Backend)?;
        let public_config = zk_public_config(public);
        Stark::Zk(prove_stark(&public_config, &config, tables, traces, &pvs)?)
    } else {
        let config = config();
        Stark::Plain(prove_stark(&config, &config, tables, traces, &pvs)?)
    })
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

/// Run and prove, with the memory budget the system reports, in segments of
/// [`DEFAULT_SEGMENT_CYCLES`].
pub fn prove(
    img: &Image,
    layout: &Layout,
    cfg: RunConfig,
    progress: &dyn Fn(Progress),
) -> Result<(ProofFile, ProveStats), ProveError> {
    prove_with(img, layout, cfg, &ProveOptions::default(), progress)
}

/// Run and prove, as a chain of segments of `opts.segment_cycles` cycles ([`super::segment`]):
/// [`super::job::plan_run`], each segment proven by [`prove_piece`] as soon as it is traced
/// (from the VM's paused state, with the memory the plan carries), then
/// [`super::job::join`], which verifies the chain before it returns the proof: the path
/// `plan`, `prove-segment` and `join` take, in one process.
///
/// The prover's memory is that of one segment (and the VM's memory), whatever the run's
/// length. Before proving, the segment size is checked against the memory budget
/// ([`budget::max_cycles_for`]: [`ProveError::TooLong`]), and each segment's estimated peak
/// too ([`ProveError::OutOfMemory`]).
pub fn prove_with(
    img: &Image,
    layout: &Layout,
    cfg: RunConfig,
    opts: &ProveOptions,
    progress: &dyn Fn(Progress),
) -> Result<(ProofFile, ProveStats), ProveError> {
    let t0 = std::time::Instant::now();
    let mut proofs = Vec::new();
    let mut stats = ProveStats::default();
    let mut pt = None;
    let mut traced = t0;
    let mut starts: Vec<(u32, [u32; 32])> = Vec::new();
    let summary = super::job::plan_run(img, layout, cfg, opts, progress, &mut |s| {
        let trace_seconds = traced.elapsed().as_secs_f64();
        let pt = pt.get_or_insert_with(|| witness::public_tables(s.public));
        let budget = super::job::memory_budget(opts.memory);
        starts.push((s.start.pc, s.start.regs));
        let piece = prove_piece(
            s.public,
            pt,
            s.statement_digest,
            s.count,
            s.start,
            s.memory,
            s.trace,
            budget,
        )?;
        let mut seg_stats = piece.stats;
        seg_stats.trace_seconds += trace_seconds;
        stats.estimated_peak_bytes = stats.estimated_peak_bytes.max(piece.estimated_peak_bytes);
        if stats.heights.is_empty() {
            stats.heights = piece.heights;
        } else {
            for (m, h) in stats.heights.iter_mut().zip(piece.heights) {
                *m = (*m).max(h);
            }
        }
        stats.segments.push(seg_stats);
        proofs.push((
            format!("segment {}", s.start.index),
            Ok(super::job::SegmentProofFile {
                statement_digest: *s.statement_digest,
                index: s.start.index as u64,
                count: s.count as u64,
                segment_cycles: s.segment_cycles,
                proof: piece.proof,
            }),
        ));
        traced = std::time::Instant::now();
        Ok(())
    })?;
    // The in-process path carries the state through the plan; the proofs' metas state it
    // too, and must agree (a job re-executes to the plan's start).
    let metas: Vec<&SegmentMeta> = proofs
        .iter()
        .filter_map(|(_, p)| p.as_ref().ok().map(|p| &p.proof.meta))
        .collect();
    for k in 1..metas.len() {
        let before = metas[k - 1];
        if (before.pc_out, before.regs_out.as_slice()) != (starts[k].0, &starts[k].1[..]) {
            return Err(witness::WitnessError::Internal {
                cycle: 0,
                what: format!("segment {k} starts where the plan does not"),
            }
            .into());
        }
    }
    let pf = super::job::join(&summary.statement, proofs)
        .map_err(|e| ProveError::Backend(format!("the proof does not verify: {e}")))?;
    stats.cycles = pf.public.statement.cycles;
    stats.segment_cycles = opts.segment_cycles;
    stats.memory_budget = summary.memory_budget;
    stats.max_cycles = summary.max_cycles;
    stats.prove_seconds = stats.segments.iter().map(|s| s.prove_seconds).sum();
    stats.trace_seconds = t0.elapsed().as_secs_f64() - stats.prove_seconds;
    Ok((pf, stats))
}

/// A refusal of private input in a chain of several segments (`events`: a segment's).
pub(crate) fn check_private(count: usize, events: &[Event], cycles: u64) -> Result<(), ProveError> {
    if count > 1 && events.iter().any(|e| matches!(e.write, Some((_, None)))) {
        return Err(ProveError::Unprovable(format!(
            "the run reads private input and needs {count} segments; private input is proven in one segment only (raise --segment-cycles to at least {cycles})"
        )));
    }
    Ok(())
}

/// One segment proven by [`prove_piece`]: its proof, timings, table heights and the
/// estimated peak memory.
pub struct Piece {
    pub proof: SegmentProof,
    pub stats: SegmentStats,
    pub heights: Vec<usize>,
    pub estimated_peak_bytes: u64,
}

/// Prove one traced segment: segment `start.index` of `count`, started with `memory` (every
/// word the segment touches, with its value then; the image in the first segment), its
/// transcript in `public.events`. Builds its tables, refuses a segment whose estimated peak
/// memory exceeds `budget` ([`ProveError::OutOfMemory`]), proves it. What `prove` does for
/// every segment and `prove-segment` for one.
#[allow(clippy::too_many_arguments)]
pub fn prove_piece(
    public: &Public,
    pt: &witness::PublicTables,
    statement_digest: &[u8; 32],
    count: usize,
    start: &SegmentStart,
    memory: &std::collections::BTreeMap<u32, [u8; 4]>,
    t: &crate::vm::trace::Trace,
    budget: u64,
) -> Result<Piece, ProveError> {
    let t1 = std::time::Instant::now();
    super::stage::set(super::stage::Stage::Trace);
    let w = witness::build_segment(public, pt, start, memory, t)?;
    let heights: Vec<usize> = w.traces.iter().map(|t| t.height()).collect();
    let need = budget::estimate_peak_bytes(&w.tables, &heights, public.statement.zk);
    if need > budget {
        return Err(ProveError::OutOfMemory { need, budget });
    }
    let t2 = std::time::Instant::now();
    super::stage::set(super::stage::Stage::Commit);
    let proof = prove_segment(
        public,
        statement_digest,
        count,
        start,
        &w.meta,
        &w.tables,
        &w.traces,
    )?;
    let stats = SegmentStats {
        cycles: u64::from(w.meta.cycles),
        trace_seconds: (t2 - t1).as_secs_f64(),
        prove_seconds: t2.elapsed().as_secs_f64(),
        proof_bytes: proof.to_bytes().len(),
    };
    Ok(Piece {
        proof: SegmentProof {
            meta: w.meta,
            proof,
        },
        stats,
        heights,
        estimated_peak_bytes: need,
    })
}

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

/// The public values of segment `start.index` of `count`: CPU (first pc, cycles, the stack
/// rule's bounds, the segment digest, `notlast`, next pc), MEM (region bounds, `first`,
/// `notlast`), REG (`notlast`).
pub(crate) fn public_values(
    p: &Public,
    statement_digest: &[u8; 32],
    count: usize,
    start: &SegmentStart,
    meta: &SegmentMeta,
) -> Vec<Vec<Val>> {
    let st = &p.statement;
    let notlast = Val::from_bool(!start.last);
    let mut v = vec![Vec::new(); tables::NUM_TABLES];
    let mut cpu = vec![Val::from_u32(start.pc / 4), Val::from_u32(meta.cycles)];
    cpu.extend(halves(st.image_end.wrapping_sub(1)));
    cpu.extend(halves(st.stack_bottom));
    let events = segment::segment_events(&p.events, start.clk0, u64::from(meta.cycles));
    let digest = segment::segment_digest(statement_digest, count, start, meta, &events);
    cpu.extend(
        digest
            .chunks(2)
            .map(|c| Val::from_u32(u32::from(c[0]) | u32::from(c[1]) << 8)),
    );
    cpu.push(notlast);
    cpu.push(Val::from_u32(meta.pc_out / 4));
    // The HTIF exit (the last segment's last row may be a `sw` of this word to `tohost`).
    cpu.push(Val::from_bool(st.htif_exit));
    cpu.push(Val::from_u32(st.tohost.unwrap_or(0) >> 2));
    let word = ((st.exit_code as u32) << 1) | 1;
    cpu.extend(word.to_le_bytes().map(|b| Val::from_u32(u32::from(b))));
    debug_assert_eq!(cpu.len(), tables::CPU_PUBLIC);
    v[0] = cpu;
    let mut mem: Vec<Val> = mem_bounds(st)
        .iter()
        .flat_map(|&w| [Val::from_u32(w >> 16), Val::from_u32(w & 0xffff)])
        .collect();
    mem.push(Val::from_bool(start.index == 0));
    mem.push(notlast);
    debug_assert_eq!(mem.len(), tables::MEM_PUBLIC);
    v[2] = mem;
    v[4] = vec![notlast];
    v
}

/// The system-call transcript of a traced run, read a piece at a time (the registers carried
/// from piece to piece).
pub(crate) struct EventCollector {
    abi: Abi,
    pub(crate) regs: [u32; 32],
    /// The run's cycle the next piece starts at.
    clk0: u64,
    pub(crate) out: Vec<Event>,
}

impl EventCollector {
    pub(crate) fn new(st: &Statement) -> Self {
        let mut regs = [0; 32];
        regs[2] = st.initial_sp;
        EventCollector {
            abi: st.abi,
            regs,
            clk0: 0,
            out: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, t: &crate::vm::trace::Trace) -> Result<(), ProveError> {
        use crate::isa::Op;
        let (abi, regs) = (self.abi, &mut self.regs);
        let nexus = abi.nexus_calls();
        let ecall_reads = statement::ecall_reads(abi);
        for (j, r) in t.rows.iter().enumerate() {
            let i = self.clk0 + j as u64;
            let reads: Vec<(u8, u32)> = match r.inst.op {
                Op::Ecall => {
                    let want = ecall_reads.ok_or_else(|| {
                        ProveError::Unprovable(format!(
                            "the {} ABI is not in the proof's machine",
                            abi.name()
                        ))
                    })?;
                    if let Some(why) = statement::unprovable_call(abi, regs[want[0] as usize]) {
                        return Err(ProveError::Unprovable(format!(
                            "cycle {i}, pc {:#x}: {why}",
                            r.pc
                        )));
                    }
                    want.iter().map(|&x| (x, regs[x as usize])).collect()
                }
                Op::NexusRead => vec![(r.inst.rs1, regs[r.inst.rs1 as usize])],
                Op::NexusWrite if r.inst.rs1 == r.inst.rs2 => {
                    vec![(r.inst.rs1, regs[r.inst.rs1 as usize])]
                }
                Op::NexusWrite => vec![
                    (r.inst.rs1, regs[r.inst.rs1 as usize]),
                    (r.inst.rs2, regs[r.inst.rs2 as usize]),
                ],
                // `unimp`, the halt of the Nexus runtime before 0.3, reads rs1 like any `csrrw`.
                Op::Csrrw | Op::Csrrs | Op::Csrrc => {
                    vec![(r.inst.rs1, regs[r.inst.rs1 as usize])]
                }
                Op::Csrrwi | Op::Csrrsi | Op::Csrrci | Op::Mret | Op::Terminate => vec![],
                // A misaligned load or store is an event: it reads rs1 (and a store rs2).
                op if statement::misaligned(
                    op,
                    regs[r.inst.rs1 as usize].wrapping_add(r.inst.imm as u32),
                )
                .is_some() =>
                {
                    let mut v = vec![(r.inst.rs1, regs[r.inst.rs1 as usize])];
                    if matches!(op, Op::Sh | Op::Sw) && r.inst.rs2 != r.inst.rs1 {
                        v.push((r.inst.rs2, regs[r.inst.rs2 as usize]));
                    }
                    v
                }
                _ => {
                    if r.rd != 0 {
                        regs[r.rd as usize] = r.rd_val;
                    }
                    continue;
                }
            };
            // The register an ecall writes follows from the ABI (the trace names only a
            // register whose value changed).
            let target = match r.inst.op {
                Op::Ecall => {
                    let n = regs[reads[0].0 as usize];
                    statement::ecall_writes(abi, n)
                }
                Op::Mret | Op::Sh | Op::Sw => None,
                // The halt writes nothing (the run ends before `rd` would be written).
                Op::Csrrw if statement::is_legacy_halt(abi, &r.inst) => None,
                _ => (r.inst.rd != 0).then_some(r.inst.rd),
            };
            let private = r.inst.op == Op::Ecall
                && ((nexus && regs[17] == 0x400) || (abi == Abi::NexusLegacy && regs[18] == 2));
            let write = target.map(|rd| {
                let v = if r.rd == rd {
                    r.rd_val
                } else {
                    regs[rd as usize]
                };
                (rd, (!private).then_some(v))
            });
            let acc = &t.mem[r.mem_start as usize..(r.mem_start + r.mem_len) as usize];
            // A RISC Zero software call reads its name (up to its NUL), then a buffer: two
            // ranges. Every other call reads and writes one range at most.
            let software = abi == Abi::Risc0 && r.inst.op == Op::Ecall && reads[0].1 == 2;
            let mut read_ranges: Vec<(u32, Vec<u8>)> = Vec::new();
            let mut mem_write: Option<(u32, Vec<u8>)> = None;
            let mut read_at = std::collections::HashSet::new();
            // Byte by byte (a misaligned access is one access of 2 or 4 bytes).
            let bytes = acc.iter().flat_map(|a| {
                (0..u32::from(a.width)).map(move |k| crate::vm::trace::MemAccess {
                    addr: a.addr.wrapping_add(k),
                    width: 1,
                    write: a.write,
                    value: (a.value >> (8 * k)) & 0xff,
                })
            });
            for a in bytes {
                let a = &a;
                if a.write {
                    if read_at.contains(&a.addr) {
                        return Err(ProveError::Unprovable(format!(
                            "cycle {i}: a system call writes the byte {:#x} it read",
                            a.addr
                        )));
                    }
                    let s = mem_write.get_or_insert((a.addr, Vec::new()));
                    if s.0.wrapping_add(s.1.len() as u32) != a.addr {
                        return Err(ProveError::Unprovable(format!(
                            "cycle {i}: a system call's memory writes are not one byte range"
                        )));
                    }
                    s.1.push(a.value as u8);
                    continue;
                }
                read_at.insert(a.addr);
                let name_done =
                    software && read_ranges.len() == 1 && read_ranges[0].1.last() == Some(&0);
                match read_ranges.last_mut() {
                    Some(s) if !name_done && s.0.wrapping_add(s.1.len() as u32) == a.addr => {
                        s.1.push(a.value as u8)
                    }
                    _ => read_ranges.push((a.addr, vec![a.value as u8])),
                }
            }
            if read_ranges.len() > 1 + usize::from(software) {
                return Err(ProveError::Unprovable(format!(
                    "cycle {i}: a system call's memory reads are not one byte range"
                )));
            }
            let mut read_ranges = read_ranges.into_iter();
            let (mem_read, mem_read2) = (read_ranges.next(), read_ranges.next());
            // A software call returns two words: a0 (the row's write) and a1 (beside it in
            // the trace when both changed).
            let after = |reg: u8, regs: &[u32; 32]| {
                let also = t.also_written_by(j).find(|w| w.0 == reg).map(|w| w.1);
                if r.rd == reg {
                    r.rd_val
                } else {
                    also.unwrap_or(regs[reg as usize])
                }
            };
            let write2 = software.then(|| (11, after(11, regs)));
            self.out.push(Event {
                clk: i,
                pc: r.pc,
                reads,
                write,
                write2,
                mem_read,
                mem_read2,
                mem_write,
                next_pc: (r.inst.op == Op::Mret).then_some(r.next_pc),
            });
            if let Some(&(rd, _)) = write.as_ref() {
                regs[rd as usize] = after(rd, regs);
            }
            if let Some((rd, v)) = write2 {
                regs[rd as usize] = v;
            }
        }
        self.clk0 += t.rows.len() as u64;
        Ok(())
    }
}
