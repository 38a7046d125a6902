//! Planning a new layout for a requested memory limit (ARCHITECTURE.md, "Memory model").
//!
//! Loaded bytes never move: only `stack_top`, `stack_bottom`, `heap_end` and the memory top.
//! The stack keeps its size unless `--stack` is given, the heap takes the rest unless `--heap`
//! is given, and an optional guard gap separates them.

use crate::layout::{Family, Layout, Movable, MAX_MEMLIMIT};
use crate::size::exact;
use serde::Serialize;

/// What the user asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Request {
    /// The memory top: the address where memory ends (at most [`MAX_MEMLIMIT`]). `--memlimit
    /// SIZE` asks for `base + SIZE`.
    pub memlimit: u64,
    /// The guest's memory base (`crate::layout::MemoryBase`) the user's size counts from; only
    /// the messages use it.
    #[serde(skip_serializing_if = "is_zero")]
    pub base: u32,
    pub stack: Option<u32>,
    pub heap: Option<u32>,
    pub guard: Option<u32>,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{}", too_small(*requested, *base, *image_end, what, *min))]
    TooSmall {
        requested: u64,
        /// The memory base the sizes count from.
        base: u32,
        image_end: u32,
        what: String,
        min: u64,
    },
    #[error("{}", too_large(*.0))]
    TooLarge(u64),
    #[error("--{what} {}: {}", exact(u64::from(*value)), region_rule(what, *value))]
    RegionTooSmall { what: &'static str, value: u32 },
    #[error("--guard {}: the guard must be a multiple of {MIN_REGION} bytes, so that the heap end below it stays 16-byte aligned like the stack bottom: use {} or {}", exact(u64::from(*.0)), .0 / MIN_REGION * MIN_REGION, .0.div_ceil(MIN_REGION) * MIN_REGION)]
    GuardAlign(u32),
    #[error("--stack/--heap/--guard need a layout with a stack/heap boundary, but this guest's heap and stack share one region (no _heap_end/_stack_bottom symbols or .heap/.stack sections); only the memory limit can change")]
    SharedRegion,
    #[error("no stack set-up found from the entry point {0:#x} (nothing the entry code writes to sp is used as a stack): nothing to move")]
    NoStackSetUp(u32),
    #[error("the stack top is set at run time ({0}); a static rewrite cannot move it")]
    RuntimeStack(String),
    /// A per-region option the family's layout cannot honour from what the file encodes.
    #[error("--{flag} cannot be used with a {family} layout: {why}")]
    FamilyFlag {
        flag: &'static str,
        family: String,
        why: String,
    },
}

/// The smallest `--stack` and `--heap`, and the alignment both must keep: the RISC-V psABI
/// aligns the stack pointer to 16 bytes, so a stack (and a heap below it) of another size leaves
/// an unaligned stack bottom or heap end.
pub const MIN_REGION: u32 = 16;

/// Refuse a `--guard` that is not a multiple of [`MIN_REGION`] (0 is allowed: no gap): the
/// heap end is the stack bottom minus the guard, and must stay as aligned as the stack bottom.
pub fn check_guard(value: u32) -> Result<(), PlanError> {
    if value % MIN_REGION != 0 {
        return Err(PlanError::GuardAlign(value));
    }
    Ok(())
}

/// Refuse a `--stack`/`--heap` size below [`MIN_REGION`] or not a multiple of it.
pub fn check_region(what: &'static str, value: u32) -> Result<(), PlanError> {
    if value < MIN_REGION || value % MIN_REGION != 0 {
        return Err(PlanError::RegionTooSmall { what, value });
    }
    Ok(())
}

fn region_rule(what: &str, value: u32) -> String {
    if value < MIN_REGION {
        format!("the {what} must be at least {MIN_REGION} bytes (and a multiple of {MIN_REGION}, the RISC-V psABI stack alignment)")
    } else {
        format!(
            "the {what} must be a multiple of {MIN_REGION} bytes (the RISC-V psABI stack alignment): use {} or {}",
            value / MIN_REGION * MIN_REGION,
            value.div_ceil(MIN_REGION) * MIN_REGION
        )
    }
}

