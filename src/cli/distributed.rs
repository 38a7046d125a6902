//! `nexus-relink plan IN -d DIR`, `nexus-relink prove-segment JOB -o SEG` and
//! `nexus-relink join STATEMENT SEG... -o PROOF`: proving a run as steps any scheduler can run
//! (README "Distributed proving", `docs/CONTINUATIONS.md`).

use super::ExecArgs;
use nexus_relink::prove::job::{
    self, FileError, JoinError, LoadedSegment, SegmentJob, SegmentProofFile, StatementFile,
};
use nexus_relink::prove::{self, ProveOptions};
use nexus_relink::{elf::Image, escape, Error};
use std::path::{Path, PathBuf};

/// The exit codes of `plan`, `prove-segment` and `join`.
pub const EXIT_HELP_DIST: &str = "Exit codes:
  0  success
  1  usage error, refused run or job, rejected segments (join names the missing, duplicated,
     foreign or invalid ones; nothing is written), output path refused
  2  an input file is unreadable or not of the right kind (a job given to join, a segment
     proof given to prove-segment, ...), or of another format version";

#[derive(clap::Args, Debug)]
#[command(after_help = EXIT_HELP_DIST)]
pub struct PlanArgs {
    /// Guest ELF file.
    #[arg(value_name = "IN")]
    input_elf: PathBuf,
    /// Directory for statement.bin and the jobs segment-00000.job, segment-00001.job, ...
    /// (created if missing; jobs of an earlier plan there are replaced).
    #[arg(short = 'd', long = "dir", value_name = "DIR")]
    dir: PathBuf,
    #[command(flatten)]
    exec: ExecArgs,
    /// Cycles per segment, as for `prove` (1 to 2^25 - 1; K and M are powers of two).
    #[arg(long, value_name = "N", default_value = "1048575", value_parser = super::prove::parse_cycles, allow_negative_numbers = true)]
    segment_cycles: u64,
    /// Memory a worker may use (e.g. 8G): a segment size whose tables are estimated to need
    /// more is refused. Default: the memory this system reports available.
    #[arg(long, value_name = "SIZE", value_parser = nexus_relink::size::parse_size, allow_negative_numbers = true)]
    prover_memory: Option<u64>,
    /// Zero-knowledge proof (one segment only), as for `prove`. The default with
    /// --private-input.
    #[arg(long, conflicts_with = "no_zk")]
    zk: bool,
    /// No zero knowledge even with --private-input.
    #[arg(long)]
    no_zk: bool,
    /// Print the plan as one JSON object (docs/schema/plan.json): schema, segments, cycles,
    /// segment_cycles, program_id, statement, and per job its index, path, cycles,
    /// estimated_peak_bytes and bytes. On failure: the error object (docs/schema/error.json).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub verbosity: super::Verbosity,
}

#[derive(clap::Args, Debug)]
#[command(after_help = EXIT_HELP_DIST)]
pub struct ProveSegmentArgs {
    /// A segment job file written by `plan`.
    #[arg(value_name = "JOB")]
    job: PathBuf,
    /// Where to write the segment proof (written whole or not at all).
    #[arg(short = 'o', long = "output", value_name = "SEG")]
    output: PathBuf,
    /// Memory the prover may use (e.g. 8G); default: what the system reports available.
    #[arg(long, value_name = "SIZE", value_parser = nexus_relink::size::parse_size, allow_negative_numbers = true)]
    prover_memory: Option<u64>,
    /// Print the summary as one JSON object (docs/schema/prove-segment.json): schema, index,
    /// cycles, proof_bytes, seconds. On failure: the error object (docs/schema/error.json).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub verbosity: super::Verbosity,
}

#[derive(clap::Args, Debug)]
#[command(after_help = EXIT_HELP_DIST)]
pub struct JoinArgs {
    /// The statement file `plan` wrote (DIR/statement.bin).
    #[arg(value_name = "STATEMENT")]
    statement: PathBuf,
    /// The segment proofs, in any order (each file carries its index).
    #[arg(value_name = "SEG", required = true)]
    segments: Vec<PathBuf>,
    /// Where to write the proof (only when every segment and the chain verify).
    #[arg(short = 'o', long = "output", value_name = "PROOF")]
    output: PathBuf,
    /// Print one JSON object: on success (docs/schema/join.json) schema, proof, segments,
    /// proof_bytes, program_id; on failure the error object (docs/schema/error.json) with
    /// missing, duplicated, invalid and foreign segments.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub verbosity: super::Verbosity,
}

/// `plan --json` (`nexus-relink/plan/v1`).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanReport {
    /// `nexus-relink/plan/v1`.
    #[schemars(extend("const" = "nexus-relink/plan/v1"))]
    pub schema: String,
    pub segments: u64,
    pub cycles: u64,
    pub segment_cycles: u64,
    pub program_id: String,
    /// The statement file written (DIR/statement.bin).
    pub statement: String,
    pub jobs: Vec<PlannedJob>,
}

/// One job file `plan` wrote.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannedJob {
    pub index: u64,
    pub path: String,
    pub cycles: u64,
    pub estimated_peak_bytes: u64,
    /// The job file's size.
    pub bytes: u64,
}

