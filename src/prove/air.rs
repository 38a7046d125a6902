//! The AIRs (tables) of the RV32IM proof and the buses that connect them.
//!
//! Values are 32-bit words held as four little-endian bytes; a program counter is a word
//! index (`pc / 4`), so every pc and every word address is a field element below 2^30 and
//! field arithmetic on them is integer arithmetic. Tables:
//!
//! - **CPU**: one row per executed instruction (see [`Cpu`]).
//! - **PROGRAM** (preprocessed, from the ELF): the decoded instructions; the CPU looks its
//!   row up by pc, so it can only execute what the ELF holds.
//! - **MEM**: one row per memory word the run touches or the image holds, strictly sorted by
//!   address (two exact 16/14-bit halves, so the order cannot wrap around the field) and each
//!   inside a region the VM allows: image and heap, or stack up to the last word under the
//!   memory limit (public values): it starts each word (image value or
//!   zero, time 0) and ends it (final value and time). Every access in every table consumes
//!   the word's last (value, time) and produces the new one, with the old time strictly
//!   smaller (offline memory checking); the multiset only closes if every access reads what
//!   was last written. An address outside the regions (at or above the limit, in the guard
//!   gap) has no starting row, so no access to it can be proven.
//! - **IMAGE** (preprocessed, from the ELF): the initial words; MEM must start each of them
//!   exactly once, with that value.
//! - **REG**: the 32 registers, starting at zero (256 rows in a zero-knowledge proof: the
//!   rows past 31 are register numbers no instruction can name, starting and ending at zero).
//! - **EVENT** and **IOW** (preprocessed, from the public transcript): what each `ecall` (and
//!   Nexus tape instruction, CSR instruction, `mret`) read from registers and wrote back, where
//!   execution continued, and the bytes it read from or wrote to memory. The verifier replays
//!   the transcript against the ABI (and the VM's CSR semantics) natively.
//! - **MULDIV**: shifts and the M extension, sent by the CPU with operands and result.
//! - **SHIFT** (preprocessed): shift amount byte -> multiplier `2^s` or `2^(32-s)`.
//! - **RANGE**: a 2^16-row table fixed by its own constraints (a counter and its bits) that
//!   answers 16-bit range checks and byte triples `(x, y, x & y)` (a byte check is `(x, 0, 0)`).

// Column arithmetic reads best as index loops over parallel arrays of column numbers.
#![allow(clippy::needless_range_loop)]

