//! `nexus-relink prove IN -o PROOF` and `nexus-relink verify PROOF [--elf IN]`.

use super::{peak_rss, ExecArgs};
use nexus_relink::prove::{self, ProofFile, Statement};
use nexus_relink::{elf::Image, Error};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(after_help = super::EXIT_HELP_COMMON)]
pub struct ProveArgs {
    /// Guest ELF file.
    #[arg(value_name = "IN")]
    input_elf: PathBuf,
    /// Where to write the proof (written whole or not at all).
    #[arg(short = 'o', long = "output", value_name = "PROOF")]
    output: PathBuf,
    #[command(flatten)]
    exec: ExecArgs,
    /// Cycles per segment: the run is proven as a chain of segments of this many cycles (the
    /// last one shorter), one at a time, so the prover's memory is that of one segment
    /// whatever the run's length. Any number from 1 to 2^25 - 1 (K and M are powers of two).
    /// A segment's CPU table has one row more than its cycles, rounded up to a power of two:
    /// 2^k - 1 cycles fill 2^k rows, 2^k cycles take twice the time and memory. The default
    /// 1048575 (2^20 - 1) needs about 3.7 GiB. A zero-knowledge proof is one segment.
    #[arg(long, value_name = "N", default_value = "1048575", value_parser = parse_cycles, allow_negative_numbers = true)]
    segment_cycles: u64,
    /// Memory the prover may use (e.g. 8G). A segment size whose tables are estimated to need
    /// more is refused before proving. Default: the memory the system reports available
    /// (MemAvailable, or a cgroup limit).
    #[arg(long, value_name = "SIZE", value_parser = nexus_relink::size::parse_size, allow_negative_numbers = true)]
    prover_memory: Option<u64>,
    /// Zero-knowledge proof: hiding commitments (salted Merkle trees, masked traces and
    /// quotient) hide the private input and every value of the execution; the statement
    /// (exit code, public input and outputs, cycle count, layout, program) stays public.
    /// About 4× the proving time and memory and twice the proof size (docs/ZK.md); one
    /// segment. The default when --private-input is given.
    #[arg(long, conflicts_with = "no_zk")]
    zk: bool,
    /// No zero knowledge even with --private-input (a smaller, faster, deterministic proof that does
    /// not hide the private input).
    #[arg(long)]
    no_zk: bool,
    /// Print the summary as one JSON object (docs/schema/prove.json); on failure the error
    /// object (docs/schema/error.json).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub verbosity: super::Verbosity,
}

#[derive(clap::Args, Debug)]
#[command(after_help = super::EXIT_HELP_VERIFY)]
pub struct VerifyArgs {
    /// Proof file written by `prove`.
    proof: PathBuf,
    /// Also check that the proof is about this ELF: its image, entry and memory layout
    /// (memory limit, stack and heap) must be the ones the proof states.
    #[arg(long, value_name = "IN")]
    elf: Option<PathBuf>,
    /// Print the verified statement as one JSON object (docs/schema/verify.json); on a
    /// rejection or failure the error object (docs/schema/error.json).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub verbosity: super::Verbosity,
}

/// `prove --json` (`nexus-relink/prove/v1`).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProveReport {
    /// `nexus-relink/prove/v1`.
    #[schemars(extend("const" = "nexus-relink/prove/v1"))]
    pub schema: String,
    /// The proof file written.
    pub proof: String,
    pub cycles: u64,
    /// Wall time of the whole command.
    pub seconds: f64,
    /// Time in the STARK prover (all segments).
    pub prove_seconds: f64,
    /// Cycles per second / 1000, over `seconds`.
    pub khz: f64,
    pub proof_bytes: u64,
    pub peak_rss_bytes: u64,
    pub estimated_peak_bytes: u64,
    pub memory_budget_bytes: u64,
    pub max_cycles_per_segment: u64,
    pub segment_cycles: u64,
    pub segments: u64,
    /// Per segment: cycles, trace_seconds, prove_seconds, proof_bytes.
    pub per_segment: Vec<nexus_relink::prove::SegmentStats>,
    /// Rows of each table (the largest over the segments), by table name.
    pub table_rows: std::collections::BTreeMap<String, u64>,
    pub program_id: String,
    /// The memory top the proof states.
    pub memlimit: u64,
    pub exit_code: i32,
    pub zk: bool,
}

