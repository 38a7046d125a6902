//! Continuations: a run proven as a chain of segments, each one batch STARK over the tables of
//! [`super::tables`], so that the prover's memory is that of one segment whatever the run's
//! length (`docs/CONTINUATIONS.md`).
//!
//! Segment `k` proves: starting at pc `pc_k`, cycle `clk_k` of the run, registers `R_k` and
//! memory `M_k`, the machine executes `cycles_k` instructions of the program, making the
//! system calls of the transcript that fall in those cycles, and arrives at `pc_{k+1}`,
//! `R_{k+1}` and `M_{k+1}`, every word it touches inside the statement's regions; the last
//! segment ends with the exit system call.
//!
//! How the state is carried: the verifier holds the memory itself. It starts from the image
//! (`M_0`, computable from the ELF alone), and for each segment builds the fixed tables the
//! STARK is checked against from the chain, not from the prover:
//!
//! - IMAGE, the memory at segment start: the image in the first segment; in a later one the
//!   value in the verifier's memory of each word the segment touches ([`SegmentMeta::touched`]).
//!   MEM must start each of them exactly once with that value and can start no other word, so
//!   the segment reads the memory the previous one left.
//! - OUT, the words the segment changed with their final values ([`SegmentMeta::changed`]):
//!   MEM must send exactly these, and a word it does not send ends as it started. The
//!   verifier applies them to its memory: that is `M_{k+1}`.
//! - REG, the registers: they start at `R_k` (zero in the first segment) and, before the last
//!   segment, end at [`SegmentMeta::regs_out`], which is `R_{k+1}`.
//! - CPU public values: the first pc `pc_k` (the entry in the first segment), the cycle count,
//!   `notlast`, and the pc the segment continues at ([`SegmentMeta::pc_out`], `pc_{k+1}`).
//! - The segment digest ([`segment_digest`]), in the CPU's public values, binds the whole
//!   public statement, the segment's index and the chain's length into its Fiat-Shamir
//!   transcript.
//!
//! Split points are instruction boundaries (a CPU row is one whole instruction); clocks and
//! memory time stamps restart at zero in each segment, so the ordering argument of MEM stays
//! inside one segment.

use super::statement::Event;
use super::Stark;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The default segment size: 2^20 − 1 cycles, a CPU table of 2^20 rows (it has one padding
/// row after the last cycle, so 2^k − 1 cycles fill 2^k rows and 2^k cycles take 2^(k+1));
/// about 3.7 GiB of prover memory.
pub const DEFAULT_SEGMENT_CYCLES: u64 = (1 << 20) - 1;
/// The longest segment the constraints allow (the CPU clock's time stamps stay below 2^28).
pub const MAX_SEGMENT_CYCLES: u64 = (1 << 25) - 1;

/// What the proof file states about one segment besides its STARK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SegmentMeta {
    /// Instructions the segment executes (at least one).
    pub cycles: u32,
    /// Where the next segment starts (0 in the last segment).
    pub pc_out: u32,
    /// The registers at the end, x0..x31 (empty in the last segment).
    pub regs_out: Vec<u32>,
    /// The word addresses the segment touches, strictly increasing: its IMAGE table (empty
    /// in the first segment, whose IMAGE is the ELF's image).
    pub touched: Vec<u32>,
    /// The words the segment changed and their final values, strictly increasing addresses:
    /// its OUT table (empty in the last segment).
    pub changed: Vec<(u32, u32)>,
    /// The instructions the segment fetched from memory, `(pc, word)` strictly increasing:
    /// its DYNPROG table (`super::tables::fetch`). Words the run wrote, or of an executable
    /// segment outside the instruction ranges; empty for every other run.
    pub dyn_code: Vec<(u32, u32)>,
}

/// Where a segment starts: what the verifier derives from the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentStart {
    pub index: usize,
    /// The last segment (ends with the exit; states no end state).
    pub last: bool,
    /// The run's cycle the segment starts at.
    pub clk0: u64,
    pub pc: u32,
    pub regs: [u32; 32],
}

impl SegmentStart {
    /// The whole run as one segment: from the entry, the registers zero but `sp` (the
    /// statement's initial `sp`: the loader's, for a family-e guest).
    pub fn whole_run(st: &super::Statement) -> SegmentStart {
        let mut regs = [0; 32];
        regs[2] = st.initial_sp;
        SegmentStart {
            index: 0,
            last: true,
            clk0: 0,
            pc: st.entry,
            regs,
        }
    }

