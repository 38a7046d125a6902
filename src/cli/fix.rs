//! The rewrite that fixes a stack or heap overflow, for `run`'s hint: which option
//! (`--stack`, `--heap`, `--memlimit`) and how much, measured and checked so that following
//! the hint once makes the run pass.
//!
//! The fault alone gives a lower bound (the one access that overflowed); a deeper stack needs
//! more. So the guest runs again with heap and stack sharing one region (the VM's rule for the
//! Nexus 0.3 layout: both grow until they meet), which measures the peak stack and heap of the
//! whole run; the hint rounds them up to 4 KiB, rewrites the guest in memory with it and runs
//! the result, raising the size by a quarter when that still overflows.

use nexus_relink::{
    elf::Image,
    layout::{Layout, MemoryMap},
    relink::Relinker,
    size,
    vm::{FaultKind, RunConfig, RunResult, Vm},
};

/// What to rewrite with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fix {
    pub memlimit: u64,
    pub stack: Option<u32>,
    pub heap: Option<u32>,
    /// What the run used when the stack and heap could grow into each other.
    pub peak_stack_bytes: u32,
    pub peak_heap_bytes: u32,
}

impl Fix {
    /// The options, as a user types them: `--memlimit 4M --stack 80K`. `memlimit` is the
    /// memory's top; `--memlimit` counts from the guest's memory base (`base`).
    pub fn args(&self, base: u32) -> String {
        let mut s = format!(
            "--memlimit {}",
            size::arg(self.memlimit.saturating_sub(u64::from(base)))
        );
        if let Some(v) = self.stack {
            s.push_str(&format!(" --stack {}", size::arg(v.into())));
        }
        if let Some(v) = self.heap {
            s.push_str(&format!(" --heap {}", size::arg(v.into())));
        }
        s
    }
}

fn overflowed(r: &RunResult) -> bool {
    matches!(
        r.fault.as_ref().map(|f| f.kind),
        Some(FaultKind::StackOverflow | FaultKind::HeapOverflow | FaultKind::GuardGap)
    )
}

/// The rewrite that makes this run fit, when `r` ended in a stack or heap overflow of a guest
/// a rewrite can move (family a, heap and stack apart); `None` otherwise or when no size
/// checked within the address space works.
pub fn overflow_fix(img: &Image, layout: &Layout, cfg: &RunConfig, r: &RunResult) -> Option<Fix> {
    let kind = r.fault.as_ref()?.kind;
    if !matches!(kind, FaultKind::StackOverflow | FaultKind::HeapOverflow) || layout.shared {
        return None;
    }
    let model = MemoryMap::discover(img).model.ok()?;
    if (model.stack_top, model.stack_bottom) != (layout.stack_top, layout.stack_bottom) {
        return None;
    }
    // The measuring run reads only --input: this process's standard input was the first run's.
    let cfg = RunConfig {
        stdin_passthrough: false,
        ..cfg.clone()
    };
    let mut wide = layout.clone();
    wide.shared = true;
    // Bounds as the Nexus 0.3 runtime's shared region has them: the stack may reach down to the
    // heap's start, the heap up to the stack's top.
    wide.stack_bottom = layout.heap_start;
    wide.heap_end = layout.stack_top;
    let m = Vm::new(img, &wide, cfg.clone()).ok()?.run();
    if let Some(f) = &m.fault {
        // The run fails for another reason once it has room (or runs into the image): no
        // size fixes it.
        if overflowed(&m) || f.kind == FaultKind::OutOfBounds {
            return None;
        }
    }
    let page = |v: u64| v.next_multiple_of(4096);
    let guard = u64::from(layout.guard());
    let above_top = layout.memlimit - u64::from(layout.stack_top);
    let heap_start = u64::from(layout.heap_start);
    let (mut stack, mut heap) = (
        u64::from(m.peak_stack_bytes.max(layout.stack_size())),
        u64::from(m.peak_heap_bytes.max(layout.heap_size())),
    );
    for _ in 0..4 {
        let fix = match kind {
            FaultKind::StackOverflow => {
                let s = page(stack);
                // The heap takes what the stack leaves: keep the memory limit while the heap
                // still holds what the run stored there.
                let heap_end = u64::from(layout.stack_top).checked_sub(s + guard);
                let memlimit = match heap_end {
                    Some(e) if e >= heap_start + u64::from(m.peak_heap_bytes) => layout.memlimit,
                    _ => page(heap_start + u64::from(layout.heap_size()) + guard + s + above_top),
                };
                Fix {
                    memlimit,
                    stack: Some(u32::try_from(s).ok()?),
                    heap: None,
                    peak_stack_bytes: m.peak_stack_bytes,
                    peak_heap_bytes: m.peak_heap_bytes,
                }
            }
            _ => {
                let h = page(heap);
                Fix {
                    memlimit: page(
                        heap_start + h + guard + u64::from(layout.stack_size()) + above_top,
                    )
                    .max(layout.memlimit),
                    stack: None,
                    heap: Some(u32::try_from(h).ok()?),
                    peak_stack_bytes: m.peak_stack_bytes,
                    peak_heap_bytes: m.peak_heap_bytes,
                }
            }
        };
        if fix.memlimit > nexus_relink::layout::MAX_MEMLIMIT {
            return None;
        }
        if passes(img, &fix, &cfg) {
            return Some(fix);
        }
        stack += stack / 4;
        heap += heap / 4;
    }
    None
}

/// The guest rewritten with `fix` runs without a stack or heap overflow.
fn passes(img: &Image, fix: &Fix, cfg: &RunConfig) -> bool {
    let mut relinker = Relinker::new(fix.memlimit);
    if let Some(s) = fix.stack {
        relinker = relinker.stack(s);
    }
    if let Some(h) = fix.heap {
        relinker = relinker.heap(h);
    }
    let Ok(rw) = relinker.rewrite(img) else {
        return false;
    };
    let Ok(out) = Image::parse(rw.bytes) else {
        return false;
    };
    let Ok(layout) = MemoryMap::discover(&out).run else {
        return false;
    };
    match Vm::new(&out, &layout, cfg.clone()) {
        Ok(vm) => !overflowed(&vm.run()),
        Err(_) => false,
    }
}
