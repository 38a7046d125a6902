//! What the tables share: the buses that connect them, the column allocator, the constraint
//! gadgets every memory-touching table uses (time-stamp order, memory tokens, word
//! addresses), and on the witness side the lookup multiplicities, the memory and register
//! state the run threads through the tables, and the byte helpers.

pub(crate) use super::super::statement::{Event, Public};
pub(crate) use super::super::witness::{PublicTables, WitnessError};
pub(crate) use super::super::Val;
pub(crate) use crate::vm::trace::TraceRow;
pub(crate) use p3_air::{Air, AirBuilder, BaseAir, PermutationAirBuilder, WindowAccess};
pub(crate) use p3_field::{Field, PrimeCharacteristicRing};
pub(crate) use p3_lookup::{Count, InteractionBuilder, LookupBus, PermutationCheckBus};
pub(crate) use p3_matrix::dense::RowMajorMatrix;
pub(crate) use std::collections::{BTreeMap, BTreeSet, HashMap};

// The buses: lookups into PROGRAM, RANGE (16-bit values, byte triples) and SHIFT; the
// permutation buses of memory tokens, MULDIV and EVENT rows, and IMAGE words.
pub const PROG: LookupBus<'static> = LookupBus::new("prog");
pub const U16: LookupBus<'static> = LookupBus::new("u16");
pub const AND8: LookupBus<'static> = LookupBus::new("and8");
pub const SHIFT: LookupBus<'static> = LookupBus::new("shift");
pub const MEMBUS: PermutationCheckBus<'static> = PermutationCheckBus::new("mem");
pub const MDBUS: PermutationCheckBus<'static> = PermutationCheckBus::new("md");
pub const EVBUS: PermutationCheckBus<'static> = PermutationCheckBus::new("ev");
pub const IMGBUS: PermutationCheckBus<'static> = PermutationCheckBus::new("image");
/// Changed words at the end of a segment, MEM to OUT.
pub const OUTBUS: PermutationCheckBus<'static> = PermutationCheckBus::new("out");

/// Column allocator.
pub(crate) struct Alloc(pub(crate) usize);
impl Alloc {
    pub(crate) fn one(&mut self) -> usize {
        self.0 += 1;
        self.0 - 1
    }
    pub(crate) fn arr<const N: usize>(&mut self) -> [usize; N] {
        std::array::from_fn(|_| self.one())
    }
}

/// Word address (or word pc) of a byte address held as bytes `x0 = 4k + low`, `x1..x3`.
pub(crate) fn word_of<E: PrimeCharacteristicRing + Clone>(k: E, x1: E, x2: E, x3: E) -> E {
    k + x1 * E::from_u32(64) + x2 * E::from_u32(1 << 14) + x3 * E::from_u32(1 << 22)
}

/// The bytes of a value: `Σ x_i 256^i` is not injective in a 31-bit field, so words always
/// travel as four bytes.
pub(crate) fn ts_check<AB: AirBuilder>(
    b: &mut AB,
    gate: AB::Expr,
    ts: AB::Expr,
    prev: AB::Expr,
    lo: AB::Expr,
    hi: AB::Expr,
) {
    // ts - prev - 1 = lo + 2^16 hi with lo, 16 hi < 2^16: 0 <= ts - prev - 1 < 2^28 + 2^16.
    b.assert_zero(gate * (ts - prev - AB::Expr::ONE - lo - hi * AB::Expr::from_u32(1 << 16)));
}

pub(crate) fn range_ts<AB: InteractionBuilder>(
    b: &mut AB,
    lo: AB::Expr,
    hi: AB::Expr,
    count: AB::Expr,
) {
    U16.lookup_key(b, [lo], Count::bounded(count.clone(), 1));
    U16.lookup_key(b, [hi * AB::Expr::from_u32(16)], Count::bounded(count, 1));
}

/// The current row of a table's preprocessed (public) columns.
pub(crate) fn preprocessed_row<AB: AirBuilder>(b: &AB) -> Vec<AB::Expr> {
    b.preprocessed()
        .current_slice()
        .iter()
        .map(|&v| v.into())
        .collect()
}

/// Send the consumed (old) and produced (new) memory tokens of one access.
#[allow(clippy::too_many_arguments)]
pub(crate) fn access<AB: InteractionBuilder>(
    b: &mut AB,
    space: AB::Expr,
    addr: AB::Expr,
    old: [AB::Expr; 4],
    prev_ts: AB::Expr,
    new: [AB::Expr; 4],
    ts: AB::Expr,
    count: AB::Expr,
) {
    let s = space;
    let [o0, o1, o2, o3] = old;
    let [n0, n1, n2, n3] = new;
    MEMBUS.receive(
        b,
        [s.clone(), addr.clone(), o0, o1, o2, o3, prev_ts],
        Count::bounded(count.clone(), 1),
    );
    MEMBUS.send(b, [s, addr, n0, n1, n2, n3, ts], Count::bounded(count, 1));
}

