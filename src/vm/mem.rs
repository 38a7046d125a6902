//! Guest memory bounded by the layout.
//!
//! The regions a guest may touch are two byte ranges computed from the layout (see
//! [`Memory::allowed`]): the image and heap upward from the lowest mapped address, and the
//! stack below the memory limit (one range when heap and stack share it). Everything else is a
//! fault. The bytes live in 4 KiB pages allocated on first touch, in a one-level table of
//! page pointers from the lowest mapped address to the memory limit (8 bytes per 4 KiB of
//! that span, allocated zeroed), so resident memory follows the pages a guest touches, at any
//! limit: one store under a 4 GiB limit costs one page (and one page of the table).
//!
//! A page wholly inside the allowed ranges goes into the table and is then accessed without any
//! further check (the fast path: a bounds check and one table load). A page only partly
//! allowed (a region edge that is not page-aligned: the lowest mapped address, a guard gap, a
//! limit like 3000000) is kept apart, in `edges`, and every access to it is checked byte by
//! byte; so is an access that crosses a page boundary. An access is allowed when every byte it
//! touches is.

use super::FaultKind;
use crate::layout::Layout;

/// Page size (bytes) and its bits.
const PAGE: usize = 4096;
const PAGE_BITS: u32 = 12;

type Page = [u8; PAGE];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemFault {
    pub kind: FaultKind,
    pub addr: u32,
}

pub(crate) struct Memory {
    low_base: u32,
    /// Highest address (exclusive) of the image-and-heap region.
    low_max: u64,
    /// Lowest address of the stack region (which ends at the memory limit).
    high_min: u32,
    pub(crate) layout_heap_end: u32,
    pub(crate) layout_stack_bottom: u32,
    pub(crate) memlimit: u64,
    shared: bool,
    /// Page number of `table[0]`: the lowest mapped address's page.
    first_page: u32,
    /// Wholly allowed pages by page number `n`: `table[n - first_page]`, one entry per page
    /// from the lowest mapped address to the memory limit.
    table: Box<[Option<Box<Page>>]>,
    /// Partly allowed pages `(page number, bytes)`: a handful at most (region edges).
    edges: Vec<(u32, Box<Page>)>,
    /// Pages allocated in `table`.
    pages: usize,
}

fn zeroed_page() -> Box<Page> {
    // `vec![0; N]` allocates zeroed memory directly (calloc): no copy through the stack.
    vec![0u8; PAGE]
        .into_boxed_slice()
        .try_into()
        .expect("a PAGE-long slice")
}

/// The region bounds `(low base, low end, high start)` of a layout: image and heap from the
/// lowest mapped address, stack from the stack bottom up to the limit. Regions are whole words,
/// rounded outward (the proof's memory table checks words): the machine the VM runs and the one
/// a proof states are the same.
pub(crate) fn region_bounds(layout: &Layout, base: u32, init_end: u32) -> (u32, u64, u32) {
    let base = base & !3;
    if layout.shared {
        // One region shared by heap and stack: both may grow until they meet.
        return (base, layout.memlimit, base);
    }
    (
        base,
        u64::from(layout.heap_end.max(init_end))
            .next_multiple_of(4)
            .min(layout.memlimit),
        layout.stack_bottom.max(init_end) & !3,
    )
}

impl Memory {
    /// `base`: the lowest mapped address; `init_end`: end of the initialised image.
    pub(crate) fn new(layout: &Layout, base: u32, init_end: u32) -> Memory {
        let (base, low_max, high_min) = region_bounds(layout, base, init_end);
        let first_page = base >> PAGE_BITS;
        let end_page = layout.memlimit.div_ceil(PAGE as u64);
        let pages = end_page.saturating_sub(u64::from(first_page)) as usize;
        Memory {
            low_base: base,
            low_max,
            high_min,
            layout_heap_end: layout.heap_end,
            layout_stack_bottom: layout.stack_bottom,
            memlimit: layout.memlimit,
            shared: layout.shared,
            first_page,
            // `None` is a null pointer, so this is allocated zeroed; 8 bytes per page of the
            // span (32 KiB for 16 MiB, 8 MiB for a 4 GiB limit), which the host maps only where
            // it is written when the allocation is large.
            table: vec![None; pages].into_boxed_slice(),
            edges: Vec::new(),
            pages: 0,
        }
    }

