//! `nexus-relink run IN`: execute a guest, its stdout to stdout, a summary to stderr, and the
//! guest's exit code as ours. The tool's own outcomes use codes 124-127, as `timeout` and
//! `env` do, so that a script can tell them from the guest's exit (README, "Exit codes").

use super::{ExecArgs, EXIT_HELP};
use nexus_relink::{
    elf::Image,
    layout::{MemoryBase, MemoryMap},
    vm::Vm,
};
use std::io::Write;
use std::path::PathBuf;

/// The cycle limit was reached.
pub const EXIT_CYCLE_LIMIT: i32 = 124;
/// nexus-relink itself failed: usage error, unreadable or invalid ELF, input, I/O.
pub const EXIT_TOOL: i32 = 125;
/// The guest cannot be started: its layout or segments are refused.
pub const EXIT_CANNOT_START: i32 = 126;
/// The guest faulted: illegal instruction, memory fault, unsupported system call or
/// unknown convention.
pub const EXIT_FAULT: i32 = 127;

#[derive(clap::Args, Debug)]
#[command(after_help = EXIT_HELP)]
pub struct Args {
    /// Guest ELF file.
    #[arg(value_name = "IN")]
    input_elf: PathBuf,
    #[command(flatten)]
    exec: ExecArgs,
    /// Print one JSON object instead (docs/schema/run.json): schema, abi, abi_evidence, family,
    /// family_letter, exit_code, stdout, stdout_hex, stderr, stderr_hex, public_output_hex,
    /// cycles, peak_stack_bytes, peak_heap_bytes, resident_bytes, peak_rss_bytes, fault, fix
    /// (after a stack or heap overflow: the rewrite that makes the run fit, {memlimit, stack,
    /// heap, peak_stack_bytes, peak_heap_bytes, args}, else null). On a failure before the
    /// guest runs: {schema, command, error, details, exit_code} (docs/schema/error.json).
    #[arg(long)]
    json: bool,
    /// Plot the run's memory use as an SVG picture at OUT: stack depth, heap use and touched
    /// memory over the cycles, with their peaks and the layout's stack and heap sizes, to
    /// choose a memory limit. The guest runs traced (as `prove` runs it), several times slower
    /// than a plain run; faults and exit codes are the same.
    #[arg(long, value_name = "OUT")]
    profile: Option<PathBuf>,
    #[command(flatten)]
    pub verbosity: super::Verbosity,
}

/// `run --json` (`nexus-relink/run/v1`).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunReport {
    /// `nexus-relink/run/v1`.
    #[schemars(extend("const" = "nexus-relink/run/v1"))]
    pub schema: String,
    /// The ABI the run used (nexus, linux-rv32, ...).
    pub abi: String,
    /// Why that ABI ("chosen with --abi" when given).
    pub abi_evidence: Vec<String>,
    /// The layout family (stack_at_top, ...).
    pub family: nexus_relink::layout::Family,
    pub family_letter: String,
    /// The guest's exit code; null when it faulted or reached the cycle limit.
    pub exit_code: Option<i32>,
    /// The guest's standard output as text (invalid UTF-8 replaced).
    pub stdout: String,
    /// The guest's standard output, exactly.
    pub stdout_hex: String,
    /// The guest's standard error as text (invalid UTF-8 replaced).
    pub stderr: String,
    /// The guest's standard error, exactly.
    pub stderr_hex: String,
    /// Nexus public output (after the exit-code word).
    pub public_output_hex: String,
    pub cycles: u64,
    pub peak_stack_bytes: u32,
    pub peak_heap_bytes: u32,
    /// Bytes of guest memory the VM allocated.
    pub resident_bytes: u64,
    /// This process's peak resident memory (Linux VmHWM).
    pub peak_rss_bytes: Option<u64>,
    /// Why the run stopped, when not by an exit: kind, pc, addr, message,
    /// sufficient_memlimit.
    pub fault: Option<nexus_relink::vm::Fault>,
    /// After a stack or heap overflow: the rewrite that makes the run fit.
    pub fix: Option<FixReport>,
}

/// The rewrite `run` suggests after an overflow.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FixReport {
    /// The memory's top (for a guest whose memory base is not 0, `args` gives
    /// `--memlimit` as the size from that base).
    pub memlimit: u64,
    pub stack: Option<u32>,
    pub heap: Option<u32>,
    pub peak_stack_bytes: u32,
    pub peak_heap_bytes: u32,
    /// The options as typed: `--memlimit 4M --stack 80K`.
    pub args: String,
}

/// The progress line of a long run: `running: 1234567890 cycles, 12.3 s, 100.4 M/s`.
fn progress_line(cycles: u64, secs: f64) -> String {
    format!(
        "running: {cycles} cycles, {secs:.1} s, {:.1} M/s",
        cycles as f64 / secs.max(1e-9) / 1e6
    )
}

/// The exit code of a failure before the guest ran.
fn code_of(e: &nexus_relink::Error) -> i32 {
    use nexus_relink::Error as E;
    match e.inner() {
        E::Layout(_)
        | E::Vm(nexus_relink::vm::VmError::Config(_))
        | E::Vm(nexus_relink::vm::VmError::CodeTooLarge { .. }) => EXIT_CANNOT_START,
        _ => EXIT_TOOL,
    }
}

