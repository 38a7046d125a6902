//! **OUT** (preprocessed, from the proof file): the words a segment changed, one row each
//! `(real, waddr, bytes[4])`, strictly sorted by address. MEM sends every word it marks
//! changed, with its final value, on the out bus, and OUT receives each row exactly once: the
//! list is exactly the segment's changed words and their values. The verifier applies it to
//! the memory the next segment starts from (`super::super::segment`). Empty in the last
//! segment (MEM sends nothing there). Its main trace is one unused zero column.
//!
//! Rules of `docs/RULES.md` it carries: none of its own; with IMAGE it carries memory from
//! one segment to the next.

use super::common::*;

/// Preprocessed: real, waddr, 4 bytes.
pub const OUT_W: usize = 6;

#[derive(Clone, Debug)]
pub struct OutTable {
    pub rows: Vec<u32>,
    pub height: usize,
}

impl OutTable {
    pub(super) fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let p = preprocessed_row(b);
        let dummy: AB::Expr = b.main().current_slice()[0].into();
        b.assert_zero(dummy);
        OUTBUS.receive(
            b,
            [
                p[1].clone(),
                p[2].clone(),
                p[3].clone(),
                p[4].clone(),
                p[5].clone(),
            ],
            Count::bounded(p[0].clone(), 1),
        );
    }

    /// The rows of these changed words `(word address, final value)`.
    pub fn from_changed(st: &crate::prove::Statement, changed: &[(u32, u32)]) -> OutTable {
        let mut rows = Vec::with_capacity(changed.len() * OUT_W);
        for &(w, v) in changed {
            rows.extend([1, w]);
            rows.extend(bytes(v));
        }
        OutTable {
            height: rows_for(st, changed.len()),
            rows,
        }
    }

    /// The main trace: one zero column.
    pub(crate) fn main(&self) -> RowMajorMatrix<Val> {
        RowMajorMatrix::new(Val::zero_vec(self.height), 1)
    }
}