    /// Copy initial bytes (an ELF segment's file contents) into memory. Bytes outside the
    /// allowed ranges are dropped (initialisation targets validated segments).
    pub(crate) fn init(&mut self, addr: u32, data: &[u8]) {
        let (mut a, mut rest) = (addr, data);
        while !rest.is_empty() {
            let off = a as usize & (PAGE - 1);
            let n = rest.len().min(PAGE - off);
            if self.check(a, n as u32).is_ok() {
                self.page_mut(a >> PAGE_BITS)[off..off + n].copy_from_slice(&rest[..n]);
            } else {
                for (i, b) in rest[..n].iter().enumerate() {
                    let _ = self.store8(a.wrapping_add(i as u32), *b);
                }
            }
            a = a.wrapping_add(n as u32);
            rest = &rest[n..];
        }
    }

    /// The byte ranges `[start, end)` a guest may touch: the image-and-heap region and the stack
    /// region (the same range twice when heap and stack share one region).
    pub(crate) fn allowed(&self) -> [(u64, u64); 2] {
        let base = u64::from(self.low_base);
        if self.shared {
            [(base, self.memlimit), (base, self.memlimit)]
        } else {
            [
                (base, self.low_max),
                (u64::from(self.high_min), self.memlimit),
            ]
        }
    }

    /// Is every byte of `[a, end)` inside the allowed ranges?
    fn covers(&self, a: u64, end: u64) -> bool {
        let [(s0, e0), (s1, e1)] = self.allowed();
        let ((s0, e0), (s1, e1)) = if s0 <= s1 {
            ((s0, e0), (s1, e1))
        } else {
            ((s1, e1), (s0, e0))
        };
        let inside = |s: u64, e: u64| a >= s && end <= e;
        // Two ranges that touch or overlap form one.
        inside(s0, e0) || inside(s1, e1) || (s1 <= e0 && inside(s0, e0.max(e1)))
    }

    /// Bytes of guest memory allocated (whole pages), for reporting.
    pub(crate) fn resident(&self) -> usize {
        (self.pages + self.edges.len()) * PAGE
    }

    /// Is `[addr, addr+len)` allowed? Otherwise the fault: `out_of_bounds` below the lowest
    /// mapped address or past the limit, `guard_gap` for a byte between the heap end and the
    /// stack bottom, `heap_overflow` for any other byte outside the regions.
    fn check(&self, addr: u32, len: u32) -> Result<(), MemFault> {
        let (a, end) = (u64::from(addr), u64::from(addr) + u64::from(len));
        let fault = |kind| Err(MemFault { kind, addr });
        if addr < self.low_base || end > self.memlimit {
            return fault(FaultKind::OutOfBounds);
        }
        if self.covers(a, end) {
            return Ok(());
        }
        let x = (a..end).find(|&b| !self.covers(b, b + 1)).unwrap_or(a);
        if !self.shared
            && x >= u64::from(self.layout_heap_end)
            && x < u64::from(self.layout_stack_bottom)
        {
            return fault(FaultKind::GuardGap);
        }
        fault(FaultKind::HeapOverflow)
    }

    /// Page `n`, allocated (zeroed) on first touch. The caller has checked that some byte of
    /// it is allowed.
    fn page_mut(&mut self, n: u32) -> &mut Page {
        let start = u64::from(n) << PAGE_BITS;
        if self.covers(start, start + PAGE as u64) {
            let idx = n.wrapping_sub(self.first_page) as usize;
            // A covered page lies between the lowest mapped address and the limit: in the table.
            if let Some(slot) = self.table.get_mut(idx) {
                let pages = &mut self.pages;
                return slot.get_or_insert_with(|| {
                    *pages += 1;
                    zeroed_page()
                });
            }
        }
        let i = match self.edges.iter().position(|(m, _)| *m == n) {
            Some(i) => i,
            None => {
                self.edges.push((n, zeroed_page()));
                self.edges.len() - 1
            }
        };
        &mut self.edges[i].1
    }

