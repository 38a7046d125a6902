//! Layout discovery: where the image, heap and stack are, what the memory limit is, and how
//! `_start` sets `sp`.
//!
//! Sources, most to least certain: the `sp` value the prologue actually computes (found by
//! evaluating the straight-line code at the entry point), boundary symbols, the NOBITS
//! `.heap`/`.stack` sections, and finally the PT_LOAD extents. Each value records where it came
//! from, so `inspect` can show the reasoning.

pub mod alloc;

use crate::elf::Image;
use serde::Serialize;

pub mod base;
pub mod map;
pub mod picture;
mod prologue;

pub use base::MemoryBase;
pub use map::{Bound, Family, MemoryMap, Movable, Region, RegionKind};

/// Symbols naming the top of the stack, in order of preference (GUESTS.md).
pub const STACK_TOP_SYMS: &[&str] = &[
    "_stack_top",
    "__stack_top",
    "_stack_start",
    "__stack",
    "_sstack_top",
];
pub const STACK_BOTTOM_SYMS: &[&str] = &[
    "_stack_bottom",
    "__stack_bottom",
    "_sstack",
    "__stack_limit",
];
pub const HEAP_START_SYMS: &[&str] = &["_heap_start", "__heap_start", "_sheap", "__heap_base"];
pub const HEAP_END_SYMS: &[&str] = &["_heap_end", "__heap_end", "_eheap", "__heap_limit"];
pub const MEMORY_TOP_SYMS: &[&str] =
    &["__memory_top", "__memory_end", "_memory_top", "_memory_end"];
/// Symbols at the end of the loaded image (the default heap start).
pub const IMAGE_END_SYMS: &[&str] = &["_end", "_ebss", "end", "__bss_end", "__end"];

/// The largest memory limit, and the highest end address of anything a guest may use
/// (`0xfffff000`, 4 GiB minus one page). The last page of the 32-bit address space is not guest
/// memory, so every end address (of a loadable segment, a region, the page-rounded program
/// break) is representable in 32 bits. The one rule for the top page: the VM refuses a layout
/// or a loadable segment above it, and the rewrite and `linker-script` refuse a limit above it.
pub const MAX_MEMLIMIT: u64 = 0xffff_f000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// Bounds the file states contradict each other: the map names them as a problem, and a
    /// rewrite cannot move them.
    #[error("cannot rewrite: the bounds in the file contradict each other: {0}; correct the linker script and relink, or `run` the file as it is")]
    Contradiction(String),
    /// The layout is valid but a rewrite cannot move it: a boundary of its family (see
    /// [`Family`]) is not in the file, or the file states it twice.
    #[error("cannot {action} a {family} layout: {why}")]
    Unsupported {
        action: &'static str,
        family: String,
        why: String,
    },
    /// The layout cannot run as linked (family f): the map names the problem, a rewrite
    /// repairs it.
    #[error("{0}")]
    Broken(String),
}

/// How the entry code sets `sp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpKind {
    /// `auipc sp, hi` + `addi sp, sp, lo` (`la`/`lla` under medany).
    AuipcAddi,
    /// `lui sp, hi` + `addi sp, sp, lo` (medlow `la`, or `li`).
    LuiAddi,
    /// `lui sp, hi` alone (`lo` = 0).
    Lui,
    /// `addi sp, x0, imm` (`li` of a small value, or `la` relaxed against x0).
    AddiZero,
    /// `addi sp, gp, off` (linker relaxation against the global pointer).
    GpRelative,
    /// `lw sp, off(base)`: the top is a word in loaded data (RISC Zero / SP1 style).
    LoadWord,
    /// The entry code never sets sp and reads it: the loader provides the stack (Linux crt0).
    Loader,
    /// sp is computed at run time (e.g. from a function result): cannot be found statically.
    Runtime,
    /// No write to sp found near the entry point.
    NotFound,
}

impl SpKind {
    /// The form, in words (for reports).
    pub fn describe(self) -> &'static str {
        match self {
            SpKind::AuipcAddi => "auipc + addi",
            SpKind::LuiAddi => "lui + addi",
            SpKind::Lui => "lui",
            SpKind::AddiZero => "addi from x0",
            SpKind::GpRelative => "addi from gp",
            SpKind::LoadWord => "lw from a data word",
            SpKind::Loader => "set by the loader",
            SpKind::Runtime => "computed after a call",
            SpKind::NotFound => "none found",
        }
    }
}