/// `prove-segment --json` (`nexus-relink/prove-segment/v1`).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProveSegmentReport {
    /// `nexus-relink/prove-segment/v1`.
    #[schemars(extend("const" = "nexus-relink/prove-segment/v1"))]
    pub schema: String,
    pub index: u64,
    pub cycles: u64,
    pub proof_bytes: u64,
    pub seconds: f64,
}

/// `join --json` (`nexus-relink/join/v1`); a refusal is the error object with the segments
/// it refused (missing, duplicated, invalid, foreign).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinReport {
    /// `nexus-relink/join/v1`.
    #[schemars(extend("const" = "nexus-relink/join/v1"))]
    pub schema: String,
    /// The proof file written.
    pub proof: String,
    pub segments: u64,
    pub proof_bytes: u64,
    pub program_id: String,
}

/// What a file is, said for a refusal: this tool's own formats by their magic first.
fn kind_of(bytes: &[u8]) -> String {
    if bytes.starts_with(job::JOB_MAGIC) {
        "a segment job file (plan's segment-NNNNN.job)".into()
    } else if bytes.starts_with(job::SEGMENT_MAGIC) {
        "a segment proof file (prove-segment's output)".into()
    } else if bytes.starts_with(job::STATEMENT_MAGIC) {
        "a statement file (plan's statement.bin)".into()
    } else {
        nexus_relink::elf::FileKind::of(bytes).to_string()
    }
}

/// Read a file that must start with `magic`; anything else is an input error (exit 2) that
/// says what the file is and what to give instead.
fn read_kind(path: &Path, magic: &[u8; 8], want: &str, next: &str) -> Result<Vec<u8>, Error> {
    let bytes = nexus_relink::read_input(path, None)?;
    if !bytes.starts_with(magic) {
        return Err(Error::input(
            None,
            path,
            format!("{}, not {want}; {next}", kind_of(&bytes)),
        ));
    }
    Ok(bytes)
}

/// A file error: of another format (exit 2) or damaged (exit 1), said of its file.
fn file_error(path: &Path, e: FileError) -> Error {
    match e {
        FileError::Format(m) => Error::input(None, path, m),
        FileError::Malformed(m) => {
            Error::Usage(format!("{}: the file is damaged: {m}", escape::path(path)))
        }
    }
}

/// `DIR/segment-NNNNN.job`.
fn job_path(dir: &Path, k: u64) -> PathBuf {
    dir.join(format!("segment-{k:05}.job"))
}