// ---------------------------------------------------------------------------- witness

pub fn height(n: usize) -> usize {
    n.next_power_of_two().max(4)
}

/// Fewest rows of a table in a zero-knowledge proof. The hiding PCS masks each committed
/// column with as many random values as the table has rows and needs at least
/// `2 * (queries + 4 * opening points)` of them (100 queries, 2 points: 216), so every
/// table has at least 256 rows (eprint 2024/1037, section 4.2; `p3_fri::HidingFriPcs`).
pub const ZK_MIN_ROWS: usize = 256;

/// Fewest rows of a table in a proof of this statement: 4, or [`ZK_MIN_ROWS`] when it is
/// zero-knowledge.
pub fn min_rows(st: &crate::prove::Statement) -> usize {
    if st.zk {
        ZK_MIN_ROWS
    } else {
        4
    }
}

/// Rows of a table that holds `n` rows in a proof of this statement: a power of two, at
/// least [`min_rows`].
pub fn rows_for(st: &crate::prove::Statement, n: usize) -> usize {
    height(n).max(min_rows(st))
}

/// Rows of the REG table: the 32 registers, and in a zero-knowledge proof rows for register
/// numbers no instruction can name (each starts and ends at zero, time 0, untouched).
pub fn reg_rows(st: &crate::prove::Statement) -> usize {
    32usize.max(min_rows(st))
}

pub(crate) fn bytes(v: u32) -> [u32; 4] {
    v.to_le_bytes().map(u32::from)
}

/// Lookup multiplicities gathered while filling the private tables.
pub(crate) struct Mults {
    pub(crate) u16: Vec<u32>,
    pub(crate) and8: Vec<u32>,
    pub(crate) shift: Vec<u32>,
    pub(crate) prog: Vec<u32>,
}

impl Mults {
    /// Count a 16-bit lookup. A value outside 16 bits (only a forged witness has one) has
    /// no table row: it is not counted, and the lookup argument fails.
    pub(crate) fn u16(&mut self, v: u32) {
        if let Some(m) = self.u16.get_mut(v as usize) {
            *m += 1;
        }
    }
    pub(crate) fn and8(&mut self, x: u32, y: u32) {
        self.and8[(x + 256 * y) as usize] += 1;
    }
    /// The two 16-bit checks of a time difference `lo + 2^16 hi`.
    pub(crate) fn diff(&mut self, d: u32) {
        self.u16(d & 0xffff);
        self.u16((d >> 16) * 16);
    }
}

/// Memory and register state: value and time of the last access.
pub(crate) struct State {
    pub(crate) mem: HashMap<u32, (u32, u32)>,
    pub(crate) regs: [(u32, u32); 32],
    pub(crate) touched: BTreeSet<u32>,
}

impl State {
    pub(crate) fn word(&mut self, image: &BTreeMap<u32, [u8; 4]>, w: u32) -> (u32, u32) {
        self.touched.insert(w);
        *self
            .mem
            .entry(w)
            .or_insert_with(|| (image.get(&w).map_or(0, |b| u32::from_le_bytes(*b)), 0))
    }
}

pub(crate) fn set4(row: &mut [Val], cols: [usize; 4], v: u32) {
    for (k, b) in bytes(v).into_iter().enumerate() {
        row[cols[k]] = Val::from_u32(b);
    }
}

pub(crate) fn carries(l: u32, r: u32, cin: u32) -> [u32; 4] {
    let (lb, rb) = (bytes(l), bytes(r));
    let mut c = cin;
    let mut out = [0; 4];
    for k in 0..4 {
        c = (lb[k] + rb[k] + c) >> 8;
        out[k] = c;
    }
    out
}

pub(crate) fn inv_or_zero(x: u32) -> Val {
    Val::from_u32(x).try_inverse().unwrap_or(Val::ZERO)
}

/// What the trace generators of one segment share while [`super::super::witness::build`]
/// walks its trace: the public data and its fixed tables, the segment's events and starting
/// memory, whether to refuse what the constraints cannot prove, the memory and register
/// state, and the lookup multiplicities.
pub(crate) struct Run<'a> {
    pub(crate) p: &'a Public,
    pub(crate) pt: &'a PublicTables,
    /// The segment's events, their clocks counted from the segment's first cycle.
    pub(crate) events: &'a [Event],
    /// The memory at segment start (the image in the first segment): word -> bytes.
    pub(crate) base: &'a BTreeMap<u32, [u8; 4]>,
    /// The first segment (words outside the image start at zero).
    pub(crate) first: bool,
    pub(crate) checked: bool,
    pub(crate) st: State,
    pub(crate) mults: Mults,
}
