//! The memory map of any RV32 executable, apart from what a rewrite needs.
//!
//! [`MemoryMap::discover`] never fails: every loadable segment is a region, and the heap and
//! stack are regions whose bounds are known (a symbol, a section, the `sp` the code computes),
//! inferred (from the segments or a convention) or unknown, each with where it came from. The
//! map classifies the layout into a [`Family`] and derives from it:
//! - `run`: the regions the VM allows (every family runs, except a broken layout, which the
//!   VM refuses to start, naming the problem);
//! - `model`: the layout a rewrite can move (families a, b, c, e where the file encodes their
//!   bounds, and, as a repair, f), or a refusal that names the family, the missing boundary and
//!   what to do.

use super::alloc::{self, HeapEndConst};
use super::prologue::{self, Prologue};
use super::{
    Layout, LayoutError, SpInit, SpKind, HEAP_END_SYMS, HEAP_START_SYMS, IMAGE_END_SYMS,
    MAX_MEMLIMIT, MEMORY_TOP_SYMS, STACK_TOP_SYMS,
};
use crate::elf::{Image, Segment, PF_W, PT_GNU_STACK};
use serde::Serialize;

/// Where a loader-provided stack starts (family e): below it, [`LOADER_STACK_SIZE`] of stack,
/// then the program break grows up from the image toward it. (Linux and qemu-user choose their
/// own address; a program cannot tell the difference.)
pub const LOADER_STACK_TOP: u32 = 0x4000_0000;
/// Size of a loader-provided stack: Linux's default `RLIMIT_STACK`.
pub const LOADER_STACK_SIZE: u32 = 8 << 20;
/// The Nexus runtime's default memory top (`__memory_top`), where its VM places the stack when
/// a guest asks it to (`ecall 0x402`) and the file's own value is unusable.
pub const NEXUS_MEMORY_TOP: u32 = 0x8040_0000;
/// Lowest address the VM allows below a stack that lies under the program (family b) when no
/// segment bounds it: the first page stays unmapped, so a null pointer still faults.
pub const LOW_FLOOR: u32 = 0x1000;

/// How certain a bound is, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "certainty", rename_all = "snake_case")]
pub enum Bound {
    /// Stated by the file: a symbol, a section, a program header, the value the code computes.
    Known { value: u64, source: String },
    /// Derived from a convention or a neighbouring region.
    Inferred { value: u64, source: String },
    /// Not found.
    Unknown { why: String },
}

impl Bound {
    pub fn value(&self) -> Option<u64> {
        match self {
            Bound::Known { value, .. } | Bound::Inferred { value, .. } => Some(*value),
            Bound::Unknown { .. } => None,
        }
    }
    pub fn source(&self) -> &str {
        match self {
            Bound::Known { source, .. } | Bound::Inferred { source, .. } => source,
            Bound::Unknown { why } => why,
        }
    }
    fn known(value: impl Into<u64>, source: impl Into<String>) -> Bound {
        Bound::Known {
            value: value.into(),
            source: source.into(),
        }
    }
    fn inferred(value: impl Into<u64>, source: impl Into<String>) -> Bound {
        Bound::Inferred {
            value: value.into(),
            source: source.into(),
        }
    }
    fn unknown(why: impl Into<String>) -> Bound {
        Bound::Unknown { why: why.into() }
    }
    /// Known when the source names something in the file, inferred otherwise.
    fn from_source(value: impl Into<u64>, source: &str) -> Bound {
        let stated = [
            "symbol",
            "sp set-up",
            "start of section",
            "end of section",
            "word at",
        ];
        if stated.iter().any(|p| source.starts_with(p)) {
            Bound::known(value, source)
        } else {
            Bound::inferred(value, source)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegionKind {
    /// A loadable segment (program header).
    Segment,
    Heap,
    Stack,
    /// Heap and stack in one region, growing toward each other.
    HeapStack,
}

/// One region of the map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Region {
    pub kind: RegionKind,
    pub name: String,
    pub start: Bound,
    pub end: Bound,
}

/// Layout families seen in real guests (GUESTS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// a. The stack at the top of memory, the heap between the image and the stack (Nexus,
    ///    Jolt, Ceno, most C programs): the model a rewrite moves.
    StackAtTop,
    /// b. The stack below the program (SP1, RISC Zero): a fixed top under the code, the heap
    ///    from the image end to a top the allocator keeps in its code.
    StackBelowProgram,
    /// c. The stack below the heap, both in one writable segment (Airbender).
    StackBelowHeap,
    /// d. No stack: the program never sets `sp` (hand-written assembly, the ISA tests).
    NoStack,
    /// e. The loader provides the stack (Linux crt0 that never sets `sp`).
    LoaderStack,
    /// f. Broken as linked: `sp` starts inside the read-only image.
    Broken,
}

impl Family {
    pub fn letter(self) -> char {
        match self {
            Family::StackAtTop => 'a',
            Family::StackBelowProgram => 'b',
            Family::StackBelowHeap => 'c',
            Family::NoStack => 'd',
            Family::LoaderStack => 'e',
            Family::Broken => 'f',
        }
    }
    pub fn describe(self) -> &'static str {
        match self {
            Family::StackAtTop => "stack at the top of memory",
            Family::StackBelowProgram => "stack below the program",
            Family::StackBelowHeap => "stack below the heap",
            Family::NoStack => "no stack",
            Family::LoaderStack => "stack provided by the loader",
            Family::Broken => "broken: the stack starts inside the read-only image",
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "family {} ({})", self.letter(), self.describe())
    }
}