fn too_small(requested: u64, base: u32, image_end: u32, what: &str, min: u64) -> String {
    if base == 0 {
        return format!("memory limit {} is too small: the image ends at {image_end:#x} and needs {what}; the smallest limit that works is {} ({min:#x})", exact(requested), exact(min));
    }
    let b = u64::from(base);
    format!(
        "memory limit {} from the memory base {base:#x} (top {requested:#x}) is too small: the image ends at {image_end:#x} and needs {what}; the smallest limit that works is {} (--memlimit {:#x}, memory top {min:#x})",
        exact(requested.saturating_sub(b)),
        exact(min.saturating_sub(b)),
        min.saturating_sub(b)
    )
}

/// The message for a memory limit above [`MAX_MEMLIMIT`].
pub fn too_large(limit: u64) -> String {
    format!(
        "memory limit {limit:#x} ({}) does not fit: the last page of the 32-bit address space is not guest memory, so the largest memory limit is {MAX_MEMLIMIT:#x} (4 GiB - 4 KiB)",
        exact(limit)
    )
}

/// A boundary the rewrite moves: every encoding of `old` becomes `new`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Move {
    pub name: &'static str,
    pub old: u32,
    pub new: u32,
}

/// The layout before and after, and the boundaries that move.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Plan {
    pub request: Request,
    pub old: Layout,
    pub new: Layout,
    /// Boundaries whose value changes (`old != new`), in a fixed order.
    pub moves: Vec<Move>,
    /// Remarks for the report (rounding, shrinking).
    pub notes: Vec<String>,
    /// Properties of the new layout that work but are known to break guests (a region over
    /// 2 GiB).
    pub warnings: Vec<String>,
    /// The layout family the plan moves (a for the stack-at-the-top model and its repair).
    #[serde(skip)]
    pub family: Family,
    /// What the layout discovery tied to a boundary beyond the usual names (family b's
    /// allocator constants, family e's `PT_GNU_STACK`).
    #[serde(skip)]
    pub movable: Movable,
}

/// The smallest loader stack a rewrite places (family e): the initial stack Linux builds
/// (argc, argv, envp, auxv, strings) fits in one page.
pub const LOADER_STACK_MIN: u32 = 4096;

/// Regions larger than this break allocators that hold sizes or pointer differences in a
/// signed 32-bit integer (`sbrk(int)`, picolibc's `malloc`).
pub const SIGNED_REGION_LIMIT: u64 = 1 << 31;

/// Warnings for a layout whose heap or stack region is over [`SIGNED_REGION_LIMIT`].
pub fn region_warnings(l: &Layout) -> Vec<String> {
    let regions: Vec<(&str, u32, u32, &str)> = if l.shared {
        vec![(
            "shared heap/stack region",
            l.heap_start,
            l.stack_top,
            "a smaller --memlimit",
        )]
    } else {
        vec![
            ("heap", l.heap_start, l.heap_end, "--heap 2G"),
            ("stack", l.stack_bottom, l.stack_top, "a smaller --stack"),
        ]
    };
    regions
        .into_iter()
        .filter(|(_, a, b, _)| u64::from(b.saturating_sub(*a)) > SIGNED_REGION_LIMIT)
        .map(|(what, a, b, fix)| {
            format!(
                "the {what} {a:#x}..{b:#x} is {}, over 2 GiB: allocators that keep sizes or pointer differences in a signed 32-bit integer (sbrk(int), picolibc's malloc) fail in it; use {fix} if the guest's allocator is one of them",
                exact(u64::from(b - a))
            )
        })
        .collect()
}