/// `verify --json` (`nexus-relink/verify/v1`): the verified statement.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyReport {
    /// `nexus-relink/verify/v1`.
    #[schemars(extend("const" = "nexus-relink/verify/v1"))]
    pub schema: String,
    /// Always true: a rejected proof gives the error object instead.
    pub valid: bool,
    pub program_id: String,
    pub segments: u64,
    /// The ABI (nexus, linux-rv32, ...).
    pub abi: String,
    /// SHA-256 of the loaded image, hex.
    pub image_digest: String,
    pub entry: u32,
    /// The memory top.
    pub memlimit: u64,
    pub image_start: u32,
    pub image_end: u32,
    pub stack_bottom: u32,
    pub stack_top: u32,
    pub heap_start: u32,
    pub heap_end: u32,
    pub shared: bool,
    pub brk: u32,
    pub initial_sp: u32,
    /// The two allowed address ranges [start, end).
    pub regions: [(u64, u64); 2],
    pub tohost: Option<u32>,
    pub zk: bool,
    pub cycles: u64,
    pub exit_code: i32,
    /// The run ended with the HTIF exit (a `sw` of `(exit_code << 1) | 1` to `tohost`), not an
    /// exit system call.
    pub htif_exit: bool,
    /// The instruction words the run wrote (self-modifying code), byte addresses: writable in
    /// the proof, every instruction there fetched from memory.
    pub code_written: Vec<u32>,
    /// The input bytes the run read: a stream's bytes consumed (linux-rv32, RISC Zero), a
    /// Nexus tape up to its highest word read, the SP1 hint frames the guest saw.
    pub public_input_hex: String,
    /// The input's length: more than the bytes stated only for a Nexus input tape.
    pub input_len: u64,
    /// Where the input is placed in memory before the run (Ceno's hints region), if it is.
    pub input_at: Option<u32>,
    /// The proven standard output as text (invalid UTF-8 replaced).
    pub stdout: String,
    pub stdout_hex: String,
    /// The proven standard error as text (invalid UTF-8 replaced).
    pub stderr: String,
    pub stderr_hex: String,
    pub public_output_hex: String,
}

impl VerifyReport {
    fn new(st: &Statement, segments: usize) -> VerifyReport {
        use super::json::{hex, text};
        VerifyReport {
            schema: super::json::id("verify"),
            valid: true,
            program_id: st.program_id(),
            segments: segments as u64,
            abi: st.abi.name().to_string(),
            image_digest: st.image_digest.clone(),
            entry: st.entry,
            memlimit: st.memlimit,
            image_start: st.image_start,
            image_end: st.image_end,
            stack_bottom: st.stack_bottom,
            stack_top: st.stack_top,
            heap_start: st.heap_start,
            heap_end: st.heap_end,
            shared: st.shared,
            brk: st.brk,
            initial_sp: st.initial_sp,
            regions: st.regions,
            tohost: st.tohost,
            zk: st.zk,
            cycles: st.cycles,
            exit_code: st.exit_code,
            htif_exit: st.htif_exit,
            code_written: st.code_written.clone(),
            public_input_hex: hex(&st.public_input),
            input_len: st.input_len,
            input_at: st.input_at,
            stdout: text(&st.stdout),
            stdout_hex: hex(&st.stdout),
            stderr: text(&st.stderr),
            stderr_hex: hex(&st.stderr),
            public_output_hex: hex(&st.public_output),
        }
    }
}

/// The bar over the segments: `[00:00:12] ████░░ segment 2 of 4: quotient (eta 25s)`. The
/// stage is read at each redraw ([`prove::stage::current`]).
fn segment_style() -> indicatif::ProgressStyle {
    use indicatif::ProgressState;
    use std::fmt::Write;
    indicatif::ProgressStyle::with_template(
        "[{elapsed_precise}] {bar:30} segment {segment}: {stage}{left} {msg}",
    )
    .expect("valid template")
    .with_key("segment", |s: &ProgressState, w: &mut dyn Write| {
        let len = s.len().unwrap_or(0);
        let _ = write!(w, "{} of {len}", (s.pos() + 1).min(len));
    })
    .with_key("stage", |_: &ProgressState, w: &mut dyn Write| {
        let _ = w.write_str(prove::stage::current().map_or("", |s| s.name()));
    })
    .with_key("left", |s: &ProgressState, w: &mut dyn Write| {
        // No estimate before a segment is done: it would say 0 s for the whole first one.
        if s.pos() > 0 {
            let _ = write!(w, " (eta {}s)", s.eta().as_secs());
        }
    })
}

