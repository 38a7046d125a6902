//! # nexus-relink
//!
//! Change the memory limit of an already-compiled RISC-V (RV32I/RV32IM) zkVM guest, run it in
//! a VM that enforces that limit, and prove the run with a STARK whose statement includes the
//! limit.
//!
//! ## The pipeline
//!
//! Each arrow is a module; the command-line tool (`src/cli/`) is a thin shell over them.
//!
//! 1. **ELF** ([`elf`]): [`elf::Image::parse`] (or [`elf::Image::read`], whose errors name the
//!    file) reads a static ELF32 RISC-V executable: segments, sections, symbols, relocations,
//!    the code words. [`elf::FileKind::of`] says what a file that is not a guest is.
//! 2. **Layout** ([`layout`]): [`layout::MemoryMap::discover`] finds the memory map of any
//!    such ELF (regions whose bounds are known, inferred or unknown, with their sources, and
//!    the layout family); [`layout::Layout::discover`] is the model a rewrite can move (stack
//!    top, stack bottom, heap bounds, memory limit, the `sp` set-up in `_start`).
//!    [`abi::detect()`] tells the system-call convention from the code.
//! 3. **Rewrite** ([`rewrite`], also under [`relink`], [`plan`], [`sites`], [`report`]):
//!    [`relink::Relinker`] plans the new layout for a memory limit ([`plan`]), finds every
//!    place that encodes the old one ([`sites`]: the `sp` prologue, `lui`/`auipc`
//!    materialisations, symbols, headers, data words, relocations), patches each in place with
//!    a same-size edit and re-validates the output; [`output::write_atomic`] writes it so that
//!    no crash leaves half a file. [`linker_script::render`] gives the same layout as a GNU ld
//!    script, for guests that can be relinked.
//! 4. **VM** ([`vm`]): [`vm::Vm`] runs the guest under a layout, RV32IM with the guest's ABI,
//!    and stops with a typed [`vm::Fault`] at any access outside the layout's regions (a stack
//!    or heap overflow names the option that fixes it); [`vm::Vm::run_traced`] records what a
//!    prover needs.
//! 5. **Prove** ([`prove`]): [`prove::prove`] (or [`prove::prove_with`] for segment size,
//!    memory budget and zero knowledge) runs the guest again, traced, and proves the run with
//!    Plonky3 as a chain of segments; the [`prove::ProofFile`] carries the public statement
//!    (program, memory limit, input, output, exit code) and the STARKs.
//! 6. **Verify** ([`prove::verify`]): checks a proof, cheapest first, optionally against the
//!    ELF it claims to be about, and returns the verified [`prove::Statement`].
//!
//! ## Example: rewrite, run, prove, verify
//!
//! ```
//! use nexus_relink::{elf::Image, layout::MemoryMap, prove, relink::Relinker};
//! use nexus_relink::vm::{RunConfig, Vm};
//!
//! // A bundled Linux-style guest, linked for a 4 MiB memory.
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/linux_hello.elf");
//! let image = Image::read(std::path::Path::new(path))?;
//! assert_eq!(MemoryMap::discover(&image).prove_layout()?.memlimit, 4 << 20);
//!
//! // Rewrite it for 8 MiB: every patch is same-size and the output is re-validated.
//! let rewrite = Relinker::new(8 << 20).rewrite(&image)?;
//! let image = Image::parse(rewrite.bytes)?;
//! let layout = MemoryMap::discover(&image).prove_layout()?;
//! assert_eq!(layout.stack_top, 8 << 20);
//!
//! // Run it in the VM, which enforces the new limit.
//! let run = Vm::new(&image, &layout, RunConfig::default())?.run();
//! assert_eq!(run.exit_code, Some(0));
//! assert_eq!(run.stdout, b"Hello, World!\n");
//!
//! // Prove the run, write the proof as bytes, read it back and verify it against the ELF.
//! let (proof, stats) = prove::prove(&image, &layout, RunConfig::default(), &|_| {})?;
//! let bytes = proof.to_bytes();
//! let statement = prove::verify(&prove::ProofFile::from_bytes(&bytes)?, Some((&image, &layout)))?;
//! assert_eq!(statement.memlimit, 8 << 20);
//! assert_eq!(statement.cycles, stats.cycles);
//! assert_eq!(statement.stdout, run.stdout);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `examples/` has each step as a small program (`cargo run --example prove_verify`), and the
//! README the command line, the layout families, the ABIs and the proof's statement.

