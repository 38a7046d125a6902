//! `nexus-relink run IN`: execute a guest, its stdout to stdout, a summary to stderr, and the
//! guest's exit code as ours (a fault exits 1 with the fault message).

use super::{fail, ExecArgs};
use nexus_relink::{elf::Image, layout::MemoryMap, vm::Vm};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Guest ELF file.
    input_elf: PathBuf,
    #[command(flatten)]
    exec: ExecArgs,
    /// Print one JSON object (exit_code, stdout, cycles, peak use, resident and peak process
    /// memory, fault) instead.
    #[arg(long)]
    json: bool,
}

pub fn main(a: Args) -> i32 {
    let go = || -> Result<nexus_relink::vm::RunResult, nexus_relink::Error> {
        let img = Image::read(&a.input_elf)?;
        let layout = MemoryMap::discover(&img).run?;
        let mut cfg = a.exec.config()?;
        cfg.stdin_passthrough = a.exec.input.is_none();
        let start = std::time::Instant::now();
        let r = Vm::new(&img, &layout, cfg)?.run();
        if !a.json {
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "nexus-relink: {} abi, {} cycles in {:.3} s ({:.1} M/s), peak stack {} B, peak heap {} B",
                r.abi.name(),
                r.cycles,
                secs,
                r.cycles as f64 / secs.max(1e-9) / 1e6,
                r.peak_stack_bytes,
                r.peak_heap_bytes
            );
        }
        Ok(r)
    };
    let r = match go() {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    if a.json {
        let mut v = serde_json::to_value(&r).expect("RunResult serialises");
        v["peak_rss_bytes"] = serde_json::json!(super::peak_rss());
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
            }
            1
        }
        (None, Some(c)) => c & 0xff,
        (None, None) => 1,
    }
}
