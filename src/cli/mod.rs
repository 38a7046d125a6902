//! Command-line parsing and dispatch. Each subcommand lives in its own file and returns a
//! process exit code; library errors become one-line messages (exit 1: usage/guest error,
//! 2: bad input file). `run` alone uses 124-127 for its own outcomes (see [`EXIT_HELP`]).

/// `print!` that ignores a closed stdout (`| head`) instead of panicking.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($t)*);
    }};
}
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

mod inspect;
mod prove;
mod relink;
mod run;
mod script;

use clap::{Parser, Subcommand};
use nexus_relink::vm::Abi;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "nexus-relink",
    version,
    about = "Change the memory limit of an already-compiled RISC-V zkVM guest, and run it in a limit-enforcing RV32IM VM",
    long_about = None,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    relink: relink::Args,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the memory layout of a guest ELF: map, boundaries and the sp prologue.
    Inspect(inspect::Args),
    /// Run a guest in the integrated RV32IM VM under its own memory layout.
    Run(run::Args),
    /// Print a GNU ld script with the layout a rewrite would produce (for users who can relink).
    LinkerScript(script::Args),
    /// Run a guest and write a STARK proof of the run (memory limit, input, output, exit code).
    Prove(prove::ProveArgs),
    /// Check a proof file; exits 0 when it is valid (the statement on stderr, the proven stdout on
    /// stdout), 1 with the reason when it is not, 2 when the file is not a proof.
    Verify(prove::VerifyArgs),
}

/// The exit codes of `run` (its `--help`, and README "Exit codes").
pub const EXIT_HELP: &str = "Exit codes:
  0-123  the guest exited: its exit code's low 8 bits (as a shell reports it; a guest exit
         of 124-255 reads the same as the codes below, so check the stderr summary or --json)
  124    the cycle limit (--max-cycles) was reached
  125    nexus-relink itself failed: usage error, unreadable or invalid ELF, bad --input, I/O
  126    the guest cannot be started: the VM refuses its layout or segments
  127    the guest faulted: illegal or custom instruction, memory fault, unsupported system
         call, unknown system-call convention";

/// Options shared by the commands that execute a guest.
#[derive(clap::Args, Debug, Clone)]
pub struct ExecArgs {
    /// Public input: stdin for linux-rv32 guests (without it they read this process's standard
    /// input when they ask, as under qemu-user), the public input tape for nexus guests.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Private input (nexus guests: bytes returned by `ecall 0x400`).
    #[arg(long, value_name = "FILE")]
    private_input: Option<PathBuf>,
    /// Stop with a `cycle_limit` fault after this many instructions.
    #[arg(long, value_name = "N", default_value_t = nexus_relink::vm::DEFAULT_MAX_CYCLES, allow_negative_numbers = true)]
    max_cycles: u64,
    /// Guest ABI (system calls and halt); detected from the code when omitted (README, "ABIs").
    /// sp1: --input is the hint stream, frames of [u32 LE length][bytes].
    #[arg(long, value_enum)]
    abi: Option<Abi>,
}

impl ExecArgs {
    fn config(&self) -> Result<nexus_relink::vm::RunConfig, nexus_relink::Error> {
        let read = |p: &Option<PathBuf>| -> Result<Vec<u8>, nexus_relink::Error> {
            match p {
                None => Ok(Vec::new()),
                Some(p) => std::fs::read(p).map_err(|e| nexus_relink::Error::Io {
                    path: p.display().to_string(),
                    source: e,
                }),
            }
        };
        Ok(nexus_relink::vm::RunConfig {
            abi: self.abi,
            input: read(&self.input)?,
            private_input: read(&self.private_input)?,
            max_cycles: self.max_cycles,
            stdin_passthrough: false,
        })
    }
}

/// Peak resident memory of this process (Linux `VmHWM`), in bytes.
pub fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A clap error in one line: its message and the arguments it names, without the usage block
/// and without tips (clap suggests `-- -1` for a negative number, which is no help here).
fn one_line(rendered: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for l in rendered.lines().map(str::trim) {
        if l.starts_with("Usage:") || l.starts_with("For more information") {
            break;
        }
        if !l.is_empty() && !l.starts_with("tip:") {
            parts.push(l);
        }
    }
    let msg = parts.join(" ");
    let msg = msg.strip_suffix('.').unwrap_or(&msg);
    format!("{msg}; see --help")
}

/// Print an error as one line and give its exit code.
pub fn fail(e: &nexus_relink::Error) -> i32 {
    eprintln!("nexus-relink: error: {e}");
    for d in e.details() {
        eprintln!("  {d}");
    }
    e.exit_code()
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help, --version
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            eprintln!("nexus-relink: {}", one_line(&e.render().to_string()));
            // `run` keeps 0-123 for the guest's exit codes.
            let run = std::env::args().nth(1).is_some_and(|a| a == "run");
            return if run { run::EXIT_TOOL } else { 1 };
        }
    };
    match cli.command {
        Some(Command::Inspect(a)) => inspect::main(a),
        Some(Command::Run(a)) => run::main(a),
        Some(Command::LinkerScript(a)) => script::main(a),
        Some(Command::Prove(a)) => prove::prove_main(a),
        Some(Command::Verify(a)) => prove::verify_main(a),
        None if cli.relink.input_elf.is_none() => {
            let _ = <Cli as clap::CommandFactory>::command().print_help();
            1
        }
        None => relink::main(cli.relink),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definition_is_consistent() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn clap_errors_become_one_line_without_tips() {
        let e = <super::Cli as clap::Parser>::try_parse_from(["nexus-relink", "prove", "x.elf"])
            .unwrap_err();
        let m = super::one_line(&e.render().to_string());
        assert!(!m.contains('\n') && m.contains("--output"), "{m}");
        let e = <super::Cli as clap::Parser>::try_parse_from(["nexus-relink", "x.elf", "-q"])
            .unwrap_err();
        let m = super::one_line(&e.render().to_string());
        assert!(
            !m.contains('\n') && !m.contains("tip") && m.contains("'-q'"),
            "{m}"
        );
    }
}
