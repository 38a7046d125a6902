//! **SHIFT** (preprocessed, 512 fixed rows): shift direction and amount byte -> the
//! multiplier `y` of the MULDIV product, `2^s` (left) or `2^(32-s)` (right; `zf` marks
//! `s = 0`), `s` being the byte's low five bits. Main: the multiplicity of each row.
//!
//! Rules of `docs/RULES.md` it carries: none of its own (a fixed table MULDIV's shifts look
//! up).
//!
//! Trace: [`shift_rows`] (the verifier's too) and `ShiftTable::main`.

use super::common::*;

/// Preprocessed: dir, byte, `y[4]`, zf (512 rows). Main: mult.
pub const SHIFT_W: usize = 7;

#[derive(Clone, Debug)]
pub struct ShiftTable;

pub fn shift_rows() -> Vec<u32> {
    let mut v = Vec::with_capacity(512 * SHIFT_W);
    for dir in 0..2u32 {
        for byte in 0..256u32 {
            let s = byte & 31;
            let (y, zf) = if dir == 0 {
                (1u32 << s, 0)
            } else if s == 0 {
                (0, 1)
            } else {
                (1u32 << (32 - s), 0)
            };
            v.extend([dir, byte]);
            v.extend(y.to_le_bytes().map(u32::from));
            v.push(zf);
        }
    }
    v
}

impl ShiftTable {
    pub(super) fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let p = preprocessed_row(b);
        let mult: AB::Expr = b.main().current_slice()[0].into();
        SHIFT.table_entry(b, p, mult);
    }
}

impl ShiftTable {
    /// The main trace: the multiplicity of each row.
    pub(crate) fn main(mults: &Mults) -> RowMajorMatrix<Val> {
        RowMajorMatrix::new(mults.shift.iter().map(|&m| Val::from_u32(m)).collect(), 1)
    }
}
