//! **MEM**: one row per memory word the run touches or the image holds, strictly sorted by
//! word address (two exact 16/14-bit halves, so the order cannot wrap around the field), each
//! inside a region the VM allows: image and heap, or stack up to the last word under the
//! memory limit (the bounds are public values). A row starts its word (the image value,
//! through IMAGE, or zero; time 0) and ends it (final value and time): every access in every
//! table consumes the word's last (value, time) and produces the new one, with the old time
//! strictly smaller (offline memory checking), so the multiset only closes if every access
//! reads what was last written. An address outside the regions (at or above the limit, in the
//! guard gap) has no starting row, so no access to it can be proven.
//!
//! Columns: [`MemCols`]. Rules of `docs/RULES.md` it carries: heap overflow, guard gap, out of
//! bounds (every word inside `[image start, heap end)` or `[stack bottom, limit)`); region
//! bounds are whole words; stores into code and `tohost` (it starts IMAGE's read-only words
//! in memory space 2).
//!
//! In a run proven as segments (`super::super::segment`), MEM covers one segment: in the
//! first, the image's words and the touched ones (a word outside the image may start at
//! zero); in every later segment only the touched words, each started from IMAGE, which then
//! holds the memory at segment start. A word whose final value differs from its initial one
//! is marked `chg` and, in every segment but the last, sent to OUT with that value; an
//! unmarked word must end as it started.
//!
//! Trace: `mem_trace`, after the run, from the touched words and their final state.

use super::common::*;

#[derive(Clone, Debug)]
pub struct MemCols {
    pub real: usize,
    /// Word address = hi * 2^16 + lo, hi < 2^14.
    pub hi: usize,
    pub lo: usize,
    pub img: usize,
    pub iv: [usize; 4],
    pub fv: [usize; 4],
    pub fts: usize,
    /// Order against the previous row: same high half, its inverse witness, the difference.
    pub same: usize,
    pub hinv: usize,
    pub sd: usize,
    /// Which region: 0 image and heap, 1 stack.
    pub inhigh: usize,
    /// Upper bound of the region: high half equal, inverse witness, the difference.
    pub le: usize,
    pub linv: usize,
    pub ld: usize,
    /// Lower bound of the region, the same way.
    pub ge: usize,
    pub ginv: usize,
    pub gd: usize,
    /// Read-only word (code, `tohost`; fixed by IMAGE): lives in memory space 2.
    pub ro: usize,
    /// The final value differs from the initial one: the word goes to OUT (segments before
    /// the last); a word with `chg = 0` ends as it started.
    pub chg: usize,
    pub width: usize,
}

impl MemCols {
    pub fn new() -> Self {
        let mut a = Alloc(0);
        let mut c = MemCols {
            real: a.one(),
            hi: a.one(),
            lo: a.one(),
            img: a.one(),
            iv: a.arr(),
            fv: a.arr(),
            fts: a.one(),
            same: a.one(),
            hinv: a.one(),
            sd: a.one(),
            inhigh: a.one(),
            le: a.one(),
            linv: a.one(),
            ld: a.one(),
            ge: a.one(),
            ginv: a.one(),
            gd: a.one(),
            ro: a.one(),
            chg: a.one(),
            width: 0,
        };
        c.width = a.0;
        c
    }
}

impl Default for MemCols {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Debug)]
pub struct Mem {
    pub cols: MemCols,
}