/// A cycle count: a number, or with K/M/G (powers of two), at least 1.
pub(super) fn parse_cycles(s: &str) -> Result<u64, String> {
    if s.trim().starts_with('-') {
        return Err(format!(
            "invalid cycle count '{s}': it cannot be negative (a segment holds 1 to {} cycles)",
            nexus_relink::prove::segment::MAX_SEGMENT_CYCLES
        ));
    }
    let n = nexus_relink::size::parse_size(s).map_err(|_| {
        format!("invalid cycle count '{s}': expected a number with an optional K/M suffix (e.g. 4096, 64K, 1M)")
    })?;
    if n == 0 || n > nexus_relink::prove::segment::MAX_SEGMENT_CYCLES {
        return Err(format!(
            "{s}: a segment holds 1 to {} cycles",
            nexus_relink::prove::segment::MAX_SEGMENT_CYCLES
        ));
    }
    Ok(n)
}

use super::json::hex;

pub fn prove_main(a: ProveArgs) -> i32 {
    let go = || -> Result<(), Error> {
        let same = match (a.output.canonicalize(), a.input_elf.canonicalize()) {
            (Ok(x), Ok(y)) => x == y,
            _ => a.output == a.input_elf,
        };
        if same {
            return Err(Error::Usage(
                "the proof would overwrite the input ELF".into(),
            ));
        }
        // Before proving (minutes): a path that is not a regular file is refused, untouched.
        nexus_relink::output::check_output(&a.output)?;
        let img = Image::read(&a.input_elf)?;
        let layout = nexus_relink::layout::MemoryMap::discover(&img).prove_layout()?;
        let cfg = a.exec.config()?;
        let n = a.segment_cycles;
        if n.is_power_of_two() && n >= 1024 && !super::quiet() && !a.json {
            eprintln!(
                "nexus-relink: note: a segment of {n} cycles has a CPU table of 2^{} rows (one padding row follows the last cycle); --segment-cycles {} fills 2^{} rows in half the time and memory",
                n.trailing_zeros() + 1,
                n - 1,
                n.trailing_zeros()
            );
        }
        let bar = if !super::show_progress() || a.json {
            indicatif::ProgressBar::hidden()
        } else {
            let b = indicatif::ProgressBar::new_spinner();
            b.set_style(
                indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                    .expect("valid template"),
            );
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b
        };
        let hidden = bar.is_hidden();
        if !hidden {
            // The stages inside Plonky3's prover (quotient, FRI/open).
            prove::stage::watch();
        }
        // Over the segments: a bar with the segment being proven, its stage, and once one
        // segment is done an estimate of the time left.
        let started = std::time::Instant::now();
        let on_segments = |done: usize, total: usize| {
            if super::verbose() && done > 0 && !a.json {
                bar.suspend(|| {
                    eprintln!(
                        "nexus-relink: segment {done} of {total} proven ({:.1} s in all)",
                        started.elapsed().as_secs_f64()
                    )
                });
            }
            if hidden {
                return;
            }
            if bar.length() != Some(total as u64) {
                bar.set_length(total as u64);
                bar.set_style(segment_style());
                bar.set_message("");
            }
            bar.set_position(done as u64);
        };
        let start = std::time::Instant::now();
        let opts = prove::ProveOptions {
            memory: a.prover_memory,
            // A private input is meant to stay private: zero knowledge unless refused.
            zk: a.zk || (a.exec.private_input.is_some() && !a.no_zk),
            segment_cycles: a.segment_cycles,
        };
        let (pf, stats) = prove::prove_with(&img, &layout, cfg, &opts, &|m| match m {
            prove::Progress::Stage(s) => bar.set_message(s.to_string()),
            prove::Progress::Segments { done, total } => on_segments(done, total),
        })?;
        bar.set_message("writing the proof");
        let bytes = pf.to_bytes();
        nexus_relink::relink::write_atomic(&a.output, &bytes, None)?;
        bar.finish_and_clear();
        let secs = start.elapsed().as_secs_f64();
        let st = &pf.public.statement;
        let khz = stats.cycles as f64 / secs.max(1e-9) / 1e3;
        let peak = peak_rss().unwrap_or(0);
        if a.json {
            super::json::emit(&ProveReport {
                schema: super::json::id("prove"),
                proof: a.output.display().to_string(),
                cycles: stats.cycles,
                seconds: secs,
                prove_seconds: stats.prove_seconds,
                khz,
                proof_bytes: bytes.len() as u64,
                peak_rss_bytes: peak,
                estimated_peak_bytes: stats.estimated_peak_bytes,
                memory_budget_bytes: stats.memory_budget,
                max_cycles_per_segment: stats.max_cycles,
                segment_cycles: stats.segment_cycles,
                segments: stats.segments.len() as u64,
                per_segment: stats.segments.clone(),
                table_rows: nexus_relink::prove::air::TABLE_NAMES
                    .iter()
                    .zip(&stats.heights)
                    .map(|(n, h)| (n.to_string(), *h as u64))
                    .collect(),
                program_id: st.program_id(),
                memlimit: st.memlimit,
                exit_code: st.exit_code,
                zk: st.zk,
            });
        } else if !super::quiet() {
            eprintln!(
                "nexus-relink: proved {} cycles in {} segment{} in {:.2} s ({:.1} kHz; trace {:.2} s, STARK {:.2} s), proof {} bytes, peak memory {:.0} MiB, zero-knowledge: {}",
                stats.cycles,
                stats.segments.len(),
                if stats.segments.len() == 1 { "" } else { "s" },
                secs,
                khz,
                stats.trace_seconds,
                stats.prove_seconds,
                bytes.len(),
                peak as f64 / (1 << 20) as f64,
                prove::yes_no(st.zk)
            );
            eprintln!(
                "nexus-relink: statement: program identity {}, memory limit {:#x}, exit code {}, {} bytes of output; wrote {}",
                st.program_id(),
                st.memlimit,
                st.exit_code,
                st.stdout.len() + st.public_output.len(),
                nexus_relink::escape::path(&a.output)
            );
        }
        Ok(())
    };
    match go() {
        Ok(()) => 0,
        // Whatever went wrong after the input was read is said of it.
        Err(e) => {
            let e = e.about(&a.input_elf);
            super::json::fail("prove", a.json, &e, e.exit_code())
        }
    }
}