/// The `sp` set-up found at the entry point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SpInit {
    pub kind: SpKind,
    /// The value sp holds after the prologue (after any `andi` alignment), when constant.
    pub value: Option<u32>,
    /// Address of the instruction that completes the set-up.
    pub at: u32,
    /// Addresses of every instruction that contributes to the value (e.g. the auipc and addi).
    pub insts: Vec<u32>,
    /// For [`SpKind::LoadWord`]: the address of the data word holding the stack top.
    pub word_addr: Option<u32>,
    /// `andi sp, sp, mask` applied after the set-up (Jolt aligns with -16).
    pub align_mask: Option<i32>,
    /// Address of a Nexus `li a7, 0x402; ecall` (SYS_OVERWRITE_SP) after the set-up.
    pub overwrite_ecall: Option<u32>,
}

/// Where a layout value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Sourced {
    pub value: u32,
    pub source: String,
}

/// The memory layout of a guest (ARCHITECTURE.md, "Memory model").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Layout {
    /// Size of the guest memory: addresses `[0, memlimit)` exist. At most 4 GiB.
    pub memlimit: u64,
    /// Lowest loaded address.
    pub image_start: u32,
    /// End of text, data and bss (excluding NOBITS `.heap`/`.stack` sections).
    pub image_end: u32,
    pub heap_start: u32,
    pub heap_end: u32,
    pub stack_bottom: u32,
    pub stack_top: u32,
    /// The global pointer, when the prologue sets it or `__global_pointer$` exists.
    pub gp: Option<u32>,
    /// True when heap and stack share one region with no boundary between them (the Nexus 0.3
    /// runtime): the heap grows up from `heap_start`, the stack down from `stack_top`.
    pub shared: bool,
    pub sp_init: SpInit,
    /// Where each boundary came from: `(field, source)`.
    pub sources: Vec<(String, String)>,
}

impl Layout {
    pub fn stack_size(&self) -> u32 {
        self.stack_top - self.stack_bottom
    }
    pub fn heap_size(&self) -> u32 {
        self.heap_end.saturating_sub(self.heap_start)
    }
    /// Gap between heap end and stack bottom (guard), when the layout has one.
    pub fn guard(&self) -> u32 {
        if self.shared {
            0
        } else {
            self.stack_bottom.saturating_sub(self.heap_end)
        }
    }

    /// The layout a rewrite can move: the [`MemoryMap`]'s model, or a refusal that names the
    /// layout family and what to do. `inspect` and `run` use [`MemoryMap::discover`], which
    /// never fails.
    pub fn discover(img: &Image) -> Result<Layout, LayoutError> {
        MemoryMap::discover(img).model
    }