use p3_air::{Air, AirBuilder, BaseAir, PermutationAirBuilder, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::{Count, InteractionBuilder, LookupBus, PermutationCheckBus};
use p3_matrix::dense::RowMajorMatrix;

pub const PROG: LookupBus<'static> = LookupBus::new("prog");
pub const U16: LookupBus<'static> = LookupBus::new("u16");
pub const AND8: LookupBus<'static> = LookupBus::new("and8");
pub const SHIFT: LookupBus<'static> = LookupBus::new("shift");
pub const MEMBUS: PermutationCheckBus<'static> = PermutationCheckBus::new("mem");
pub const MDBUS: PermutationCheckBus<'static> = PermutationCheckBus::new("md");
pub const EVBUS: PermutationCheckBus<'static> = PermutationCheckBus::new("ev");
pub const IMGBUS: PermutationCheckBus<'static> = PermutationCheckBus::new("image");

/// A jump or branch target that is no instruction (misaligned): no program row has it.
pub const BAD_TARGET: u32 = 1 << 30;

/// Column allocator.
struct Alloc(usize);
impl Alloc {
    fn one(&mut self) -> usize {
        self.0 += 1;
        self.0 - 1
    }
    fn arr<const N: usize>(&mut self) -> [usize; N] {
        std::array::from_fn(|_| self.one())
    }
}

// ------------------------------------------------------------------------------------ CPU

/// CPU instruction classes (one-hot selectors).
pub mod sel {
    pub const ADD: usize = 0;
    pub const SUB: usize = 1;
    pub const SLT: usize = 2;
    pub const SLTU: usize = 3;
    pub const XOR: usize = 4;
    pub const OR: usize = 5;
    pub const AND: usize = 6;
    pub const LUI: usize = 7;
    pub const JAL: usize = 8;
    pub const JALR: usize = 9;
    pub const BEQ: usize = 10;
    pub const BNE: usize = 11;
    pub const BLT: usize = 12;
    pub const BGE: usize = 13;
    pub const BLTU: usize = 14;
    pub const BGEU: usize = 15;
    pub const LB: usize = 16;
    pub const LH: usize = 17;
    pub const LW: usize = 18;
    pub const LBU: usize = 19;
    pub const LHU: usize = 20;
    pub const SB: usize = 21;
    pub const SH: usize = 22;
    pub const SW: usize = 23;
    pub const MD: usize = 24;
    pub const EV: usize = 25;
    pub const NOP: usize = 26;
    pub const N: usize = 27;
}

/// MULDIV operations.
pub mod md {
    pub const SLL: usize = 0;
    pub const SRL: usize = 1;
    pub const SRA: usize = 2;
    pub const MUL: usize = 3;
    pub const MULH: usize = 4;
    pub const MULHSU: usize = 5;
    pub const MULHU: usize = 6;
    pub const DIV: usize = 7;
    pub const DIVU: usize = 8;
    pub const REM: usize = 9;
    pub const REMU: usize = 10;
    pub const N: usize = 11;
}

#[derive(Clone, Debug)]
pub struct CpuCols {
    pub real: usize,
    pub clk: usize,
    pub pcw: usize,
    pub npc: usize,
    pub sel: [usize; sel::N],
    pub use_imm: usize,
    pub mdop: usize,
    pub rd: usize,
    pub rs1: usize,
    pub rs2: usize,
    pub wr: usize,
    pub imm: [usize; 4],
    pub tgt: usize,
    pub a: [usize; 4],
    pub b: [usize; 4],
    pub op2: [usize; 4],
    pub c: [usize; 4],
    pub d: [usize; 4],
    pub cy: [usize; 4],
    pub z: [usize; 4],
    pub s1: usize,
    pub s2: usize,
    pub sx: usize,
    pub lt: usize,
    pub eq: usize,
    pub dinv: usize,
    pub taken: usize,
    /// Next pc of an event row (`mret`), from the transcript.
    pub evn: usize,
    pub k: usize,
    pub jb: usize,
    pub f: [usize; 4],
    pub lb0: usize,
    pub lb1: usize,
    pub m: [usize; 4],
    pub nw: [usize; 4],
    pub ro: [usize; 4],
    pub pt: [usize; 4],
    pub tlo: [usize; 4],
    pub thi: [usize; 4],
    /// A load of a read-only word (code, `tohost`): memory space 2 instead of 1.
    pub rom: usize,
    /// rs1 is `sp` (`isp`, with the inverse witness of rs1 - 2) and the row is a load or store
    /// (`spchk`): the stack rule applies.
    pub isp: usize,
    pub spinv: usize,
    pub spchk: usize,
    /// Stack rule: the address is below the image end (`below`) or at/above the stack bottom;
    /// the difference as two 16-bit limbs with a borrow.
    pub below: usize,
    pub sbr: usize,
    pub slo: usize,
    pub shi: usize,
    pub width: usize,
}

impl CpuCols {
    pub fn new() -> Self {
        let mut a = Alloc(0);
        let mut c = CpuCols {
            real: a.one(),
            clk: a.one(),
            pcw: a.one(),
            npc: a.one(),
            sel: a.arr(),
            use_imm: a.one(),
            mdop: a.one(),
            rd: a.one(),
            rs1: a.one(),
            rs2: a.one(),
            wr: a.one(),
            imm: a.arr(),
            tgt: a.one(),
            a: a.arr(),
            b: a.arr(),
            op2: a.arr(),
            c: a.arr(),
            d: a.arr(),
            cy: a.arr(),
            z: a.arr(),
            s1: a.one(),
            s2: a.one(),
            sx: a.one(),
            lt: a.one(),
            eq: a.one(),
            dinv: a.one(),
            taken: a.one(),
            evn: a.one(),
            k: a.one(),
            jb: a.one(),
            f: a.arr(),
            lb0: a.one(),
            lb1: a.one(),
            m: a.arr(),
            nw: a.arr(),
            ro: a.arr(),
            pt: a.arr(),
            tlo: a.arr(),
            thi: a.arr(),
            rom: a.one(),
            isp: a.one(),
            spinv: a.one(),
            spchk: a.one(),
            below: a.one(),
            sbr: a.one(),
            slo: a.one(),
            shi: a.one(),
            width: 0,
        };
        c.width = a.0;
        c
    }
}

impl Default for CpuCols {
    fn default() -> Self {
        Self::new()
    }
}

/// Word address (or word pc) of a byte address held as bytes `x0 = 4k + low`, `x1..x3`.
fn word_of<E: PrimeCharacteristicRing + Clone>(k: E, x1: E, x2: E, x3: E) -> E {
    k + x1 * E::from_u32(64) + x2 * E::from_u32(1 << 14) + x3 * E::from_u32(1 << 22)
}

/// The bytes of a value: `Σ x_i 256^i` is not injective in a 31-bit field, so words always
/// travel as four bytes.
fn ts_check<AB: AirBuilder>(
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

fn range_ts<AB: InteractionBuilder>(b: &mut AB, lo: AB::Expr, hi: AB::Expr, count: AB::Expr) {
    U16.lookup_key(b, [lo], Count::bounded(count.clone(), 1));
    U16.lookup_key(b, [hi * AB::Expr::from_u32(16)], Count::bounded(count, 1));
}

/// Send the consumed (old) and produced (new) memory tokens of one access.
#[allow(clippy::too_many_arguments)]
fn access<AB: InteractionBuilder>(
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

#[derive(Clone, Debug)]
pub struct Cpu {
    pub cols: CpuCols,
}

impl Cpu {
    fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let l = &self.cols;
        let main = b.main();
        let cur: Vec<AB::Expr> = main.current_slice().iter().map(|&v| v.into()).collect();
        let nxt: Vec<AB::Expr> = main.next_slice().iter().map(|&v| v.into()).collect();
        let pv: Vec<AB::Expr> = b.public_values().iter().map(|&v| v.into()).collect();
        let x = |i: usize| cur[i].clone();
        let n = |i: usize| nxt[i].clone();
        let c = |v: u32| AB::Expr::from_u32(v);
        let one = AB::Expr::ONE;
        let s = |k: usize| x(l.sel[k]);
        let sum = |ks: &[usize]| ks.iter().fold(AB::Expr::ZERO, |acc, &k| acc + s(k));

        let real = x(l.real);
        b.assert_bool(real.clone());
        b.when_transition()
            .assert_zero((one.clone() - real.clone()) * n(l.real));
        let mut total = AB::Expr::ZERO;
        for k in 0..sel::N {
            b.assert_bool(s(k));
            total += s(k);
        }
        b.assert_eq(total, real.clone());
        // `wr` counts an access: boolean, and zero on padding rows (the program fixes it on
        // real rows).
        b.assert_bool(x(l.wr));
        b.assert_zero(x(l.wr) * (one.clone() - real.clone()));
        // Start, clock, control flow, halting.
        b.when_first_row().assert_one(real.clone());
        b.when_first_row().assert_zero(x(l.clk));
        b.when_first_row().assert_eq(x(l.pcw), pv[0].clone());
        b.when_transition()
            .assert_eq(n(l.clk), x(l.clk) + one.clone());
        b.when_transition()
            .assert_zero(n(l.real) * (n(l.pcw) - x(l.npc)));
        let ends = real.clone() - n(l.real);
        b.when_transition()
            .assert_zero(ends.clone() * (one.clone() - s(sel::EV)));
        b.when_transition()
            .assert_zero(ends * (x(l.clk) + one.clone() - pv[1].clone()));
        b.when_last_row().assert_zero(real.clone());

        // Operand 2: the immediate or rs2.
        for k in 0..4 {
            b.assert_zero(x(l.op2[k]) - x(l.b[k]) - x(l.use_imm) * (x(l.imm[k]) - x(l.b[k])));
        }
        // The adder L + R = S (mod 2^32), carries in cy.
        let sadd = s(sel::ADD);
        let ssub = s(sel::SUB);
        let scmp = sum(&[
            sel::SLT,
            sel::SLTU,
            sel::BEQ,
            sel::BNE,
            sel::BLT,
            sel::BGE,
            sel::BLTU,
            sel::BGEU,
        ]);
        let saddr = sum(&[
            sel::LB,
            sel::LH,
            sel::LW,
            sel::LBU,
            sel::LHU,
            sel::SB,
            sel::SH,
            sel::SW,
            sel::JALR,
        ]);
        for k in 0..4 {
            let lhs = (sadd.clone() + saddr.clone()) * x(l.a[k])
                + ssub.clone() * x(l.c[k])
                + scmp.clone() * x(l.op2[k]);
            let rhs = (sadd.clone() + ssub.clone() + saddr.clone()) * x(l.op2[k])
                + scmp.clone() * x(l.d[k]);
            let out = sadd.clone() * x(l.c[k])
                + (ssub.clone() + scmp.clone()) * x(l.a[k])
                + saddr.clone() * x(l.d[k]);
            let cin = if k == 0 {
                AB::Expr::ZERO
            } else {
                x(l.cy[k - 1])
            };
            b.assert_bool(x(l.cy[k]));
            b.assert_zero(lhs + rhs + cin - out - c(256) * x(l.cy[k]));
        }
        let ltu = x(l.cy[3]);
        // Sign bits: s1 of a (signed compare) or of the loaded byte/half; s2 of operand 2.
        let signed_cmp = sum(&[sel::SLT, sel::BLT, sel::BGE]);
        let x1 = signed_cmp.clone() * x(l.a[3]) + s(sel::LB) * x(l.lb0) + s(sel::LH) * x(l.lb1);
        let g1 = signed_cmp.clone() + s(sel::LB) + s(sel::LH);
        b.assert_bool(x(l.s1));
        b.assert_bool(x(l.s2));
        AND8.lookup_key(
            b,
            [
                (x1 - c(128) * x(l.s1)) * c(2),
                AB::Expr::ZERO,
                AB::Expr::ZERO,
            ],
            Count::bounded(g1, 1),
        );
        AND8.lookup_key(
            b,
            [
                (x(l.op2[3]) - c(128) * x(l.s2)) * c(2),
                AB::Expr::ZERO,
                AB::Expr::ZERO,
            ],
            Count::bounded(signed_cmp, 1),
        );
        // sx = s1 xor s2, lt = ltu xor sx (signed less-than).
        b.assert_zero(x(l.sx) - x(l.s1) - x(l.s2) + c(2) * x(l.s1) * x(l.s2));
        b.assert_zero(x(l.lt) - ltu.clone() - x(l.sx) + c(2) * ltu.clone() * x(l.sx));
        for k in 1..4 {
            b.assert_zero((s(sel::SLT) + s(sel::SLTU)) * x(l.c[k]));
        }
        b.assert_zero(s(sel::SLT) * (x(l.c[0]) - x(l.lt)));
        b.assert_zero(s(sel::SLTU) * (x(l.c[0]) - ltu.clone()));
        // eq: d == 0 (d = a - op2 for comparisons).
        let dsum = x(l.d[0]) + x(l.d[1]) + x(l.d[2]) + x(l.d[3]);
        b.assert_zero(x(l.eq) * dsum.clone());
        b.assert_zero(x(l.eq) - one.clone() + dsum * x(l.dinv));
        b.assert_zero(
            x(l.taken)
                - s(sel::BEQ) * x(l.eq)
                - s(sel::BNE) * (one.clone() - x(l.eq))
                - s(sel::BLT) * x(l.lt)
                - s(sel::BGE) * (one.clone() - x(l.lt))
                - s(sel::BLTU) * ltu.clone()
                - s(sel::BGEU) * (one.clone() - ltu)
                - s(sel::JAL),
        );
        // Byte address d = 4k + offset (loads, stores) or jalr target = 4k + jb.
        let loads = sum(&[sel::LB, sel::LH, sel::LW, sel::LBU, sel::LHU]);
        let stores = sum(&[sel::SB, sel::SH, sel::SW]);
        let memop = loads.clone() + stores.clone();
        let off = x(l.f[1]) + c(2) * x(l.f[2]) + c(3) * x(l.f[3]);
        b.assert_bool(x(l.jb));
        b.assert_zero(s(sel::JALR) * (x(l.d[0]) - x(l.jb) - c(4) * x(l.k)));
        b.assert_zero(memop.clone() * (x(l.d[0]) - off - c(4) * x(l.k)));
        AND8.lookup_key(
            b,
            [x(l.k), AB::Expr::ZERO, AB::Expr::ZERO],
            Count::bounded(memop.clone() + s(sel::JALR), 1),
        );
        let word = word_of(x(l.k), x(l.d[1]), x(l.d[2]), x(l.d[3]));
        let pc1 = x(l.pcw) + one.clone();
        // taken is 0 on jalr and event rows, so the three cases add up.
        b.assert_zero(
            x(l.npc)
                - pc1.clone()
                - x(l.taken) * (x(l.tgt) - pc1.clone())
                - s(sel::JALR) * (word.clone() - pc1.clone())
                - s(sel::EV) * (x(l.evn) - pc1),
        );
        // Byte lanes.
        let mut fsum = AB::Expr::ZERO;
        for j in 0..4 {
            b.assert_bool(x(l.f[j]));
            fsum += x(l.f[j]);
        }
        b.assert_eq(fsum, memop.clone());
        b.assert_zero((s(sel::LW) + s(sel::SW)) * (one.clone() - x(l.f[0])));
        b.assert_zero((s(sel::LH) + s(sel::LHU) + s(sel::SH)) * (x(l.f[1]) + x(l.f[3])));
        let m = |j: usize| x(l.m[j]);
        b.assert_zero(x(l.lb0) - (0..4).fold(AB::Expr::ZERO, |acc, j| acc + x(l.f[j]) * m(j)));
        b.assert_zero(x(l.lb1) - x(l.f[0]) * m(1) - x(l.f[2]) * m(3));
        // Load results.
        let ext = c(255) * x(l.s1);
        let lb = s(sel::LB);
        let lh = s(sel::LH);
        let lbu = s(sel::LBU);
        let lhu = s(sel::LHU);
        let lw = s(sel::LW);
        b.assert_zero(
            (lb.clone() + lbu.clone() + lh.clone() + lhu.clone()) * (x(l.c[0]) - x(l.lb0)),
        );
        b.assert_zero((lh.clone() + lhu.clone()) * (x(l.c[1]) - x(l.lb1)));
        b.assert_zero(lb.clone() * (x(l.c[1]) - ext.clone()));
        b.assert_zero(lbu.clone() * x(l.c[1]));
        for k in 2..4 {
            b.assert_zero((lb.clone() + lh.clone()) * (x(l.c[k]) - ext.clone()));
            b.assert_zero((lbu.clone() + lhu.clone()) * x(l.c[k]));
        }
        for k in 0..4 {
            b.assert_zero(lw.clone() * (x(l.c[k]) - m(k)));
        }
        // Store: the new word.
        let (sb, sh, sw) = (s(sel::SB), s(sel::SH), s(sel::SW));
        let bb = |k: usize| x(l.b[k]);
        let f = |j: usize| x(l.f[j]);
        let sh_src = [(0, 0), (0, 1), (2, 0), (2, 1)]; // (lane flag, byte of rs2)
        for j in 0..4 {
            let (fl, src) = sh_src[j];
            b.assert_zero(
                x(l.nw[j])
                    - m(j)
                    - sb.clone() * f(j) * (bb(0) - m(j))
                    - sh.clone() * f(fl) * (bb(src) - m(j))
                    - sw.clone() * (bb(j) - m(j)),
            );
        }
        // lui / auipc (the program holds the value), bitwise operations.
        let bw = s(sel::AND) + s(sel::OR) + s(sel::XOR);
        for k in 0..4 {
            b.assert_zero(s(sel::LUI) * (x(l.c[k]) - x(l.imm[k])));
            b.assert_zero(s(sel::AND) * (x(l.c[k]) - x(l.z[k])));
            b.assert_zero(s(sel::OR) * (x(l.c[k]) - x(l.a[k]) - x(l.op2[k]) + x(l.z[k])));
            b.assert_zero(s(sel::XOR) * (x(l.c[k]) - x(l.a[k]) - x(l.op2[k]) + c(2) * x(l.z[k])));
        }
        // Byte triples: the bitwise operation, else range checks of c and d.
        let pairs = [
            (l.c[0], l.c[1]),
            (l.c[2], l.c[3]),
            (l.d[0], l.d[1]),
            (l.d[2], l.d[3]),
        ];
        for k in 0..4 {
            let nb = one.clone() - bw.clone();
            AND8.lookup_key(
                b,
                [
                    bw.clone() * x(l.a[k]) + nb.clone() * x(pairs[k].0),
                    bw.clone() * x(l.op2[k]) + nb * x(pairs[k].1),
                    x(l.z[k]),
                ],
                Count::bounded(real.clone(), 1),
            );
        }
        // Register and memory accesses at 8 clk + 1 + slot (time 0 is the initial state).
        let t = |j: u32| x(l.clk) * c(8) + c(j);
        let arr = |cols: [usize; 4]| cols.map(&x);
        let wr = x(l.wr);
        let gates = [real.clone(), real.clone(), memop.clone(), wr.clone()];
        for j in 0..4 {
            ts_check(
                b,
                gates[j].clone(),
                t(j as u32 + 1),
                x(l.pt[j]),
                x(l.tlo[j]),
                x(l.thi[j]),
            );
            range_ts(b, x(l.tlo[j]), x(l.thi[j]), real.clone());
        }
        access(
            b,
            AB::Expr::ZERO,
            x(l.rs1),
            arr(l.a),
            x(l.pt[0]),
            arr(l.a),
            t(1),
            real.clone(),
        );
        access(
            b,
            AB::Expr::ZERO,
            x(l.rs2),
            arr(l.b),
            x(l.pt[1]),
            arr(l.b),
            t(2),
            real.clone(),
        );
        // Memory space 1, or 2 for a read-only word: only a load may take that token, so no
        // store ever changes code or `tohost` (MEM starts those words in space 2).
        b.assert_bool(x(l.rom));
        b.assert_zero(x(l.rom) * (one.clone() - loads.clone()));
        access(
            b,
            one.clone() + x(l.rom),
            word,
            arr(l.m),
            x(l.pt[2]),
            arr(l.nw),
            t(3),
            memop.clone(),
        );
        access(
            b,
            AB::Expr::ZERO,
            x(l.rd),
            arr(l.ro),
            x(l.pt[3]),
            arr(l.c),
            t(4),
            wr.clone(),
        );
        // The stack rule (the VM's stack overflow): a load or store based on `sp` may not touch
        // `[image_end, stack_bottom)`. Either d <= image_end - 1 (`below`) or d >= stack_bottom,
        // shown by a 32-bit difference in two 16-bit limbs with a borrow (a negative difference
        // leaves a limb outside 16 bits). Public values 2..6: (image_end - 1) and stack_bottom
        // as (high, low) halves.
        let r2 = x(l.rs1) - c(2);
        b.assert_zero(x(l.isp) * r2.clone());
        b.assert_zero(x(l.isp) - one.clone() + r2 * x(l.spinv));
        b.assert_zero(x(l.spchk) - memop.clone() * x(l.isp));
        b.assert_bool(x(l.below));
        b.assert_bool(x(l.sbr));
        {
            let dlo = x(l.d[0]) + c(256) * x(l.d[1]);
            let dhi = x(l.d[2]) + c(256) * x(l.d[3]);
            let bl = x(l.below);
            let nb = one.clone() - bl.clone();
            let xl = bl.clone() * pv[3].clone() + nb.clone() * dlo.clone();
            let yl = bl.clone() * dlo + nb.clone() * pv[5].clone();
            let xh = bl.clone() * pv[2].clone() + nb.clone() * dhi.clone();
            let yh = bl * dhi + nb * pv[4].clone();
            let chk = x(l.spchk);
            b.assert_zero(chk.clone() * (x(l.slo) - xl + yl - c(1 << 16) * x(l.sbr)));
            b.assert_zero(chk.clone() * (x(l.shi) - xh + yh + x(l.sbr)));
            U16.lookup_key(b, [x(l.slo)], Count::bounded(chk.clone(), 1));
            U16.lookup_key(b, [x(l.shi)], Count::bounded(chk, 1));
        }
        // Delegated operations and events.
        MDBUS.send(
            b,
            [
                x(l.mdop),
                x(l.a[0]),
                x(l.a[1]),
                x(l.a[2]),
                x(l.a[3]),
                x(l.op2[0]),
                x(l.op2[1]),
                x(l.op2[2]),
                x(l.op2[3]),
                x(l.c[0]),
                x(l.c[1]),
                x(l.c[2]),
                x(l.c[3]),
            ],
            Count::bounded(s(sel::MD), 1),
        );
        EVBUS.send(
            b,
            [x(l.clk), x(l.pcw), x(l.evn)],
            Count::bounded(s(sel::EV), 1),
        );
        // The instruction at pc.
        let op = (0..sel::N).fold(AB::Expr::ZERO, |acc, k| acc + s(k) * c(k as u32));
        let link = s(sel::JAL) + s(sel::JALR);
        PROG.lookup_key(
            b,
            [
                x(l.pcw),
                op,
                x(l.use_imm),
                x(l.mdop),
                x(l.rd),
                x(l.rs1),
                x(l.rs2),
                wr,
                x(l.imm[0]),
                x(l.imm[1]),
                x(l.imm[2]),
                x(l.imm[3]),
                x(l.tgt),
                link.clone() * x(l.c[0]),
                link.clone() * x(l.c[1]),
                link.clone() * x(l.c[2]),
                link * x(l.c[3]),
                real.clone(),
            ],
            Count::bounded(real, 1),
        );
    }
}

// ------------------------------------------------------------------------------ PROGRAM

/// Preprocessed program columns: the CPU's lookup tuple, whose last element is 1 on real rows
/// (so a zero padding row can never stand for an instruction).
pub const PROG_TUPLE: usize = 18;

#[derive(Clone, Debug)]
pub struct Program {
    /// Row-major, `PROG_TUPLE` values per row (padded rows all zero and never counted).
    pub rows: Vec<u32>,
    pub height: usize,
}

impl Program {
    fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let p: Vec<AB::Expr> = b
            .preprocessed()
            .current_slice()
            .iter()
            .map(|&v| v.into())
            .collect();
        let mult: AB::Expr = b.main().current_slice()[0].into();
        PROG.table_entry(b, p, mult);
    }
}

// ---------------------------------------------------------------------------------- MEM

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
    fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let l = &self.cols;
        let main = b.main();
        let cur: Vec<AB::Expr> = main.current_slice().iter().map(|&v| v.into()).collect();
        let nxt: Vec<AB::Expr> = main.next_slice().iter().map(|&v| v.into()).collect();
        // Public: the regions' first and last words as (high, low) 16-bit halves:
        // [low_min, low_max, high_min, high_max].
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
            [s, waddr, f0, f1, f2, f3, x(l.fts)],
            Count::bounded(real, 1),
        );
    }
}

