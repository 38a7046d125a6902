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

pub mod elf;
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

/// Errors of the library's entry points. Each says what went wrong, where, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
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
            Error::Relink(r) => r.details(),
            _ => Vec::new(),
        }
    }

    /// Process exit code for the CLI: 2 for a bad input file, 1 otherwise (ARCHITECTURE.md, CLI).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Elf(_) => 2,
            Error::Io { .. } => 2,
            Error::Verify(prove::VerifyError::Format(_)) => 2,
            _ => 1,
        }
    }
}
