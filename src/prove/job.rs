//! Distributed proving: a run split into steps any scheduler can run (`docs/CONTINUATIONS.md`,
//! "Distributed proving").
//!
//! - [`plan_run`] runs the guest (once untraced for the statement, once traced a segment at a
//!   time for the transcript and the state at each boundary) and hands each segment to its
//!   caller; [`plan`] turns each into a self-contained [`SegmentJob`] and returns the
//!   [`StatementFile`], what [`join`] needs besides the segment proofs.
//! - [`prove_job`]: one job, alone, into one [`SegmentProofFile`]. The worker re-executes the
//!   guest untraced from the start to the segment's first cycle, checks it arrived at the
//!   job's start (cycle, pc, registers, and the start memory words against what the segment
//!   reads), traces the segment and proves it with [`super::prover::prove_piece`], the
//!   function `prove` uses for every segment.
//! - [`join`]: the statement and the segment proofs, in any order, into the [`ProofFile`]
//!   `verify` checks; it refuses foreign, duplicated or missing segments by name, verifies
//!   every segment along the chain and names the invalid ones.
//!
//! [`super::prove_with`] is [`plan_run`], [`super::prover::prove_piece`] on each segment as it
//! is traced, and [`join`]: one code path for one machine and for many.

use super::prover::{
    self, check_private, EventCollector, Progress, ProveError, ProveOptions, SegmentStats,
};
use super::segment::{self, SegmentMeta, SegmentProof, SegmentStart};
use super::statement::{self, Event, Public, Statement};
use super::{budget, witness, ProofFile, Stark};
use crate::elf::Image;
use crate::layout::Layout;
use crate::vm::trace::Trace;
use crate::vm::{Abi, RunConfig, Vm};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The magic of a statement file (`plan`'s `statement.bin`).
pub const STATEMENT_MAGIC: &[u8; 8] = b"NXRSTATE";
/// The magic of a segment job file (`plan`'s `segment-NNNNN.job`).
pub const JOB_MAGIC: &[u8; 8] = b"NXRJOB\0\0";
/// The magic of a segment proof file (`prove-segment`'s output).
pub const SEGMENT_MAGIC: &[u8; 8] = b"NXRSEGPF";
/// Version of the statement, job and segment proof formats (each file also states the proof
/// format [`super::VERSION`] its statement digest and STARK belong to).
pub const FORMAT_VERSION: u32 = 1;

/// Why a statement, job or segment proof file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Not a file of this kind, or of another format version (CLI exit 2).
    #[error("{0}")]
    Format(String),
    /// A file of this kind whose content cannot be decoded.
    #[error("the file is damaged: {0}")]
    Malformed(String),
}

/// What `join` needs besides the segment proofs: the run's public data with its whole
/// transcript, and how the run was split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementFile {
    pub public: Public,
    /// Segments in the chain.
    pub count: u64,
    /// Cycles per segment (the last one shorter).
    pub segment_cycles: u64,
}

/// One segment's work, self-contained: the program, the run's configuration, the statement
/// and this segment's part of the transcript, where the segment starts and the memory words
/// it touches with their values then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentJob {
    /// [`statement::statement_digest`] of the run's public data.
    pub statement_digest: [u8; 32],
    pub index: u64,
    pub count: u64,
    pub segment_cycles: u64,
    /// The guest ELF, whole (the worker loads it and discovers its proof layout).
    pub elf: Vec<u8>,
    /// The run's configuration: the ABI asked for, the input bytes, the cycle limit.
    pub abi: Option<Abi>,
    pub input: Vec<u8>,
    /// Nexus private input (a run that reads it is one segment; the job then holds it).
    pub private_input: Vec<u8>,
    pub max_cycles: u64,
    /// The statement (without the transcript).
    pub statement: Statement,
    /// The system calls in this segment's cycles (clocks counted from the run's start).
    pub events: Vec<Event>,
    /// The run's cycle the segment starts at, its cycles, and the pc and registers then.
    pub clk0: u64,
    pub cycles: u64,
    pub pc: u32,
    pub regs: [u32; 32],
    /// Every word the segment touches (word address = byte address / 4) and its value at the
    /// segment's start (little-endian); empty in the first segment, which starts from the
    /// image.
    pub memory: Vec<(u32, u32)>,
    /// [`budget::estimate_for_cpu_rows`] for this segment: what a scheduler should reserve.
    pub estimated_peak_bytes: u64,
}