    /// The next segment's start after this one (`last`: whether that one is the last).
    pub fn next(&self, meta: &SegmentMeta, last: bool) -> SegmentStart {
        let mut regs = [0u32; 32];
        for (d, s) in regs.iter_mut().zip(&meta.regs_out) {
            *d = *s;
        }
        SegmentStart {
            index: self.index + 1,
            last,
            clk0: self.clk0 + u64::from(meta.cycles),
            pc: meta.pc_out,
            regs,
        }
    }
}

/// What the chain carries from one segment to the next: where the next one starts and the
/// memory then. The verifier keeps its own; the prover keeps the same, so both build a
/// segment's fixed tables from one definition of the step.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The number of segments.
    pub count: usize,
    /// Where the next segment starts.
    pub start: SegmentStart,
    /// The memory at its start: every word ever touched, by word address.
    pub mem: BTreeMap<u32, [u8; 4]>,
}

impl Chain {
    /// A chain of `count` segments from the image (`image_words`) at the statement's start.
    pub fn new(image_words: &BTreeMap<u32, [u8; 4]>, st: &super::Statement, count: usize) -> Chain {
        let mut start = SegmentStart::whole_run(st);
        start.last = count == 1;
        Chain {
            count,
            start,
            mem: image_words.clone(),
        }
    }

    /// Step past the segment at `start` that states `meta`: apply its changed words and
    /// start the next one where it ended.
    pub fn advance(&mut self, meta: &SegmentMeta) {
        for &(a, v) in &meta.changed {
            self.mem.insert(a, v.to_le_bytes());
        }
        self.start = self.start.next(meta, self.start.index + 2 == self.count);
    }
}

/// One segment of a proof file.
pub struct SegmentProof {
    pub meta: SegmentMeta,
    pub proof: Stark,
}

/// The events of the cycles `[clk0, clk0 + n)`, their clocks counted from `clk0`.
pub fn segment_events(events: &[Event], clk0: u64, n: u64) -> Vec<Event> {
    events
        .iter()
        .filter(|e| (clk0..clk0 + n).contains(&e.clk))
        .map(|e| Event {
            clk: e.clk - clk0,
            ..e.clone()
        })
        .collect()
}

/// The digest a segment's STARK is bound to (in its public values, so in its Fiat-Shamir
/// transcript): the public statement without the transcript
/// ([`super::statement::statement_digest`]), the number of segments, this segment's start,
/// its meta, and its events.
pub fn segment_digest(
    statement_digest: &[u8; 32],
    count: usize,
    start: &SegmentStart,
    meta: &SegmentMeta,
    events: &[Event],
) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"nexus-relink segment v1");
    h.update(statement_digest);
    h.update(postcard::to_allocvec(events).expect("serialisable"));
    h.update((count as u64).to_le_bytes());
    h.update((start.index as u64).to_le_bytes());
    h.update([u8::from(start.last)]);
    h.update(start.clk0.to_le_bytes());
    h.update(start.pc.to_le_bytes());
    for r in start.regs {
        h.update(r.to_le_bytes());
    }
    h.update(postcard::to_allocvec(meta).expect("serialisable"));
    h.finalize().into()
}

/// A meta's own rules (before any table is built from it): the shape the chain position
/// requires, sorted addresses, x0 zero.
pub fn check_meta(start: &SegmentStart, meta: &SegmentMeta) -> Result<(), String> {
    let k = start.index;
    if meta.cycles == 0 || u64::from(meta.cycles) > MAX_SEGMENT_CYCLES {
        return Err(format!("segment {k} has {} cycles", meta.cycles));
    }
    if start.last {
        if meta.pc_out != 0 || !meta.regs_out.is_empty() || !meta.changed.is_empty() {
            return Err(format!("the last segment ({k}) states an end state"));
        }
    } else {
        if meta.regs_out.len() != 32 || meta.regs_out[0] != 0 {
            return Err(format!(
                "segment {k} does not state 32 registers with x0 = 0"
            ));
        }
        if meta.pc_out % 4 != 0 {
            return Err(format!("segment {k} continues at a misaligned pc"));
        }
    }
    if start.index == 0 && !meta.touched.is_empty() {
        return Err("the first segment starts from the image, not a word list".into());
    }
    fn increasing(mut v: impl Iterator<Item = u32>) -> bool {
        let mut prev: Option<u32> = None;
        v.all(|w| {
            let ok = prev.is_none_or(|p| w > p) && w < 1 << 30;
            prev = Some(w);
            ok
        })
    }
    if !increasing(meta.touched.iter().copied()) || !increasing(meta.changed.iter().map(|c| c.0)) {
        return Err(format!(
            "segment {k}: its word lists are not strictly increasing word addresses"
        ));
    }
    Ok(())
}
