//! The rewrite: plan → sites → patch → validate (ARCHITECTURE.md, "Writing: a surgical patcher").
//!
//! Every edit is same-size (instruction immediates, data words, header fields, symbol values):
//! the output is the input with an explicit list of 4-byte patches applied, each checked
//! against the old bytes. The result is re-parsed and re-discovered before anything is written;
//! [`write_atomic`] writes through a temporary file and a rename.

use crate::elf::Image;
use crate::layout::Family;
use crate::plan::{Plan, PlanError, Request};
use crate::sites::{self, Ambiguity, Sites};

#[derive(Debug, thiserror::Error)]
pub enum RelinkError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The file is no guest program: no code at its entry, or a runtime's kernel.
    #[error("{0}; nothing to rewrite")]
    NotAGuest(String),
    #[error("{} the rewriter cannot explain: {}; refusing (use --force to rewrite anyway and leave them unchanged)", count(.0, "place holds an old boundary value", "places hold an old boundary value"), first(.0))]
    Ambiguous(Vec<Ambiguity>),
    #[error("{}: {}", count(.0, "site cannot be patched in place", "sites cannot be patched in place"), first(.0))]
    Unpatchable(Vec<Ambiguity>),
    #[error("two sites patch the bytes at file offset {offset:#x} differently ({a} vs {b})")]
    Conflict { offset: usize, a: String, b: String },
    /// A rule the input keeps and the patched file breaks (a defect of the rewrite): only said
    /// of an input without any of the defects [`InputDefect`](Self::InputDefect) names.
    #[error("the rewrite broke the output, nothing written (the input keeps this rule; please report it): {0}")]
    Validation(String),
    /// The patched file breaks a rule because of a defect the input already has (its headers
    /// disagree with its sections): a refusal of the input, not a fault of the rewrite.
    #[error("the input has a defect the rewrite cannot carry through, nothing written: {defect}; the rewritten file would break a rule because of it ({rule}); correct the input's linker script or headers and relink")]
    InputDefect { defect: String, rule: String },
    #[error("no site sets the stack pointer: the {} prologue at {at:#x} was not found among the patchable sites", kind.describe())]
    PrologueNotPatched {
        kind: crate::layout::SpKind,
        at: u32,
    },
}

