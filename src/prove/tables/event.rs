//! **EVENT** (preprocessed, from the public transcript): one row per `ecall` (and Nexus tape
//! instruction, CSR instruction, `mret`) of the run: its clock, pc and next pc, the registers
//! it read with their values, the register it wrote with the value (or the private-input
//! flag, the value then being a main column). The CPU sends each event row's
//! `(clk, pc, next pc)` on the event bus; the main columns hold the register accesses'
//! previous times and time-stamp differences, the written value, and the private-input
//! exhaustion flag. The verifier replays the transcript against the ABI (and the VM's CSR
//! semantics) natively.
//!
//! Columns: [`ev`]. Rules of `docs/RULES.md` it carries: system calls (the registers each
//! read and wrote, and where execution continued, are the transcript's); the run ends with
//! the exit system call (with the CPU and the replay); Nexus private input (a byte, or
//! `u32::MAX` once the monotone `eof` flag is set); `mret` targets (the replay checks
//! `mepc`).
//!
//! Trace: [`Events::from_public`] (the verifier's too) and `EventTrace`.

// Column arithmetic reads best as index loops over parallel arrays of column numbers.
#![allow(clippy::needless_range_loop)]

use super::common::*;

/// Preprocessed event columns.
pub mod ev {
    /// Registers an event may read (RISC Zero's software calls read t0 and a0..a5).
    pub const READS: usize = 8;
    pub const REAL: usize = 0;
    pub const CLK: usize = 1;
    pub const PCW: usize = 2;
    /// Read slot k: reg, value `bytes[4]`, use (6 columns each, [`READS`] slots).
    pub const READ: usize = 3;
    pub const RD: usize = READ + 6 * READS;
    pub const RET: usize = RD + 1; // 4 bytes
    pub const WR: usize = RET + 4;
    pub const PRIV: usize = WR + 1;
    /// Next pc (word index): pc + 1, or where `mret` goes.
    pub const NPC: usize = PRIV + 1;
    /// A second register written, with its public value (RISC Zero's software calls return
    /// a0 and a1): reg, value `bytes[4]`, use.
    pub const RD2: usize = NPC + 1;
    pub const RET2: usize = RD2 + 1; // 4 bytes
    pub const WR2: usize = RET2 + 4;
    pub const W: usize = WR2 + 1;
    // Main columns.
    pub const M_RPT: usize = 0; // READS
    pub const M_RLO: usize = M_RPT + READS; // READS
    pub const M_RHI: usize = M_RLO + READS; // READS
    pub const M_WPT: usize = M_RHI + READS;
    pub const M_WLO: usize = M_WPT + 1;
    pub const M_WHI: usize = M_WLO + 1;
    pub const M_RO: usize = M_WHI + 1; // 4
    pub const M_C: usize = M_RO + 4; // 4
    pub const M_Z: usize = M_C + 4; // 2
    /// Private input exhausted: monotone over the rows; a private read returns one byte
    /// before, `u32::MAX` from then on (the VM's Nexus `0x400`).
    pub const M_EOF: usize = M_Z + 2;
    /// The second write's previous time and time-stamp difference, and its old value.
    pub const M_W2PT: usize = M_EOF + 1;
    pub const M_W2LO: usize = M_W2PT + 1;
    pub const M_W2HI: usize = M_W2LO + 1;
    pub const M_RO2: usize = M_W2HI + 1; // 4
    pub const MW: usize = M_RO2 + 4;
}

#[derive(Clone, Debug)]
pub struct Events {
    pub rows: Vec<u32>,
    pub height: usize,
}

