//! **IOW** (preprocessed, from the public transcript): one row per memory word a system call
//! read or wrote, `(real, ts, waddr, wm[4], rm[4], v[4])`: the lanes written and read and
//! their bytes, at the event's time stamp `8 clk + 7`. The main columns are the word's old
//! value and time and the time-stamp difference; each row is one memory access (consumes the
//! old token, produces the new one). A lane read must hold the transcript's byte; a written
//! lane takes it.
//!
//! Rules of `docs/RULES.md` it carries: system calls (the memory bytes each read and wrote
//! are the transcript's); stores into code and into `tohost` (the host may read a read-only
//! word, never write one).
//!
//! Trace: [`IoWords::from_public`] (the verifier's too) and `IoTrace`.

use super::common::*;

/// Preprocessed: real, ts, waddr, `wm[4]`, `rm[4]`, `v[4]`. Main: `o[4]`, pt, lo, hi, ro (the host
/// may read a read-only word, never write one).
pub const IOW_PW: usize = 15;
pub const IOW_MW: usize = 8;

#[derive(Clone, Debug)]
pub struct IoWords {
    pub rows: Vec<u32>,
    pub height: usize,
}

impl IoWords {
    pub(super) fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let p = preprocessed_row(b);
        let m: Vec<AB::Expr> = b.main().current_slice().iter().map(|&v| v.into()).collect();
        let real = p[0].clone();
        let o: [AB::Expr; 4] = std::array::from_fn(|k| m[k].clone());
        let new: [AB::Expr; 4] = std::array::from_fn(|k| {
            o[k].clone() + p[3 + k].clone() * (p[11 + k].clone() - o[k].clone())
        });
        for k in 0..4 {
            b.assert_zero(p[7 + k].clone() * (o[k].clone() - p[11 + k].clone()));
        }
        ts_check(
            b,
            real.clone(),
            p[1].clone(),
            m[4].clone(),
            m[5].clone(),
            m[6].clone(),
        );
        range_ts(b, m[5].clone(), m[6].clone(), real.clone());
        let ro = m[7].clone();
        b.assert_bool(ro.clone());
        b.assert_zero(ro.clone() * (p[3].clone() + p[4].clone() + p[5].clone() + p[6].clone()));
        access(
            b,
            AB::Expr::ONE + ro,
            p[2].clone(),
            o,
            m[4].clone(),
            new,
            p[1].clone(),
            real,
        );
    }
}

/// IOW rows of one event: one per memory word, `[real, ts, waddr, wm[4], rm[4], v[4]]`.
pub(crate) fn io_rows(e: &Event) -> Vec<u32> {
    let mut words: BTreeMap<u32, [u32; 12]> = BTreeMap::new();
    for (mem, write) in [
        (&e.mem_read, false),
        (&e.mem_read2, false),
        (&e.mem_write, true),
    ] {
        if let Some((addr, data)) = mem {
            for (k, &byte) in data.iter().enumerate() {
                let a = addr.wrapping_add(k as u32);
                let lane = (a & 3) as usize;
                let w = words.entry(a >> 2).or_insert([0; 12]);
                w[if write { lane } else { 4 + lane }] = 1;
                w[8 + lane] = u32::from(byte);
            }
        }
    }
    let mut out = Vec::new();
    for (waddr, w) in words {
        // A segment's clock (under 2^25), so the time stamp fits in 32 bits.
        out.extend([1, 8 * e.clk as u32 + 7, waddr]);
        out.extend(w);
    }
    out
}

impl IoWords {
    /// The preprocessed rows of the transcript's memory words, event by event.
    pub fn from_public(p: &Public) -> IoWords {
        Self::from_events(&p.statement, &p.events)
    }

    /// The preprocessed rows of these events' memory words (one segment's events).
    pub fn from_events(st: &crate::prove::Statement, events: &[Event]) -> IoWords {
        let io: Vec<u32> = events.iter().flat_map(io_rows).collect();
        IoWords {
            height: rows_for(st, io.len() / IOW_PW),
            rows: io,
        }
    }
}

/// The IOW main trace as the CPU's event rows fill it.
pub(crate) struct IoTrace {
    main: Vec<Val>,
    next: usize,
}

impl IoTrace {
    pub(crate) fn new(height: usize) -> Self {
        IoTrace {
            main: Val::zero_vec(height * IOW_MW),
            next: 0,
        }
    }

    /// Fill the rows of the memory words of event `e`, executed at `cycle`, pc `pc`.
    pub(crate) fn push(
        &mut self,
        run: &mut Run,
        e: &Event,
        cycle: usize,
        pc: u32,
    ) -> Result<(), WitnessError> {
        let f = |v: u32| Val::from_u32(v);
        let (pt, st, mults) = (run.pt, &mut run.st, &mut run.mults);
        let io_rows = io_rows(e);
        for r in io_rows.chunks(IOW_PW) {
            let waddr = r[2];
            let ro = pt.ro_words.contains(&waddr);
            let writes = r[3..7].contains(&1);
            if run.checked && ro && writes {
                return Err(WitnessError::Unsupported {
                    cycle,
                    pc,
                    what: format!(
                        "a system call writing into the read-only word {:#x} (code or `tohost`)",
                        waddr * 4
                    ),
                });
            }
            let (old, prev) = st.word(run.base, waddr);
            let ob = old.to_le_bytes();
            let mut nb = ob;
            for lane in 0..4 {
                if r[3 + lane] == 1 {
                    nb[lane] = r[11 + lane] as u8;
                }
            }
            st.mem.insert(waddr, (u32::from_le_bytes(nb), r[1]));
            let m = &mut self.main[self.next * IOW_MW..(self.next + 1) * IOW_MW];
            self.next += 1;
            set4(m, [0, 1, 2, 3], old);
            m[4] = f(prev);
            let dd = r[1] - prev - 1;
            m[5] = f(dd & 0xffff);
            m[6] = f(dd >> 16);
            m[7] = f((ro && !writes) as u32);
            mults.diff(dd);
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> RowMajorMatrix<Val> {
        RowMajorMatrix::new(self.main, IOW_MW)
    }
}