impl Mem {
    pub(super) fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let l = &self.cols;
        let main = b.main();
        let cur: Vec<AB::Expr> = main.current_slice().iter().map(|&v| v.into()).collect();
        let nxt: Vec<AB::Expr> = main.next_slice().iter().map(|&v| v.into()).collect();
        // Public: the regions' first and last words as (high, low) 16-bit halves:
        // [low_min, low_max, high_min, high_max]; then `first` (the first segment: a word
        // outside the image may start at zero) and `notlast` (a segment before the last: the
        // changed words go to OUT).
        let pv: Vec<AB::Expr> = b.public_values().iter().map(|&v| v.into()).collect();
        let x = |i: usize| cur[i].clone();
        let n = |i: usize| nxt[i].clone();
        let c = |v: u32| AB::Expr::from_u32(v);
        let one = AB::Expr::ONE;
        let real = x(l.real);
        b.assert_bool(real.clone());
        b.assert_bool(x(l.img));
        b.assert_zero(x(l.img) * (one.clone() - real.clone()));
        b.when_transition()
            .assert_zero((one.clone() - real.clone()) * n(l.real));
        for k in 0..4 {
            b.assert_zero((one.clone() - x(l.img)) * x(l.iv[k]));
        }
        // After the first segment every word starts from IMAGE (the memory at segment start).
        let (first, notlast) = (pv[8].clone(), pv[9].clone());
        b.assert_zero((one.clone() - first) * (real.clone() - x(l.img)));
        // A word not marked changed ends with its initial value.
        let chg = x(l.chg);
        b.assert_bool(chg.clone());
        b.assert_zero(chg.clone() * (one.clone() - real.clone()));
        for k in 0..4 {
            b.assert_zero((one.clone() - chg.clone()) * (x(l.fv[k]) - x(l.iv[k])));
        }
        // Exact halves: lo < 2^16, hi < 2^14.
        let cnt = || Count::bounded(x(l.real), 1);
        U16.lookup_key(b, [x(l.lo)], cnt());
        U16.lookup_key(b, [x(l.hi)], cnt());
        U16.lookup_key(b, [x(l.hi) * c(4)], cnt());
        // Strictly increasing (hi, lo): on each row, against the previous one.
        let dh = n(l.hi) - x(l.hi);
        b.when_transition().assert_zero(n(l.same) * dh.clone());
        b.when_transition()
            .assert_zero(n(l.same) - one.clone() + dh.clone() * n(l.hinv));
        b.when_transition().assert_zero(
            n(l.sd)
                - n(l.same) * (n(l.lo) - x(l.lo) - one.clone())
                - (one.clone() - n(l.same)) * (dh - one.clone()),
        );
        U16.lookup_key(b, [x(l.sd)], cnt());
        // Inside a region the VM allows: (lower) <= (hi, lo) <= (upper), with the bounds of the
        // region `inhigh` picks. The stack region ends at the last word under the limit.
        b.assert_bool(x(l.inhigh));
        let pick = |low: usize, high: usize| {
            pv[low].clone() + x(l.inhigh) * (pv[high].clone() - pv[low].clone())
        };
        let (u_hi, u_lo) = (pick(2, 6), pick(3, 7));
        let (g_hi, g_lo) = (pick(0, 4), pick(1, 5));
        let dl = u_hi - x(l.hi);
        b.assert_zero(x(l.le) * dl.clone());
        b.assert_zero(x(l.le) - one.clone() + dl.clone() * x(l.linv));
        b.assert_zero(
            x(l.ld) - x(l.le) * (u_lo - x(l.lo)) - (one.clone() - x(l.le)) * (dl - one.clone()),
        );
        U16.lookup_key(b, [x(l.ld)], cnt());
        let dg = x(l.hi) - g_hi;
        b.assert_zero(x(l.ge) * dg.clone());
        b.assert_zero(x(l.ge) - one.clone() + dg.clone() * x(l.ginv));
        b.assert_zero(
            x(l.gd) - x(l.ge) * (x(l.lo) - g_lo) - (one.clone() - x(l.ge)) * (dg - one.clone()),
        );
        U16.lookup_key(b, [x(l.gd)], cnt());
        let waddr = x(l.hi) * c(1 << 16) + x(l.lo);
        b.assert_bool(x(l.ro));
        b.assert_zero(x(l.ro) * (one.clone() - x(l.img)));
        IMGBUS.receive(
            b,
            [
                waddr.clone(),
                x(l.iv[0]),
                x(l.iv[1]),
                x(l.iv[2]),
                x(l.iv[3]),
                x(l.ro),
            ],
            Count::bounded(x(l.img), 1),
        );
        let arr = |cols: [usize; 4]| cols.map(&x);
        // Start each word at time 0 and end it: the reverse of `access`.
        let s = AB::Expr::ONE + x(l.ro);
        let [i0, i1, i2, i3] = arr(l.iv);
        let [f0, f1, f2, f3] = arr(l.fv);
        MEMBUS.send(
            b,
            [s.clone(), waddr.clone(), i0, i1, i2, i3, AB::Expr::ZERO],
            Count::bounded(real.clone(), 1),
        );
        MEMBUS.receive(
            b,
            [
                s,
                waddr.clone(),
                f0.clone(),
                f1.clone(),
                f2.clone(),
                f3.clone(),
                x(l.fts),
            ],
            Count::bounded(real, 1),
        );
        // The changed words' final values, to OUT (the next segment's memory).
        OUTBUS.send(b, [waddr, f0, f1, f2, f3], Count::bounded(chg * notlast, 1));
    }
}

/// The words MEM starts: those the segment touched, and in the first segment every image
/// word.
pub(crate) fn mem_words(run: &Run) -> BTreeSet<u32> {
    let mut words = run.st.touched.clone();
    if run.first {
        words.extend(run.pt.image_words.keys().copied());
    }
    words
}

/// Words whose value a segment changed: `(word address, final value)`, increasing.
pub(crate) type Changed = Vec<(u32, u32)>;