// -------------------------------------------------------------------------------- IMAGE

/// Preprocessed: real, waddr, 4 bytes, read-only (an instruction word or `tohost`).
#[derive(Clone, Debug)]
pub struct ImageTable {
    pub rows: Vec<u32>,
    pub height: usize,
}
pub const IMAGE_W: usize = 7;

impl ImageTable {
    fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let p: Vec<AB::Expr> = b
            .preprocessed()
            .current_slice()
            .iter()
            .map(|&v| v.into())
            .collect();
        let dummy: AB::Expr = b.main().current_slice()[0].into();
        b.assert_zero(dummy);
        IMGBUS.send(
            b,
            [
                p[1].clone(),
                p[2].clone(),
                p[3].clone(),
                p[4].clone(),
                p[5].clone(),
                p[6].clone(),
            ],
            Count::bounded(p[0].clone(), 1),
        );
    }
}

// ---------------------------------------------------------------------------------- REG

/// Main: r, fv[4], fts.
pub const REG_W: usize = 6;

#[derive(Clone, Debug)]
pub struct Regs;

impl Regs {
    fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
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

// -------------------------------------------------------------------------------- RANGE

/// Main: v, bits[16], m16, mand.
pub const RANGE_W: usize = 19;

#[derive(Clone, Debug)]
pub struct Range;

impl Range {
    fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
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

// -------------------------------------------------------------------------------- SHIFT

/// Preprocessed: dir, byte, y[4], zf (512 rows). Main: mult.
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
    fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let p: Vec<AB::Expr> = b
            .preprocessed()
            .current_slice()
            .iter()
            .map(|&v| v.into())
            .collect();
        let mult: AB::Expr = b.main().current_slice()[0].into();
        SHIFT.table_entry(b, p, mult);
    }
}

