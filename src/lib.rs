//! # nexus-relink
//!
//! Change the memory limit of an already-compiled RISC-V (RV32I/RV32IM) zkVM guest, and run it
//! in a VM that enforces that limit.
//!
//! The pipeline (see `ARCHITECTURE.md`): [`elf::Image`] (parse) → [`layout::Layout`] (discover
//! where the stack, heap and memory top are, and how `_start` sets `sp`) → [`vm::Vm`] (run under
//! that layout, with faults that name the region and the limit that would have sufficed).
//!
//! ```
//! use nexus_relink::{elf::Image, layout::Layout, vm::{Vm, RunConfig}};
//! let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/linux_hello.elf")).unwrap();
//! let image = Image::parse(bytes).unwrap();
//! let layout = Layout::discover(&image).unwrap();
//! assert_eq!(layout.stack_top, 0x40_0000);
//! let result = Vm::new(&image, &layout, RunConfig::default()).unwrap().run();
//! assert_eq!(result.exit_code, Some(0));
//! ```

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