pub fn plan_main(a: PlanArgs) -> i32 {
    let go = || -> Result<(), Error> {
        let img = Image::read(&a.input_elf)?;
        let elf = nexus_relink::read_input(&a.input_elf, None)?;
        let layout = nexus_relink::layout::MemoryMap::discover(&img).prove_layout()?;
        let cfg = a.exec.config()?;
        let opts = ProveOptions {
            segment_cycles: a.segment_cycles,
            memory: a.prover_memory,
            zk: a.zk || (a.exec.private_input.is_some() && !a.no_zk),
        };
        std::fs::create_dir_all(&a.dir).map_err(|e| Error::Write {
            path: escape::path(&a.dir),
            source: e,
        })?;
        // Jobs of an earlier plan in DIR would be taken for this one's.
        if let Ok(rd) = std::fs::read_dir(&a.dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let stale = name.len() == "segment-00000.job".len()
                    && name.starts_with("segment-")
                    && name.ends_with(".job")
                    && name[8..13].bytes().all(|b| b.is_ascii_digit());
                if stale {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let mut jobs = Vec::new();
        let mut write_error = None;
        let planned = job::plan(&elf, &img, &layout, cfg, &opts, &|_| {}, &mut |j| {
            let path = job_path(&a.dir, j.index);
            let bytes = j.to_bytes();
            if let Err(e) = nexus_relink::relink::write_atomic(&path, &bytes, None) {
                let said = e.to_string();
                write_error = Some(e);
                return Err(prove::ProveError::Backend(said));
            }
            jobs.push(PlannedJob {
                index: j.index,
                path: path.display().to_string(),
                cycles: j.cycles,
                estimated_peak_bytes: j.estimated_peak_bytes,
                bytes: bytes.len() as u64,
            });
            Ok(())
        });
        if let Some(e) = write_error {
            return Err(e);
        }
        let summary = planned?;
        let sf = &summary.statement;
        let statement = a.dir.join("statement.bin");
        nexus_relink::relink::write_atomic(&statement, &sf.to_bytes(), None)?;
        let st = &sf.public.statement;
        if a.json {
            super::json::emit(&PlanReport {
                schema: super::json::id("plan"),
                segments: sf.count,
                cycles: st.cycles,
                segment_cycles: sf.segment_cycles,
                program_id: st.program_id(),
                statement: statement.display().to_string(),
                jobs,
            });
        } else if !super::quiet() {
            let total: u64 = jobs.iter().map(|j| j.bytes).sum();
            eprintln!(
                "nexus-relink: planned {} cycles as {} segment{} of {} cycles: wrote {} and {} job{} ({} bytes); prove each with `nexus-relink prove-segment JOB -o SEG`, then `nexus-relink join {} SEG... -o PROOF`",
                st.cycles,
                sf.count,
                if sf.count == 1 { "" } else { "s" },
                sf.segment_cycles,
                escape::path(&statement),
                jobs.len(),
                if jobs.len() == 1 { "" } else { "s" },
                total,
                escape::path(&statement),
            );
        }
        Ok(())
    };
    match go() {
        Ok(()) => 0,
        Err(e) => {
            let e = e.about(&a.input_elf);
            super::json::fail("plan", a.json, &e, e.exit_code())
        }
    }
}

pub fn prove_segment_main(a: ProveSegmentArgs) -> i32 {
    let go = || -> Result<(), Error> {
        let bytes = read_kind(
            &a.job,
            job::JOB_MAGIC,
            "a segment job file",
            "give one of the segment-NNNNN.job files `nexus-relink plan` wrote",
        )?;
        let j = SegmentJob::from_bytes(&bytes).map_err(|e| file_error(&a.job, e))?;
        nexus_relink::output::check_output(&a.output)?;
        let start = std::time::Instant::now();
        let (sp, _) =
            job::prove_job(&j, a.prover_memory).map_err(|e| Error::from(e).about(&a.job))?;
        let out = sp.to_bytes();
        nexus_relink::relink::write_atomic(&a.output, &out, None)?;
        let secs = start.elapsed().as_secs_f64();
        if a.json {
            super::json::emit(&ProveSegmentReport {
                schema: super::json::id("prove-segment"),
                index: j.index,
                cycles: j.cycles,
                proof_bytes: out.len() as u64,
                seconds: secs,
            });
        } else if !super::quiet() {
            eprintln!(
                "nexus-relink: proved segment {} of {} ({} cycles) in {secs:.2} s, {} bytes; wrote {}",
                j.index,
                j.count,
                j.cycles,
                out.len(),
                escape::path(&a.output)
            );
        }
        Ok(())
    };
    match go() {
        Ok(()) => 0,
        Err(e) => super::json::fail("prove-segment", a.json, &e, e.exit_code()),
    }
}

pub fn join_main(a: JoinArgs) -> i32 {
    let go = || -> Result<Result<(prove::ProofFile, usize), JoinError>, Error> {
        let bytes = read_kind(
            &a.statement,
            job::STATEMENT_MAGIC,
            "a statement file",
            "the first argument of join is the statement.bin `nexus-relink plan` wrote",
        )?;
        let sf = StatementFile::from_bytes(&bytes).map_err(|e| file_error(&a.statement, e))?;
        let mut segs: Vec<(String, LoadedSegment)> = Vec::new();
        for p in &a.segments {
            let next = if std::fs::read(p).is_ok_and(|b| b.starts_with(job::JOB_MAGIC)) {
                "prove it first: nexus-relink prove-segment JOB -o SEG"
            } else {
                "give the files `nexus-relink prove-segment` wrote"
            };
            let b = read_kind(p, job::SEGMENT_MAGIC, "a segment proof file", next)?;
            let s = SegmentProofFile::load(&b).map_err(|e| file_error(p, e))?;
            segs.push((escape::path(p), s));
        }
        nexus_relink::output::check_output(&a.output)?;
        let pf = match job::join(&sf, segs) {
            Ok(pf) => pf,
            Err(e) => return Ok(Err(e)),
        };
        let out = pf.to_bytes();
        nexus_relink::relink::write_atomic(&a.output, &out, None)?;
        Ok(Ok((pf, out.len())))
    };
    match go() {
        Ok(Ok((pf, n))) => {
            let st = &pf.public.statement;
            if a.json {
                super::json::emit(&JoinReport {
                    schema: super::json::id("join"),
                    proof: a.output.display().to_string(),
                    segments: pf.segments.len() as u64,
                    proof_bytes: n as u64,
                    program_id: st.program_id(),
                });
            } else if !super::quiet() {
                eprintln!(
                    "nexus-relink: joined and verified {} segment{} ({} cycles, program identity {}), proof {n} bytes; wrote {}",
                    pf.segments.len(),
                    if pf.segments.len() == 1 { "" } else { "s" },
                    st.cycles,
                    st.program_id(),
                    escape::path(&a.output)
                );
            }
            0
        }
        Ok(Err(e)) => {
            if a.json {
                let JoinError {
                    error,
                    missing,
                    duplicated,
                    invalid,
                    foreign,
                } = e.clone();
                super::json::emit(&super::json::ErrorReport {
                    missing: Some(missing),
                    duplicated: Some(duplicated),
                    invalid: Some(invalid),
                    foreign: Some(foreign),
                    ..super::json::ErrorReport::message("join", error, 1)
                });
            }
            eprintln!(
                "nexus-relink: error: {}: {}; nothing written",
                escape::path(&a.statement),
                e.error
            );
            1
        }
        Err(e) => super::json::fail("join", a.json, &e, e.exit_code()),
    }
}