/// What a rewrite of a family b, c or e model moves besides family a's boundaries, and the
/// forms that constrain it (all empty for the other families).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Movable {
    /// Family b: the allocator constants that hold the heap end (every one a site).
    pub heap_end_consts: Vec<HeapEndConst>,
    /// Family c: the heap start is stated by the file (a symbol or a `.heap` section), so
    /// `--stack` can move the stack top and the heap start together.
    pub heap_start_encoded: bool,
    /// Family e: the `PT_GNU_STACK` program header where a rewrite records the loader's stack
    /// (its index), when the file has one.
    pub gnu_stack: Option<usize>,
    /// Family a whose start-up asks the VM for sp (Nexus `ecall 0x402` after a placeholder
    /// inside the image): the stack top is the VM's, recorded by a rewrite in `gnu_stack`.
    pub vm_chooses_sp: bool,
}

impl Movable {
    /// A heap end held by a lone `lui` can only move by whole 4 KiB pages.
    pub fn heap_end_align(&self) -> u32 {
        if self.heap_end_consts.iter().any(HeapEndConst::lone_lui) {
            4096
        } else {
            16
        }
    }
}

/// The memory map of an executable.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MemoryMap {
    pub family: Family,
    pub regions: Vec<Region>,
    pub sp_init: SpInit,
    /// What confirmed the `sp` set-up as a stack (a symbol, a section, a segment's end, its use
    /// as a stack), when the entry code sets one up.
    pub sp_confirmed_by: Option<String>,
    pub gp: Option<u32>,
    /// Problems of the layout as linked (shown, not refused).
    pub problems: Vec<String>,
    /// Notes on how the map was read (e.g. who chooses `sp`).
    pub notes: Vec<String>,
    /// The layout a rewrite can move, or why not.
    #[serde(skip)]
    pub model: Result<Layout, LayoutError>,
    /// What the rewrite of the model may move beyond family a's boundaries, and how.
    #[serde(skip)]
    pub movable: Movable,
    /// The layout the VM runs the file under, or why it cannot start.
    #[serde(skip)]
    pub run: Result<Layout, LayoutError>,
}

fn seg_flags(s: &Segment) -> String {
    let f = |bit: u32, c: char| if s.flags & bit != 0 { c } else { '-' };
    [
        f(crate::elf::PF_R, 'R'),
        f(PF_W, 'W'),
        f(crate::elf::PF_X, 'E'),
    ]
    .iter()
    .collect()
}

/// Loadable segments with memory, as regions.
fn segment_regions(img: &Image) -> Vec<Region> {
    img.loads()
        .filter(|s| s.memsz > 0)
        .map(|s| Region {
            kind: RegionKind::Segment,
            name: format!("segment {} ({})", s.index, seg_flags(s)),
            start: Bound::known(s.vaddr, "program header"),
            end: Bound::known(s.end(), "program header"),
        })
        .collect()
}

/// Heap and stack regions of a stack-at-the-top layout.
fn layout_regions(l: &Layout) -> Vec<Region> {
    let src = |field: &str| l.source(field);
    if l.shared {
        vec![Region {
            kind: RegionKind::HeapStack,
            name: "heap + stack (shared)".into(),
            start: Bound::from_source(l.heap_start, src("heap_start")),
            end: Bound::from_source(l.stack_top, src("stack_top")),
        }]
    } else {
        vec![
            Region {
                kind: RegionKind::Heap,
                name: "heap".into(),
                start: Bound::from_source(l.heap_start, src("heap_start")),
                end: Bound::from_source(l.heap_end, src("heap_end")),
            },
            Region {
                kind: RegionKind::Stack,
                name: "stack".into(),
                start: Bound::from_source(l.stack_bottom, src("stack_bottom")),
                end: Bound::from_source(l.stack_top, src("stack_top")),
            },
        ]
    }
}