/// One proven segment: which chain it belongs to, its meta and its STARK.
pub struct SegmentProofFile {
    pub statement_digest: [u8; 32],
    pub index: u64,
    pub count: u64,
    pub segment_cycles: u64,
    pub proof: SegmentProof,
}

/// A segment proof file whose header (chain identity, index, meta) reads but whose STARK does
/// not decode: [`join`] names it invalid by its index.
#[derive(Debug, Clone)]
pub struct DamagedSegment {
    pub statement_digest: [u8; 32],
    pub index: u64,
    pub count: u64,
    pub segment_cycles: u64,
    pub why: String,
}

/// A segment proof as [`join`] takes it: decoded, or damaged past its header.
pub type LoadedSegment = Result<SegmentProofFile, DamagedSegment>;

#[derive(Serialize, Deserialize)]
struct SegmentHeader {
    statement_digest: [u8; 32],
    index: u64,
    count: u64,
    segment_cycles: u64,
    zk: bool,
    meta: SegmentMeta,
}

/// `magic`, the format version, the proof version, then length-prefixed parts.
fn frame(magic: &[u8; 8], parts: &[&[u8]]) -> Vec<u8> {
    let mut out = magic.to_vec();
    out.extend(FORMAT_VERSION.to_le_bytes());
    out.extend(super::VERSION.to_le_bytes());
    for p in parts {
        out.extend((p.len() as u64).to_le_bytes());
        out.extend(*p);
    }
    out
}

fn unframe<'a>(
    b: &'a [u8],
    magic: &[u8; 8],
    what: &str,
    n: usize,
) -> Result<Vec<&'a [u8]>, FileError> {
    if b.len() < 16 || &b[..8] != magic {
        return Err(FileError::Format(format!("not a {what}")));
    }
    let v = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
    let pv = u32::from_le_bytes(b[12..16].try_into().expect("4 bytes"));
    if v != FORMAT_VERSION || pv != super::VERSION {
        return Err(FileError::Format(format!(
            "{what} of format version {v} (proof version {pv}); this build reads format version {FORMAT_VERSION} (proof version {}) only: plan again with this build",
            super::VERSION
        )));
    }
    let mut rest = &b[16..];
    let mut parts = Vec::with_capacity(n);
    for k in 0..n {
        if rest.len() < 8 {
            return Err(FileError::Malformed(format!("part {k} is truncated")));
        }
        let len = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
        if len > (rest.len() - 8) as u64 {
            return Err(FileError::Malformed(format!("part {k} is truncated")));
        }
        let (p, r) = rest[8..].split_at(len as usize);
        parts.push(p);
        rest = r;
    }
    if !rest.is_empty() {
        return Err(FileError::Malformed("trailing bytes".into()));
    }
    Ok(parts)
}

fn decode<T: serde::de::DeserializeOwned>(b: &[u8], what: &str) -> Result<T, FileError> {
    postcard::from_bytes(b).map_err(|e| {
        FileError::Malformed(format!(
            "{what} cannot be decoded: {}",
            crate::decode::postcard_in_words(&e)
        ))
    })
}

impl StatementFile {
    pub fn to_bytes(&self) -> Vec<u8> {
        frame(
            STATEMENT_MAGIC,
            &[&postcard::to_allocvec(self).expect("serialisable")],
        )
    }

    pub fn from_bytes(b: &[u8]) -> Result<StatementFile, FileError> {
        let parts = unframe(b, STATEMENT_MAGIC, "statement file", 1)?;
        decode(parts[0], "the statement")
    }
}

impl SegmentJob {
    pub fn to_bytes(&self) -> Vec<u8> {
        frame(
            JOB_MAGIC,
            &[&postcard::to_allocvec(self).expect("serialisable")],
        )
    }

    pub fn from_bytes(b: &[u8]) -> Result<SegmentJob, FileError> {
        let parts = unframe(b, JOB_MAGIC, "segment job file", 1)?;
        decode(parts[0], "the job")
    }
}