fn count(a: &[Ambiguity], one: &str, many: &str) -> String {
    match a.len() {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

fn first(a: &[Ambiguity]) -> String {
    let at = |x: &Ambiguity| format!("at {}: value {:#x}: {}", x.location, x.value, x.why);
    match a {
        [x] => at(x),
        [x, ..] => format!("the first {} (all listed below)", at(x)),
        [] => String::new(),
    }
}

impl RelinkError {
    /// The lines that follow the one-line message: every place, when an ambiguity or an
    /// unpatchable site has more than one.
    pub fn details(&self) -> Vec<String> {
        match self {
            RelinkError::Ambiguous(a) | RelinkError::Unpatchable(a) if a.len() > 1 => a
                .iter()
                .map(|x| format!("at {}: value {:#x}: {}", x.location, x.value, x.why))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Configures and performs a rewrite.
///
/// ```
/// use nexus_relink::{elf::Image, relink::Relinker, layout::Layout};
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/linux_hello.elf");
/// let image = Image::parse(std::fs::read(path).unwrap()).unwrap();
/// let out = Relinker::new(16 << 20).rewrite(&image).unwrap();
/// let new = Image::parse(out.bytes.clone()).unwrap();
/// assert_eq!(Layout::discover(&new).unwrap().stack_top, 16 << 20);
/// assert!(out.sites.sites.iter().any(|s| s.boundary == "stack_top"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Relinker {
    pub request: Request,
    /// Rewrite despite ambiguities (unexplained occurrences are left unchanged and reported).
    pub force: bool,
}

/// A finished rewrite: the plan, the sites, and the output bytes (validated).
#[derive(Debug, Clone)]
pub struct Rewrite {
    pub plan: Plan,
    pub sites: Sites,
    pub bytes: Vec<u8>,
    /// Ambiguities accepted by `--force`.
    pub forced: Vec<Ambiguity>,
    /// Things worth knowing that do not stop the rewrite: regions over 2 GiB (from the plan),
    /// and defects the input already has, which the output keeps unchanged.
    pub warnings: Vec<String>,
}

impl Relinker {
    pub fn new(memlimit: u64) -> Relinker {
        Relinker {
            request: Request {
                memlimit,
                ..Request::default()
            },
            force: false,
        }
    }
    pub fn stack(mut self, bytes: u32) -> Self {
        self.request.stack = Some(bytes);
        self
    }
    pub fn heap(mut self, bytes: u32) -> Self {
        self.request.heap = Some(bytes);
        self
    }
    pub fn guard(mut self, bytes: u32) -> Self {
        self.request.guard = Some(bytes);
        self
    }
    pub fn force(mut self, yes: bool) -> Self {
        self.force = yes;
        self
    }

    /// Plan only (what `--dry-run` shows): the new layout and the sites, without patching.
    pub fn plan(&self, img: &Image) -> Result<(Plan, Sites), crate::Error> {
        if let Some(why) = img
            .no_code_at_entry()
            .or_else(|| crate::abi::risc0_kernel(img))
        {
            return Err(RelinkError::NotAGuest(why).into());
        }
        let map = crate::layout::MemoryMap::discover(img);
        let old = map.model.clone()?;
        let family_plan = match map.family {
            Family::StackBelowProgram => {
                Some(Plan::below_program(&old, &self.request, &map.movable))
            }
            Family::StackBelowHeap => Some(Plan::below_heap(&old, &self.request, &map.movable)),
            Family::LoaderStack => Some(Plan::loader_stack(&old, &self.request, &map.movable)),
            _ => None,
        };
        if let Some(plan) = family_plan {
            let plan = plan.map_err(RelinkError::from)?;
            let sites = sites::find(img, &plan);
            return Ok((plan, sites));
        }
        let has_memtop = crate::layout::MEMORY_TOP_SYMS
            .iter()
            .any(|n| img.symbol(n).is_some());
        // A stack in a PT_LOAD of its own moves by whole p_align units.
        let stack_align = img
            .loads()
            .filter(|s| s.filesz == 0 && s.align > 1 && s.vaddr % s.align == 0)
            .filter(|s| s.vaddr <= old.stack_bottom && old.stack_bottom - s.vaddr < s.align)
            .filter(|s| old.stack_bottom % s.align == 0)
            .map(|s| s.align)
            .max()
            .unwrap_or(1);
        let mut plan =
            Plan::new(&old, &self.request, has_memtop, stack_align).map_err(RelinkError::from)?;
        if map.movable.vm_chooses_sp {
            // The VM gives sp its memory top (Nexus ecall 0x402): the top is recorded in
            // PT_GNU_STACK, where the map reads it back.
            plan.movable = map.movable.clone();
            plan.new.sp_init = old.sp_init.clone(); // the placeholder stays
            plan.notes.push(format!(
                "the start-up code asks the VM for sp (ecall 0x402); the new memory top is recorded in program header {} (PT_GNU_STACK), where `run` and `prove` read it",
                map.movable.gnu_stack.unwrap_or_default()
            ));
        }
        let sites = sites::find(img, &plan);
        Ok((plan, sites))
    }

    /// Plan, patch and validate. The input image is not modified.
    pub fn rewrite(&self, img: &Image) -> Result<Rewrite, crate::Error> {
        let (plan, sites) = self.plan(img)?;
        let (fatal, soft): (Vec<_>, Vec<_>) =
            sites.ambiguities.iter().cloned().partition(|a| a.fatal);
        if !fatal.is_empty() {
            return Err(RelinkError::Unpatchable(fatal).into());
        }
        if !soft.is_empty() && !self.force {
            return Err(RelinkError::Ambiguous(soft).into());
        }
        let bytes = super::patch::apply(img, &sites.sites)?;
        let mut warnings = plan.warnings.clone();
        warnings.extend(super::validate::validate(img, &plan, &sites.sites, &bytes)?);
        Ok(Rewrite {
            plan,
            sites,
            bytes,
            forced: soft,
            warnings,
        })
    }
}

pub use crate::output::write_atomic;