/// The first symbol of `names` with a value in `[v, v + 16]` (the one that confirms a stack top).
fn symbol_near(img: &Image, names: &[&str], v: u32) -> Option<(String, u32)> {
    names.iter().find_map(|n| {
        img.symbol(n)
            .filter(|s| s.value >= v && s.value - v <= 16)
            .map(|s| (n.to_string(), s.value))
    })
}

impl MemoryMap {
    /// Read the map of a parsed image. Never fails: what cannot be found is unknown.
    pub fn discover(img: &Image) -> MemoryMap {
        let gp_sym = img.symbol("__global_pointer$").map(|s| s.value);
        let pro = prologue::analyse(img, gp_sym);
        let mut map = MemoryMap {
            family: Family::StackAtTop,
            regions: segment_regions(img),
            sp_init: pro.sp.clone(),
            sp_confirmed_by: pro.confirmed_by.clone(),
            gp: pro.gp,
            problems: Vec::new(),
            notes: Vec::new(),
            // Placeholders: every family below sets both.
            model: Err(LayoutError::Broken(String::new())),
            movable: Movable::default(),
            run: Err(LayoutError::Broken(String::new())),
        };
        match pro.sp.value {
            None if pro.sp.kind == SpKind::NotFound && pro.reads_sp_first => {
                map.loader_stack(img, &pro)
            }
            None if pro.sp.kind == SpKind::NotFound => map.no_stack(img, &pro),
            None => map.at_top(img, &pro, None),
            Some(sp) => map.classify(img, &pro, sp),
        }
        if let Some(why) = img.no_code_at_entry() {
            map.problems.push(why);
        }
        if let Some(why) = crate::abi::risc0_kernel(img) {
            map.problems.push(why);
        }
        map
    }

    /// Family a, or the fallback when its bounds contradict each other.
    fn at_top(&mut self, img: &Image, pro: &Prologue, top: Option<(u32, String)>) {
        match Layout::at_top(img, pro, top.clone(), true) {
            Ok(l) => {
                self.regions.extend(layout_regions(&l));
                self.run = Ok(l.clone());
                self.model = Ok(l);
            }
            Err(e) => {
                let why = match &e {
                    LayoutError::Contradiction(m) => m.clone(),
                    other => other.to_string(),
                };
                self.problems
                    .push(format!("the bounds found disagree: {why}"));
                let l = Layout::at_top(img, pro, top, false).expect("unchecked");
                self.regions.push(Region {
                    kind: RegionKind::Stack,
                    name: "stack".into(),
                    start: Bound::unknown("the stack bottom and heap end found disagree"),
                    end: Bound::from_source(l.stack_top, l.source("stack_top")),
                });
                self.run = Ok(flat(img, &l, l.image_start, top_of(img, &l)));
                self.model = Err(e);
            }
        }
    }

