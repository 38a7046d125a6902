//! Instructions fetched from memory: self-modifying code, and code in an executable segment
//! outside the ELF's instruction ranges (data of an RWX segment, its zero-filled tail).
//!
//! - **DYNPROG** (preprocessed, from the segment's meta, [`super::super::SegmentMeta::dyn_code`]):
//!   one row per `(pc, word)` the segment executed from such a pc, as PROGRAM's lookup tuple
//!   followed by the word's four bytes. The verifier decodes every word itself (the same
//!   [`prog_row`] as PROGRAM's), so a row is the true decoding of its word; it admits only
//!   pcs the VM may execute (inside [`Public::exec`]) that are not read-only instruction words
//!   (those are PROGRAM's), and no event instruction (the transcript's replay decodes those
//!   from the ELF). Main: the multiplicity.
//! - **FETCH**: one row per CPU row at such a pc. It reads the instruction word from memory
//!   (space 1, time stamp `8 clk + 1`, before the row's own data access at `8 clk + 3`, so a
//!   store lands before the next fetch of its word), looks `(pc, decoding, word)` up in
//!   DYNPROG, and provides the CPU's program lookup `(pc, decoding, 1, clk + 1)` once. A CPU
//!   row takes its instruction from PROGRAM (last key element 0) or from the FETCH row of its
//!   own clock: an instruction at a pc without a PROGRAM row is what memory holds at that
//!   cycle.
//!
//! Rules of `docs/RULES.md` they carry: self-modifying code (an instruction word the run
//! wrote is executed as written), code outside the instruction ranges inside an executable
//! segment.
//!
//! Trace: [`DynProg::from_pairs`] (the verifier's too) and `FetchTrace`, filled by the CPU
//! pass.

use super::common::*;
use super::cpu::sel;
use super::program::{prog_row, prog_tuple, ProgRow, PROG_TUPLE};

/// DYNPROG's preprocessed width: PROGRAM's tuple, then the word's bytes.
pub const DYN_W: usize = PROG_TUPLE + 4;
/// The lookup of a fetched word's decoding.
pub const DPROG: LookupBus<'static> = LookupBus::new("dprog");

/// DYNPROG: the decoded words the segment fetched from memory.
#[derive(Clone, Debug)]
pub struct DynProg {
    pub rows: Vec<u32>,
    pub height: usize,
    /// Row index of each `(pc, word)`.
    pub index: BTreeMap<(u32, u32), usize>,
}

/// Why a `(pc, word)` cannot be a DYNPROG row, or its decoding.
pub fn dyn_row(p: &Public, pc: u32, word: u32) -> Result<ProgRow, String> {
    if pc % 4 != 0 || !p.executable(pc) {
        return Err(format!("{pc:#x} is not a word of an executable segment"));
    }
    if p.is_static_code(pc) {
        return Err(format!(
            "{pc:#x} is a read-only instruction word (the program table's)"
        ));
    }
    let inst = crate::isa::decode(word)
        .map_err(|e| format!("the word {word:#010x} at {pc:#x} cannot be executed: {e}"))?;
    match prog_row(pc, &inst) {
        Some(r) if r.sel != sel::EV => Ok(r),
        Some(_) => Err(format!(
            "`{}` at {pc:#x} is a system call, CSR or trap instruction in code fetched from memory (the transcript's replay decodes those from the ELF)",
            inst.op.mnemonic()
        )),
        None => Err(format!(
            "`{}` at {pc:#x} is outside the proof's machine",
            inst.op.mnemonic()
        )),
    }
}

impl DynProg {
    /// The rows of these `(pc, word)` pairs (strictly increasing, each valid: [`dyn_row`]).
    pub fn from_pairs(p: &Public, pairs: &[(u32, u32)]) -> Result<DynProg, String> {
        let mut rows = Vec::with_capacity(pairs.len() * DYN_W);
        let mut index = BTreeMap::new();
        if pairs.windows(2).any(|w| w[0] >= w[1]) {
            return Err(
                "the fetched instruction words are not in increasing (pc, word) order".into(),
            );
        }
        for (k, &(pc, word)) in pairs.iter().enumerate() {
            let r = dyn_row(p, pc, word)?;
            rows.extend(prog_tuple(pc, &r));
            rows.extend(bytes(word));
            index.insert((pc, word), k);
        }
        Ok(DynProg {
            height: rows_for(&p.statement, pairs.len()),
            rows,
            index,
        })
    }

    /// No rows.
    pub fn empty(st: &crate::prove::Statement) -> DynProg {
        DynProg {
            rows: Vec::new(),
            height: rows_for(st, 0),
            index: BTreeMap::new(),
        }
    }

    /// The `(pc, word)` pairs, in row order.
    pub fn pairs(&self) -> Vec<(u32, u32)> {
        let mut v: Vec<_> = self.index.iter().map(|(&k, &i)| (i, k)).collect();
        v.sort_unstable();
        v.into_iter().map(|(_, k)| k).collect()
    }