// -------------------------------------------------------------------------------- EVENT

/// Preprocessed event columns.
pub mod ev {
    pub const REAL: usize = 0;
    pub const CLK: usize = 1;
    pub const PCW: usize = 2;
    /// Read slot k: reg, value bytes[4], use (6 columns each, 4 slots).
    pub const READ: usize = 3;
    pub const RD: usize = 27;
    pub const RET: usize = 28; // 4 bytes
    pub const WR: usize = 32;
    pub const PRIV: usize = 33;
    /// Next pc (word index): pc + 1, or where `mret` goes.
    pub const NPC: usize = 34;
    pub const W: usize = 35;
    // Main columns.
    pub const M_RPT: usize = 0; // 4
    pub const M_RLO: usize = 4; // 4
    pub const M_RHI: usize = 8; // 4
    pub const M_WPT: usize = 12;
    pub const M_WLO: usize = 13;
    pub const M_WHI: usize = 14;
    pub const M_RO: usize = 15; // 4
    pub const M_C: usize = 19; // 4
    pub const M_Z: usize = 23; // 2
    /// Private input exhausted: monotone over the rows; a private read returns one byte
    /// before, `u32::MAX` from then on (the VM's Nexus `0x400`).
    pub const M_EOF: usize = 25;
    pub const MW: usize = 26;
}