impl Plan {
    /// Plan `req` for a guest with layout `old`. `has_memtop_symbol`: the image names its
    /// memory top (`__memory_top`…), so the limit itself is recorded, not only the stack top.
    /// `stack_align`: the stack bottom must stay a multiple of this (1, or the `p_align` of a
    /// PT_LOAD holding only the stack, which moves whole pages).
    pub fn new(
        old: &Layout,
        req: &Request,
        has_memtop_symbol: bool,
        stack_align: u32,
    ) -> Result<Plan, PlanError> {
        use crate::layout::SpKind;
        if req.memlimit > MAX_MEMLIMIT {
            return Err(PlanError::TooLarge(req.memlimit));
        }
        if let Some(s) = req.stack {
            check_region("stack", s)?;
        }
        if let Some(h) = req.heap {
            check_region("heap", h)?;
        }
        if let Some(g) = req.guard {
            check_guard(g)?;
        }
        if matches!(old.sp_init.kind, SpKind::Runtime) {
            return Err(PlanError::RuntimeStack(format!(
                "sp is computed after a call at {:#x}",
                old.sp_init.at
            )));
        }
        if matches!(old.sp_init.kind, SpKind::NotFound) {
            return Err(PlanError::NoStackSetUp(old.sp_init.at));
        }
        if old.shared && (req.stack.is_some() || req.heap.is_some() || req.guard.is_some()) {
            return Err(PlanError::SharedRegion);
        }
        let mut notes = Vec::new();
        // The stack top: at the limit, 16-byte aligned (RISC-V psABI stack alignment), and
        // representable in 32 bits.
        // A prologue that is a lone `lui sp, hi` can only express multiples of 4 KiB.
        let top_align: u64 = if old.sp_init.kind == SpKind::Lui {
            4096
        } else {
            16
        };
        let top = (req.memlimit.min((1 << 32) - 16) & !(top_align - 1)) as u32;
        if u64::from(top) != req.memlimit {
            notes.push(format!(
                "memory limit {:#x} rounded down to a {top_align}-byte aligned stack top {top:#x}{}",
                req.memlimit,
                if top_align > 16 { " (the prologue is a lone lui sp)" } else { "" }
            ));
        }
        let heap_start = old.heap_start;
        let image_end = old.image_end.max(heap_start);
        let memlimit = if has_memtop_symbol {
            req.memlimit.min(1 << 32)
        } else {
            u64::from(top)
        };
        let mut new = old.clone();
        new.memlimit = memlimit;
        new.stack_top = top;
        let min_for = |need: u64, what: String| -> PlanError {
            PlanError::TooSmall {
                requested: req.memlimit,
                base: req.base,
                image_end,
                what,
                min: need.next_multiple_of(16),
            }
        };
        if old.shared {
            let need = u64::from(image_end) + 1; // a stack top above the image
            if u64::from(top) <= u64::from(image_end) {
                return Err(min_for(need, "room above it for the stack".into()));
            }
            new.stack_bottom = heap_start;
            new.heap_end = top;
        } else {
            // A page-aligned stack segment may have grown by a partial page in an earlier
            // rewrite: its nominal size is the whole pages (so rewrites invert).
            let align = stack_align.max(1);
            let stack = req.stack.unwrap_or(old.stack_size() & !(align - 1));
            let guard = req.guard.unwrap_or(old.guard());
            let heap_min = req.heap.unwrap_or(0);
            let need =
                u64::from(image_end) + u64::from(heap_min) + u64::from(guard) + u64::from(stack);
            let fits = u64::from(top) >= need
                && u64::from(top) >= u64::from(stack) + u64::from(heap_start);
            if !fits {
                return Err(min_for(
                    need.max(u64::from(heap_start) + u64::from(stack)),
                    format!(
                        "a {} heap, a {} guard and a {} stack",
                        exact(heap_min.into()),
                        exact(guard.into()),
                        exact(stack.into())
                    ),
                ));
            }
            new.stack_bottom = (top - stack) & !(align - 1);
            if new.stack_top - new.stack_bottom != stack {
                notes.push(format!(
                    "the stack bottom is aligned down to {} (the stack's own PT_LOAD): the stack grows to {}",
                    exact(stack_align.into()),
                    exact((new.stack_top - new.stack_bottom).into())
                ));
            }
            if u64::from(new.stack_bottom) < need - u64::from(stack) {
                return Err(min_for(
                    need + u64::from(stack_align),
                    format!(
                        "a {} stack aligned to {}",
                        exact(stack.into()),
                        exact(stack_align.into())
                    ),
                ));
            }
            new.heap_end = match req.heap {
                Some(h) => heap_start + h,
                None => new.stack_bottom - guard,
            };
            if new.heap_end < old.heap_end {
                notes.push(format!(
                    "the heap shrinks from {} to {}",
                    exact(old.heap_size().into()),
                    exact(new.heap_size().into())
                ));
            }
        }
        // The prologue value follows the stack top.
        new.sp_init.value = Some(top);
        let mut moves = Vec::new();
        let mut add = |name, old: u32, new: u32| {
            if old != new {
                moves.push(Move { name, old, new });
            }
        };
        add("stack_top", old.stack_top, new.stack_top);
        if !old.shared {
            add("stack_bottom", old.stack_bottom, new.stack_bottom);
            add("heap_end", old.heap_end, new.heap_end);
        }
        if old.memlimit <= u64::from(u32::MAX) && new.memlimit <= u64::from(u32::MAX) {
            add("memlimit", old.memlimit as u32, new.memlimit as u32);
        }
        let warnings = region_warnings(&new);
        Ok(Plan {
            request: req.clone(),
            old: old.clone(),
            new,
            moves,
            notes,
            warnings,
            family: Family::StackAtTop,
            movable: Movable::default(),
        })
    }