    fn classify(&mut self, img: &Image, pro: &Prologue, sp: u32) {
        let seg_at = |a: u32| img.loads().find(|s| s.memsz > 0 && s.contains(a));
        let below = sp.wrapping_sub(1);
        let exec_lo = img
            .loads()
            .filter(|s| s.is_exec() && s.memsz > 0)
            .map(|s| s.vaddr)
            .min();
        let l0 = Layout::at_top(img, pro, None, false).expect("unchecked");
        let in_ro = seg_at(below).filter(|s| s.flags & PF_W == 0);
        if let (Some(ecall), Some(seg)) = (pro.sp.overwrite_ecall, in_ro) {
            // A placeholder the VM replaces (`li a7, 0x402; ecall`): the Nexus rules decide,
            // or the memory top a rewrite recorded in PT_GNU_STACK (as for family e).
            let gnu = img.segments.iter().find(|s| s.p_type == PT_GNU_STACK);
            let recorded = gnu.and_then(|g| self.recorded_stack(img, g, &l0));
            let (top, src) = match recorded {
                Some((top, _, ix)) => (
                    top,
                    format!("program header {ix} (PT_GNU_STACK, recorded by a rewrite) for ecall 0x402 at {ecall:#x}"),
                ),
                None => (
                    img.symbol("__memory_top")
                        .map(|s| s.value)
                        .filter(|&v| v > l0.image_end && v > seg.vaddr)
                        .unwrap_or(NEXUS_MEMORY_TOP),
                    format!("Nexus rule for ecall 0x402 at {ecall:#x}"),
                ),
            };
            self.notes.push(format!(
                "sp = {sp:#x} is a placeholder inside segment {}: ecall 0x402 at {ecall:#x} lets the VM choose sp; {} put it at {top:#x}",
                seg.index,
                if recorded.is_some() { "the rewrite's record" } else { "the Nexus rules" }
            ));
            self.at_top(img, pro, Some((top, src)));
            match gnu {
                Some(g) => {
                    self.movable.gnu_stack = Some(g.index);
                    self.movable.vm_chooses_sp = true;
                }
                None => {
                    self.model = Err(LayoutError::Unsupported {
                        action: "rewrite",
                        family: Family::StackAtTop.to_string(),
                        why: format!("the VM chooses sp (ecall 0x402 at {ecall:#x} after a placeholder inside the image) and the file has no PT_GNU_STACK program header in which a rewrite could record the memory top for `run` and `prove`; relink with -z noexecstack (which adds one), or `run` it as it is"),
                    })
                }
            }
            return;
        }
        if let Some(seg) = in_ro {
            self.broken(img, pro, sp, seg, &l0);
            return;
        }
        let in_seg = seg_at(below);
        if in_seg.is_none() && exec_lo.is_some_and(|x| sp <= x) {
            self.below_program(img, sp, &l0);
            return;
        }
        if let Some(w) = in_seg.filter(|w| u64::from(sp) < w.end()) {
            let heap_above = HEAP_START_SYMS
                .iter()
                .chain(IMAGE_END_SYMS)
                .filter_map(|n| img.symbol(n))
                .any(|s| s.value >= sp && u64::from(s.value) <= w.end());
            if heap_above || w.end() - u64::from(sp) >= 1 << 16 {
                self.below_heap(img, sp, w, &l0);
                return;
            }
        }
        self.at_top(img, pro, None);
    }

