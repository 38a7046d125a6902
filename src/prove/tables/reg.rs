//! **REG**: the 32 registers, one row each: preprocessed `(r, iv[4], ov[4])`, main
//! `(fv[4], fts)`. It starts every register with its value at segment start (`iv`: zero in
//! the first segment, the previous segment's final registers after it), time 0, in memory
//! space 0, and ends it with its final value and time, so that the CPU's and EVENT's register
//! accesses close as memory accesses do. In every segment but the last (public value
//! `notlast`), the final value must be `ov`, the registers the proof file states for the
//! segment's end and the next segment starts from. In a zero-knowledge proof it has 256
//! rows: the rows past 31 are register numbers no instruction can name, starting and ending
//! at zero.
//!
//! Rules of `docs/RULES.md` it carries: none of its own; with it every register read
//! returns the last write, the registers start at zero, and a segment continues with the
//! registers the previous one ended with.
//!
//! Trace: [`Regs::from_values`] (the verifier's too) and `reg_trace`, after the run, from the
//! final register state.

use super::common::*;

/// Preprocessed: r, `iv[4]`, `ov[4]`.
pub const REG_PW: usize = 9;
/// Main: `fv[4]`, fts.
pub const REG_W: usize = 5;

#[derive(Clone, Debug)]
pub struct Regs {
    pub rows: Vec<u32>,
    pub height: usize,
}

impl Regs {
    pub(super) fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let p = preprocessed_row(b);
        let m: Vec<AB::Expr> = b.main().current_slice().iter().map(|&v| v.into()).collect();
        let notlast: AB::Expr = b.public_values()[0].into();
        for k in 0..4 {
            b.assert_zero(notlast.clone() * (m[k].clone() - p[5 + k].clone()));
        }
        let z = AB::Expr::ZERO;
        MEMBUS.send(
            b,
            [
                z.clone(),
                p[0].clone(),
                p[1].clone(),
                p[2].clone(),
                p[3].clone(),
                p[4].clone(),
                z.clone(),
            ],
            1,
        );
        MEMBUS.receive(
            b,
            [
                z,
                p[0].clone(),
                m[0].clone(),
                m[1].clone(),
                m[2].clone(),
                m[3].clone(),
                m[4].clone(),
            ],
            1,
        );
    }

    /// The preprocessed rows: register `r` starts with `start[r]` and (when `end` is given:
    /// a segment before the last) ends with `end[r]`.
    pub fn from_values(
        st: &crate::prove::Statement,
        start: &[u32; 32],
        end: Option<&[u32; 32]>,
    ) -> Regs {
        let height = reg_rows(st);
        let mut rows = vec![0u32; height * REG_PW];
        for r in 0..height {
            let row = &mut rows[r * REG_PW..(r + 1) * REG_PW];
            row[0] = r as u32;
            if r < 32 {
                row[1..5].copy_from_slice(&bytes(start[r]));
                if let Some(e) = end {
                    row[5..9].copy_from_slice(&bytes(e[r]));
                }
            }
        }
        Regs { rows, height }
    }
}

/// The REG main trace: the final value and time of each register.
pub(crate) fn reg_trace(p: &Public, st: &State) -> RowMajorMatrix<Val> {
    let f = |v: u32| Val::from_u32(v);
    let hr = reg_rows(&p.statement);
    let mut regs = Val::zero_vec(hr * REG_W);
    for r in 0..hr {
        let row = &mut regs[r * REG_W..(r + 1) * REG_W];
        let (v, t) = st.regs.get(r).copied().unwrap_or((0, 0));
        set4(row, [0, 1, 2, 3], v);
        row[4] = f(t);
    }
    RowMajorMatrix::new(regs, REG_W)
}