/// The human summary of a verified statement: the program identity first (the one value to
/// compare when the ELF is not at hand), then every field.
fn print_statement(st: &Statement, segments: usize, secs: f64, with_elf: bool) {
    let say = |s: String| eprintln!("nexus-relink: {s}");
    say(format!(
        "valid proof ({:.0} ms, {segments} segment{}), program identity {}",
        secs * 1e3,
        if segments == 1 { "" } else { "s" },
        st.program_id()
    ));
    say(if with_elf {
        "the identity is the ELF's: the proof is about that program and layout".into()
    } else {
        "without --elf, compare that identity with the one `nexus-relink inspect ELF` prints for the program you expect: it covers the image, entry, code, tohost, ABI and the whole layout below".into()
    });
    say(format!(
        "program: {} abi, image sha256 {}, entry {:#x}, tohost {}",
        st.abi.name(),
        st.image_digest,
        st.entry,
        st.tohost.map_or("none".into(), |t| format!("{t:#x}"))
    ));
    let [(s0, e0), (s1, e1)] = st.regions;
    say(format!(
        "memory: limit {:#x}, regions [{s0:#x}, {e0:#x}) and [{s1:#x}, {e1:#x}){}, image {:#x}..{:#x}, heap {:#x}..{:#x}, stack {:#x}..{:#x}, initial break {:#x}, initial sp {:#x}",
        st.memlimit,
        if st.shared { " (heap and stack shared)" } else { "" },
        st.image_start,
        st.image_end,
        st.heap_start,
        st.heap_end,
        st.stack_bottom,
        st.stack_top,
        st.brk,
        st.initial_sp
    ));
    say(format!(
        "run: {} cycles, exit code {}{}, public input {}, stdout {} bytes, stderr {} bytes, public output {}, zero-knowledge: {}{}",
        st.cycles,
        st.exit_code,
        if st.htif_exit {
            " (HTIF exit: the last instruction stored (code << 1) | 1 to tohost)"
        } else {
            ""
        },
        if let Some(at) = st.input_at.filter(|_| !st.public_input.is_empty()) {
            format!("{} bytes placed in memory at {at:#x}", st.input_len)
        } else if st.input_len == st.public_input.len() as u64 {
            format!("{} bytes", st.input_len)
        } else {
            format!(
                "{} bytes (the first {} stated: the run read no further)",
                st.input_len,
                st.public_input.len()
            )
        },
        st.stdout.len(),
        st.stderr.len(),
        if st.public_output.is_empty() {
            "none".to_string()
        } else {
            hex(&st.public_output)
        },
        prove::yes_no(st.zk),
        written_code(&st.code_written)
    ));
}