#[derive(Clone, Debug)]
pub struct Events {
    pub rows: Vec<u32>,
    pub height: usize,
}

impl Events {
    fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let p: Vec<AB::Expr> = b
            .preprocessed()
            .current_slice()
            .iter()
            .map(|&v| v.into())
            .collect();
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
        for k in 0..4 {
            let base = ev::READ + 6 * k;
            let val: [AB::Expr; 4] = std::array::from_fn(|i| p[base + 1 + i].clone());
            let used = p[base + 5].clone();
            ts_check(
                b,
                used.clone(),
                t(5),
                m[ev::M_RPT + k].clone(),
                m[ev::M_RLO + k].clone(),
                m[ev::M_RHI + k].clone(),
            );
            range_ts(
                b,
                m[ev::M_RLO + k].clone(),
                m[ev::M_RHI + k].clone(),
                real.clone(),
            );
            access(
                b,
                AB::Expr::ZERO,
                p[base].clone(),
                val.clone(),
                m[ev::M_RPT + k].clone(),
                val,
                t(5),
                used,
            );
        }
        let wr = p[ev::WR].clone();
        ts_check(
            b,
            wr.clone(),
            t(6),
            m[ev::M_WPT].clone(),
            m[ev::M_WLO].clone(),
            m[ev::M_WHI].clone(),
        );
        range_ts(b, m[ev::M_WLO].clone(), m[ev::M_WHI].clone(), real.clone());
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
        let ro: [AB::Expr; 4] = std::array::from_fn(|i| m[ev::M_RO + i].clone());
        let cv: [AB::Expr; 4] = std::array::from_fn(|i| m[ev::M_C + i].clone());
        access(
            b,
            AB::Expr::ZERO,
            p[ev::RD].clone(),
            ro,
            m[ev::M_WPT].clone(),
            cv,
            t(6),
            wr,
        );
    }
}