    /// Family b: the stack top is fixed under the program; the heap runs from the image end
    /// to a heap end the file states (a symbol, or a constant its allocator compares against the
    /// heap pointer), which is the memory limit a rewrite moves.
    fn below_program(&mut self, img: &Image, sp: u32, l0: &Layout) {
        self.family = Family::StackBelowProgram;
        let floor = img
            .loads()
            .filter(|s| s.memsz > 0 && s.end() <= u64::from(sp))
            .map(|s| s.end() as u32)
            .max();
        let heap_sym = HEAP_END_SYMS
            .iter()
            .find_map(|n| img.symbol(n).map(|s| (s.value, format!("symbol {n}"))));
        let mut candidates = Vec::new();
        let heap_end = match heap_sym {
            Some(h) => Some(h),
            None => match alloc::heap_end(img, l0.heap_start) {
                Ok(Some(c)) => {
                    let h = (c[0].value, c[0].describe());
                    self.movable.heap_end_consts = c;
                    Some(h)
                }
                Ok(None) => None,
                Err(c) => {
                    candidates = c;
                    None
                }
            },
        };
        if !candidates.is_empty() {
            self.problems.push(format!(
                "the allocator compares the heap pointer against {} different constants: {}; none is taken as the heap end",
                candidates.len(),
                candidate_list(&candidates)
            ));
        }
        self.regions.push(Region {
            kind: RegionKind::Stack,
            name: "stack".into(),
            start: match floor {
                Some(f) => {
                    Bound::inferred(f, "end of the segment below (nothing bounds it nearer)")
                }
                None => Bound::unknown(format!(
                    "no symbol bounds it; the VM allows down to {LOW_FLOOR:#x}"
                )),
            },
            end: Bound::known(sp, self.sp_source()),
        });
        self.regions.push(Region {
            kind: RegionKind::Heap,
            name: "heap".into(),
            start: Bound::from_source(l0.heap_start, l0.source("heap_start")),
            end: match &heap_end {
                Some((v, s)) => Bound::known(*v, s.clone()),
                None => Bound::unknown(format!(
                    "the allocator keeps its limit in its code; the VM allows up to {MAX_MEMLIMIT:#x}"
                )),
            },
        });
        let top = heap_end.as_ref().map_or(MAX_MEMLIMIT, |(v, _)| {
            u64::from(*v).max(u64::from(l0.image_end))
        });
        let low = floor.unwrap_or(LOW_FLOOR.min(sp));
        self.run = Ok(flat(img, l0, low, top));
        let refuse = |why: String| LayoutError::Unsupported {
            action: "rewrite",
            family: Family::StackBelowProgram.to_string(),
            why,
        };
        // A heap end inside a loaded segment has the file's own bytes or regions above it: it
        // cannot move without moving them.
        let inside = heap_end.as_ref().and_then(|(he, _)| {
            img.loads()
                .find(|s| s.memsz > 0 && s.vaddr < *he && u64::from(*he) < s.end())
        });
        self.model = match heap_end {
            Some((he, src)) if inside.is_some() => {
                let s = inside.expect("checked");
                Err(refuse(format!(
                    "the heap end {he:#x} ({src}) lies inside segment {} [{:#x}, {:#x}), which the file maps above it, so it cannot move to a new memory limit; `run` runs it as it is",
                    s.index,
                    s.vaddr,
                    s.end()
                )))
            }
            Some((he, src)) if he > l0.image_end.max(l0.heap_start) && he > sp => Ok(Layout {
                memlimit: u64::from(he),
                image_start: l0.image_start,
                image_end: l0.image_end,
                heap_start: l0.heap_start,
                heap_end: he,
                stack_bottom: low,
                stack_top: sp,
                gp: l0.gp,
                shared: false,
                sp_init: l0.sp_init.clone(),
                sources: vec![
                    ("stack_top".into(), format!("{} (fixed under the program)", self.sp_source())),
                    (
                        "stack_bottom".into(),
                        match floor {
                            Some(_) => "end of the segment below".into(),
                            None => format!("the lowest address the VM allows ({LOW_FLOOR:#x})"),
                        },
                    ),
                    ("heap_start".into(), l0.source("heap_start").to_string()),
                    ("heap_end".into(), src.clone()),
                    ("memlimit".into(), format!("the heap end ({src})")),
                ],
            }),
            Some((he, src)) => Err(refuse(format!(
                "the heap end {he:#x} ({src}) is not above the image end {:#x} and the stack top {sp:#x}: the bounds contradict each other; `run` runs it as it is",
                l0.image_end.max(l0.heap_start)
            ))),
            None if !candidates.is_empty() => Err(refuse(format!(
                "the allocator compares the heap pointer against {} different constants ({}), so the heap end is ambiguous; `run` runs it as it is (or relink with a _heap_end symbol)",
                candidates.len(),
                candidate_list(&candidates)
            ))),
            None => Err(refuse(format!(
                "the heap end is not in the file (no heap-end symbol, and no allocator compares the heap pointer against a constant), and the stack top {sp:#x} is a fixed address under the program (as in SP1's and RISC Zero's memory maps), so the file records no memory limit to move; `run` runs it as it is"
            ))),
        };
    }

    /// Family c: the stack, then the heap, in one writable segment that ends at the memory
    /// limit. A rewrite moves the segment's end (and the heap end with it) and, with `--stack`,
    /// the stack top and the heap start together when the file states the heap start.
    fn below_heap(&mut self, img: &Image, sp: u32, w: &Segment, l0: &Layout) {
        self.family = Family::StackBelowHeap;
        let heap_start = HEAP_START_SYMS.iter().chain(IMAGE_END_SYMS).find_map(|n| {
            img.symbol(n)
                .filter(|s| s.value >= sp)
                .map(|s| (s.value, format!("symbol {n}")))
        });
        let stack_bottom = w.vaddr.max(l0.image_end.min(sp));
        self.regions.push(Region {
            kind: RegionKind::Stack,
            name: "stack".into(),
            start: Bound::inferred(
                stack_bottom,
                format!("start of segment {} (nothing bounds it nearer)", w.index),
            ),
            end: Bound::known(sp, self.sp_source()),
        });
        self.regions.push(Region {
            kind: RegionKind::Heap,
            name: "heap".into(),
            start: match &heap_start {
                Some((v, s)) => Bound::known(*v, s.clone()),
                None => Bound::inferred(sp, "the stack top (heap directly above the stack)"),
            },
            end: Bound::inferred(w.end(), format!("end of segment {}", w.index)),
        });
        let top = w.end().max(top_of(img, l0));
        self.run = Ok(flat(img, l0, l0.image_start, top));
        let seg_end = w.end() as u32;
        let refuse = |why: String| LayoutError::Unsupported {
            action: "rewrite",
            family: Family::StackBelowHeap.to_string(),
            why,
        };
        // A heap-end symbol elsewhere than the segment's end: two bounds for one boundary.
        let other_end = HEAP_END_SYMS
            .iter()
            .find_map(|n| img.symbol(n).map(|s| (*n, s.value)))
            .filter(|&(_, v)| v != seg_end);
        let (hs, hs_src) = heap_start
            .clone()
            .unwrap_or((sp, "the stack top (heap directly above the stack)".into()));
        self.movable.heap_start_encoded = heap_start.is_some() || img.section(".heap").is_some();
        self.model = match other_end {
            Some((n, v)) => Err(refuse(format!(
                "the heap end symbol {n} = {v:#x} is not the end {seg_end:#x} of segment {} that holds the heap, so the file states two heap ends; `run` runs it as it is",
                w.index
            ))),
            None if u64::from(seg_end) != w.end() || hs > seg_end => Err(refuse(format!(
                "the heap start {hs:#x} is not inside segment {} ({:#x}..{:#x}); `run` runs it as it is",
                w.index,
                w.vaddr,
                w.end()
            ))),
            None => Ok(Layout {
                memlimit: w.end(),
                image_start: l0.image_start,
                image_end: l0.image_end,
                heap_start: hs,
                heap_end: seg_end,
                stack_bottom,
                stack_top: sp,
                gp: l0.gp,
                shared: false,
                sp_init: l0.sp_init.clone(),
                sources: vec![
                    ("stack_top".into(), self.sp_source()),
                    (
                        "stack_bottom".into(),
                        format!("start of segment {}", w.index),
                    ),
                    ("heap_start".into(), hs_src),
                    ("heap_end".into(), format!("end of segment {}", w.index)),
                    (
                        "memlimit".into(),
                        format!("end of segment {} (stack, then heap)", w.index),
                    ),
                ],
            }),
        };
    }