    pub(super) fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let p = preprocessed_row(b);
        let mult: AB::Expr = b.main().current_slice()[0].into();
        DPROG.table_entry(b, p, mult);
    }
}

/// FETCH's columns.
#[derive(Clone, Debug)]
pub struct FetchCols {
    pub real: usize,
    pub clk: usize,
    /// PROGRAM's tuple without its last element (`real` stands for it): pc (word), decoding.
    pub t: [usize; PROG_TUPLE - 1],
    pub w: [usize; 4],
    pub pt: usize,
    pub tlo: usize,
    pub thi: usize,
    pub width: usize,
}

impl FetchCols {
    pub fn new() -> Self {
        let mut a = Alloc(0);
        let mut c = FetchCols {
            real: a.one(),
            clk: a.one(),
            t: a.arr(),
            w: a.arr(),
            pt: a.one(),
            tlo: a.one(),
            thi: a.one(),
            width: 0,
        };
        c.width = a.0;
        c
    }
}

impl Default for FetchCols {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Debug)]
pub struct Fetch {
    pub cols: FetchCols,
}

impl Fetch {
    pub(super) fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let l = &self.cols;
        let main = b.main();
        let cur: Vec<AB::Expr> = main.current_slice().iter().map(|&v| v.into()).collect();
        let x = |i: usize| cur[i].clone();
        let real = x(l.real);
        b.assert_bool(real.clone());
        let ts = x(l.clk) * AB::Expr::from_u32(8) + AB::Expr::ONE;
        let w = l.w.map(&x);
        // The word at pc, read (unchanged) at 8 clk + 1, strictly after its previous access.
        ts_check(b, real.clone(), ts.clone(), x(l.pt), x(l.tlo), x(l.thi));
        range_ts(b, x(l.tlo), x(l.thi), real.clone());
        access(
            b,
            AB::Expr::ONE,
            x(l.t[0]),
            w.clone(),
            x(l.pt),
            w.clone(),
            ts,
            real.clone(),
        );
        // Its decoding, as the verifier made it.
        let tuple: Vec<AB::Expr> = l.t.iter().map(|&c| x(c)).collect();
        let mut key = tuple.clone();
        key.push(real.clone());
        key.extend(w);
        DPROG.lookup_key(b, key, Count::bounded(real.clone(), 1));
        // The CPU row of this clock takes it.
        let mut entry = tuple;
        entry.push(real.clone());
        entry.push(x(l.clk) + AB::Expr::ONE);
        PROG.table_entry(b, entry, real);
    }
}

/// FETCH's trace as the CPU pass fills it, and the `(pc, word)` pairs it fetched with their
/// counts (DYNPROG's multiplicities).
pub(crate) struct FetchTrace {
    pub(crate) cols: FetchCols,
    main: Vec<Val>,
    n: usize,
    pub(crate) counts: BTreeMap<(u32, u32), u32>,
}

impl FetchTrace {
    pub(crate) fn new() -> Self {
        FetchTrace {
            cols: FetchCols::new(),
            main: Vec::new(),
            n: 0,
            counts: BTreeMap::new(),
        }
    }

    /// The CPU row at clock `clk` fetched `word` at `pc` (its previous access at `prev`),
    /// decoded as `r`.
    pub(crate) fn push(
        &mut self,
        mults: &mut Mults,
        clk: u32,
        pc: u32,
        word: u32,
        prev: u32,
        r: &ProgRow,
    ) {
        let l = &self.cols;
        let mut row = Val::zero_vec(l.width);
        let f = Val::from_u32;
        row[l.real] = Val::ONE;
        row[l.clk] = f(clk);
        let tuple = prog_tuple(pc, r);
        for k in 0..PROG_TUPLE - 1 {
            row[l.t[k]] = f(tuple[k]);
        }
        for (k, v) in bytes(word).into_iter().enumerate() {
            row[l.w[k]] = f(v);
        }
        let d = 8 * clk + 1 - prev - 1;
        row[l.pt] = f(prev);
        row[l.tlo] = f(d & 0xffff);
        row[l.thi] = f(d >> 16);
        mults.diff(d);
        self.main.extend(row);
        self.n += 1;
        *self.counts.entry((pc, word)).or_insert(0) += 1;
    }

    /// The trace, `height` rows (at least the rows pushed).
    pub(crate) fn finish(mut self, height: usize) -> RowMajorMatrix<Val> {
        let w = self.cols.width;
        self.main.resize(height.max(self.n) * w, Val::ZERO);
        RowMajorMatrix::new(self.main, w)
    }

    /// DYNPROG's multiplicities, in the row order of `dp`.
    pub(crate) fn dyn_mults(&self, dp: &DynProg) -> RowMajorMatrix<Val> {
        let mut m = Val::zero_vec(dp.height);
        for (key, &c) in &self.counts {
            if let Some(&i) = dp.index.get(key) {
                m[i] = Val::from_u32(c);
            }
        }
        RowMajorMatrix::new(m, 1)
    }
}