// ---------------------------------------------------------------------------------- IOW

/// Preprocessed: real, ts, waddr, wm[4], rm[4], v[4]. Main: o[4], pt, lo, hi, ro (the host
/// may read a read-only word, never write one).
pub const IOW_PW: usize = 15;
pub const IOW_MW: usize = 8;

#[derive(Clone, Debug)]
pub struct IoWords {
    pub rows: Vec<u32>,
    pub height: usize,
}

impl IoWords {
    fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let p: Vec<AB::Expr> = b
            .preprocessed()
            .current_slice()
            .iter()
            .map(|&v| v.into())
            .collect();
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

// ------------------------------------------------------------------------------- MULDIV

#[derive(Clone, Debug)]
pub struct MdCols {
    pub real: usize,
    pub sel: [usize; md::N],
    pub a: [usize; 4],
    pub b: [usize; 4],
    pub c: [usize; 4],
    pub x: [usize; 4],
    pub y: [usize; 4],
    pub p: [usize; 8],
    pub kc: [usize; 8],
    pub sx: usize,
    pub sy: usize,
    pub zf: usize,
    pub r: [usize; 4],
    pub sa: usize,
    pub sr: usize,
    pub cz: [usize; 8],
    pub u: [usize; 4],
    pub cu: [usize; 4],
    pub v: [usize; 4],
    pub cv: [usize; 4],
    pub w: [usize; 4],
    pub cw: [usize; 4],
    pub bz: usize,
    pub binv: usize,
    pub ov: usize,
    pub zp: [usize; 4],
    pub zr: [usize; 2],
    pub zu: [usize; 2],
    pub zv: [usize; 2],
    pub zw: [usize; 2],
    pub zx: [usize; 2],
    pub width: usize,
}

impl MdCols {
    pub fn new() -> Self {
        let mut a = Alloc(0);
        let mut c = MdCols {
            real: a.one(),
            sel: a.arr(),
            a: a.arr(),
            b: a.arr(),
            c: a.arr(),
            x: a.arr(),
            y: a.arr(),
            p: a.arr(),
            kc: a.arr(),
            sx: a.one(),
            sy: a.one(),
            zf: a.one(),
            r: a.arr(),
            sa: a.one(),
            sr: a.one(),
            cz: a.arr(),
            u: a.arr(),
            cu: a.arr(),
            v: a.arr(),
            cv: a.arr(),
            w: a.arr(),
            cw: a.arr(),
            bz: a.one(),
            binv: a.one(),
            ov: a.one(),
            zp: a.arr(),
            zr: a.arr(),
            zu: a.arr(),
            zv: a.arr(),
            zw: a.arr(),
            zx: a.arr(),
            width: 0,
        };
        c.width = a.0;
        c
    }
}

impl Default for MdCols {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Debug)]
pub struct MulDiv {
    pub cols: MdCols,
}