impl SegmentProofFile {
    /// The framing, then two parts: the header (chain identity, index, meta) and the STARK.
    pub fn to_bytes(&self) -> Vec<u8> {
        let h = SegmentHeader {
            statement_digest: self.statement_digest,
            index: self.index,
            count: self.count,
            segment_cycles: self.segment_cycles,
            zk: self.proof.proof.is_zk(),
            meta: self.proof.meta.clone(),
        };
        frame(
            SEGMENT_MAGIC,
            &[
                &postcard::to_allocvec(&h).expect("serialisable"),
                &self.proof.proof.to_bytes(),
            ],
        )
    }

    pub fn from_bytes(b: &[u8]) -> Result<SegmentProofFile, FileError> {
        Self::load(b)?.map_err(|d| FileError::Malformed(d.why))
    }

    /// Read a segment proof file for [`join`]: a file that is not one is an error; one whose
    /// STARK does not decode is a [`DamagedSegment`], named by its index.
    pub fn load(b: &[u8]) -> Result<LoadedSegment, FileError> {
        let parts = unframe(b, SEGMENT_MAGIC, "segment proof file", 2)?;
        let h: SegmentHeader = decode(parts[0], "the segment header")?;
        let proof = match Stark::from_bytes(parts[1], h.zk) {
            Ok(p) => p,
            Err(why) => {
                return Ok(Err(DamagedSegment {
                    statement_digest: h.statement_digest,
                    index: h.index,
                    count: h.count,
                    segment_cycles: h.segment_cycles,
                    why,
                }))
            }
        };
        Ok(Ok(SegmentProofFile {
            statement_digest: h.statement_digest,
            index: h.index,
            count: h.count,
            segment_cycles: h.segment_cycles,
            proof: SegmentProof {
                meta: h.meta,
                proof,
            },
        }))
    }
}

/// One segment as [`plan_run`] hands it over, traced, with everything needed to prove it.
pub struct PlannedSegment<'a> {
    /// The statement and the transcript up to the end of this segment.
    pub public: &'a Public,
    pub statement_digest: &'a [u8; 32],
    pub count: usize,
    pub segment_cycles: u64,
    pub start: &'a SegmentStart,
    /// The memory at the segment's start: the image and every word written before.
    pub memory: &'a BTreeMap<u32, [u8; 4]>,
    /// The segment's system calls (run clocks).
    pub events: &'a [Event],
    pub trace: &'a Trace,
}

/// What [`plan_run`] found: the statement file, the memory budget and the longest segment it
/// allows.
pub struct PlanSummary {
    pub statement: StatementFile,
    pub memory_budget: u64,
    pub max_cycles: u64,
}

/// The memory budget: an explicit one overrides what the system says is available, never the
/// address-space limit (past that, an allocation aborts the process).
pub(crate) fn memory_budget(memory: Option<u64>) -> u64 {
    memory
        .or_else(budget::available_memory)
        .unwrap_or(u64::MAX)
        .min(budget::address_space_left().unwrap_or(u64::MAX))
}

