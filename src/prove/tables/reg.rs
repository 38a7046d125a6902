//! **REG**: the 32 registers, one row each `(r, fv[4], fts)`: it starts every register at
//! zero, time 0, in memory space 0, and ends it with its final value and time, so that the
//! CPU's and EVENT's register accesses close as memory accesses do. In a zero-knowledge proof
//! it has 256 rows: the rows past 31 are register numbers no instruction can name, starting
//! and ending at zero.
//!
//! Rules of `docs/RULES.md` it carries: none of its own; with it every register read
//! returns the last write, and the registers start at zero.
//!
//! Trace: `reg_trace`, after the run, from the final register state.

use super::common::*;

/// Main: r, fv[4], fts.
pub const REG_W: usize = 6;

#[derive(Clone, Debug)]
pub struct Regs;

impl Regs {
    pub(super) fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let main = b.main();
        let cur: Vec<AB::Expr> = main.current_slice().iter().map(|&v| v.into()).collect();
        let nxt: Vec<AB::Expr> = main.next_slice().iter().map(|&v| v.into()).collect();
        b.when_first_row().assert_zero(cur[0].clone());
        b.when_transition()
            .assert_eq(nxt[0].clone(), cur[0].clone() + AB::Expr::ONE);
        let z = AB::Expr::ZERO;
        MEMBUS.send(
            b,
            [
                z.clone(),
                cur[0].clone(),
                z.clone(),
                z.clone(),
                z.clone(),
                z.clone(),
                z.clone(),
            ],
            1,
        );
        MEMBUS.receive(
            b,
            [
                z,
                cur[0].clone(),
                cur[1].clone(),
                cur[2].clone(),
                cur[3].clone(),
                cur[4].clone(),
                cur[5].clone(),
            ],
            1,
        );
    }
}

/// The REG main trace: the final value and time of each register.
pub(crate) fn reg_trace(p: &Public, st: &State) -> RowMajorMatrix<Val> {
    let f = |v: u32| Val::from_u32(v);
    let hr = reg_rows(&p.statement);
    let mut regs = Val::zero_vec(hr * REG_W);
    for r in 0..hr {
        let row = &mut regs[r * REG_W..(r + 1) * REG_W];
        row[0] = f(r as u32);
        let (v, t) = st.regs.get(r).copied().unwrap_or((0, 0));
        set4(row, [1, 2, 3, 4], v);
        row[5] = f(t);
    }
    RowMajorMatrix::new(regs, REG_W)
}