impl MulDiv {
    fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let l = &self.cols;
        let cur: Vec<AB::Expr> = b.main().current_slice().iter().map(|&v| v.into()).collect();
        let x = |i: usize| cur[i].clone();
        let c = |v: u32| AB::Expr::from_u32(v);
        let one = AB::Expr::ONE;
        let zero = AB::Expr::ZERO;
        let s = |k: usize| x(l.sel[k]);
        let sum = |ks: &[usize]| ks.iter().fold(AB::Expr::ZERO, |acc, &k| acc + s(k));
        let real = x(l.real);
        b.assert_bool(real.clone());
        let mut total = AB::Expr::ZERO;
        for k in 0..md::N {
            b.assert_bool(s(k));
            total += s(k);
        }
        b.assert_eq(total, real.clone());
        let mul4 = sum(&[md::MUL, md::MULH, md::MULHSU, md::MULHU]);
        let sh3 = sum(&[md::SLL, md::SRL, md::SRA]);
        let div4 = sum(&[md::DIV, md::DIVU, md::REM, md::REMU]);
        let sdiv = sum(&[md::DIV, md::REM]);
        let signed_x = sum(&[md::MULH, md::MULHSU, md::SRA, md::DIV, md::REM]);
        let signed_y = sum(&[md::MULH, md::DIV, md::REM]);
        // Operands.
        for k in 0..4 {
            b.assert_zero((mul4.clone() + sh3.clone()) * (x(l.x[k]) - x(l.a[k])));
            b.assert_zero((mul4.clone() + div4.clone()) * (x(l.y[k]) - x(l.b[k])));
        }
        SHIFT.lookup_key(
            b,
            [
                s(md::SRL) + s(md::SRA),
                x(l.b[0]),
                x(l.y[0]),
                x(l.y[1]),
                x(l.y[2]),
                x(l.y[3]),
                x(l.zf),
            ],
            Count::bounded(sh3.clone(), 1),
        );
        // Signs.
        let sign = |b: &mut AB, top: AB::Expr, bit: usize, gate: AB::Expr| {
            b.assert_bool(x(bit));
            b.assert_zero((AB::Expr::ONE - gate.clone()) * x(bit));
            AND8.lookup_key(
                b,
                [
                    (top - AB::Expr::from_u32(128) * x(bit)) * AB::Expr::from_u32(2),
                    AB::Expr::ZERO,
                    AB::Expr::ZERO,
                ],
                Count::bounded(gate, 1),
            );
        };
        sign(b, x(l.x[3]), l.sx, signed_x);
        sign(b, x(l.y[3]), l.sy, signed_y);
        sign(b, x(l.a[3]), l.sa, sdiv.clone());
        sign(b, x(l.r[3]), l.sr, sdiv.clone());
        // 64-bit product of the (sign-extended) operands.
        let xe = |i: usize| if i < 4 { x(l.x[i]) } else { c(255) * x(l.sx) };
        let ye = |i: usize| if i < 4 { x(l.y[i]) } else { c(255) * x(l.sy) };
        for k in 0..8 {
            let mut conv = if k == 0 { zero.clone() } else { x(l.kc[k - 1]) };
            for i in 0..=k {
                conv += xe(i) * ye(k - i);
            }
            b.assert_zero(conv - x(l.p[k]) - c(256) * x(l.kc[k]));
            U16.lookup_key(b, [x(l.kc[k])], Count::bounded(real.clone(), 1));
        }
        for j in 0..4 {
            AND8.lookup_key(
                b,
                [x(l.p[2 * j]), x(l.p[2 * j + 1]), x(l.zp[j])],
                Count::bounded(real.clone(), 1),
            );
        }
        let pairs = |b: &mut AB, v: [usize; 4], z: [usize; 2]| {
            for j in 0..2 {
                AND8.lookup_key(
                    b,
                    [x(v[2 * j]), x(v[2 * j + 1]), x(z[j])],
                    Count::bounded(x(l.real), 1),
                );
            }
        };
        pairs(b, l.r, l.zr);
        pairs(b, l.x, l.zx);
        pairs(b, l.u, l.zu);
        pairs(b, l.v, l.zv);
        pairs(b, l.w, l.zw);
        // Result.
        let lo = s(md::MUL) + s(md::SLL);
        let hi = sum(&[md::MULH, md::MULHSU, md::MULHU]);
        let shr = s(md::SRL) + s(md::SRA);
        let q = s(md::DIV) + s(md::DIVU);
        let rm = s(md::REM) + s(md::REMU);
        for k in 0..4 {
            let ph = x(l.p[k + 4]);
            b.assert_zero(
                x(l.c[k])
                    - lo.clone() * x(l.p[k])
                    - hi.clone() * ph.clone()
                    - shr.clone() * (ph.clone() + x(l.zf) * (x(l.a[k]) - ph))
                    - q.clone() * x(l.x[k])
                    - rm.clone() * x(l.r[k]),
            );
        }
        // Division: q = x, q * b + r = a (64-bit, sign-extended), |r| < |b|, sign(r) = sign(a).
        let nov = one.clone() - x(l.ov);
        let re = |i: usize| if i < 4 { x(l.r[i]) } else { c(255) * x(l.sr) };
        let ae = |i: usize| if i < 4 { x(l.a[i]) } else { c(255) * x(l.sa) };
        for k in 0..8 {
            b.assert_bool(x(l.cz[k]));
            let cin = if k == 0 { zero.clone() } else { x(l.cz[k - 1]) };
            b.assert_zero(
                div4.clone()
                    * nov.clone()
                    * (x(l.p[k]) + re(k) + cin - ae(k) - c(256) * x(l.cz[k])),
            );
        }
        // Division by zero: q = all ones (r = a follows).
        let bsum = x(l.b[0]) + x(l.b[1]) + x(l.b[2]) + x(l.b[3]);
        b.assert_zero(x(l.bz) * bsum.clone());
        b.assert_zero(x(l.bz) - one.clone() + bsum * x(l.binv));
        for k in 0..4 {
            b.assert_zero(div4.clone() * x(l.bz) * (x(l.x[k]) - c(255)));
        }
        // Overflow: -2^31 / -1 = -2^31 rem 0.
        b.assert_bool(x(l.ov));
        b.assert_zero(x(l.ov) * (one.clone() - sdiv.clone()));
        let top = [0u32, 0, 0, 128];
        for k in 0..4 {
            b.assert_zero(x(l.ov) * (x(l.a[k]) - c(top[k])));
            b.assert_zero(x(l.ov) * (x(l.b[k]) - c(255)));
            b.assert_zero(x(l.ov) * (x(l.x[k]) - c(top[k])));
            b.assert_zero(x(l.ov) * x(l.r[k]));
        }
        // u = |r|, v = |b| (signed), w = v - u - 1 >= 0 unless b = 0.
        let neg = |b: &mut AB, out: [usize; 4], inp: [usize; 4], carry: [usize; 4], sg: usize| {
            for k in 0..4 {
                b.assert_bool(x(carry[k]));
                let cin = if k == 0 {
                    AB::Expr::ZERO
                } else {
                    x(carry[k - 1])
                };
                b.assert_zero(
                    x(sg) * (x(out[k]) + x(inp[k]) + cin - AB::Expr::from_u32(256) * x(carry[k])),
                );
                b.assert_zero((AB::Expr::ONE - x(sg)) * (x(out[k]) - x(inp[k])));
            }
        };
        neg(b, l.u, l.r, l.cu, l.sr);
        neg(b, l.v, l.b, l.cv, l.sy);
        let nbz = one.clone() - x(l.bz);
        for k in 0..4 {
            b.assert_bool(x(l.cw[k]));
            let cin = if k == 0 { one.clone() } else { x(l.cw[k - 1]) };
            b.assert_zero(
                div4.clone()
                    * nbz.clone()
                    * (x(l.u[k]) + x(l.w[k]) + cin - x(l.v[k]) - c(256) * x(l.cw[k])),
            );
        }
        b.assert_zero(div4.clone() * nbz * x(l.cw[3]));
        let rsum = x(l.r[0]) + x(l.r[1]) + x(l.r[2]) + x(l.r[3]);
        b.assert_zero((x(l.sr) - x(l.sa)) * rsum);
        let op = (0..md::N).fold(AB::Expr::ZERO, |acc, k| acc + s(k) * c(k as u32));
        MDBUS.receive(
            b,
            [
                op,
                x(l.a[0]),
                x(l.a[1]),
                x(l.a[2]),
                x(l.a[3]),
                x(l.b[0]),
                x(l.b[1]),
                x(l.b[2]),
                x(l.b[3]),
                x(l.c[0]),
                x(l.c[1]),
                x(l.c[2]),
                x(l.c[3]),
            ],
            Count::bounded(real, 1),
        );
    }
}

