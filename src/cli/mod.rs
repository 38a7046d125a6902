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

mod distributed;
mod docs;
mod fix;
mod inspect;
mod json;
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
    max_term_width = 100,
    after_help = EXIT_HELP_COMMON,
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
    /// stdout), 1 when it is not (with the reason) or --elf is not a usable guest ELF, 2 when
    /// PROOF is unreadable or not a proof file.
    Verify(prove::VerifyArgs),
    /// Run a guest once and write its statement and one self-contained job per segment
    /// (DIR/statement.bin, DIR/segment-00000.job, ...), for proving on many machines.
    Plan(distributed::PlanArgs),
    /// Prove one segment job (from `plan`) into one segment proof file; touches nothing else.
    ProveSegment(distributed::ProveSegmentArgs),
    /// Join the statement and the segment proofs (any order) into the proof `verify` checks;
    /// verifies every segment and the chain first, and writes nothing if any is missing,
    /// duplicated, foreign or invalid.
    Join(distributed::JoinArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions(docs::CompletionsArgs),
    /// Print the man page (roff) on stdout, of the tool or of one subcommand.
    Man(docs::ManArgs),
}

/// The exit codes of the rewrite, `inspect`, `linker-script` and `prove` (their `--help`, and
/// README "Exit codes").
pub const EXIT_HELP_COMMON: &str = "Exit codes:
  0  success
  1  usage error, refused rewrite or proof, guest fault, output path refused
  2  an input file (IN, --input, --private-input) is unreadable, or IN is not a RV32 guest ELF
`run` and `verify` have codes of their own (see their --help).";

/// The exit codes of `linker-script`.
pub const EXIT_HELP_SCRIPT: &str = "Exit codes:
  0  the script is printed
  1  usage error, or the layout asked for does not fit the memory limit";

/// The exit codes of `verify` (its `--help`, and README "Exit codes").
pub const EXIT_HELP_VERIFY: &str = "Exit codes:
  0  the proof is valid
  1  the proof is rejected (the reason follows), a usage error, or --elf is unreadable or not
     a RV32 guest ELF
  2  PROOF is unreadable or not a proof file (of this format version)";

/// The exit codes of `run` (its `--help`, and README "Exit codes").
pub const EXIT_HELP: &str = "Exit codes:
  0-123  the guest exited: its exit code's low 8 bits (as a shell reports it; a guest exit
         of 124-255 reads the same as the codes below, so check the stderr summary or --json)
  124    the cycle limit (--max-cycles) was reached
  125    nexus-relink itself failed: usage error, unreadable or invalid ELF, bad --input, I/O
  126    the guest cannot be started: the VM refuses its layout or segments
  127    the guest faulted: illegal or custom instruction, memory fault, unsupported system
         call, unknown system-call convention";

/// `-q` and `-v`, on every command.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct Verbosity {
    /// Quiet: no progress display and no summary or notes on stderr (errors and warnings stay;
    /// the result on stdout is unchanged).
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
    /// Verbose: more detail where there is more to say: the rewrite shows each patch's bytes
    /// and instructions (as --explain), run the layout it ran under, prove a line per segment.
    #[arg(short, long)]
    verbose: bool,
}

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static VERBOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Verbosity {
    /// Make these the process's (one command per process).
    fn set(self) {
        use std::sync::atomic::Ordering::Relaxed;
        QUIET.store(self.quiet, Relaxed);
        VERBOSE.store(self.verbose, Relaxed);
    }
}

/// `-q` was given: no progress, no summary on stderr.
pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// `-v` was given.
pub fn verbose() -> bool {
    VERBOSE.load(std::sync::atomic::Ordering::Relaxed)
}

/// A progress display may be drawn: not quiet, and stderr is a terminal.
pub fn show_progress() -> bool {
    use std::io::IsTerminal;
    !quiet() && std::io::stderr().is_terminal()
}

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
    #[arg(long, value_name = "N", default_value_t = nexus_relink::vm::DEFAULT_MAX_CYCLES, value_parser = parse_max_cycles, allow_negative_numbers = true)]
    max_cycles: u64,
    /// Guest ABI (system calls and halt); detected from the code when omitted (README, "ABIs").
    /// sp1: --input is the hint stream, frames of [u32 LE length][bytes].
    #[arg(long, value_enum)]
    abi: Option<Abi>,
}