    /// Family d.
    fn no_stack(&mut self, img: &Image, pro: &Prologue) {
        self.family = Family::NoStack;
        match pro.not_stack {
            None => self
                .notes
                .push("the entry code never sets sp and never reads it: no stack".into()),
            Some((at, v)) => self.notes.push(format!(
                "the entry code sets up no stack: sp = {v:#x} (written at {at:#x}){} is never used as one (no stack-top symbol, no .stack section, not a segment's end, no frame opened below it): sp holds data",
                where_is(img, v)
            )),
        }
        let mut l = Layout::at_top(img, pro, None, false).expect("unchecked");
        // One region from the image start to the highest end anything names: the loaded
        // image, the program's own end (`_end` may lie past the last segment, page-aligned by
        // the riscv-tests' script) and the heap start. Heap and stack are empty and share it,
        // so the layout is ordered as every consumer (the VM, a proof's statement) expects.
        let top = (img.load_bounds().1)
            .max(u64::from(l.image_end))
            .max(u64::from(l.heap_start))
            .max(u64::from(l.stack_top))
            .next_multiple_of(16)
            .min(MAX_MEMLIMIT);
        if top > l.memlimit || l.heap_start > l.stack_top {
            l.memlimit = top;
            l.stack_top = top as u32;
            l.heap_end = top as u32;
            l.heap_start = l.heap_start.min(top as u32);
            l.stack_bottom = l.heap_start;
            l.shared = true;
            l.sources.retain(|(f, _)| f != "memlimit");
            l.sources.push((
                "memlimit".into(),
                "no stack: the highest end the file names (loaded image, _end, heap start), rounded up to 16 bytes".into(),
            ));
        }
        self.run = Ok(l.clone());
        // The rewrite refuses it by name (nothing to move); `prove` proves it as it is.
        self.model = Ok(l);
    }

    /// The stack a rewrite recorded in the `PT_GNU_STACK` program header `g` (`p_vaddr` its
    /// bottom, `p_memsz` its size; both zero as linkers write it): `(top, size, header index)`,
    /// or `None` when nothing is recorded. A record that is not a stack above the image is a
    /// problem, ignored.
    fn recorded_stack(
        &mut self,
        img: &Image,
        g: &Segment,
        l0: &Layout,
    ) -> Option<(u32, u32, usize)> {
        if g.vaddr == 0 && g.memsz == 0 {
            return None;
        }
        let image_top = img.load_bounds().1.max(u64::from(l0.image_end));
        let ok = g.vaddr != 0
            && g.memsz >= 16
            && g.vaddr % 16 == 0
            && g.memsz % 16 == 0
            && u64::from(g.vaddr) >= image_top
            && u64::from(g.vaddr) + u64::from(g.memsz) <= MAX_MEMLIMIT;
        if !ok {
            self.problems.push(format!(
                "program header {} (PT_GNU_STACK) holds p_vaddr {:#x}, p_memsz {:#x}, which is not a stack above the image: ignored",
                g.index, g.vaddr, g.memsz
            ));
        }
        ok.then(|| (g.vaddr + g.memsz, g.memsz, g.index))
    }