// ---------------------------------------------------------------------------- the enum

/// All tables, in proof order.
#[derive(Clone, Debug)]
pub enum Table {
    Cpu(Cpu),
    Program(Program),
    Mem(Mem),
    Image(ImageTable),
    Regs(Regs),
    Range(Range),
    Shift(ShiftTable),
    Events(Events),
    IoWords(IoWords),
    MulDiv(MulDiv),
}

pub const NUM_TABLES: usize = 10;
/// CPU public values: entry (word), cycles, (image_end - 1) and stack_bottom as (high, low)
/// halves, and the public digest as 16 16-bit limbs (bound by the Fiat-Shamir transcript).
pub const CPU_PUBLIC: usize = 6 + 16;
pub const TABLE_NAMES: [&str; NUM_TABLES] = [
    "cpu", "program", "mem", "image", "regs", "range", "shift", "events", "io", "muldiv",
];

fn pre_matrix<F: Field>(rows: &[u32], width: usize, height: usize) -> RowMajorMatrix<F> {
    let mut v: Vec<F> = rows.iter().map(|&x| F::from_u32(x)).collect();
    v.resize(width * height, F::ZERO);
    RowMajorMatrix::new(v, width)
}

impl<F: Field> BaseAir<F> for Table {
    fn width(&self) -> usize {
        match self {
            Table::Cpu(t) => t.cols.width,
            Table::Program(_) | Table::Image(_) | Table::Shift(_) => 1,
            Table::Mem(t) => t.cols.width,
            Table::Regs(_) => REG_W,
            Table::Range(_) => RANGE_W,
            Table::Events(_) => ev::MW,
            Table::IoWords(_) => IOW_MW,
            Table::MulDiv(t) => t.cols.width,
        }
    }
    fn num_public_values(&self) -> usize {
        match self {
            Table::Cpu(_) => CPU_PUBLIC,
            Table::Mem(_) => 8,
            _ => 0,
        }
    }
    fn preprocessed_trace(&self) -> Option<RowMajorMatrix<F>> {
        match self {
            Table::Program(t) => Some(pre_matrix(&t.rows, PROG_TUPLE, t.height)),
            Table::Image(t) => Some(pre_matrix(&t.rows, IMAGE_W, t.height)),
            Table::Shift(_) => Some(pre_matrix(&shift_rows(), SHIFT_W, 512)),
            Table::Events(t) => Some(pre_matrix(&t.rows, ev::W, t.height)),
            Table::IoWords(t) => Some(pre_matrix(&t.rows, IOW_PW, t.height)),
            _ => None,
        }
    }
    fn preprocessed_width(&self) -> usize {
        match self {
            Table::Program(_) => PROG_TUPLE,
            Table::Image(_) => IMAGE_W,
            Table::Shift(_) => SHIFT_W,
            Table::Events(_) => ev::W,
            Table::IoWords(_) => IOW_PW,
            _ => 0,
        }
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        match self {
            Table::Cpu(t) => vec![t.cols.real, t.cols.clk, t.cols.pcw],
            Table::Mem(t) => vec![
                t.cols.real,
                t.cols.hi,
                t.cols.lo,
                t.cols.same,
                t.cols.hinv,
                t.cols.sd,
            ],
            Table::Regs(_) | Table::Range(_) => vec![0],
            Table::Events(_) => vec![ev::M_EOF],
            _ => vec![],
        }
    }
    fn preprocessed_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: PermutationAirBuilder + InteractionBuilder> Air<AB> for Table {
    fn eval(&self, b: &mut AB) {
        match self {
            Table::Cpu(t) => t.eval(b),
            Table::Program(t) => t.eval(b),
            Table::Mem(t) => t.eval(b),
            Table::Image(t) => t.eval(b),
            Table::Regs(t) => t.eval(b),
            Table::Range(t) => t.eval(b),
            Table::Shift(t) => t.eval(b),
            Table::Events(t) => t.eval(b),
            Table::IoWords(t) => t.eval(b),
            Table::MulDiv(t) => t.eval(b),
        }
    }
}