    /// The checks every family shares: the limit fits, the region sizes are aligned.
    fn check_request(req: &Request) -> Result<(), PlanError> {
        if req.memlimit > MAX_MEMLIMIT {
            return Err(PlanError::TooLarge(req.memlimit));
        }
        if let Some(s) = req.stack {
            check_region("stack", s)?;
        }
        if let Some(h) = req.heap {
            check_region("heap", h)?;
        }
        if let Some(g) = req.guard {
            check_guard(g)?;
        }
        Ok(())
    }

    /// A plan for a family b, c or e model: `new` is `old` with the boundaries `apply` moved.
    fn finish(
        family: Family,
        old: &Layout,
        req: &Request,
        new: Layout,
        notes: Vec<String>,
        movable: &Movable,
    ) -> Plan {
        let mut moves = Vec::new();
        for (name, o, n) in [
            ("stack_top", old.stack_top, new.stack_top),
            ("stack_bottom", old.stack_bottom, new.stack_bottom),
            ("heap_start", old.heap_start, new.heap_start),
            ("heap_end", old.heap_end, new.heap_end),
            ("memlimit", old.memlimit as u32, new.memlimit as u32),
        ] {
            if o != n {
                moves.push(Move {
                    name,
                    old: o,
                    new: n,
                });
            }
        }
        let warnings = region_warnings(&new);
        Plan {
            request: req.clone(),
            old: old.clone(),
            new,
            moves,
            notes,
            warnings,
            family,
            movable: movable.clone(),
        }
    }