    /// An access that is not on the fast path: check it, then go byte by byte (allocating
    /// pages). `f` gets each byte's address, its index in the access and the byte.
    #[cold]
    #[inline(never)]
    fn slow(
        &mut self,
        addr: u32,
        len: u32,
        mut f: impl FnMut(u32, &mut u8),
    ) -> Result<(), MemFault> {
        self.check(addr, len)?;
        for i in 0..len {
            // No wrap: `check` proved addr + len <= memlimit <= 2^32.
            let a = addr + i;
            f(
                i,
                &mut self.page_mut(a >> PAGE_BITS)[a as usize & (PAGE - 1)],
            );
        }
        Ok(())
    }

    /// The page holding `addr` when it is mapped in the table: every byte of such a page is
    /// inside a region (`page_mut` puts only fully covered pages there), so an access that
    /// stays in it needs no other check.
    #[inline(always)]
    fn table_page(&mut self, addr: u32) -> Option<&mut Page> {
        let idx = (addr >> PAGE_BITS).wrapping_sub(self.first_page) as usize;
        self.table.get_mut(idx)?.as_deref_mut()
    }

    /// The interpreter's fast path: a `len`-byte load (1, 2 or 4) inside a mapped table page,
    /// else `None` (and nothing happened: the caller takes the checked path).
    #[inline(always)]
    pub(crate) fn try_load(&mut self, addr: u32, len: u32) -> Option<u32> {
        let off = addr as usize & (PAGE - 1);
        let page = self.table_page(addr)?;
        Some(match len {
            1 => u32::from(page[off]),
            2 => u32::from(u16::from_le_bytes(page.get(off..off + 2)?.try_into().ok()?)),
            _ => u32::from_le_bytes(page.get(off..off + 4)?.try_into().ok()?),
        })
    }

    /// A `len`-byte store inside a mapped table page; false (nothing stored) otherwise.
    #[inline(always)]
    pub(crate) fn try_store(&mut self, addr: u32, len: u32, value: u32) -> bool {
        let off = addr as usize & (PAGE - 1);
        let Some(page) = self.table_page(addr) else {
            return false;
        };
        match len {
            1 => page[off] = value as u8,
            2 => match page.get_mut(off..off + 2) {
                Some(s) => s.copy_from_slice(&(value as u16).to_le_bytes()),
                None => return false,
            },
            _ => match page.get_mut(off..off + 4) {
                Some(s) => s.copy_from_slice(&value.to_le_bytes()),
                None => return false,
            },
        }
        true
    }

    #[inline(always)]
    pub(crate) fn load(&mut self, addr: u32, len: u32) -> Result<u32, MemFault> {
        if let Some(v) = self.try_load(addr, len) {
            return Ok(v);
        }
        let mut v = 0u32;
        self.slow(addr, len, |i, b| v |= u32::from(*b) << (8 * i))?;
        Ok(v)
    }

    #[inline(always)]
    pub(crate) fn store(&mut self, addr: u32, len: u32, value: u32) -> Result<(), MemFault> {
        if self.try_store(addr, len, value) {
            return Ok(());
        }
        self.slow(addr, len, |i, b| *b = (value >> (8 * i)) as u8)
    }

    pub(crate) fn store8(&mut self, addr: u32, v: u8) -> Result<(), MemFault> {
        self.store(addr, 1, u32::from(v))
    }

    pub(crate) fn read_bytes(&mut self, addr: u32, len: u32) -> Result<Vec<u8>, MemFault> {
        (0..len)
            .map(|i| self.load(addr.wrapping_add(i), 1).map(|b| b as u8))
            .collect()
    }
}