pub mod abi;
pub mod decode;
pub mod elf;
pub mod escape;
pub mod isa;
pub mod layout;
pub mod linker_script;
pub mod output;
pub mod prove;
pub mod rewrite;
pub mod size;

// The rewrite's stages under their historical paths (`nexus_relink::plan`, ...).
pub use rewrite::{plan, relink, report, sites};
pub mod vm;

/// Read an input file (`arg` names the argument it was given as, for the message); a failure
/// says what is wrong in words and what to do.
pub fn read_input(path: &std::path::Path, arg: Option<&'static str>) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| {
        use std::io::ErrorKind as K;
        let problem = match e.kind() {
            K::NotFound => "no such file; check the path".to_string(),
            K::PermissionDenied => "permission denied; make it readable (chmod u+r)".to_string(),
            K::IsADirectory => "a directory, not a file; give a file inside it".to_string(),
            _ => format!("cannot read it: {e}"),
        };
        Error::input(arg, path, problem)
    })
}

/// Errors of the library's entry points. Each says what went wrong, where, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input file that cannot be used: the argument that named it (`--elf`, `--input`;
    /// none for the command's positional file), its path (escaped), what the file is and what
    /// to do (see [`elf::FileKind`]).
    #[error("{}{path}: {problem}", arg.map(|a| format!("{a} ")).unwrap_or_default())]
    Input {
        arg: Option<&'static str>,
        path: String,
        problem: String,
    },
    /// An error about one file (a proof rejected, a guest refused), with its path (escaped).
    #[error("{path}: {source}")]
    In { path: String, source: Box<Error> },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The output path holds something `-o` must not replace (see [`output::check_output`]).
    #[error("refusing to write {path}: {what}")]
    Output { path: String, what: String },
    #[error(transparent)]
    Elf(#[from] elf::ElfError),
    #[error(transparent)]
    Layout(#[from] layout::LayoutError),
    #[error(transparent)]
    Vm(#[from] vm::VmError),
    #[error(transparent)]
    Relink(#[from] relink::RelinkError),
    #[error("cannot prove: {0}")]
    Prove(#[from] prove::ProveError),
    #[error("proof rejected: {0}")]
    Verify(#[from] prove::VerifyError),
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// Lines of detail that follow the one-line message (the CLI prints them indented after
    /// it), e.g. every ambiguous place of a refused rewrite.
    pub fn details(&self) -> Vec<String> {
        match self {
            Error::In { source, .. } => source.details(),
            Error::Relink(r) => r.details(),
            _ => Vec::new(),
        }
    }

    /// An [`Error::Input`] for `path`, given as `arg`.
    pub fn input(arg: Option<&'static str>, path: &std::path::Path, problem: String) -> Error {
        Error::Input {
            arg,
            path: escape::path(path),
            problem,
        }
    }

    /// This error said of `path` (unless it names its file already or concerns none).
    pub fn about(self, path: &std::path::Path) -> Error {
        match self {
            Error::Input { .. }
            | Error::In { .. }
            | Error::Io { .. }
            | Error::Output { .. }
            | Error::Write { .. }
            | Error::Usage(_) => self,
            e => Error::In {
                path: escape::path(path),
                source: Box::new(e),
            },
        }
    }

    /// The error itself, without the file an [`Error::In`] names.
    pub fn inner(&self) -> &Error {
        match self {
            Error::In { source, .. } => source.inner(),
            e => e,
        }
    }

    /// Process exit code for the CLI: 2 for a bad input file, 1 otherwise (ARCHITECTURE.md, CLI).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::In { source, .. } => source.exit_code(),
            Error::Elf(_) => 2,
            Error::Io { .. } => 2,
            Error::Input { .. } => 2,
            Error::Verify(prove::VerifyError::Format(_)) => 2,
            _ => 1,
        }
    }
}
