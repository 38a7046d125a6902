//! Memory use over a run: stack depth, heap use and touched memory sampled along the cycles,
//! so a user sees what memory limit a guest needs (`run --profile`, drawn by
//! [`crate::layout::picture::profile_svg`]).
//!
//! The run is the VM's own, traced a piece at a time ([`Vm::trace_segments`]): every fault and
//! exit is the one `run` reports. Each piece's trace is read for the lowest `sp`, the highest
//! heap byte stored and the pages touched, then dropped, so memory stays bounded by one piece.

use super::trace::Trace;
use super::{RunResult, Vm};
use crate::isa::reg;
use crate::layout::Layout;
use std::collections::HashSet;

/// One sample: the state after `cycle` instructions (the high-water marks so far).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub cycle: u64,
    /// `stack_top` minus the lowest `sp` of the piece (0 when `sp` is above the top).
    pub stack_bytes: u64,
    /// The highest heap byte stored so far, minus `heap_start` (0 before the first).
    pub heap_bytes: u64,
    /// 4 KiB pages read or written so far (the image's pages only once touched).
    pub pages: u64,
}

/// The samples of a run and how it ended.
#[derive(Debug, Clone)]
pub struct Profile {
    pub samples: Vec<Sample>,
    pub result: RunResult,
    /// The layout the run was made under (its stack and heap bounds).
    pub layout: Layout,
}

impl Profile {
    pub fn peak_stack(&self) -> u64 {
        self.samples
            .iter()
            .map(|s| s.stack_bytes)
            .max()
            .unwrap_or(0)
    }
    pub fn peak_heap(&self) -> u64 {
        self.samples.iter().map(|s| s.heap_bytes).max().unwrap_or(0)
    }
    pub fn pages(&self) -> u64 {
        self.samples.last().map_or(0, |s| s.pages)
    }
}

/// Run `vm` to its end, sampling every `every` cycles (at least 1).
pub fn profile(vm: Vm, every: u64) -> Profile {
    let layout = vm.layout.clone();
    let mut sp = vm.reg(reg::SP);
    let mut heap_high: Option<u64> = None;
    let mut pages: HashSet<u32> = HashSet::new();
    let mut samples = Vec::new();
    let mut seg = vm.trace_segments();
    let mut cycle = 0u64;
    while let Some(t) = seg.next_segment(every.max(1)) {
        let mut low_sp = if in_stack(&layout, sp) {
            sp
        } else {
            layout.stack_top
        };
        scan(
            &t,
            &layout,
            &mut sp,
            &mut low_sp,
            &mut heap_high,
            &mut pages,
        );
        cycle += t.rows.len() as u64;
        samples.push(Sample {
            cycle,
            stack_bytes: u64::from(layout.stack_top.saturating_sub(low_sp)).min(
                u64::from(layout.stack_top) - u64::from(layout.stack_bottom.min(layout.stack_top)),
            ),
            heap_bytes: heap_high.map_or(0, |h| h - u64::from(layout.heap_start)),
            pages: pages.len() as u64,
        });
        seg.recycle(t);
    }
    let result = seg.result().cloned().expect("the run ended");
    Profile {
        samples,
        result,
        layout,
    }
}

/// An `sp` that points into the stack (not the 0 before the start-up code sets it, nor a
/// data pointer kept in `sp`).
fn in_stack(l: &Layout, sp: u32) -> bool {
    sp <= l.stack_top && sp >= l.stack_bottom.min(l.heap_start)
}

fn scan(
    t: &Trace,
    l: &Layout,
    sp: &mut u32,
    low_sp: &mut u32,
    heap_high: &mut Option<u64>,
    pages: &mut HashSet<u32>,
) {
    let heap = u64::from(l.heap_start)..u64::from(l.heap_end.max(l.heap_start));
    for r in &t.rows {
        for a in &t.mem[r.mem_start as usize..(r.mem_start + r.mem_len) as usize] {
            pages.insert(a.addr >> 12);
            let end = u64::from(a.addr) + u64::from(a.width);
            // A heap store: inside the heap, not through sp, and below sp (a shared region's
            // stack is what lies above sp).
            if a.write
                && heap.contains(&u64::from(a.addr))
                && r.inst.rs1 != reg::SP
                && (!l.shared || a.addr < *sp)
            {
                *heap_high = Some(heap_high.map_or(end, |h| h.max(end)));
            }
        }
        if r.rd == reg::SP {
            *sp = r.rd_val;
            if in_stack(l, *sp) {
                *low_sp = (*low_sp).min(*sp);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::Image;
    use crate::vm::RunConfig;

    #[test]
    fn a_profile_follows_the_run_and_ends_as_run_does() {
        let img = Image::read(std::path::Path::new("fixtures/deep_recursion.elf")).unwrap();
        let l = crate::layout::MemoryMap::discover(&img).run.unwrap();
        let plain = Vm::new(&img, &l, RunConfig::default()).unwrap().run();
        let p = profile(Vm::new(&img, &l, RunConfig::default()).unwrap(), 10_000);
        assert_eq!(p.result.exit_code, plain.exit_code);
        assert_eq!(p.result.cycles, plain.cycles);
        assert_eq!(p.samples.last().unwrap().cycle, plain.cycles);
        assert!(p.samples.len() as u64 >= plain.cycles / 10_000);
        // The deepest stack is the run's own peak (both measured below the stack top; the
        // profile from the lowest sp, the run from the lowest sp-based access: the unused
        // part of the deepest frame apart).
        let run_peak = u64::from(plain.peak_stack_bytes);
        assert!(
            p.peak_stack() >= run_peak && p.peak_stack() <= run_peak + 256,
            "{} vs {run_peak}",
            p.peak_stack()
        );
        assert!(p.pages() > 0);
        assert!(p.samples.windows(2).all(|w| w[0].pages <= w[1].pages));
    }
}