/// Run the guest and split the run into segments of `opts.segment_cycles` cycles, handing each
/// to `each` as soon as it is traced (its trace, start and memory then).
///
/// The guest runs twice: once untraced to learn the statement (outputs, exit code, cycles),
/// refusing before anything is proven a run that does not exit, a segment size the memory
/// budget does not allow ([`ProveError::TooLong`]) and a zero-knowledge proof of several
/// segments; then traced, one segment at a time, collecting the transcript (a run whose
/// private input falls in a chain of several segments is refused), the registers and the
/// memory at each boundary.
pub fn plan_run(
    img: &Image,
    layout: &Layout,
    cfg: RunConfig,
    opts: &ProveOptions,
    progress: &dyn Fn(Progress),
    each: &mut dyn FnMut(PlannedSegment<'_>) -> Result<(), ProveError>,
) -> Result<PlanSummary, ProveError> {
    let seg = opts.segment_cycles;
    if seg == 0 || seg > segment::MAX_SEGMENT_CYCLES {
        return Err(ProveError::Unprovable(format!(
            "a segment of {seg} cycles: segments hold 1 to {} cycles",
            segment::MAX_SEGMENT_CYCLES
        )));
    }
    let budget = memory_budget(opts.memory);
    let cap = budget::max_cycles_for(budget, opts.zk);
    progress(Progress::Stage("running the guest"));
    let mut public = prover::statement_run(img, layout, cfg.clone())?;
    public.statement.zk = opts.zk;
    let st = &public.statement;
    let count = st.cycles.div_ceil(seg).max(1) as usize;
    let longest = seg.min(st.cycles);
    if longest > cap {
        return Err(ProveError::TooLong {
            segment: longest,
            cap,
            budget,
        });
    }
    if count > 1 && st.zk {
        return Err(ProveError::Unprovable(format!(
            "a zero-knowledge proof of {} segments: the memory and registers at segment boundaries are stated in the proof, which would reveal them; a zero-knowledge proof is one segment (raise --segment-cycles to at least {}, or prove without --zk)",
            count, st.cycles
        )));
    }
    let digest = statement::statement_digest(&public);
    let mut memory = witness::public_tables(&public).image_words;
    let mut start = SegmentStart::whole_run(&public.statement);
    start.last = count == 1;
    let mut run = Vm::new(img, layout, {
        let mut c = cfg;
        c.stdin_passthrough = false;
        c
    })?
    .trace_segments();
    let mut events = EventCollector::new(&public.statement);
    for k in 0..count {
        progress(Progress::Segments {
            done: k,
            total: count,
        });
        let t = run
            .next_segment(seg)
            .ok_or_else(|| witness::WitnessError::Internal {
                cycle: start.clk0 as usize,
                what: "the traced run ended early".into(),
            })?;
        let known = events.out.len();
        events.add(&t)?;
        check_private(count, &events.out[known..], public.statement.cycles)?;
        public.events.extend_from_slice(&events.out[known..]);
        let n = t.rows.len() as u64;
        let next_pc = t.rows.last().map_or(start.pc, |r| r.next_pc);
        let writes: Vec<(u32, u8, u32)> = t
            .mem
            .iter()
            .filter(|a| a.write)
            .map(|a| (a.addr, a.width, a.value))
            .collect();
        each(PlannedSegment {
            public: &public,
            statement_digest: &digest,
            count,
            segment_cycles: seg,
            start: &start,
            memory: &memory,
            events: &public.events[known..],
            trace: &t,
        })?;
        // The next piece records into this one's buffers (no 40 MiB of new pages each time).
        run.recycle(t);
        for (addr, width, value) in writes {
            if width == 4 && addr % 4 == 0 {
                memory.insert(addr / 4, value.to_le_bytes());
                continue;
            }
            for i in 0..u32::from(width) {
                let a = addr.wrapping_add(i);
                memory.entry(a / 4).or_insert([0; 4])[(a % 4) as usize] = (value >> (8 * i)) as u8;
            }
        }
        let mut next = SegmentStart {
            index: k + 1,
            last: k + 2 == count,
            clk0: start.clk0 + n,
            pc: next_pc,
            regs: events.regs,
        };
        next.regs[0] = 0;
        start = next;
    }
    if start.clk0 != public.statement.cycles || run.next_segment(1).is_some() {
        return Err(witness::WitnessError::Internal {
            cycle: start.clk0 as usize,
            what: "the traced run differs from the first".into(),
        }
        .into());
    }
    statement::replay(&public).map_err(|e| {
        ProveError::Unprovable(format!("the run's system calls cannot be stated: {e}"))
    })?;
    progress(Progress::Segments {
        done: count,
        total: count,
    });
    Ok(PlanSummary {
        statement: StatementFile {
            public,
            count: count as u64,
            segment_cycles: seg,
        },
        memory_budget: budget,
        max_cycles: cap,
    })
}

/// The words a trace touches (word addresses), sorted.
fn touched_words(t: &Trace) -> BTreeSet<u32> {
    t.mem
        .iter()
        .flat_map(|a| (0..u32::from(a.width)).map(move |i| a.addr.wrapping_add(i) / 4))
        .collect()
}

/// Prover memory a segment of `cycles` cycles is estimated to need.
pub fn estimate_segment_bytes(st: &Statement, cycles: u64) -> u64 {
    let rows = witness::rows_for(st, cycles as usize + 1) as u64;
    budget::estimate_for_cpu_rows(rows, st.zk)
}

/// Plan a run as segment jobs: [`plan_run`], each segment made into a [`SegmentJob`] (with
/// `elf`, the bytes `img` was read from) and handed to `write`. Returns the statement file.
pub fn plan(
    elf: &[u8],
    img: &Image,
    layout: &Layout,
    cfg: RunConfig,
    opts: &ProveOptions,
    progress: &dyn Fn(Progress),
    write: &mut dyn FnMut(SegmentJob) -> Result<(), ProveError>,
) -> Result<PlanSummary, ProveError> {
    let run_cfg = cfg.clone();
    plan_run(img, layout, cfg, opts, progress, &mut |s| {
        let t = s.trace;
        let memory = if s.start.index == 0 {
            Vec::new()
        } else {
            touched_words(t)
                .into_iter()
                .map(|w| (w, s.memory.get(&w).map_or(0, |b| u32::from_le_bytes(*b))))
                .collect()
        };
        let cycles = t.rows.len() as u64;
        write(SegmentJob {
            statement_digest: *s.statement_digest,
            index: s.start.index as u64,
            count: s.count as u64,
            segment_cycles: s.segment_cycles,
            elf: elf.to_vec(),
            abi: run_cfg.abi,
            input: run_cfg.input.clone(),
            private_input: run_cfg.private_input.clone(),
            max_cycles: run_cfg.max_cycles,
            statement: s.public.statement.clone(),
            events: s.events.to_vec(),
            clk0: s.start.clk0,
            cycles,
            pc: s.start.pc,
            regs: s.start.regs,
            memory,
            estimated_peak_bytes: estimate_segment_bytes(&s.public.statement, cycles),
        })
    })
}

fn refuse(what: String) -> ProveError {
    ProveError::Job(what)
}

/// Prove one job: re-execute the guest untraced to the segment's first cycle, check the
/// state there is the job's (cycle, pc, registers; the start memory words against every read
/// of the segment), trace the segment and prove it ([`prover::prove_piece`]). `memory`: the
/// prover's memory budget (`None`: what the system says is available).
pub fn prove_job(
    job: &SegmentJob,
    memory: Option<u64>,
) -> Result<(SegmentProofFile, SegmentStats), ProveError> {
    let k = job.index;
    if job.count == 0 || k >= job.count || job.cycles == 0 || job.cycles > job.segment_cycles {
        return Err(refuse(format!(
            "segment {k} of {} with {} cycles of at most {}: not a segment of a chain",
            job.count, job.cycles, job.segment_cycles
        )));
    }
    let img = Image::parse(job.elf.clone())
        .map_err(|e| refuse(format!("its ELF cannot be read: {e}")))?;
    let layout = crate::layout::MemoryMap::discover(&img)
        .prove_layout()
        .map_err(|e| refuse(format!("its ELF has no proof layout: {e}")))?;
    let mut public = prover::public_from_elf(&img, &layout, job.abi)?;
    if public.statement.program_id() != job.statement.program_id() {
        return Err(refuse(format!(
            "its ELF is not the statement's program (program identity {} in the statement, {} from the ELF)",
            job.statement.program_id(),
            public.statement.program_id()
        )));
    }
    public.statement = job.statement.clone();
    public.events = job.events.clone();
    if statement::statement_digest(&public) != job.statement_digest {
        return Err(refuse(
            "its statement does not match the statement digest it states".into(),
        ));
    }
    let count = job.count as usize;
    let cfg = RunConfig {
        abi: job.abi,
        input: job.input.clone(),
        private_input: job.private_input.clone(),
        max_cycles: job.max_cycles,
        stdin_passthrough: false,
    };
    let mut vm = Vm::new(&img, &layout, cfg)?;
    // An odd address: never a pc, so this runs exactly `clk0` instructions unless the guest
    // stops before.
    vm.run_to(1, job.clk0);
    let mut run = vm.trace_segments();
    if run.cycles() != job.clk0 {
        return Err(refuse(format!(
            "segment {k} starts at cycle {}, but re-executing the guest stops at cycle {}",
            job.clk0,
            run.cycles()
        )));
    }
    let vm = run.vm_mut();
    if vm.pc() != job.pc {
        return Err(refuse(format!(
            "segment {k} starts at pc {:#x}, but re-executing the guest reaches pc {:#x} at cycle {}",
            job.pc,
            vm.pc(),
            job.clk0
        )));
    }
    if let Some(r) = (0..32u8).find(|&r| vm.reg(r) != job.regs[r as usize]) {
        return Err(refuse(format!(
            "segment {k} starts with x{r} = {:#x}, but re-executing the guest has x{r} = {:#x} at cycle {}",
            job.regs[r as usize],
            vm.reg(r),
            job.clk0
        )));
    }
    let t = run
        .next_segment(job.cycles)
        .filter(|t| t.rows.len() as u64 == job.cycles)
        .ok_or_else(|| {
            refuse(format!(
                "segment {k} has {} cycles, but the guest stops before",
                job.cycles
            ))
        })?;
    let pt = witness::public_tables(&public);
    let base: BTreeMap<u32, [u8; 4]> = if k == 0 {
        pt.image_words.clone()
    } else {
        check_start_memory(k, &job.memory, &t)?;
        job.memory
            .iter()
            .map(|&(w, v)| (w, v.to_le_bytes()))
            .collect()
    };
    let mut start = SegmentStart {
        index: k as usize,
        last: k + 1 == job.count,
        clk0: job.clk0,
        pc: job.pc,
        regs: job.regs,
    };
    start.regs[0] = 0;
    let piece = prover::prove_piece(
        &public,
        &pt,
        &job.statement_digest,
        count,
        &start,
        &base,
        &t,
        memory_budget(memory),
    )?;
    Ok((
        SegmentProofFile {
            statement_digest: job.statement_digest,
            index: k,
            count: job.count,
            segment_cycles: job.segment_cycles,
            proof: piece.proof,
        },
        piece.stats,
    ))
}

/// The job's start memory against the segment's trace: every word the segment touches is
/// listed, and every read returns what the listed values (and the segment's own writes
/// before it) say.
fn check_start_memory(k: u64, memory: &[(u32, u32)], t: &Trace) -> Result<(), ProveError> {
    let mut bytes: HashMap<u32, u8> = HashMap::new();
    let listed: BTreeSet<u32> = memory.iter().map(|&(w, _)| w).collect();
    for &(w, v) in memory {
        for (i, b) in v.to_le_bytes().into_iter().enumerate() {
            bytes.insert(w.wrapping_mul(4).wrapping_add(i as u32), b);
        }
    }
    if let Some(w) = touched_words(t).into_iter().find(|w| !listed.contains(w)) {
        return Err(refuse(format!(
            "segment {k} touches the word at {:#x}, which its start memory does not list",
            w.wrapping_mul(4)
        )));
    }
    for a in &t.mem {
        for i in 0..u32::from(a.width) {
            let addr = a.addr.wrapping_add(i);
            let b = (a.value >> (8 * i)) as u8;
            if a.write {
                bytes.insert(addr, b);
            } else {
                let have = bytes.get(&addr).copied().unwrap_or(0);
                if have != b {
                    return Err(refuse(format!(
                        "segment {k} starts with byte {have:#04x} at {addr:#x} (its start memory), but re-executing the guest reads {b:#04x} there"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Why [`join`] refused: a message, and the segments it is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{error}")]
pub struct JoinError {
    pub error: String,
    /// Indices no segment proof was given for.
    pub missing: Vec<u64>,
    /// Indices given more than once.
    pub duplicated: Vec<u64>,
    /// Indices whose proof does not verify.
    pub invalid: Vec<u64>,
    /// Segment proofs (their names as given) of another run, program or segment size.
    pub foreign: Vec<String>,
}

/// The statement and the segment proofs (each with a name for messages, e.g. its path), in
/// any order, into one proof file. Refuses foreign proofs (another statement, chain length or
/// segment size), duplicated and missing indices, then verifies every segment along the chain
/// and refuses when any is invalid, naming all of them. Nothing is returned unless the whole
/// proof verified.
pub fn join(
    sf: &StatementFile,
    segments: Vec<(String, LoadedSegment)>,
) -> Result<ProofFile, JoinError> {
    let digest = statement::statement_digest(&sf.public);
    let count = sf.count;
    let mut err = JoinError::default();
    let mut slots: Vec<Option<Result<SegmentProof, String>>> = (0..count).map(|_| None).collect();
    let mut dup = BTreeSet::new();
    for (name, s) in segments {
        let (sd, index, n, size) = match &s {
            Ok(s) => (s.statement_digest, s.index, s.count, s.segment_cycles),
            Err(d) => (d.statement_digest, d.index, d.count, d.segment_cycles),
        };
        let why = if sd != digest {
            Some("another statement (run or program)".to_string())
        } else if size != sf.segment_cycles {
            Some(format!(
                "segments of {size} cycles, this run's are {}",
                sf.segment_cycles
            ))
        } else if n != count || index >= count {
            Some(format!("segment {index} of {n}, this run has {count}"))
        } else {
            None
        };
        if let Some(why) = why {
            err.foreign.push(format!("{name} ({why})"));
            continue;
        }
        let slot = &mut slots[index as usize];
        if slot.is_some() {
            dup.insert(index);
        } else {
            *slot = Some(s.map(|s| s.proof).map_err(|d| d.why));
        }
    }
    err.duplicated = dup.into_iter().collect();
    err.missing = (0..count)
        .filter(|&k| slots[k as usize].is_none())
        .collect();
    let list = |v: &[u64]| {
        v.iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut said = Vec::new();
    if !err.foreign.is_empty() {
        said.push(format!(
            "foreign segment proof{}: {}",
            if err.foreign.len() == 1 { "" } else { "s" },
            err.foreign.join(", ")
        ));
    }
    if !err.duplicated.is_empty() {
        said.push(format!(
            "segment{} given more than once: {}",
            if err.duplicated.len() == 1 { "" } else { "s" },
            list(&err.duplicated)
        ));
    }
    if !err.missing.is_empty() {
        said.push(format!(
            "missing segment{} {} of {count}",
            if err.missing.len() == 1 { "" } else { "s" },
            list(&err.missing)
        ));
    }
    if !said.is_empty() {
        err.error = said.join("; ");
        return Err(err);
    }
    let mut reasons = Vec::new();
    for (k, s) in slots.iter().enumerate() {
        if let Some(Err(why)) = s {
            err.invalid.push(k as u64);
            reasons.push(format!("segment {k}: {why}"));
        }
    }
    if !err.invalid.is_empty() {
        err.error = format!(
            "invalid segment{} {} of {count}: {}",
            if err.invalid.len() == 1 { "" } else { "s" },
            list(&err.invalid),
            reasons.join("; ")
        );
        return Err(err);
    }
    let pf = ProofFile {
        public: sf.public.clone(),
        segments: slots
            .into_iter()
            .map(|s| s.expect("checked").expect("checked"))
            .collect(),
    };
    // Each segment's length: all but the last hold the segment size.
    let mut left = pf.public.statement.cycles;
    for (k, s) in pf.segments.iter().enumerate() {
        let want = left.min(sf.segment_cycles);
        left -= want;
        if u64::from(s.meta.cycles) != want {
            err.invalid.push(k as u64);
            reasons.push(format!(
                "segment {k} states {} cycles, not {want}",
                s.meta.cycles
            ));
        }
    }
    if left != 0 || (count as usize) != pf.segments.len() {
        err.error = format!(
            "the statement's {} cycles are not {count} segments of {}",
            pf.public.statement.cycles, sf.segment_cycles
        );
        return Err(err);
    }
    if err.invalid.is_empty() {
        match super::verifier::verify_segments(&pf) {
            Err(e) => {
                err.error = format!("the statement is rejected: {e}");
                return Err(err);
            }
            Ok(bad) => {
                for (k, e) in bad {
                    err.invalid.push(k as u64);
                    reasons.push(format!("segment {k}: {e}"));
                }
            }
        }
    }
    if !err.invalid.is_empty() {
        err.error = format!(
            "invalid segment{} {} of {count}: {}",
            if err.invalid.len() == 1 { "" } else { "s" },
            list(&err.invalid),
            reasons.join("; ")
        );
        return Err(err);
    }
    Ok(pf)
}