/// A size below 4 GiB (`--stack`, `--heap`, `--guard`).
pub fn parse_u32_size(s: &str) -> Result<u32, String> {
    let v = nexus_relink::size::parse_size(s)?;
    u32::try_from(v).map_err(|_| format!("size '{s}' must be below 4 GiB"))
}

fn parse_max_cycles(s: &str) -> Result<u64, String> {
    nexus_relink::size::parse_count(s, "cycle count")
}

impl ExecArgs {
    fn config(&self) -> Result<nexus_relink::vm::RunConfig, nexus_relink::Error> {
        let read = |p: &Option<PathBuf>, arg| match p {
            None => Ok(Vec::new()),
            Some(p) => nexus_relink::read_input(p, Some(arg)),
        };
        Ok(nexus_relink::vm::RunConfig {
            abi: self.abi,
            input: read(&self.input, "--input")?,
            private_input: read(&self.private_input, "--private-input")?,
            max_cycles: self.max_cycles,
            stdin_passthrough: false,
        })
    }
}

/// Peak resident memory of this process (Linux `VmHWM`), in bytes. One line of
/// `/proc/self/status`: no crate reads the high-water mark more directly (`getrusage`'s
/// `ru_maxrss` is the same number in KiB, and rustix does not expose it).
pub fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A context value of a clap error as text.
fn context(e: &clap::Error, kind: clap::error::ContextKind) -> Vec<String> {
    use clap::error::ContextValue as V;
    match e.get(kind) {
        Some(V::String(s)) => vec![s.clone()],
        Some(V::Strings(v)) => v.clone(),
        Some(V::StyledStr(s)) => vec![s.to_string()],
        Some(V::StyledStrs(v)) => v.iter().map(|s| s.to_string()).collect(),
        Some(V::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// `'a'`, `'a' or 'b'`, `'a', 'b' or 'c'`.
fn quoted_or(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    match q.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// A clap error in one line, from its kind and context (clap's error API, not its rendered
/// text): what is wrong, clap's suggestion ("did you mean '--memlimit'?") or the values it
/// accepts, and where the help is. Without the usage block and without clap's tips (it
/// suggests `-- -1` for a negative number, which is no help here: every number option takes a
/// negative value and says why it is refused).
fn one_line(e: &clap::Error, command: &str) -> String {
    use clap::error::{ContextKind as C, ErrorKind as K};
    let first = |k| context(e, k).into_iter().next().unwrap_or_default();
    let arg = first(C::InvalidArg);
    let value = first(C::InvalidValue);
    let mut msg = match e.kind() {
        K::UnknownArgument if arg.starts_with('-') => format!("unknown option '{arg}'"),
        K::UnknownArgument => format!("unexpected argument '{arg}'"),
        K::InvalidSubcommand => {
            let sub = first(C::InvalidSubcommand);
            let mut m = format!("unknown subcommand '{sub}'");
            let valid = context(e, C::ValidSubcommand);
            if !valid.is_empty() {
                m.push_str(&format!(
                    ", and no file of that name (the subcommands: {})",
                    valid.join(", ")
                ));
            }
            m
        }
        K::InvalidValue if value.is_empty() => format!("{arg} needs a value"),
        K::InvalidValue => format!("invalid value '{value}' for {arg}"),
        K::ValueValidation => match std::error::Error::source(e) {
            Some(why) => format!("{arg}: {why}"),
            None => format!("invalid value '{value}' for {arg}"),
        },
        K::MissingRequiredArgument => {
            format!("missing {}", context(e, C::InvalidArg).join(", "))
        }
        K::ArgumentConflict => {
            let prior = context(e, C::PriorArg);
            if prior.is_empty() {
                format!("'{arg}' cannot be used here")
            } else {
                format!("'{arg}' cannot be used with {}", quoted_or(&prior))
            }
        }
        K::TooManyValues => format!("unexpected value '{value}' for {arg}"),
        K::TooFewValues | K::WrongNumberOfValues => format!("wrong number of values for {arg}"),
        K::NoEquals => format!("{arg} needs '=' before its value"),
        K::InvalidUtf8 => "an argument is not valid UTF-8".to_string(),
        K::MissingSubcommand | K::DisplayHelpOnMissingArgumentOrSubcommand => {
            "missing a subcommand".to_string()
        }
        kind => {
            let what = kind.as_str().unwrap_or("invalid command line");
            if arg.is_empty() {
                what.to_string()
            } else {
                format!("{what}: {arg}")
            }
        }
    };
    let suggested: Vec<String> = [C::SuggestedSubcommand, C::SuggestedArg, C::SuggestedValue]
        .into_iter()
        .flat_map(|k| context(e, k))
        .collect();
    if !suggested.is_empty() {
        msg.push_str(&format!("; did you mean {}?", quoted_or(&suggested)));
    } else if e.kind() == K::InvalidValue {
        let valid = context(e, C::ValidValue);
        if !valid.is_empty() {
            msg.push_str(&format!("; possible values: {}", valid.join(", ")));
        }
    }
    if msg.ends_with('?') {
        format!("{msg} See '{command} --help'")
    } else {
        format!("{msg}; see '{command} --help'")
    }
}

/// The subcommands' names (with clap's `help`).
fn subcommands() -> Vec<String> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    cmd.build();
    cmd.get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .collect()
}

/// The first argument when it is a mistyped subcommand rather than the rewrite's input file:
/// not an existing path, not an option, and either close to a subcommand's name or a bare word
/// (no `/` or `.`, as a file name would have). An error of clap's kind `InvalidSubcommand` with
/// its suggestion, as clap gives when there is no input file in the way.
fn mistyped_subcommand(args: &[std::ffi::OsString]) -> Option<clap::Error> {
    use clap::error::{ContextKind as C, ContextValue as V, ErrorKind as K};
    let word = args.get(1)?.to_str()?;
    let names = subcommands();
    if word.starts_with('-')
        || names.iter().any(|n| n == word)
        || std::path::Path::new(word).exists()
    {
        return None;
    }
    let best = names
        .iter()
        .map(|n| (strsim::jaro(word, n), n))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n.clone());
    if best.is_none() && (word.contains('/') || word.contains('.')) {
        return None;
    }
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut e = clap::Error::new(K::InvalidSubcommand).with_cmd(&cmd);
    e.insert(C::InvalidSubcommand, V::String(word.to_string()));
    match best {
        Some(b) => {
            e.insert(C::SuggestedSubcommand, V::String(b));
        }
        None => {
            e.insert(C::ValidSubcommand, V::Strings(names));
        }
    }
    Some(e)
}

/// Print an error as one line and give its exit code.
pub fn fail(e: &nexus_relink::Error) -> i32 {
    report(e, e.exit_code())
}

/// Print an error as one line (and its details indented below) and give `code`.
pub fn report(e: &nexus_relink::Error, code: i32) -> i32 {
    eprintln!("nexus-relink: error: {e}");
    for d in e.details() {
        eprintln!("  {d}");
    }
    code
}

pub fn main() -> i32 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let sub = args
        .get(1)
        .and_then(|a| a.to_str())
        .filter(|a| subcommands().iter().any(|n| n == a));
    let command = match sub {
        Some(s) => format!("nexus-relink {s}"),
        None => "nexus-relink".to_string(),
    };
    // `run` keeps 0-123 for the guest's exit codes.
    let usage_code = if sub == Some("run") {
        run::EXIT_TOOL
    } else {
        1
    };
    // With --json a command-line error is the error object too (the rewrite's when no
    // subcommand is named).
    let json = args.iter().any(|a| a == "--json");
    let usage_error = |msg: String| {
        if json {
            json::emit(&json::ErrorReport::message(
                sub.unwrap_or("rewrite"),
                msg.clone(),
                usage_code,
            ));
        }
        eprintln!("nexus-relink: error: {msg}");
        usage_code
    };
    if let Some(e) = mistyped_subcommand(&args) {
        return usage_error(one_line(&e, &command));
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help, --version
            let _ = e.print();
            return 0;
        }
        Err(e) => return usage_error(one_line(&e, &command)),
    };
    match cli.command {
        Some(Command::Inspect(a)) => {
            a.verbosity.set();
            inspect::main(a)
        }
        Some(Command::Run(a)) => {
            a.verbosity.set();
            run::main(a)
        }
        Some(Command::LinkerScript(a)) => {
            a.verbosity.set();
            script::main(a)
        }
        Some(Command::Prove(a)) => {
            a.verbosity.set();
            prove::prove_main(a)
        }
        Some(Command::Verify(a)) => {
            a.verbosity.set();
            prove::verify_main(a)
        }
        Some(Command::Plan(a)) => {
            a.verbosity.set();
            distributed::plan_main(a)
        }
        Some(Command::ProveSegment(a)) => {
            a.verbosity.set();
            distributed::prove_segment_main(a)
        }
        Some(Command::Join(a)) => {
            a.verbosity.set();
            distributed::join_main(a)
        }
        Some(Command::Completions(a)) => docs::completions_main(a),
        Some(Command::Man(a)) => docs::man_main(a),
        None if cli.relink.input_elf.is_none() => {
            let _ = <Cli as clap::CommandFactory>::command().print_help();
            1
        }
        None => {
            cli.relink.verbosity.set();
            relink::main(cli.relink)
        }
    }
}