#[cfg(test)]
#[path = "mem_reference.rs"]
mod reference;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{SpInit, SpKind};

    fn layout(
        memlimit: u64,
        heap_end: u32,
        stack_bottom: u32,
        shared: bool,
        image_end: u32,
    ) -> Layout {
        Layout {
            memlimit,
            image_start: 0x1000,
            image_end,
            heap_start: image_end,
            heap_end,
            stack_bottom,
            stack_top: (memlimit.min(u64::from(u32::MAX)) as u32) & !15,
            gp: None,
            shared,
            sp_init: SpInit {
                kind: SpKind::NotFound,
                value: None,
                at: 0,
                insts: Vec::new(),
                word_addr: None,
                align_mask: None,
                overwrite_ecall: None,
            },
            sources: Vec::new(),
        }
    }

    /// A small deterministic generator (xorshift), so the sequence is the same on every run.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// The paged memory gives the same result as the previous two-region memory for every
    /// access: the same loaded values, the same faults (kind and address), the same allowed
    /// ranges, over layouts with and without a guard gap, shared regions, unaligned region
    /// edges, and accesses of every width near every edge.
    #[test]
    fn paged_memory_matches_the_two_region_reference() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut checked, mut differences) = (0, 0);
        let mut faults = std::collections::BTreeMap::new();
        for case in 0..400 {
            let base = 0x1000 + 4 * rng.below(0x400) as u32;
            // Word-aligned bounds: both memories round regions to words (the proof's rule).
            let image_end = base + 4 + 4 * rng.below(0xc00) as u32;
            let heap_end = image_end + 4 * rng.below(0x1800) as u32;
            let stack_bottom = if rng.below(3) == 0 {
                heap_end
            } else {
                heap_end + 4 * rng.below(0xc00) as u32
            };
            let memlimit = u64::from(stack_bottom) + 16 + 4 * rng.below(0x2000);
            let shared = case % 5 == 0;
            let l = layout(memlimit, heap_end, stack_bottom, shared, image_end);
            let init_end = image_end.min(base + 4 * rng.below(0x800) as u32 + 4);
            let mut new = Memory::new(&l, base, init_end);
            let mut old = reference::Memory::new(&l, base, init_end);
            assert_eq!(new.allowed(), old.allowed(), "case {case}");
            let data: Vec<u8> = (0..init_end - base).map(|i| (i * 7 + 3) as u8).collect();
            new.init(base, &data);
            old.init(base, &data);
            let edges = [
                base,
                init_end,
                heap_end,
                stack_bottom,
                memlimit as u32,
                0,
                u32::MAX - 3,
            ];
            for _ in 0..300 {
                let near = edges[rng.below(edges.len() as u64) as usize];
                let addr = near.wrapping_add(rng.below(64) as u32).wrapping_sub(32);
                let len = [1, 2, 4][rng.below(3) as usize];
                let is_store = rng.below(2) == 0;
                let (a, b) = if is_store {
                    let v = rng.next() as u32;
                    (
                        new.store(addr, len, v).map(|_| 0),
                        old.store(addr, len, v).map(|_| 0),
                    )
                } else {
                    (new.load(addr, len), old.load(addr, len))
                };
                // Both sides of a straddling access: the old memory decided it byte by byte
                // only where it was already resident (and reported the first bad byte); the
                // result class (allowed or not, and the fault once mapped by `mem_fault`)
                // must agree, and the address whenever the access does not straddle.
                let (lo, hi) = (u64::from(addr), u64::from(addr) + u64::from(len));
                let ranges = new.allowed();
                let in_one = ranges.iter().any(|&(s, e)| lo >= s && hi <= e);
                let in_none = ranges.iter().all(|&(s, e)| hi <= s || lo >= e);
                let straddles = !in_one && !in_none;
                match (a, b) {
                    (Ok(x), Ok(y)) => assert_eq!(x, y, "case {case}: {addr:#x}/{len}"),
                    // The one deliberate difference: an access across the boundary of two
                    // adjacent regions (heap end = stack bottom), every byte allowed. The old
                    // memory refused it unless the heap below had been touched first (it went
                    // byte by byte only inside resident memory); `allowed()` and the prover's
                    // regions admit it.
                    (Ok(_), Err(y)) if straddles && new.covers(lo, hi) => {
                        assert_eq!(y.kind, FaultKind::HeapOverflow);
                        differences += 1;
                        if is_store {
                            // The old memory wrote part of it: start a new run.
                            new = Memory::new(&l, base, init_end);
                            old = reference::Memory::new(&l, base, init_end);
                            new.init(base, &data);
                            old.init(base, &data);
                        }
                        continue;
                    }
                    (Err(x), Err(y)) if straddles => {
                        let class = |k| match k {
                            FaultKind::GuardGap | FaultKind::HeapOverflow => 0,
                            k => k as u8 + 1,
                        };
                        assert_eq!(class(x.kind), class(y.kind), "case {case}: {addr:#x}/{len}")
                    }
                    (x, y) => assert_eq!(x, y, "case {case}: {addr:#x}/{len} in {l:?}"),
                }
                if let Err(f) = a {
                    *faults.entry(f.kind.name()).or_insert(0) += 1;
                }
                checked += 1;
                if is_store && a.is_err() {
                    // A faulting store ends the run (the old memory had written the bytes
                    // before the bad one, the new one writes none): start a new run.
                    new = Memory::new(&l, base, init_end);
                    old = reference::Memory::new(&l, base, init_end);
                    new.init(base, &data);
                    old.init(base, &data);
                }
            }
        }
        assert!(
            checked > 100_000 && differences < checked / 100,
            "{checked} {differences}"
        );
        // Both kinds of memory fault were exercised (the VM names a guard-gap access a heap or
        // stack overflow by its base register).
        for k in ["out_of_bounds", "guard_gap"] {
            assert!(faults.get(k).copied().unwrap_or(0) > 100, "{k}: {faults:?}");
        }
    }

    #[test]
    fn resident_memory_follows_the_pages_touched_at_a_4_gib_span() {
        let l = layout(0xffff_f000, 0xffff_0000, 0xffff_0000, false, 0x2000);
        let mut m = Memory::new(&l, 0x1000, 0x2000);
        m.init(0x1000, &[1; 0x1000]);
        assert_eq!(m.resident(), PAGE);
        m.store(0xffff_0000 - 4, 4, 0xdead_beef).unwrap();
        m.store(0xffff_f000 - 4, 4, 7).unwrap();
        assert_eq!(m.load(0xffff_0000 - 4, 4), Ok(0xdead_beef));
        assert_eq!(m.load(0x8000_0000, 4), Ok(0));
        assert_eq!(m.resident(), 4 * PAGE);
        assert_eq!(
            m.load(0xffff_f000, 4).unwrap_err().kind,
            FaultKind::OutOfBounds
        );
    }

    #[test]
    fn a_partly_allowed_page_is_checked_byte_by_byte() {
        // A 16-byte guard gap inside one page: the bytes on either side are memory, the gap
        // is not, and a word straddling into it faults.
        let l = layout(0x10_0000, 0x8010, 0x8020, false, 0x2000);
        let mut m = Memory::new(&l, 0x1000, 0x2000);
        m.store(0x800c, 4, 1).unwrap();
        m.store(0x8020, 4, 2).unwrap();
        assert_eq!(m.store(0x8010, 4, 3).unwrap_err().kind, FaultKind::GuardGap);
        assert_eq!(
            m.load(0x800e, 4).unwrap_err(),
            MemFault {
                kind: FaultKind::GuardGap,
                addr: 0x800e
            }
        );
        assert_eq!((m.load(0x800c, 4), m.load(0x8020, 4)), (Ok(1), Ok(2)));
        assert_eq!(m.edges.len(), 1);
    }
}