    /// The stack-at-the-top model (family a): today's rewrite model, from the prologue's
    /// `sp` value (or `stack_top` when the caller decided it), symbols and sections.
    pub(crate) fn at_top(
        img: &Image,
        pro: &prologue::Prologue,
        stack_top_override: Option<(u32, String)>,
        check: bool,
    ) -> Result<Layout, LayoutError> {
        let mut sources = Vec::new();
        let sym = |names: &[&str]| -> Option<(u32, String)> {
            names
                .iter()
                .find_map(|n| img.symbol(n).map(|s| (s.value, format!("symbol {n}"))))
        };
        let (image_start, load_end) = img.load_bounds();
        let heap_sec = img.section(".heap").filter(|s| s.is_alloc());
        let stack_sec = img.section(".stack").filter(|s| s.is_alloc());
        // Where the heap/stack regions begin, from names alone: NOBITS sections at or above it
        // (`.heap`, `.stack`, a Jolt-style `.canary`) are regions, not image.
        let region_floor = HEAP_START_SYMS
            .iter()
            .find_map(|n| img.symbol(n).map(|s| s.value))
            .or(heap_sec.map(|s| s.addr))
            .or_else(|| {
                STACK_BOTTOM_SYMS
                    .iter()
                    .find_map(|n| img.symbol(n).map(|s| s.value))
            })
            .or(stack_sec.map(|s| s.addr));
        let is_region = |s: &crate::elf::Section| {
            s.name == ".heap"
                || s.name == ".stack"
                || (s.is_nobits() && region_floor.is_some_and(|f| s.addr >= f))
        };
        // End of the program proper: every allocated section but the heap/stack regions.
        let image_end = {
            let from_sections = img
                .sections
                .iter()
                .filter(|s| s.is_alloc() && !is_region(s) && s.size > 0)
                .map(|s| s.end())
                .max();
            let from_loads = img
                .loads()
                .filter(|seg| {
                    // A segment consisting only of the heap/stack regions is not image.
                    seg.filesz != 0
                        || !(heap_sec.is_some_and(|h| seg.contains(h.addr))
                            || stack_sec.is_some_and(|st| seg.contains(st.addr)))
                })
                .map(|s| s.end())
                .max();
            from_sections
                .or(from_loads)
                .unwrap_or(load_end)
                .min(u64::from(u32::MAX)) as u32
        };

        let gp = pro.gp;
        let sp_init = pro.sp.clone();

        // Stack top: the value the code computes wins; symbols and sections otherwise.
        let stack_top = if let Some((v, src)) = stack_top_override {
            sources.push(("stack_top".into(), src));
            v
        } else if let Some(v) = sp_init.value {
            sources.push((
                "stack_top".into(),
                format!(
                    "sp set-up at {:#x} ({})",
                    sp_init.at,
                    sp_init.kind.describe()
                ),
            ));
            v
        } else if let Some((v, src)) = sym(STACK_TOP_SYMS).or_else(|| sym(MEMORY_TOP_SYMS)) {
            sources.push(("stack_top".into(), src));
            v
        } else if let Some(s) = stack_sec {
            sources.push(("stack_top".into(), "end of section .stack".into()));
            s.end() as u32
        } else {
            // A guest that sets up no stack (the RISC-V ISA tests zero every register and never
            // touch sp, or keep data in it): its memory is the image, up to its end symbol when
            // that lies past the loaded bytes (`_end` page-aligned after a test without data).
            let cap = |v: u64| (v.min(u64::from(u32::MAX) - 15) as u32).next_multiple_of(16);
            match sym(IMAGE_END_SYMS).filter(|(v, _)| u64::from(*v) > load_end) {
                Some((v, src)) => {
                    sources.push((
                        "stack_top".into(),
                        format!("no stack set-up found: end of the image ({src})"),
                    ));
                    cap(v.into())
                }
                None => {
                    sources.push((
                        "stack_top".into(),
                        "no stack set-up found: end of the loaded image".into(),
                    ));
                    cap(load_end)
                }
            }
        };

        let heap_start = if let Some((v, src)) = sym(HEAP_START_SYMS) {
            sources.push(("heap_start".into(), src));
            v
        } else if let Some(s) = heap_sec {
            sources.push(("heap_start".into(), "start of section .heap".into()));
            s.addr
        } else if let Some(v) = nexus_heap_word(img) {
            sources.push((
                "heap_start".into(),
                "word at symbol _heap (Nexus runtime)".into(),
            ));
            v
        } else if let Some((v, src)) = sym(IMAGE_END_SYMS) {
            sources.push(("heap_start".into(), src));
            v
        } else {
            sources.push(("heap_start".into(), "end of the loaded image".into()));
            image_end
        };

        let heap_end_found = sym(HEAP_END_SYMS)
            .or_else(|| heap_sec.map(|s| (s.end() as u32, "end of section .heap".into())));
        // A `.stack` section bounds the stack only when it ends at the stack top: picolibc's
        // default script reserves a `.stack` right after `.bss` while sp starts at the end of
        // RAM (its heap runs between them).
        let stack_sec_at_top = stack_sec
            .filter(|s| s.end() >= u64::from(stack_top) && s.end() - u64::from(stack_top) < 16);
        // A "bottom" symbol at the stack top names the top (Airbender's `_sstack`).
        let stack_bottom_found = sym(STACK_BOTTOM_SYMS)
            .filter(|(v, _)| *v != stack_top)
            .or_else(|| stack_sec_at_top.map(|s| (s.addr, "start of section .stack".into())));

        let (heap_end, stack_bottom, shared) = match (heap_end_found, stack_bottom_found) {
            (Some((he, a)), Some((sb, b))) => {
                sources.push(("heap_end".into(), a));
                sources.push(("stack_bottom".into(), b));
                (he, sb, false)
            }
            (Some((he, a)), None) => {
                sources.push(("heap_end".into(), a));
                sources.push((
                    "stack_bottom".into(),
                    "heap end (stack directly above the heap)".into(),
                ));
                (he, he, false)
            }
            (None, Some((sb, b))) => {
                sources.push((
                    "heap_end".into(),
                    "stack bottom (heap directly below the stack)".into(),
                ));
                sources.push(("stack_bottom".into(), b));
                (sb, sb, false)
            }
            (None, None) => {
                sources.push((
                    "heap_end".into(),
                    "shared heap/stack region: up to the stack top".into(),
                ));
                sources.push((
                    "stack_bottom".into(),
                    "shared heap/stack region: down to the heap start".into(),
                ));
                (stack_top, heap_start, true)
            }
        };

        let memlimit = if let Some((v, src)) = sym(MEMORY_TOP_SYMS).filter(|(v, _)| *v >= stack_top)
        {
            sources.push(("memlimit".into(), src));
            u64::from(v)
        } else {
            sources.push((
                "memlimit".into(),
                "stack top, rounded up to 16 bytes".into(),
            ));
            let top = u64::from(stack_top)
                .max(u64::from(heap_end))
                .max(u64::from(image_end));
            top.div_ceil(16) * 16
        };
        // A symbol at 0 (memory top of 4 GiB written as 0) is out of this tool's reach.
        let memlimit = memlimit.min(1 << 32);

        let layout = Layout {
            memlimit,
            image_start,
            image_end,
            heap_start,
            heap_end,
            stack_bottom,
            stack_top,
            gp,
            shared,
            sp_init,
            sources,
        };
        if check {
            layout.check()?;
        }
        Ok(layout)
    }