#[cfg(test)]
mod tests {
    fn parse_error(args: &[&str]) -> String {
        let e = <super::Cli as clap::Parser>::try_parse_from(args).unwrap_err();
        super::one_line(&e, "nexus-relink")
    }

    #[test]
    fn clap_definition_is_consistent() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn clap_errors_become_one_line_without_tips() {
        let m = parse_error(&["nexus-relink", "prove", "x.elf"]);
        assert!(!m.contains('\n') && m.contains("missing --output"), "{m}");
        let m = parse_error(&["nexus-relink", "x.elf", "-Z"]);
        assert!(
            !m.contains('\n') && !m.contains("tip") && m.contains("'-Z'"),
            "{m}"
        );
    }

    #[test]
    fn clap_suggestions_are_kept() {
        let m = parse_error(&["nexus-relink", "x.elf", "--memlimt", "16M"]);
        assert!(
            m == "unknown option '--memlimt'; did you mean '--memlimit'? See 'nexus-relink --help'",
            "{m}"
        );
        let m = parse_error(&["nexus-relink", "run", "x.elf", "--abi", "nexsu"]);
        assert!(m.contains("did you mean 'nexus'?"), "{m}");
        let m = parse_error(&["nexus-relink", "run", "x.elf", "--abi", "qqq"]);
        assert!(m.contains("possible values: nexus, linux-rv32"), "{m}");
        let m = parse_error(&[
            "nexus-relink",
            "prove",
            "x.elf",
            "-o",
            "p",
            "--zk",
            "--no-zk",
        ]);
        assert!(m.contains("'--zk' cannot be used with '--no-zk'"), "{m}");
    }

    #[test]
    fn a_mistyped_subcommand_is_named_as_one() {
        let args = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        let e = super::mistyped_subcommand(&args(&["nexus-relink", "inspct", "x.elf"])).unwrap();
        let m = super::one_line(&e, "nexus-relink");
        assert!(
            m.starts_with("unknown subcommand 'inspct'; did you mean 'inspect'?"),
            "{m}"
        );
        let e = super::mistyped_subcommand(&args(&["nexus-relink", "frobnicate"])).unwrap();
        let m = super::one_line(&e, "nexus-relink");
        assert!(
            m.contains("unknown subcommand 'frobnicate', and no file of that name (the subcommands: inspect, run,"),
            "{m}"
        );
        // A path (existing or not) is the rewrite's input, and a subcommand is a subcommand.
        for a in ["fixtures/missing.elf", "x.elf", "run", "help", "Cargo.toml"] {
            assert!(
                super::mistyped_subcommand(&args(&["nexus-relink", a])).is_none(),
                "{a}"
            );
        }
    }
}