/// The summary's note on self-modifying code: the instruction words the run wrote.
fn written_code(words: &[u32]) -> String {
    if words.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = words.iter().take(4).map(|a| format!("{a:#x}")).collect();
    let more = if words.len() > 4 {
        format!(" and {} more", words.len() - 4)
    } else {
        String::new()
    };
    format!(
        ", instruction words written (self-modifying code): {}{more}",
        shown.join(", ")
    )
}

/// Exit code of `verify` when the proof file is unreadable or not a proof file.
const EXIT_NOT_A_PROOF: i32 = 2;

/// Read the proof file: unreadable, or anything but a proof file of this format, is
/// [`EXIT_NOT_A_PROOF`], said of the file with what it is instead.
fn read_proof(path: &std::path::Path) -> Result<ProofFile, Error> {
    use nexus_relink::elf::FileKind;
    let bytes = nexus_relink::read_input(path, None)?;
    let kind = FileKind::of(&bytes);
    if kind != FileKind::Proof {
        let next = match &kind {
            FileKind::Elf(e) if e.is_rv32() => format!(
                "to prove this guest: nexus-relink prove {} -o PROOF; to check a proof against it: nexus-relink verify PROOF --elf {0}",
                nexus_relink::escape::path(path)
            ),
            _ => "give the file `nexus-relink prove ... -o PROOF` wrote".into(),
        };
        return Err(Error::input(
            None,
            path,
            format!("{kind}, not a proof file; {next}"),
        ));
    }
    ProofFile::from_bytes(&bytes).map_err(|e| match e {
        prove::VerifyError::Format(m) => Error::input(None, path, format!("not a proof file: {m}")),
        e => Error::from(e).about(path),
    })
}

/// Read `--elf`: a proof file given there is named as one (the two files swapped).
fn read_elf(path: &std::path::Path) -> Result<Image, Error> {
    use nexus_relink::elf::FileKind;
    let bytes = nexus_relink::read_input(path, Some("--elf"))?;
    let kind = FileKind::of(&bytes);
    if kind == FileKind::Proof {
        return Err(Error::input(
            Some("--elf"),
            path,
            "a nexus-relink proof file, not a guest ELF; --elf takes the guest ELF the proof is about (the IN of `prove`)".into(),
        ));
    }
    Image::parse(bytes).map_err(|e| Error::input(Some("--elf"), path, kind.not_a_guest(&e)))
}

pub fn verify_main(a: VerifyArgs) -> i32 {
    // Exit codes (`verify --help`): 0 valid; 1 rejected, or --elf unusable; 2 PROOF unreadable
    // or not a proof file.
    let code = |e: &Error| match e.inner() {
        Error::Input { arg: None, .. } => EXIT_NOT_A_PROOF,
        _ => 1,
    };
    let go = || -> Result<(Statement, usize, f64), Error> {
        let pf = read_proof(&a.proof)?;
        let start = std::time::Instant::now();
        let st = match &a.elf {
            Some(p) => {
                let img = read_elf(p)?;
                let layout = nexus_relink::layout::MemoryMap::discover(&img)
                    .prove_layout()
                    .map_err(|e| Error::from(e).about(p))?;
                prove::verify(&pf, Some((&img, &layout)))
                    .map_err(|e| Error::from(e).about(&a.proof))?
            }
            None => prove::verify(&pf, None).map_err(|e| Error::from(e).about(&a.proof))?,
        };
        Ok((st, pf.segments.len(), start.elapsed().as_secs_f64()))
    };
    match go() {
        Ok((st, segments, secs)) => {
            if a.json {
                super::json::emit(&VerifyReport::new(&st, segments));
            } else {
                if !super::quiet() {
                    print_statement(&st, segments, secs, a.elf.is_some());
                }
                use std::io::Write;
                let _ = std::io::stdout().lock().write_all(&st.stdout);
            }
            0
        }
        Err(e) => super::json::fail("verify", a.json, &e, code(&e)),
    }
}