pub fn main(a: Args) -> i32 {
    type Ran = (
        nexus_relink::vm::RunResult,
        Vec<String>,
        nexus_relink::layout::Family,
        Option<super::fix::Fix>,
        u32,
    );
    let go = || -> Result<Ran, nexus_relink::Error> {
        let img = Image::read(&a.input_elf)?;
        let detection = nexus_relink::abi::detect(&img);
        let detected = detection.abi;
        let evidence = if a.exec.abi.is_some() {
            vec!["chosen with --abi".to_string()]
        } else {
            detection.evidence
        };
        let mut cfg = a.exec.config()?;
        cfg.stdin_passthrough = a.exec.input.is_none();
        if a.exec.abi.unwrap_or(detected) == nexus_relink::vm::Abi::Sp1 {
            // The input's form is the user's to fix: say so before the guest's layout.
            nexus_relink::abi::sp1_frames(&cfg.input)
                .map_err(|e| nexus_relink::Error::Vm(nexus_relink::vm::VmError::Input(e)))?;
        }
        let map = MemoryMap::discover(&img);
        let family = map.family;
        let layout = map.run?;
        let start = std::time::Instant::now();
        if let Some(out) = &a.profile {
            nexus_relink::output::check_output(out)?;
        }
        let vm = Vm::new(&img, &layout, cfg.clone())?;
        let r = if let Some(out) = &a.profile {
            // Samples every 2^14 cycles; the plot keeps each stride's peaks.
            let p = nexus_relink::vm::profile::profile(vm, 1 << 14);
            let svg = nexus_relink::layout::picture::profile_svg(
                &format!(
                    "{}: memory over the run",
                    nexus_relink::escape::path(&a.input_elf)
                ),
                &p,
            );
            nexus_relink::output::write_atomic(out, svg.as_bytes(), None)?;
            p.result
        } else if super::show_progress() && !a.json {
            // On a terminal, after a second: the cycles so far and the rate, on one line
            // that disappears when the run ends.
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            let r = vm.run_observed(1 << 24, &mut |cycles| {
                let secs = start.elapsed().as_secs_f64();
                if secs < 1.0 {
                    return;
                }
                if bar.is_hidden() {
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                }
                bar.set_message(progress_line(cycles, secs));
                bar.tick();
            });
            bar.finish_and_clear();
            r
        } else {
            vm.run()
        };
        let fix = super::fix::overflow_fix(&img, &layout, &cfg, &r);
        if !a.json && !super::quiet() {
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "nexus-relink: {} abi ({}), layout {}, {} cycles in {:.3} s ({:.1} M/s), peak stack {}, peak heap {}",
                r.abi.name(),
                evidence.join("; "),
                family,
                r.cycles,
                secs,
                r.cycles as f64 / secs.max(1e-9) / 1e6,
                nexus_relink::size::exact(r.peak_stack_bytes.into()),
                nexus_relink::size::exact(r.peak_heap_bytes.into())
            );
        }
        Ok((r, evidence, family, fix, MemoryBase::of(&img).base))
    };
    let (r, evidence, family, fix, base) = match go() {
        Ok(r) => r,
        Err(e) => {
            let e = e.about(&a.input_elf);
            // A script reading --json gets the refusal too, not only an exit code.
            return super::json::fail("run", a.json, &e, code_of(&e));
        }
    };
    if a.json {
        use super::json::{hex, text};
        super::json::emit(&RunReport {
            schema: super::json::id("run"),
            abi: r.abi.name().to_string(),
            abi_evidence: evidence,
            family,
            family_letter: family.letter().to_string(),
            exit_code: r.exit_code,
            stdout: text(&r.stdout),
            stdout_hex: hex(&r.stdout),
            stderr: text(&r.stderr),
            stderr_hex: hex(&r.stderr),
            public_output_hex: hex(&r.public_output),
            cycles: r.cycles,
            peak_stack_bytes: r.peak_stack_bytes,
            peak_heap_bytes: r.peak_heap_bytes,
            resident_bytes: r.resident_bytes as u64,
            peak_rss_bytes: super::peak_rss(),
            fault: r.fault.clone(),
            fix: fix.as_ref().map(|f| FixReport {
                memlimit: f.memlimit,
                stack: f.stack,
                heap: f.heap,
                peak_stack_bytes: f.peak_stack_bytes,
                peak_heap_bytes: f.peak_heap_bytes,
                args: f.args(base),
            }),
        });
    } else {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&r.stdout);
        let _ = out.flush();
        let _ = std::io::stderr().write_all(&r.stderr);
        if !r.public_output.is_empty() {
            eprintln!(
                "nexus-relink: public output: {}",
                super::json::hex(&r.public_output)
            );
        }
    }
    match (&r.fault, r.exit_code) {
        (Some(f), _) => {
            if !a.json {
                eprintln!("nexus-relink: fault: {}", f.message);
                // The limits above are memory tops; a rewrite counts from the memory base.
                if let Some(top) = f.sufficient_memlimit.filter(|_| base != 0) {
                    eprintln!(
                        "nexus-relink: that limit is --memlimit {:#x} from the memory base {base:#x} (or --memtop {top:#x})",
                        top.saturating_sub(u64::from(base))
                    );
                }
                // The hint's sizes are checked (the rewrite and a run of it); `--memlimit`
                // counts from the memory base.
                if let Some(fix) = fix.as_ref() {
                    eprintln!(
                        "nexus-relink: hint: with room the run used a {} stack and a {} heap; this rewrite fits it (checked): nexus-relink {} {} -o OUT",
                        nexus_relink::size::exact(fix.peak_stack_bytes.into()),
                        nexus_relink::size::exact(fix.peak_heap_bytes.into()),
                        nexus_relink::escape::path(&a.input_elf),
                        fix.args(base)
                    );
                }
            }
            if f.kind == nexus_relink::vm::FaultKind::CycleLimit {
                EXIT_CYCLE_LIMIT
            } else {
                EXIT_FAULT
            }
        }
        (None, Some(c)) => c & 0xff,
        (None, None) => EXIT_FAULT,
    }
}