    /// The bounds must be in order: image, heap, stack, limit. A contradiction names the
    /// values and where each came from (a symbol, a section, the `sp` set-up).
    fn check(&self) -> Result<(), LayoutError> {
        let at = |field: &str, v: u64| -> String {
            match self.source(field) {
                "" => format!("{v:#x}"),
                s => format!("{v:#x} ({s})"),
            }
        };
        let bad = |m: String| Err(LayoutError::Contradiction(m));
        if self.stack_top <= self.image_start {
            return bad(format!(
                "the stack top {} is below the program (which starts at {:#x}): a stack under the image, as in RISC Zero's and SP1's memory maps, is not the stack-at-the-top layout",
                at("stack_top", self.stack_top.into()),
                self.image_start
            ));
        }
        if self.heap_start > self.heap_end {
            return bad(format!(
                "heap start {} is above heap end {}",
                at("heap_start", self.heap_start.into()),
                at("heap_end", self.heap_end.into())
            ));
        }
        if self.stack_bottom > self.stack_top {
            return bad(format!(
                "stack bottom {} is above stack top {}",
                at("stack_bottom", self.stack_bottom.into()),
                at("stack_top", self.stack_top.into())
            ));
        }
        if !self.shared && self.heap_end > self.stack_bottom {
            return bad(format!(
                "heap end {} is above stack bottom {}",
                at("heap_end", self.heap_end.into()),
                at("stack_bottom", self.stack_bottom.into())
            ));
        }
        if u64::from(self.stack_top) > self.memlimit {
            return bad(format!(
                "stack top {} is above the memory limit {}",
                at("stack_top", self.stack_top.into()),
                at("memlimit", self.memlimit)
            ));
        }
        Ok(())
    }
}

/// The Nexus runtime keeps its heap start in a `.data` word named `_heap`.
fn nexus_heap_word(img: &Image) -> Option<u32> {
    let s = img.symbol("_heap")?;
    img.word_at(s.value)
}
