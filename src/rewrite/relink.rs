//! The rewrite: plan → sites → patch → validate (ARCHITECTURE.md, "Writing: a surgical patcher").
//!
//! Every edit is same-size (instruction immediates, data words, header fields, symbol values):
//! the output is the input with an explicit list of 4-byte patches applied, each checked
//! against the old bytes. The result is re-parsed and re-discovered before anything is written;
//! [`write_atomic`] writes through a temporary file and a rename.

use crate::elf::Image;
use crate::isa;
use crate::layout::Layout;
use crate::plan::{Plan, PlanError, Request};
use crate::sites::{self, Ambiguity, Site, Sites};

#[derive(Debug, thiserror::Error)]
pub enum RelinkError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("{} the rewriter cannot explain: {}; refusing (use --force to rewrite anyway and leave them unchanged)", count(.0, "place holds an old boundary value", "places hold an old boundary value"), first(.0))]
    Ambiguous(Vec<Ambiguity>),
    #[error("{}: {}", count(.0, "site cannot be patched in place", "sites cannot be patched in place"), first(.0))]
    Unpatchable(Vec<Ambiguity>),
    #[error("two sites patch the bytes at file offset {offset:#x} differently ({a} vs {b})")]
    Conflict { offset: usize, a: String, b: String },
    /// A rule the input keeps and the patched file breaks (a defect of the rewrite).
    #[error("the rewrite broke the output, nothing written (the input keeps this rule; please report it): {0}")]
    Validation(String),
    #[error("no site sets the stack pointer: the {kind:?} prologue at {at:#x} was not found among the patchable sites")]
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
        let old = Layout::discover(img)?;
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
        let plan =
            Plan::new(&old, &self.request, has_memtop, stack_align).map_err(RelinkError::from)?;
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
        let bytes = apply(img, &sites.sites)?;
        let mut warnings = plan.warnings.clone();
        warnings.extend(validate(img, &plan, &sites.sites, &bytes)?);
        Ok(Rewrite {
            plan,
            sites,
            bytes,
            forced: soft,
            warnings,
        })
    }
}

/// Apply the edits of every site to a copy of the file.
fn apply(img: &Image, sites: &[Site]) -> Result<Vec<u8>, RelinkError> {
    let mut out = img.bytes.clone();
    let mut seen: std::collections::BTreeMap<usize, (u32, String)> = Default::default();
    for s in sites {
        for e in &s.edits {
            if let Some((v, other)) = seen.get(&e.offset) {
                if *v != e.new {
                    return Err(RelinkError::Conflict {
                        offset: e.offset,
                        a: other.clone(),
                        b: s.location.clone(),
                    });
                }
                continue;
            }
            let cur = out
                .get(e.offset..e.offset + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| {
                    RelinkError::Validation(format!(
                        "edit at offset {:#x} is past the end of the file",
                        e.offset
                    ))
                })?;
            if cur != e.old {
                return Err(RelinkError::Validation(format!(
                    "{}: expected {:#010x} at offset {:#x}, found {cur:#010x}",
                    s.location, e.old, e.offset
                )));
            }
            out[e.offset..e.offset + 4].copy_from_slice(&e.new.to_le_bytes());
            seen.insert(e.offset, (e.new, s.location.clone()));
        }
    }
    Ok(out)
}