    /// Family e: the loader provides the stack. Its top is the memory limit: the loader's
    /// convention ([`LOADER_STACK_TOP`], [`LOADER_STACK_SIZE`]), or what a rewrite recorded in
    /// the `PT_GNU_STACK` program header (`p_vaddr` the stack bottom, `p_memsz` its size, the
    /// size as `ld -z stack-size` writes it; Linux and qemu-user read only its flags).
    fn loader_stack(&mut self, img: &Image, pro: &Prologue) {
        self.family = Family::LoaderStack;
        let l0 = Layout::at_top(img, pro, None, false).expect("unchecked");
        let image_top = img.load_bounds().1.max(u64::from(l0.image_end));
        let gnu = img.segments.iter().find(|s| s.p_type == PT_GNU_STACK);
        self.movable.gnu_stack = gnu.map(|s| s.index);
        let recorded = gnu.and_then(|g| self.recorded_stack(img, g, &l0));
        let (top, size, src) = match recorded {
            Some((top, size, ix)) => (
                top,
                size,
                format!("program header {ix} (PT_GNU_STACK, recorded by a rewrite)"),
            ),
            None => {
                let top = if image_top + u64::from(LOADER_STACK_SIZE) * 2
                    <= u64::from(LOADER_STACK_TOP)
                {
                    LOADER_STACK_TOP
                } else {
                    MAX_MEMLIMIT as u32
                };
                (
                    top,
                    LOADER_STACK_SIZE,
                    "loader convention (Linux initial stack)".to_string(),
                )
            }
        };
        let bottom = top - size;
        self.notes.push(format!(
            "the entry code reads sp before setting it: the loader provides the stack (argc, argv, envp, auxv under {top:#x}, as Linux and qemu-user start a program)"
        ));
        let size_src = if recorded.is_some() {
            format!("{src}: {}", crate::size::exact(u64::from(size)))
        } else {
            format!("{src}: {} MiB", LOADER_STACK_SIZE >> 20)
        };
        let region = |v: u32, s: &str| {
            if recorded.is_some() {
                Bound::known(v, s)
            } else {
                Bound::inferred(v, s)
            }
        };
        self.regions.push(Region {
            kind: RegionKind::Heap,
            name: "heap (program break)".into(),
            start: Bound::inferred(l0.image_end, "end of the image"),
            end: region(bottom, "the loader's stack bottom"),
        });
        self.regions.push(Region {
            kind: RegionKind::Stack,
            name: "stack (loader's)".into(),
            start: region(bottom, &size_src),
            end: region(top, &src),
        });
        let mut sp_init = pro.sp.clone();
        sp_init.kind = SpKind::Loader;
        sp_init.value = Some(top);
        self.sp_init = sp_init.clone();
        let run = Layout {
            memlimit: u64::from(top),
            image_start: l0.image_start,
            image_end: l0.image_end,
            heap_start: l0.image_end,
            heap_end: bottom,
            stack_bottom: bottom,
            stack_top: top,
            gp: l0.gp,
            shared: false,
            sp_init,
            sources: vec![
                ("stack_top".into(), src.clone()),
                ("stack_bottom".into(), size_src),
                ("heap_start".into(), "end of the image".into()),
                ("heap_end".into(), "the loader's stack bottom".into()),
                ("memlimit".into(), "the loader's stack top".into()),
            ],
        };
        self.run = Ok(run.clone());
        self.model = match gnu {
            Some(_) => Ok(run),
            None => Err(LayoutError::Unsupported {
                action: "rewrite",
                family: self.family.to_string(),
                why: "the loader chooses where the stack is (the entry code never sets sp), and the file has no PT_GNU_STACK program header in which a rewrite could record the stack for `run` and `prove`; relink with -z noexecstack (which adds one), or `run` it as it is".into(),
            }),
        };
    }