impl Events {
    pub(super) fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let p = preprocessed_row(b);
        let main = b.main();
        let m: Vec<AB::Expr> = main.current_slice().iter().map(|&v| v.into()).collect();
        let eof_next: AB::Expr = main.next_slice()[ev::M_EOF].into();
        let c = |v: u32| AB::Expr::from_u32(v);
        let real = p[ev::REAL].clone();
        let eof = m[ev::M_EOF].clone();
        b.assert_bool(eof.clone());
        b.when_transition()
            .assert_zero(eof.clone() * (AB::Expr::ONE - eof_next));
        let private = p[ev::PRIV].clone();
        for k in 1..4 {
            b.assert_zero(private.clone() * (m[ev::M_C + k].clone() - c(255) * eof.clone()));
        }
        b.assert_zero(private * eof * (m[ev::M_C].clone() - c(255)));
        EVBUS.receive(
            b,
            [p[ev::CLK].clone(), p[ev::PCW].clone(), p[ev::NPC].clone()],
            Count::bounded(real.clone(), 1),
        );
        let t = |j: u32| p[ev::CLK].clone() * c(8) + c(j);
        // The reads at 8 clk + 5: the transcript's values.
        for k in 0..ev::READS {
            let base = ev::READ + 6 * k;
            let val: [AB::Expr; 4] = std::array::from_fn(|i| p[base + 1 + i].clone());
            let timing = [ev::M_RPT + k, ev::M_RLO + k, ev::M_RHI + k].map(|i| m[i].clone());
            reg_access(
                b,
                p[base + 5].clone(),
                &real,
                t(5),
                p[base].clone(),
                val.clone(),
                val,
                timing,
            );
        }
        for k in 0..4 {
            b.assert_zero(
                (AB::Expr::ONE - p[ev::PRIV].clone())
                    * (m[ev::M_C + k].clone() - p[ev::RET + k].clone()),
            );
        }
        for j in 0..2 {
            AND8.lookup_key(
                b,
                [
                    m[ev::M_C + 2 * j].clone(),
                    m[ev::M_C + 2 * j + 1].clone(),
                    m[ev::M_Z + j].clone(),
                ],
                Count::bounded(real.clone(), 1),
            );
        }
        // The write at 8 clk + 6: the transcript's value, or the private byte (`M_C`).
        let ro: [AB::Expr; 4] = std::array::from_fn(|i| m[ev::M_RO + i].clone());
        let cv: [AB::Expr; 4] = std::array::from_fn(|i| m[ev::M_C + i].clone());
        let timing = [ev::M_WPT, ev::M_WLO, ev::M_WHI].map(|i| m[i].clone());
        reg_access(
            b,
            p[ev::WR].clone(),
            &real,
            t(6),
            p[ev::RD].clone(),
            ro,
            cv,
            timing,
        );
        // The second write (a1 of a RISC Zero software call) at 8 clk + 7: the transcript's
        // value.
        let ro2: [AB::Expr; 4] = std::array::from_fn(|i| m[ev::M_RO2 + i].clone());
        let v2: [AB::Expr; 4] = std::array::from_fn(|i| p[ev::RET2 + i].clone());
        let timing = [ev::M_W2PT, ev::M_W2LO, ev::M_W2HI].map(|i| m[i].clone());
        reg_access(
            b,
            p[ev::WR2].clone(),
            &real,
            t(7),
            p[ev::RD2].clone(),
            ro2,
            v2,
            timing,
        );
    }
}

/// One timed register access of an event row, when `used`: register `reg` goes from `old` to
/// `new` at time stamp `ts`, strictly after its previous access (`timing`: that access's time
/// and the difference as two 16-bit limbs, range-checked on every real row).
#[allow(clippy::too_many_arguments)]
fn reg_access<AB: PermutationAirBuilder + InteractionBuilder>(
    b: &mut AB,
    used: AB::Expr,
    real: &AB::Expr,
    ts: AB::Expr,
    reg: AB::Expr,
    old: [AB::Expr; 4],
    new: [AB::Expr; 4],
    timing: [AB::Expr; 3],
) {
    let [prev, lo, hi] = timing;
    ts_check(
        b,
        used.clone(),
        ts.clone(),
        prev.clone(),
        lo.clone(),
        hi.clone(),
    );
    range_ts(b, lo, hi, real.clone());
    access(b, AB::Expr::ZERO, reg, old, prev, new, ts, used);
}

impl Events {
    /// The preprocessed rows of the transcript's events.
    pub fn from_public(p: &Public) -> Events {
        Self::from_events(&p.statement, &p.events)
    }

    /// The preprocessed rows of these events (one segment's, clocks from its first cycle).
    pub fn from_events(st: &crate::prove::Statement, events: &[Event]) -> Events {
        let mut rows = Vec::with_capacity(events.len() * ev::W);
        for e in events {
            let mut row = vec![0u32; ev::W];
            row[ev::REAL] = 1;
            // A segment's clocks (under 2^25: `segment::MAX_SEGMENT_CYCLES`).
            row[ev::CLK] = e.clk as u32;
            row[ev::PCW] = e.pc / 4;
            row[ev::NPC] = e.next_pc.map_or(e.pc / 4 + 1, |p| p / 4);
            // The replay refuses an event of more reads than the slots (`ev::READS`).
            for (k, &(r, v)) in e.reads.iter().take(ev::READS).enumerate() {
                let base = ev::READ + 6 * k;
                row[base] = u32::from(r);
                row[base + 1..base + 5].copy_from_slice(&bytes(v));
                row[base + 5] = 1;
            }
            if let Some((rd, v)) = e.write {
                row[ev::RD] = u32::from(rd);
                row[ev::WR] = 1;
                match v {
                    Some(v) => row[ev::RET..ev::RET + 4].copy_from_slice(&bytes(v)),
                    None => row[ev::PRIV] = 1,
                }
            }
            if let Some((rd, v)) = e.write2 {
                row[ev::RD2] = u32::from(rd);
                row[ev::WR2] = 1;
                row[ev::RET2..ev::RET2 + 4].copy_from_slice(&bytes(v));
            }
            rows.extend(row);
        }
        Events {
            height: rows_for(st, events.len()),
            rows,
        }
    }
}