/// Re-parse and re-discover the output; check it is what the plan promised. A rule the
/// output breaks is an error when the input keeps it (the patch broke it), and a warning (in
/// the returned list) when the input already breaks it the same way (the output keeps the
/// input's defect, which the rewrite did not touch).
fn validate(
    img: &Image,
    plan: &Plan,
    sites: &[Site],
    bytes: &[u8],
) -> Result<Vec<String>, RelinkError> {
    let bad = |m: String| Err(RelinkError::Validation(m));
    let mut warnings = Vec::new();
    let new = match Image::parse(bytes.to_vec()) {
        Ok(i) => i,
        Err(e) => return bad(format!("the output does not parse: {e}")),
    };
    // Loadable segments keep p_offset ≡ p_vaddr (mod p_align) and file bytes inside the file.
    let incongruent =
        |s: &crate::elf::Segment| s.align > 1 && s.offset % s.align != s.vaddr % s.align;
    for seg in new.loads() {
        if incongruent(seg) {
            let what = format!(
                "program header {}: p_offset {:#x} and p_vaddr {:#x} differ modulo p_align {:#x}",
                seg.index, seg.offset, seg.vaddr, seg.align
            );
            let before = img.loads().find(|s| s.index == seg.index);
            if before
                .is_some_and(|s| incongruent(s) && s.offset == seg.offset && s.align == seg.align)
            {
                warnings.push(format!(
                    "the input already has this defect, kept as is: {what}"
                ));
            } else {
                return bad(what);
            }
        }
    }
    // Only planned bytes differ.
    let planned: std::collections::BTreeSet<usize> = sites
        .iter()
        .flat_map(|s| s.edits.iter().flat_map(|e| e.offset..e.offset + e.len))
        .collect();
    if let Some(off) = (0..bytes.len()).find(|&i| bytes[i] != img.bytes[i] && !planned.contains(&i))
    {
        return bad(format!(
            "byte at offset {off:#x} changed without a planned edit"
        ));
    }
    // Patched instructions keep their opcode and registers.
    for e in sites.iter().flat_map(|s| &s.edits) {
        if let Some((addr, before, _)) = e.inst {
            match isa::decode(e.new) {
                Ok(after)
                    if after.op == before.op
                        && after.rd == before.rd
                        && after.rs1 == before.rs1
                        && after.rs2 == before.rs2 => {}
                other => {
                    return bad(format!(
                        "patched instruction at {addr:#x} changed shape: {before:?} → {other:?}"
                    ))
                }
            }
        }
    }
    // Section-to-segment membership and permissions unchanged for loaded sections.
    for (a, b) in img.sections.iter().zip(&new.sections) {
        if a.is_alloc() && !a.is_nobits() && (a.addr, a.size, a.flags) != (b.addr, b.size, b.flags)
        {
            return bad(format!("section {} moved", a.name));
        }
        let outside = |i: &Image, sec: &crate::elf::Section| {
            sec.is_alloc()
                && sec.size > 0
                && !i
                    .loads()
                    .any(|s| s.contains(sec.addr) && sec.end() <= s.end())
        };
        if outside(&new, b) {
            let what = format!(
                "section {} ({:#x}..{:#x}) is outside every PT_LOAD",
                b.name,
                b.addr,
                b.end()
            );
            if outside(img, a) && (a.addr, a.size) == (b.addr, b.size) {
                warnings.push(format!(
                    "the input already has this defect, kept as is: {what}"
                ));
            } else {
                return bad(what);
            }
        }
    }
    let got = match Layout::discover(&new) {
        Ok(l) => l,
        Err(e) => return bad(format!("layout discovery on the output failed: {e}")),
    };
    let want = &plan.new;
    let fields = |l: &Layout| {
        (
            l.memlimit,
            l.image_start,
            l.image_end,
            l.heap_start,
            l.heap_end,
            l.stack_bottom,
            l.stack_top,
            l.shared,
            l.sp_init.kind,
            l.sp_init.value,
        )
    };
    if fields(&got) != fields(want) {
        return Err(RelinkError::Validation(format!(
            "the rewritten layout differs from the plan: got memlimit {:#x}, heap {:#x}..{:#x}, stack {:#x}..{:#x}, sp {:?}; planned memlimit {:#x}, heap {:#x}..{:#x}, stack {:#x}..{:#x}, sp {:?}",
            got.memlimit, got.heap_start, got.heap_end, got.stack_bottom, got.stack_top, got.sp_init.value,
            want.memlimit, want.heap_start, want.heap_end, want.stack_bottom, want.stack_top, want.sp_init.value
        )));
    }
    Ok(warnings)
}

pub use crate::output::write_atomic;
