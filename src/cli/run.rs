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
    /// Print one JSON object instead: abi, abi_evidence, family, family_letter, exit_code,
    /// stdout, stderr, public_output, cycles, peak_stack_bytes, peak_heap_bytes, resident_bytes,
    /// peak_rss_bytes, fault, fix (after a stack or heap overflow: the rewrite that makes the
    /// run fit, {memlimit, stack, heap, peak_stack_bytes, peak_heap_bytes, args}, else null).
    #[arg(long)]
    json: bool,
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
        let r = Vm::new(&img, &layout, cfg.clone())?.run();
        let fix = super::fix::overflow_fix(&img, &layout, &cfg, &r);
        if !a.json {
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "nexus-relink: {} abi ({}), layout {}, {} cycles in {:.3} s ({:.1} M/s), peak stack {} B, peak heap {} B",
                r.abi.name(),
                evidence.join("; "),
                family,
                r.cycles,
                secs,
                r.cycles as f64 / secs.max(1e-9) / 1e6,
                r.peak_stack_bytes,
                r.peak_heap_bytes
            );
        }
        Ok((r, evidence, family, fix, MemoryBase::of(&img).base))
    };
    let (r, evidence, family, fix, base) = match go() {
        Ok(r) => r,
        Err(e) => {
            let e = e.about(&a.input_elf);
            super::fail(&e);
            if a.json {
                // A script reading --json gets the refusal too, not only an exit code.
                outln!(
                    "{}",
                    serde_json::json!({"error": e.to_string(), "exit_code": null, "fault": null, "tool_exit": code_of(&e)})
                );
            }
            return code_of(&e);
        }
    };
    if a.json {
        let mut v = serde_json::to_value(&r).expect("RunResult serialises");
        v["abi_evidence"] = serde_json::json!(evidence);
        v["family"] = serde_json::json!(family);
        v["family_letter"] = serde_json::json!(family.letter().to_string());
        v["peak_rss_bytes"] = serde_json::json!(super::peak_rss());
        v["fix"] = serde_json::json!(fix.as_ref().filter(|_| base == 0).map(|f| {
            let mut j = serde_json::to_value(f).expect("Fix serialises");
            j["args"] = serde_json::json!(f.args());
            j
        }));
        outln!(
            "{}",
            serde_json::to_string_pretty(&v).expect("RunResult serialises")
        );
    } else {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&r.stdout);
        let _ = out.flush();
        let _ = std::io::stderr().write_all(&r.stderr);
        if !r.public_output.is_empty() {
            eprintln!(
                "nexus-relink: public output: {}",
                r.public_output
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
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
                // The hint's sizes are checked for a guest whose memory base is 0.
                if let Some(fix) = fix.as_ref().filter(|_| base == 0) {
                    eprintln!(
                        "nexus-relink: hint: with room the run used a {} B stack and a {} B heap; this rewrite fits it (checked): nexus-relink {} {} -o OUT",
                        fix.peak_stack_bytes,
                        fix.peak_heap_bytes,
                        nexus_relink::escape::path(&a.input_elf),
                        fix.args()
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
