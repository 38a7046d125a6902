//! The previous memory implementation (two growable regions), kept as the reference the
//! paged memory is checked against: same results for every access (tests only).

use super::MemFault;
use crate::layout::Layout;
use crate::vm::FaultKind;

/// Smallest growth step of a region.
const CHUNK: usize = 64 << 10;

pub(crate) struct Memory {
    low_base: u32,
    low: Vec<u8>,
    /// Highest address (exclusive) `low` may grow to.
    low_max: u64,
    /// `high` covers `[high_base, high_end)`.
    high_base: u32,
    high: Vec<u8>,
    high_end: u64,
    /// Lowest address `high` may grow down to.
    high_min: u32,
    pub(crate) layout_heap_end: u32,
    pub(crate) layout_stack_bottom: u32,
    pub(crate) memlimit: u64,
    shared: bool,
}

impl Memory {
    /// `base`: the lowest mapped address; `init_end`: end of the initialised image.
    pub(crate) fn new(layout: &Layout, base: u32, init_end: u32) -> Memory {
        // The same word-rounded regions as the paged memory.
        let (base, low_max, high_min) = super::region_bounds(layout, base, init_end);
        let high_end = layout.memlimit;
        let high_base = high_end
            .saturating_sub(CHUNK as u64)
            .max(u64::from(high_min)) as u32;
        let high_base = high_base.max(init_end);
        Memory {
            low_base: base,
            low: vec![0; (init_end - base) as usize],
            low_max,
            high_base,
            high: vec![0; (high_end - u64::from(high_base)) as usize],
            high_end,
            high_min,
            layout_heap_end: layout.heap_end,
            layout_stack_bottom: layout.stack_bottom,
            memlimit: layout.memlimit,
            shared: layout.shared,
        }
    }

    /// Copy initial bytes (an ELF segment's file contents) into memory.
    pub(crate) fn init(&mut self, addr: u32, data: &[u8]) {
        for (i, b) in data.iter().enumerate() {
            // Initialisation targets validated segments inside `low`.
            let _ = self.store8(addr + i as u32, *b);
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

    #[inline(always)]
    fn slice(&mut self, addr: u32, len: u32) -> Option<&mut [u8]> {
        let off = addr.wrapping_sub(self.low_base) as usize;
        if off + len as usize <= self.low.len() {
            return Some(&mut self.low[off..off + len as usize]);
        }
        let off = addr.wrapping_sub(self.high_base) as usize;
        if off + len as usize <= self.high.len() {
            return Some(&mut self.high[off..off + len as usize]);
        }
        None
    }

    /// Make `[addr, addr+len)` resident, or say which region forbids it. Returns Ok without
    /// growing when the access straddles the two regions; the caller then goes byte by byte.
    #[cold]
    fn grow(&mut self, addr: u32, len: u32) -> Result<(), MemFault> {
        let (a, end) = (u64::from(addr), u64::from(addr) + u64::from(len));
        let fault = |kind| Err(MemFault { kind, addr });
        if addr < self.low_base || end > self.memlimit {
            return fault(FaultKind::OutOfBounds);
        }
        let low_end = u64::from(self.low_base) + self.low.len() as u64;
        let high_base = u64::from(self.high_base);
        let (to_low, to_high) = if self.shared {
            // Shared heap/stack: grow whichever region is nearer; they may meet, never overlap.
            let to_low = end <= high_base && a.saturating_sub(low_end) <= high_base - end;
            (to_low, !to_low && a >= low_end)
        } else {
            (end <= self.low_max, a >= u64::from(self.high_min))
        };
        if to_low {
            let want = (end - u64::from(self.low_base)) as usize;
            let cap = (self.low_max.min(high_base) - u64::from(self.low_base)) as usize;
            let new_len = want
                .max(self.low.len() * 2)
                .max(self.low.len() + CHUNK)
                .min(cap);
            self.low.resize(new_len.max(want), 0);
            return Ok(());
        }
        if to_high {
            let cur = self.high.len() as u64;
            let floor = u64::from(self.high_min).max(low_end);
            let new_base = self
                .high_end
                .saturating_sub((cur * 2).max(cur + CHUNK as u64))
                .max(floor)
                .min(a);
            let grow_by = (high_base - new_base) as usize;
            let mut v = vec![0u8; grow_by + self.high.len()];
            v[grow_by..].copy_from_slice(&self.high);
            self.high = v;
            self.high_base = new_base as u32;
            return Ok(());
        }
        if a < low_end || end > high_base && a < high_base && low_end >= u64::from(self.high_min) {
            return Ok(()); // straddles a region boundary: byte-wise path decides per byte
        }
        if !self.shared && addr >= self.layout_heap_end && addr < self.layout_stack_bottom {
            return fault(FaultKind::GuardGap);
        }
        fault(FaultKind::HeapOverflow)
    }

    #[inline(always)]
    fn access(&mut self, addr: u32, len: u32) -> Result<Option<&mut [u8]>, MemFault> {
        if self.slice(addr, len).is_none() {
            self.grow(addr, len)?;
            if self.slice(addr, len).is_none() {
                return Ok(None); // straddles both regions: caller goes byte by byte
            }
        }
        Ok(self.slice(addr, len))
    }

    #[inline(always)]
    pub(crate) fn load(&mut self, addr: u32, len: u32) -> Result<u32, MemFault> {
        match self.access(addr, len)? {
            Some(s) => {
                let mut b = [0u8; 4];
                b[..len as usize].copy_from_slice(s);
                Ok(u32::from_le_bytes(b))
            }
            None if len == 1 => Err(MemFault {
                kind: FaultKind::HeapOverflow,
                addr,
            }),
            None => {
                let mut v = 0u32;
                for i in 0..len {
                    v |= self.load(addr.wrapping_add(i), 1)? << (8 * i);
                }
                Ok(v)
            }
        }
    }

    #[inline(always)]
    pub(crate) fn store(&mut self, addr: u32, len: u32, value: u32) -> Result<(), MemFault> {
        match self.access(addr, len)? {
            Some(s) => {
                s.copy_from_slice(&value.to_le_bytes()[..len as usize]);
                Ok(())
            }
            None if len == 1 => Err(MemFault {
                kind: FaultKind::HeapOverflow,
                addr,
            }),
            None => {
                for i in 0..len {
                    self.store(addr.wrapping_add(i), 1, value >> (8 * i))?;
                }
                Ok(())
            }
        }
    }

    pub(crate) fn store8(&mut self, addr: u32, v: u8) -> Result<(), MemFault> {
        self.store(addr, 1, u32::from(v))
    }
}
