//! The guest's memory base: the address `--memlimit SIZE` counts from (README, "Memory limits
//! and the memory base").
//!
//! The base is 0 unless the guest's memory clearly starts elsewhere:
//! 1. a RAM-origin symbol ([`RAM_ORIGIN_SYMS`], e.g. picolibc's `__ram` when the build defines
//!    it) names it, at or above [`HIGH_BASE_MIN`] (a low RAM origin is counted from 0 like
//!    every low-linked guest);
//! 2. the loaded segments that hold the guest's writable data (with the segments contiguous
//!    with them, gaps under [`CLUSTER_GAP`]) start at or above [`HIGH_BASE_MIN`]: picolibc's
//!    stock script puts RAM at 0x20000000, Jolt and the riscv-tests `p` environment link at
//!    0x80000000. Guests linked at 0x1000, 0x10000 or 0x400000 keep base 0.

use crate::elf::Image;
use serde::Serialize;

/// Symbols naming where the guest's RAM starts, in order of preference.
pub const RAM_ORIGIN_SYMS: &[&str] = &["__ram", "__ram_start", "_ram_start", "__ram_origin"];

/// The lowest address a memory base inferred from the segments may have: far above the low
/// conventional link addresses (0x1000, 0x10000, 0x400000), at or below the high ones
/// (0x20000000, 0x80000000).
pub const HIGH_BASE_MIN: u32 = 0x1000_0000;

/// Loaded segments closer than this belong to the same memory (a program and its data linked
/// one after the other); picolibc's flash and RAM, 256 MiB apart, are two memories.
pub const CLUSTER_GAP: u64 = 0x100_0000;

/// Where the guest's memory starts and what says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct MemoryBase {
    pub base: u32,
    /// What the base was read from; "default" for 0.
    pub source: String,
}

impl MemoryBase {
    /// The base of `img` (module doc).
    pub fn of(img: &Image) -> MemoryBase {
        for name in RAM_ORIGIN_SYMS {
            if let Some(s) = img.symbol(name) {
                if s.value >= HIGH_BASE_MIN {
                    return MemoryBase {
                        base: s.value & !0xfff,
                        source: format!("symbol {name} = {:#x}", s.value),
                    };
                }
            }
        }
        let mut loads: Vec<(u32, u64, bool)> = img
            .loads()
            .filter(|s| s.memsz > 0)
            .map(|s| (s.vaddr, s.end(), s.flags & crate::elf::PF_W != 0))
            .collect();
        loads.sort();
        // Group the segments into memories; the one holding the lowest writable segment (or the
        // lowest segment when nothing is writable) is the guest's RAM.
        let mut groups: Vec<(u32, u64, bool)> = Vec::new();
        for (start, end, w) in loads {
            match groups.last_mut() {
                Some(g) if u64::from(start) < g.1 + CLUSTER_GAP => {
                    g.1 = g.1.max(end);
                    g.2 |= w;
                }
                _ => groups.push((start, end, w)),
            }
        }
        let ram = groups.iter().find(|g| g.2).or(groups.first());
        match ram {
            Some(&(start, _, w)) if start >= HIGH_BASE_MIN => MemoryBase {
                base: start & !0xfff,
                source: if w {
                    format!("the loaded segments holding the writable data start at {start:#x}")
                } else {
                    format!("the lowest loaded segment starts at {start:#x}")
                },
            },
            _ => MemoryBase {
                base: 0,
                source: "default".into(),
            },
        }
    }

    /// The memory top for `size` bytes from the base, or the message for a top above
    /// [`super::MAX_MEMLIMIT`].
    pub fn top(&self, size: u64) -> Result<u64, String> {
        let top = u64::from(self.base) + size;
        if top > super::MAX_MEMLIMIT {
            return Err(format!(
                "--memlimit {} from the memory base {:#x} ({}) ends at {top:#x}, above the largest memory top {:#x}: use at most --memlimit {:#x}",
                crate::size::exact(size),
                self.base,
                self.source,
                super::MAX_MEMLIMIT,
                super::MAX_MEMLIMIT - u64::from(self.base)
            ));
        }
        Ok(top)
    }
}