/// The EVENT main trace as the CPU's event rows fill it.
pub(crate) struct EventTrace {
    main: Vec<Val>,
    /// The next event row.
    pub(crate) next: usize,
    height: usize,
}

impl EventTrace {
    pub(crate) fn new(height: usize) -> Self {
        EventTrace {
            main: Val::zero_vec(height * ev::MW),
            next: 0,
            height,
        }
    }

    /// Fill the next row: event `e`, executed by the CPU row `tr` with time stamp `ts`
    /// (`8 clk + 1`).
    pub(crate) fn push(&mut self, run: &mut Run, e: &Event, ts: u32, tr: &TraceRow) {
        let f = |v: u32| Val::from_u32(v);
        let (st, mults) = (&mut run.st, &mut run.mults);
        let ev_i = self.next;
        let mrow = &mut self.main[ev_i * ev::MW..(ev_i + 1) * ev::MW];
        self.next += 1;
        // Unused read slots check a difference of 0.
        let mut read_diff = [0u32; ev::READS];
        for (k, &(r, _)) in e.reads.iter().enumerate() {
            let (_, prev) = st.regs[r as usize];
            st.regs[r as usize].1 = ts + 4; // 8 clk + 5
            mrow[ev::M_RPT + k] = f(prev);
            read_diff[k] = ts + 4 - prev - 1;
        }
        for (k, dd) in read_diff.into_iter().enumerate() {
            mrow[ev::M_RLO + k] = f(dd & 0xffff);
            mrow[ev::M_RHI + k] = f(dd >> 16);
            mults.diff(dd);
        }
        let mut wdiff = 0;
        let mut cval = 0;
        if let Some((rd, v)) = e.write {
            let (old, prev) = st.regs[rd as usize];
            cval = v.unwrap_or(if tr.rd == rd { tr.rd_val } else { old });
            st.regs[rd as usize] = (cval, ts + 5); // 8 clk + 6
            set4(mrow, std::array::from_fn(|k| ev::M_RO + k), old);
            mrow[ev::M_WPT] = f(prev);
            wdiff = ts + 5 - prev - 1;
        }
        mrow[ev::M_WLO] = f(wdiff & 0xffff);
        mrow[ev::M_WHI] = f(wdiff >> 16);
        mults.diff(wdiff);
        let cb = bytes(cval);
        set4(mrow, std::array::from_fn(|k| ev::M_C + k), cval);
        for j in 0..2 {
            mrow[ev::M_Z + j] = f(cb[2 * j] & cb[2 * j + 1]);
            mults.and8(cb[2 * j], cb[2 * j + 1]);
        }
        let mut w2diff = 0;
        if let Some((rd, v)) = e.write2 {
            let (old, prev) = st.regs[rd as usize];
            st.regs[rd as usize] = (v, ts + 6); // 8 clk + 7
            set4(mrow, std::array::from_fn(|k| ev::M_RO2 + k), old);
            mrow[ev::M_W2PT] = f(prev);
            w2diff = ts + 6 - prev - 1;
        }
        mrow[ev::M_W2LO] = f(w2diff & 0xffff);
        mrow[ev::M_W2HI] = f(w2diff >> 16);
        mults.diff(w2diff);
    }

    /// The trace, with the private-input exhaustion flag: monotone, carried over the rows
    /// between private reads and over the padding.
    pub(crate) fn finish(
        self,
        events: &[Event],
        checked: bool,
    ) -> Result<RowMajorMatrix<Val>, WitnessError> {
        let f = |v: u32| Val::from_u32(v);
        let mut ev_main = self.main;
        let mut eof = false;
        for (k, e) in events.iter().enumerate() {
            if let Some((_, None)) = e.write {
                let c = (0..4).fold(0u32, |acc, j| {
                    use p3_field::PrimeField32;
                    acc | (ev_main[k * ev::MW + ev::M_C + j].as_canonical_u32() << (8 * j))
                });
                if checked && c != u32::MAX && (c > 0xff || eof) {
                    return Err(WitnessError::Internal {
                        cycle: e.clk as usize,
                        what: format!("private input read {c:#x} is not a byte or the end"),
                    });
                }
                eof = c == u32::MAX;
            }
            ev_main[k * ev::MW + ev::M_EOF] = f(eof as u32);
        }
        for k in events.len()..self.height {
            ev_main[k * ev::MW + ev::M_EOF] = f(eof as u32);
        }
        Ok(RowMajorMatrix::new(ev_main, ev::MW))
    }
}
