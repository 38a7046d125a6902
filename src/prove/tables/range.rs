//! **RANGE**: a 2^16-row table fixed by its own constraints (a counter from zero and its 16
//! bits) that answers 16-bit range checks (`U16`) and byte triples `(x, y, x & y)` (`AND8`;
//! a byte check is `(x, 0, 0)`). Main: `v, bits[16], m16, mand`, the last two the
//! multiplicities of the two lookups.
//!
//! Rules of `docs/RULES.md` it carries: none of its own; every byte and 16-bit limb of the
//! other tables (time-stamp order, address halves, region bounds, the stack rule's
//! difference, bytes of values) is checked here.
//!
//! Trace: `range_trace`, from the multiplicities counted while the other tables were filled.

use super::common::*;

/// Main: v, `bits[16]`, m16, mand.
pub const RANGE_W: usize = 19;

#[derive(Clone, Debug)]
pub struct Range;

impl Range {
    pub(super) fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let main = b.main();
        let cur: Vec<AB::Expr> = main.current_slice().iter().map(|&v| v.into()).collect();
        let nxt: Vec<AB::Expr> = main.next_slice().iter().map(|&v| v.into()).collect();
        let v = cur[0].clone();
        b.when_first_row().assert_zero(v.clone());
        b.when_transition()
            .assert_eq(nxt[0].clone(), v.clone() + AB::Expr::ONE);
        let bit = |i: usize| cur[1 + i].clone();
        let mut acc = AB::Expr::ZERO;
        let (mut xs, mut ys, mut zs) = (AB::Expr::ZERO, AB::Expr::ZERO, AB::Expr::ZERO);
        for i in 0..16 {
            b.assert_bool(bit(i));
            acc += bit(i) * AB::Expr::from_u32(1 << i);
        }
        for i in 0..8 {
            let w = AB::Expr::from_u32(1 << i);
            xs += bit(i) * w.clone();
            ys += bit(i + 8) * w.clone();
            zs += bit(i) * bit(i + 8) * w;
        }
        b.assert_eq(acc, v.clone());
        U16.table_entry(b, [v], cur[17].clone());
        AND8.table_entry(b, [xs, ys, zs], cur[18].clone());
    }
}

/// The RANGE main trace, with the lookups' multiplicities.
pub(crate) fn range_trace(mults: &Mults) -> RowMajorMatrix<Val> {
    let f = |v: u32| Val::from_u32(v);
    let mut range = Val::zero_vec((1 << 16) * RANGE_W);
    for v in 0..1usize << 16 {
        let row = &mut range[v * RANGE_W..(v + 1) * RANGE_W];
        row[0] = f(v as u32);
        for bit in 0..16 {
            row[1 + bit] = f(((v >> bit) & 1) as u32);
        }
        row[17] = f(mults.u16[v]);
        row[18] = f(mults.and8[v]);
    }
    RowMajorMatrix::new(range, RANGE_W)
}