/// The MEM main trace: the segment's words ([`mem_words`]), sorted, with their initial values
/// (from IMAGE, or zero in the first segment) and final values and times. `n` is the cycle
/// count (for errors). Returns the words whose value changed, with their final value.
pub(crate) fn mem_trace(
    run: &mut Run,
    n: usize,
) -> Result<(RowMajorMatrix<Val>, Changed), WitnessError> {
    let words = mem_words(run);
    let (p, pt, checked, base, first) = (run.p, run.pt, run.checked, run.base, run.first);
    let (st, mults) = (&mut run.st, &mut run.mults);
    let f = |v: u32| Val::from_u32(v);
    let mm = MemCols::new();
    let mut changed = Vec::new();
    let bounds = super::super::mem_bounds(&p.statement);
    let hm = rows_for(&p.statement, words.len());
    let mut mem = Val::zero_vec(hm * mm.width);
    let mut prev_w: Option<u32> = None;
    // The region checks of one row (also on padding rows, where hi = lo = 0 and nothing is
    // looked up): returns the two differences that are range-checked on real rows.
    let bound_cols = |row: &mut [Val], wa: u32, inhigh: bool| -> (u32, u32) {
        let (gmin, gmax) = if inhigh {
            (bounds[2], bounds[3])
        } else {
            (bounds[0], bounds[1])
        };
        let (hi, lo) = (wa >> 16, wa & 0xffff);
        row[mm.inhigh] = f(inhigh as u32);
        let (uh, ul) = (gmax >> 16, gmax & 0xffff);
        row[mm.le] = f((uh == hi) as u32);
        row[mm.linv] = (f(uh) - f(hi)).try_inverse().unwrap_or(Val::ZERO);
        let ld = if uh == hi {
            f(ul) - f(lo)
        } else {
            f(uh) - f(hi) - Val::ONE
        };
        row[mm.ld] = ld;
        let (gh, gl) = (gmin >> 16, gmin & 0xffff);
        row[mm.ge] = f((gh == hi) as u32);
        row[mm.ginv] = (f(hi) - f(gh)).try_inverse().unwrap_or(Val::ZERO);
        let gd = if gh == hi {
            f(lo) - f(gl)
        } else {
            f(hi) - f(gh) - Val::ONE
        };
        row[mm.gd] = gd;
        use p3_field::PrimeField32;
        (ld.as_canonical_u32(), gd.as_canonical_u32())
    };
    for (i, &wa) in words.iter().enumerate() {
        let inhigh = if (bounds[0]..=bounds[1]).contains(&wa) {
            false
        } else if (bounds[2]..=bounds[3]).contains(&wa) {
            true
        } else if !checked {
            wa >= bounds[2]
        } else {
            return Err(WitnessError::Unsupported {
                cycle: n,
                pc: 0,
                what: format!(
                    "memory word {:#x}, outside the regions the layout allows,",
                    wa * 4
                ),
            });
        };
        let row = &mut mem[i * mm.width..(i + 1) * mm.width];
        let (hi, lo) = (wa >> 16, wa & 0xffff);
        row[mm.real] = Val::ONE;
        row[mm.hi] = f(hi);
        row[mm.lo] = f(lo);
        mults.u16(lo);
        mults.u16(hi);
        mults.u16(4 * hi);
        // The first segment starts from the image, zero elsewhere; later ones every word from
        // IMAGE (the memory at segment start).
        let init = base.get(&wa);
        let img = !first || init.is_some();
        row[mm.img] = f(img as u32);
        row[mm.ro] = f(pt.ro_words.contains(&wa) as u32);
        let iv = init.map_or(0, |b| u32::from_le_bytes(*b));
        set4(row, mm.iv, iv);
        let (fv, fts) = st.mem.get(&wa).copied().unwrap_or((iv, 0));
        set4(row, mm.fv, fv);
        row[mm.fts] = f(fts);
        if fv != iv {
            row[mm.chg] = Val::ONE;
            changed.push((wa, fv));
        }
        let sd = match prev_w {
            None => 0,
            Some(pw) => {
                let ph = pw >> 16;
                row[mm.same] = f((ph == hi) as u32);
                row[mm.hinv] = inv_or_zero(hi - ph);
                if ph == hi {
                    lo - (pw & 0xffff) - 1
                } else {
                    hi - ph - 1
                }
            }
        };
        row[mm.sd] = f(sd);
        mults.u16(sd);
        let (ld, gd) = bound_cols(row, wa, inhigh);
        mults.u16(ld);
        mults.u16(gd);
        prev_w = Some(wa);
    }
    // Padding rows: the transition constraints still relate them to the row before.
    // A segment may touch no word at all: then every row is padding.
    {
        let (ph, pl) = prev_w.map_or((0, 0), |pw| (pw >> 16, pw & 0xffff));
        for i in words.len()..hm {
            let row = &mut mem[i * mm.width..(i + 1) * mm.width];
            let prev_hi = if i == words.len() { ph } else { 0 };
            let prev_lo = if i == words.len() { pl } else { 0 };
            // hi = lo = 0 on padding rows.
            let same = prev_hi == 0;
            row[mm.same] = f(same as u32);
            row[mm.hinv] = if same {
                Val::ZERO
            } else {
                -inv_or_zero(prev_hi)
            };
            row[mm.sd] = if same {
                -f(prev_lo) - Val::ONE
            } else {
                -f(prev_hi) - Val::ONE
            };
            bound_cols(row, 0, false);
        }
    }
    Ok((RowMajorMatrix::new(mem, mm.width), changed))
}