    /// Refuse the options of `flags` that are set, each with the family's reason.
    fn refuse_flags(
        family: Family,
        req: &Request,
        flags: &[(&'static str, &str)],
    ) -> Result<(), PlanError> {
        for &(flag, why) in flags {
            let set = match flag {
                "stack" => req.stack.is_some(),
                "heap" => req.heap.is_some(),
                _ => req.guard.is_some(),
            };
            if set {
                return Err(PlanError::FamilyFlag {
                    flag,
                    family: family.to_string(),
                    why: why.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The smallest top above `floor` that `align` allows, as a refusal.
    fn too_small_above(
        req: &Request,
        old: &Layout,
        floor: u64,
        align: u64,
        what: String,
    ) -> PlanError {
        PlanError::TooSmall {
            requested: req.memlimit,
            base: req.base,
            image_end: old.image_end.max(old.heap_start),
            what,
            min: (floor + 1).next_multiple_of(align),
        }
    }

    /// Family b (the stack below the program, SP1 / RISC Zero): the heap end, where the file
    /// states it (a symbol, an allocator constant), moves to the new top; the stack top stays
    /// under the program, which bounds it.
    pub fn below_program(old: &Layout, req: &Request, m: &Movable) -> Result<Plan, PlanError> {
        let family = Family::StackBelowProgram;
        Self::check_request(req)?;
        let fixed = format!("the stack top {:#x} is fixed under the program, which bounds it from above, and the file does not encode the stack's size", old.stack_top);
        let rest = "the heap runs from the image end to the memory limit: set its end with --memlimit/--memtop";
        Self::refuse_flags(
            family,
            req,
            &[("stack", &fixed), ("heap", rest), ("guard", rest)],
        )?;
        let align = u64::from(m.heap_end_align());
        let top = req.memlimit & !(align - 1);
        let mut notes = Vec::new();
        if top != req.memlimit {
            notes.push(format!(
                "memory limit {:#x} rounded down to a {align}-byte aligned heap end {top:#x}{}",
                req.memlimit,
                if align > 16 {
                    " (the allocator's lui holds whole 4 KiB pages)"
                } else {
                    ""
                }
            ));
        }
        let floor = u64::from(old.heap_start.max(old.image_end).max(old.stack_top));
        if top <= floor {
            return Err(Self::too_small_above(
                req,
                old,
                floor,
                align,
                format!(
                    "a heap above it (the stack top {:#x} stays under the program)",
                    old.stack_top
                ),
            ));
        }
        notes.push(format!(
            "the stack top {:#x} stays: it lies under the program, whose code bounds it, and the file does not encode the stack's size; the heap end (the memory limit) moves",
            old.stack_top
        ));
        let mut new = old.clone();
        new.memlimit = top;
        new.heap_end = top as u32;
        Ok(Self::finish(family, old, req, new, notes, m))
    }

    /// Family c (the stack below the heap in one writable segment, Airbender): the segment,
    /// and the heap with it, ends at the new top; `--stack` moves the stack top and the heap
    /// start together when the file states the heap start.
    pub fn below_heap(old: &Layout, req: &Request, m: &Movable) -> Result<Plan, PlanError> {
        let family = Family::StackBelowHeap;
        Self::check_request(req)?;
        let rest = "the heap takes the rest of the writable segment, up to the memory limit: set its end with --memlimit/--memtop";
        Self::refuse_flags(family, req, &[("heap", rest), ("guard", rest)])?;
        let mut new = old.clone();
        let mut notes = Vec::new();
        match req.stack {
            Some(_) if !m.heap_start_encoded => {
                return Err(PlanError::FamilyFlag {
                    flag: "stack",
                    family: family.to_string(),
                    why: format!("the heap starts right above the stack top {:#x} and the file does not state where (no heap-start symbol or .heap section), so the stack cannot grow without guessing where the allocator starts; rewrite without --stack to move only the heap end", old.stack_top),
                });
            }
            Some(s) => {
                let st = u64::from(old.stack_bottom) + u64::from(s);
                let delta = st as i64 - i64::from(old.stack_top);
                let hs = i64::from(old.heap_start) + delta;
                if st > u64::from(u32::MAX) || hs < 0 || hs > i64::from(u32::MAX) {
                    return Err(Self::too_small_above(
                        req,
                        old,
                        st,
                        16,
                        format!("a {} stack", exact(s.into())),
                    ));
                }
                new.stack_top = st as u32;
                new.heap_start = hs as u32;
                new.sp_init.value = Some(new.stack_top);
            }
            None => notes.push(format!(
                "the stack stays at {:#x}..{:#x}, below the heap; the heap end (the end of the writable segment) moves",
                old.stack_bottom, old.stack_top
            )),
        }
        let top = req.memlimit & !15;
        if top != req.memlimit {
            notes.push(format!(
                "memory limit {:#x} rounded down to a 16-byte aligned heap end {top:#x}",
                req.memlimit
            ));
        }
        let floor = u64::from(new.heap_start.max(new.stack_top));
        if top <= floor {
            return Err(Self::too_small_above(
                req,
                old,
                floor,
                16,
                format!(
                    "a {} stack below the heap, which starts at {:#x}",
                    exact((new.stack_top - new.stack_bottom).into()),
                    new.heap_start
                ),
            ));
        }
        new.memlimit = top;
        new.heap_end = top as u32;
        if new.heap_end < old.heap_end {
            notes.push(format!(
                "the heap shrinks from {} to {}",
                exact(old.heap_size().into()),
                exact(new.heap_size().into())
            ));
        }
        Ok(Self::finish(family, old, req, new, notes, m))
    }

    /// Family e (the loader's stack, Linux crt0): the stack's top is the memory limit, recorded
    /// in the `PT_GNU_STACK` program header where `run` and `prove` read it; the program break
    /// grows from the image end up to the stack.
    pub fn loader_stack(old: &Layout, req: &Request, m: &Movable) -> Result<Plan, PlanError> {
        let family = Family::LoaderStack;
        Self::check_request(req)?;
        let rest = "the program break grows from the image end up to the loader's stack: size the stack with --stack, the heap takes the rest";
        Self::refuse_flags(family, req, &[("heap", rest), ("guard", rest)])?;
        let stack = req.stack.unwrap_or(old.stack_size());
        if stack < LOADER_STACK_MIN {
            return Err(PlanError::FamilyFlag {
                flag: "stack",
                family: family.to_string(),
                why: format!(
                    "the loader's initial stack (argc, argv, envp, auxv) needs at least {}",
                    exact(LOADER_STACK_MIN.into())
                ),
            });
        }
        let top = req.memlimit & !15;
        let mut notes = Vec::new();
        if top != req.memlimit {
            notes.push(format!(
                "memory limit {:#x} rounded down to a 16-byte aligned stack top {top:#x}",
                req.memlimit
            ));
        }
        let floor = u64::from(old.image_end.max(old.heap_start)).next_multiple_of(16);
        if top < floor + u64::from(stack) {
            return Err(Self::too_small_above(
                req,
                old,
                floor + u64::from(stack) - 1,
                16,
                format!("the loader's {} stack above it", exact(stack.into())),
            ));
        }
        if let Some(ix) = m.gnu_stack {
            notes.push(format!(
                "the loader's stack is recorded in program header {ix} (PT_GNU_STACK: p_vaddr its bottom, p_memsz its size), where `run` and `prove` read it; Linux and qemu-user read only its flags and choose their own stack"
            ));
        }
        let mut new = old.clone();
        new.memlimit = top;
        new.stack_top = top as u32;
        new.stack_bottom = top as u32 - stack;
        new.heap_end = new.stack_bottom;
        new.sp_init.value = Some(new.stack_top);
        Ok(Self::finish(family, old, req, new, notes, m))
    }

    /// New value of an old boundary value, when exactly one new value is meant by it.
    /// `Err` lists the conflicting boundaries (the same old value moving to different places).
    pub fn map_value(&self, old: u32) -> Option<Result<u32, String>> {
        let hits: Vec<&Move> = self.moves.iter().filter(|m| m.old == old).collect();
        let first = hits.first()?;
        if hits.iter().all(|m| m.new == first.new) {
            Some(Ok(first.new))
        } else {
            Some(Err(hits
                .iter()
                .map(|m| format!("{} → {:#x}", m.name, m.new))
                .collect::<Vec<_>>()
                .join(", ")))
        }
    }

    /// The move of a named boundary.
    pub fn move_of(&self, name: &str) -> Option<&Move> {
        self.moves.iter().find(|m| m.name == name)
    }
}