    /// Family f.
    fn broken(&mut self, img: &Image, pro: &Prologue, sp: u32, seg: &Segment, l0: &Layout) {
        self.family = Family::Broken;
        let named = symbol_near(img, MEMORY_TOP_SYMS, sp)
            .or_else(|| symbol_near(img, STACK_TOP_SYMS, sp))
            .map(|(n, v)| {
                format!(
                    " ({} = {v:#x} was linked inside the image)",
                    crate::elf::escape(&n)
                )
            })
            .unwrap_or_default();
        let writable = img.loads().any(|s| s.flags & PF_W != 0 && s.memsz > 0);
        let problem = format!(
            "sp starts at {sp:#x} (set at {:#x}), inside the read-only segment {} [{:#x}, {:#x}){named}: the first push would overwrite the program{}; rewrite with --memlimit SIZE to place the stack at that limit",
            pro.sp.at,
            seg.index,
            seg.vaddr,
            seg.end(),
            if writable { "" } else { " (the file has no writable segment)" }
        );
        self.problems.push(problem.clone());
        self.regions.push(Region {
            kind: RegionKind::Stack,
            name: "stack (inside the image)".into(),
            start: Bound::unknown("the stack has no room of its own"),
            end: Bound::known(sp, self.sp_source()),
        });
        self.regions.push(Region {
            kind: RegionKind::Heap,
            name: "heap".into(),
            start: Bound::from_source(l0.heap_start, l0.source("heap_start")),
            end: Bound::unknown("nothing bounds it"),
        });
        self.run = Err(LayoutError::Broken(format!("cannot start: {problem}")));
        // The repair: a rewrite moves the stack top to the requested limit, above the image.
        let mut l = l0.clone();
        l.shared = true;
        l.heap_start = l.heap_start.max(l.image_end);
        l.heap_end = l.heap_start;
        l.stack_bottom = l.heap_start;
        l.memlimit = u64::from(l.image_end.max(sp)).next_multiple_of(16);
        self.model = Ok(l);
    }

    fn sp_source(&self) -> String {
        format!(
            "sp set-up at {:#x} ({})",
            self.sp_init.at,
            self.sp_init.kind.describe()
        )
    }

    /// The layout a proof states: the run layout, the regions the VM enforces. Families a, d
    /// and e state their heap and stack (e: the loader's initial stack is part of the
    /// statement's image, its `sp` the statement's initial `sp`); b and c (a stack under the
    /// program or the heap) state the one region `run` enforces for them (heap and stack
    /// shared, only the outer bounds), with the stack rule over that region only. A layout
    /// that cannot start (f) has no run: refused by name.
    pub fn prove_layout(&self) -> Result<Layout, LayoutError> {
        self.run.clone()
    }

    /// The refusal of a rewrite, when there is one.
    pub fn model_error(&self) -> Option<String> {
        self.model.as_ref().err().map(|e| e.to_string())
    }
}

/// Candidates for a heap end, on one line.
fn candidate_list(c: &[HeapEndConst]) -> String {
    c.iter()
        .map(|x| format!("{:#x} ({})", x.value, x.describe()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Where an address lies, for a note: " inside segment N" / " inside section S", or "".
fn where_is(img: &Image, v: u32) -> String {
    let sec = img
        .sections
        .iter()
        .find(|s| s.is_alloc() && s.size > 0 && v >= s.addr && u64::from(v) < s.end());
    match (sec, img.loads().find(|s| s.memsz > 0 && s.contains(v))) {
        (Some(s), _) => format!(" inside section {}", crate::elf::escape(&s.name)),
        (None, Some(s)) => format!(" inside segment {}", s.index),
        (None, None) => String::new(),
    }
}

/// The highest address a layout's content reaches.
fn top_of(img: &Image, l: &Layout) -> u64 {
    img.load_bounds()
        .1
        .max(u64::from(l.stack_top))
        .max(u64::from(l.image_end))
        .max(l.memlimit)
        .next_multiple_of(16)
        .min(MAX_MEMLIMIT)
}

/// One region `[low, top)` shared by everything (families b and c, and layouts whose bounds
/// disagree): the VM runs the file with only the outer bounds enforced.
fn flat(img: &Image, l: &Layout, low: u32, top: u64) -> Layout {
    let (lo, _) = img.load_bounds();
    let top = top.min(MAX_MEMLIMIT).max(top_of(img, l).min(MAX_MEMLIMIT));
    let low = low.min(lo);
    Layout {
        memlimit: top,
        image_start: low,
        image_end: l.image_end,
        heap_start: l.image_end.min(top as u32),
        heap_end: top as u32,
        stack_bottom: low,
        stack_top: l.stack_top.min(top as u32),
        gp: l.gp,
        shared: true,
        sp_init: l.sp_init.clone(),
        sources: vec![(
            "memlimit".into(),
            format!("one region [{low:#x}, {top:#x}): only the outer bounds are enforced"),
        )],
    }
}

impl Layout {
    /// Where a field came from ("" when not recorded).
    pub fn source(&self, field: &str) -> &str {
        self.sources
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, s)| s.as_str())
            .unwrap_or("")
    }
}
