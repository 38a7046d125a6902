//! **CPU**: one row per executed instruction (clock `clk`, word pc, next pc), padded with
//! rows whose clock runs on. A row looks its (pc, instruction) up in PROGRAM, reads `rs1` and
//! `rs2` and writes `rd` as memory accesses in space 0 (REG), loads and stores one word in
//! space 1 (space 2 for loads of read-only words), and proves its result: the adder with byte
//! carries, comparisons and branches through the adder's last carry and the operands' signs,
//! the bitwise operations as AND8 byte triples, jumps and their targets (a misaligned target
//! is [`BAD_TARGET`](super::BAD_TARGET), no instruction). Shifts and the M extension go to MULDIV on its bus,
//! system calls (and the other event instructions) to EVENT on its bus. Each row's four
//! access slots use time stamps `8 clk + 1 .. 8 clk + 4`, each strictly after the word's
//! previous access (16-bit checked differences).
//!
//! Public values ([`CPU_PUBLIC`](super::CPU_PUBLIC)): the segment's first pc (the entry in
//! the first segment), its cycles, `image_end - 1` and `stack_bottom` (for the stack rule),
//! the segment digest, `notlast` and the pc the next segment starts at. Clocks count from the
//! segment's first cycle.
//!
//! Columns: [`CpuCols`] (selectors [`sel`]). Rules of `docs/RULES.md` it carries: the run
//! ends with the exit system call (the last real row of the last segment is an event row, at
//! cycle `cycles - 1`; every other segment's last row continues at the next one's first pc);
//! the exact cycle count; instructions only from PROGRAM; stores into code and
//! into `tohost` (a load may consume a read-only token, a store never); the stack rule on
//! `sp`-based loads and stores; misaligned loads and stores (one lane per aligned access; a
//! misaligned one is an event row, `mis`); misaligned jump and branch targets.
//!
//! Trace: `CpuTrace`, one row per trace row, in the run's order.

// Column arithmetic reads best as index loops over parallel arrays of column numbers.
#![allow(clippy::needless_range_loop)]

use super::common::*;
use super::fetch::FetchTrace;
use super::muldiv::MdTrace;
use super::program::{prog_row, ProgRow};

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
    /// The HTIF exit: the last row of the last segment is a `sw` of the public exit word to
    /// the public `tohost` word, which takes no memory access.
    pub halt: usize,
    /// A misaligned load or store (a word or halfword across a word boundary or off its
    /// lane): the row takes no memory access of its own and goes to EVENT on its bus, whose
    /// transcript event reads the registers, the bytes (IOW, any two words) and writes `rd`;
    /// the native replay checks the address and the value.
    pub mis: usize,
    /// The instruction is fetched from memory (a word the run wrote, or one outside the
    /// instruction ranges): the CPU takes it from the FETCH row of its clock, not PROGRAM.
    pub fetched: usize,
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
            halt: a.one(),
            mis: a.one(),
            fetched: a.one(),
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

#[derive(Clone, Debug)]
pub struct Cpu {
    pub cols: CpuCols,
}

impl Cpu {
    pub(super) fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
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
        // The segment's last instruction: the exit system call in the last segment; in any
        // other it continues at the public pc the next segment starts from.
        let ends = real.clone() - n(l.real);
        let notlast = pv[22].clone();
        // The HTIF exit (public values 24..30: whether the statement ends with it, the `tohost`
        // word index, the stored word's bytes) is a `sw` row that ends the last segment.
        let halt = x(l.halt);
        let hok = pv[24].clone();
        b.assert_bool(halt.clone());
        b.assert_zero(halt.clone() * (one.clone() - s(sel::SW)));
        b.assert_zero(halt.clone() * (one.clone() - hok.clone()));
        b.assert_zero(halt.clone() * notlast.clone());
        b.when_transition().assert_zero(halt.clone() * n(l.real));
        b.when_transition().assert_zero(
            ends.clone()
                * (one.clone() - notlast.clone())
                * (one.clone() - s(sel::EV) - halt.clone()),
        );
        b.when_transition()
            .assert_zero(ends.clone() * (one.clone() - notlast.clone()) * (hok - halt.clone()));
        b.when_transition()
            .assert_zero(ends.clone() * notlast * (x(l.npc) - pv[23].clone()));
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
        // The HTIF exit stores the public word to the public `tohost` word.
        b.assert_zero(halt.clone() * (word.clone() - pv[25].clone()));
        for k in 0..4 {
            b.assert_zero(halt.clone() * (x(l.b[k]) - pv[26 + k].clone()));
        }
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
        // A misaligned access (`mis`, only on loads and stores, never the HTIF exit) is an
        // event; every other one is aligned: a word at lane 0, a halfword at an even lane.
        let mis = x(l.mis);
        b.assert_bool(mis.clone());
        b.assert_zero(mis.clone() * (one.clone() - memop.clone()));
        b.assert_zero(mis.clone() * halt.clone());
        let aligned = one.clone() - mis.clone();
        b.assert_zero(aligned.clone() * (s(sel::LW) + s(sel::SW)) * (one.clone() - x(l.f[0])));
        b.assert_zero(
            aligned.clone() * (s(sel::LH) + s(sel::LHU) + s(sel::SH)) * (x(l.f[1]) + x(l.f[3])),
        );
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
        // The HTIF exit's store takes no memory access (`tohost` stays read-only), nor does a
        // misaligned access (its bytes are IOW's).
        let memacc = memop.clone() - halt.clone() - mis.clone();
        let gates = [real.clone(), real.clone(), memacc.clone(), wr.clone()];
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
            memacc,
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
            Count::bounded(s(sel::EV) + mis, 1),
        );
        // The instruction at pc: PROGRAM's (last key element 0) or, when fetched, the FETCH
        // row's of this clock (`clk + 1`).
        let fetched = x(l.fetched);
        b.assert_bool(fetched.clone());
        b.assert_zero(fetched.clone() * (one.clone() - real.clone()));
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
                fetched * (x(l.clk) + one),
            ],
            Count::bounded(real, 1),
        );
    }
}

/// The CPU main trace as the run fills it.
pub(crate) struct CpuTrace {
    pub(crate) cols: CpuCols,
    /// The last row pushed is a misaligned access (an event row).
    pub(crate) mis: bool,
    main: Vec<Val>,
    height: usize,
}

impl CpuTrace {
    pub(crate) fn new(height: usize) -> Self {
        let cols = CpuCols::new();
        CpuTrace {
            mis: false,
            main: Val::zero_vec(height * cols.width),
            cols,
            height,
        }
    }

    /// Fill row `i` from the trace row `tr` (its time stamp `ts` = `8 i + 1`): a MULDIV
    /// instruction fills the next row of `md`; `ev_next_event` is the next event row (for
    /// where an event row continues). The instruction's program row.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push(
        &mut self,
        run: &mut Run,
        i: usize,
        tr: &TraceRow,
        ts: u32,
        n: usize,
        md: &mut MdTrace,
        fetch: &mut FetchTrace,
        ev_next_event: usize,
    ) -> Result<ProgRow, WitnessError> {
        let (p, pt, checked) = (run.p, run.pt, run.checked);
        let (st, mults) = (&mut run.st, &mut run.mults);
        let l = &self.cols;
        let f = |v: u32| Val::from_u32(v);
        let unsupported = |what: String| WitnessError::Unsupported {
            cycle: i,
            pc: tr.pc,
            what,
        };
        let mut fetched = false;
        let (pidx, pr) = match pt.prog_index.get(&tr.pc) {
            Some(&(k, r)) => (Some(k), r),
            // A word the run wrote, or one of an executable segment outside the instruction
            // ranges: executed as memory holds it now (FETCH reads it at 8 clk + 1).
            None if tr.pc % 4 == 0 && p.executable(tr.pc) && !p.is_static_code(tr.pc) => {
                if checked && p.statement.zk {
                    return Err(unsupported(
                        "an instruction fetched from memory (self-modifying code, or code outside the ELF's instruction ranges) in a zero-knowledge proof (the instruction words would be public)".into(),
                    ));
                }
                if checked && pt.ro_words.contains(&(tr.pc >> 2)) {
                    return Err(unsupported(
                        "executing the HTIF `tohost` word (it is read-only in a proof)".into(),
                    ));
                }
                let (mut word, prev) = st.word(run.base, tr.pc >> 2);
                let executed = prog_row(tr.pc, &tr.inst);
                if !checked && super::fetch::dyn_row(p, tr.pc, word).ok() != executed {
                    // A forger that executed the image's word where memory holds another
                    // claims to have fetched the image's (`soundness::a_self_modifying_…`).
                    let img = p.image_word(tr.pc);
                    if super::fetch::dyn_row(p, tr.pc, img).ok() == executed {
                        word = img;
                    } else if let Ok(w) = crate::isa::encode(&tr.inst) {
                        // Or the word of what it executed, whatever memory holds.
                        if super::fetch::dyn_row(p, tr.pc, w).ok() == executed {
                            word = w;
                        }
                    }
                }
                let r = match super::fetch::dyn_row(p, tr.pc, word) {
                    Ok(r) => r,
                    // A forger executes what the trace says.
                    Err(_) if !checked && prog_row(tr.pc, &tr.inst).is_some() => {
                        prog_row(tr.pc, &tr.inst).expect("checked")
                    }
                    Err(e) => return Err(unsupported(e)),
                };
                // Memory keeps what it holds (a forger's claimed word is not in it).
                let held = st.mem.get(&(tr.pc >> 2)).map_or(word, |&(v, _)| v);
                st.mem.insert(tr.pc >> 2, (held, ts));
                fetch.push(mults, i as u32, tr.pc, word, prev, &r);
                fetched = true;
                (None, r)
            }
            // A forger executes what the trace says, with no program row to look up.
            None if !checked && prog_row(tr.pc, &tr.inst).is_some() => {
                (None, prog_row(tr.pc, &tr.inst).expect("checked"))
            }
            None => {
                return Err(unsupported(format!(
                    "`{}` (not an instruction of the ELF's code, or outside RV32IM)",
                    tr.inst.op.mnemonic()
                )))
            }
        };
        if checked && prog_row(tr.pc, &tr.inst) != Some(pr) {
            return Err(WitnessError::Internal {
                cycle: i,
                what: format!(
                    "the VM executed `{}` at {:#x}, the proof's machine another instruction",
                    tr.inst.op.mnemonic(),
                    tr.pc
                ),
            });
        }
        if let Some(k) = pidx {
            mults.prog[k] += 1;
        }
        let w = self.cols.width;
        let row = &mut self.main[i * w..(i + 1) * w];
        row[l.real] = Val::ONE;
        row[l.fetched] = f(u32::from(fetched));
        row[l.clk] = f(i as u32);
        row[l.pcw] = f(tr.pc / 4);
        row[l.sel[pr.sel]] = Val::ONE;
        row[l.use_imm] = f(pr.use_imm as u32);
        row[l.mdop] = f(pr.mdop as u32);
        row[l.rd] = f(u32::from(pr.rd));
        row[l.rs1] = f(u32::from(pr.rs1));
        row[l.rs2] = f(u32::from(pr.rs2));
        row[l.wr] = f(pr.wr as u32);
        set4(row, l.imm, pr.imm);
        row[l.tgt] = f(pr.tgt);
        // Register reads.
        let mut slot_diff = [0u32; 4];
        let (a, pa) = st.regs[pr.rs1 as usize];
        st.regs[pr.rs1 as usize].1 = ts;
        let (b, pb) = st.regs[pr.rs2 as usize];
        st.regs[pr.rs2 as usize].1 = ts + 1;
        row[l.pt[0]] = f(pa);
        row[l.pt[1]] = f(pb);
        slot_diff[0] = ts - pa - 1;
        slot_diff[1] = ts + 1 - pb - 1;
        set4(row, l.a, a);
        set4(row, l.b, b);
        let op2 = if pr.use_imm { pr.imm } else { b };
        set4(row, l.op2, op2);
        let s = pr.sel;
        let is_cmp = matches!(s, sel::SLT | sel::SLTU | sel::BEQ..=sel::BGEU);
        let is_mem = matches!(s, sel::LB..=sel::SW);
        let signed_cmp = matches!(s, sel::SLT | sel::BLT | sel::BGE);
        let bw = matches!(s, sel::AND | sel::OR | sel::XOR);
        let d = if is_cmp {
            a.wrapping_sub(op2)
        } else if is_mem || s == sel::JALR {
            a.wrapping_add(op2)
        } else {
            0
        };
        // Memory.
        let (mut mword, mut nword) = (0u32, 0u32);
        let mut lane = 0usize;
        self.mis = false;
        if is_mem {
            lane = (d & 3) as usize;
            let width = match s {
                sel::LB | sel::LBU | sel::SB => 1,
                sel::LH | sel::LHU | sel::SH => 2,
                _ => 4,
            };
            if lane % width != 0 {
                // A misaligned access: an event (the transcript states its bytes and value;
                // IOW takes its memory words), no access of the row's own.
                if checked && p.statement.zk {
                    return Err(unsupported(format!(
                        "a misaligned {width}-byte access at {d:#x} in a zero-knowledge proof (its bytes would be public in the transcript)"
                    )));
                }
                if checked && fetched {
                    return Err(unsupported(format!(
                        "a misaligned {width}-byte access by an instruction fetched from memory (the transcript's replay decodes a misaligned access from the ELF's instruction ranges)"
                    )));
                }
                let ro = |a: u32| pt.ro_words.contains(&(a >> 2));
                let end = d.wrapping_add(width as u32 - 1);
                if checked && matches!(s, sel::SH | sel::SW) && (ro(d) || ro(end)) {
                    return Err(unsupported(format!(
                        "a misaligned store into the read-only words of {d:#x}..={end:#x} (code or `tohost`)"
                    )));
                }
                self.mis = true;
                row[l.mis] = Val::ONE;
                row[l.f[lane]] = Val::ONE;
                // No memory word: m = 0, the store's new word as the lane rule makes it.
                nword = if s == sel::SW { b } else { 0 };
            }
            let ro = pt.ro_words.contains(&(d >> 2));
            let st_ = &p.statement;
            if checked
                && st_.zk
                && matches!(s, sel::SB | sel::SH | sel::SW)
                && st_.code_written.binary_search(&(d & !3)).is_ok()
            {
                return Err(unsupported(format!(
                    "a store into the instruction word {:#x} (self-modifying code) in a zero-knowledge proof (the written instruction words are public)",
                    d & !3
                )));
            }
            let htif = st_.htif_exit
                && s == sel::SW
                // A forger (unchecked) may take the last row's store for the exit, whatever
                // its address (soundness::d_an_htif_exit_is_a_store_to_tohost)…
                && (st_.tohost.is_some_and(|t| t >> 2 == d >> 2) || (!checked && i + 1 == n))
                // …and any such store, whatever the word.
                && (!checked || b == ((st_.exit_code as u32) << 1 | 1));
            if htif && !self.mis {
                // The HTIF exit: no memory access (`tohost` stays as it was); the word stored
                // is public.
                row[l.halt] = Val::ONE;
                row[l.f[lane]] = Val::ONE;
                nword = b;
            }
            if ro && !htif && !self.mis && matches!(s, sel::SB | sel::SH | sel::SW) && checked {
                let what = if p.statement.tohost.is_some_and(|t| t >> 2 == d >> 2) {
                    format!("a store to the HTIF `tohost` word {d:#x} (it ends the VM's run)")
                } else {
                    format!(
                        "a store into the instruction word {:#x} (self-modifying code)",
                        d & !3
                    )
                };
                return Err(unsupported(what));
            }
            if ro && !self.mis && matches!(s, sel::LB..=sel::LHU) {
                row[l.rom] = Val::ONE;
            }
        }
        if is_mem && row[l.halt] == Val::ZERO && !self.mis {
            let (old, pm) = st.word(run.base, d >> 2);
            mword = old;
            let mut nb = old.to_le_bytes();
            let bb = b.to_le_bytes();
            match s {
                sel::SB => nb[lane] = bb[0],
                sel::SH => {
                    nb[lane] = bb[0];
                    nb[lane + 1] = bb[1];
                }
                sel::SW => nb = bb,
                _ => {}
            }
            nword = u32::from_le_bytes(nb);
            st.mem.insert(d >> 2, (nword, ts + 2));
            row[l.pt[2]] = f(pm);
            slot_diff[2] = ts + 2 - pm - 1;
            row[l.f[lane]] = Val::ONE;
        }
        set4(row, l.m, mword);
        set4(row, l.nw, nword);
        let mb = mword.to_le_bytes().map(u32::from);
        let lb0 = if is_mem { mb[lane] } else { 0 };
        let lb1 = match lane {
            0 => mb[1],
            2 => mb[3],
            _ => 0,
        } * u32::from(is_mem);
        row[l.lb0] = f(lb0);
        row[l.lb1] = f(lb1);
        // Result.
        let c = match s {
            sel::ADD => a.wrapping_add(op2),
            sel::SUB => a.wrapping_sub(op2),
            sel::SLT => u32::from((a as i32) < (op2 as i32)),
            sel::SLTU => u32::from(a < op2),
            sel::XOR => a ^ op2,
            sel::OR => a | op2,
            sel::AND => a & op2,
            sel::LUI => pr.imm,
            sel::JAL | sel::JALR => pr.link,
            sel::LB => lb0 as u8 as i8 as i32 as u32,
            sel::LBU => lb0,
            sel::LH => (lb0 | (lb1 << 8)) as u16 as i16 as i32 as u32,
            sel::LHU => lb0 | (lb1 << 8),
            sel::LW => mword,
            sel::MD => md.push(pr.mdop, a, op2, mults),
            _ => 0,
        };
        set4(row, l.c, c);
        set4(row, l.d, d);
        // The stack rule on sp-based loads and stores.
        row[l.spinv] = (f(pr.rs1 as u32) - f(2)).try_inverse().unwrap_or(Val::ZERO);
        if pr.rs1 == 2 {
            row[l.isp] = Val::ONE;
        }
        if is_mem && pr.rs1 == 2 {
            row[l.spchk] = Val::ONE;
            let st_ = &p.statement;
            let em1 = st_.image_end.wrapping_sub(1);
            let below = d <= em1;
            let (x, y) = if below {
                (em1, d)
            } else {
                (d, st_.stack_bottom)
            };
            let br = u32::from((x & 0xffff) < (y & 0xffff));
            let lo = (x & 0xffff) + (br << 16) - (y & 0xffff);
            let hi = f(x >> 16) - f(y >> 16) - f(br);
            if checked && (x < y) {
                return Err(WitnessError::Internal {
                    cycle: i,
                    what: format!("an sp-based access to {d:#x} below the stack bottom"),
                });
            }
            row[l.below] = f(below as u32);
            row[l.sbr] = f(br);
            row[l.slo] = f(lo);
            row[l.shi] = hi;
            mults.u16(lo);
            use p3_field::PrimeField32;
            mults.u16(hi.as_canonical_u32());
        }
        if checked && pr.wr && !self.mis && c != tr.rd_val {
            return Err(WitnessError::Internal {
                cycle: i,
                what: format!("result {c:#x}, the VM wrote {:#x}", tr.rd_val),
            });
        }
        // Adder carries.
        let cy = match s {
            sel::ADD => carries(a, op2, 0),
            sel::SUB => carries(c, op2, 0),
            _ if is_cmp => carries(op2, d, 0),
            _ if is_mem || s == sel::JALR => carries(a, op2, 0),
            _ => [0; 4],
        };
        for k in 0..4 {
            row[l.cy[k]] = f(cy[k]);
        }
        // Byte triples.
        let (cb, db, ab, ob) = (bytes(c), bytes(d), bytes(a), bytes(op2));
        let pairs = [
            (cb[0], cb[1]),
            (cb[2], cb[3]),
            (db[0], db[1]),
            (db[2], db[3]),
        ];
        for k in 0..4 {
            let (x, y) = if bw { (ab[k], ob[k]) } else { pairs[k] };
            row[l.z[k]] = f(x & y);
            mults.and8(x, y);
        }
        // Signs, comparison, branch.
        let s1 = if signed_cmp {
            a >> 31
        } else if s == sel::LB {
            lb0 >> 7
        } else if s == sel::LH {
            lb1 >> 7
        } else {
            0
        };
        let s2 = if signed_cmp { op2 >> 31 } else { 0 };
        if signed_cmp || s == sel::LB || s == sel::LH {
            let x1 = if signed_cmp {
                ab[3]
            } else if s == sel::LB {
                lb0
            } else {
                lb1
            };
            mults.and8(2 * (x1 & 127), 0);
        }
        if signed_cmp {
            mults.and8(2 * (ob[3] & 127), 0);
        }
        row[l.s1] = f(s1);
        row[l.s2] = f(s2);
        let sx = s1 ^ s2;
        let lt = cy[3] ^ sx;
        row[l.sx] = f(sx);
        row[l.lt] = f(lt);
        let dsum: u32 = db.iter().sum();
        let eq = u32::from(dsum == 0);
        row[l.eq] = f(eq);
        row[l.dinv] = inv_or_zero(dsum);
        let taken = match s {
            sel::BEQ => eq,
            sel::BNE => 1 - eq,
            sel::BLT => lt,
            sel::BGE => 1 - lt,
            sel::BLTU => cy[3],
            sel::BGEU => 1 - cy[3],
            sel::JAL => 1,
            _ => 0,
        };
        row[l.taken] = f(taken);
        let k = if is_mem || s == sel::JALR {
            db[0] >> 2
        } else {
            0
        };
        row[l.k] = f(k);
        if is_mem || s == sel::JALR {
            mults.and8(k, 0);
        }
        if s == sel::JALR {
            row[l.jb] = f(db[0] & 1);
        }
        let ev_next = if s == sel::EV || self.mis {
            run.events
                .get(ev_next_event)
                .and_then(|e| e.next_pc)
                .map_or(tr.pc / 4 + 1, |x| x / 4)
        } else {
            0
        };
        row[l.evn] = f(ev_next);
        let npc = if s == sel::JALR {
            k + 64 * db[1] + (1 << 14) * db[2] + (1 << 22) * db[3]
        } else if s == sel::EV {
            ev_next
        } else if taken == 1 {
            pr.tgt
        } else {
            tr.pc / 4 + 1
        };
        row[l.npc] = f(npc);
        if checked && i + 1 < n && (npc != tr.next_pc / 4 || tr.next_pc % 4 != 0) {
            return Err(WitnessError::Internal {
                cycle: i,
                what: format!("next pc {:#x}, the VM went to {:#x}", npc * 4, tr.next_pc),
            });
        }
        // Register write.
        if pr.wr {
            let (old, pd) = st.regs[pr.rd as usize];
            st.regs[pr.rd as usize] = (c, ts + 3);
            set4(row, l.ro, old);
            row[l.pt[3]] = f(pd);
            slot_diff[3] = ts + 3 - pd - 1;
        }
        for j in 0..4 {
            row[l.tlo[j]] = f(slot_diff[j] & 0xffff);
            row[l.thi[j]] = f(slot_diff[j] >> 16);
            mults.diff(slot_diff[j]);
        }
        Ok(pr)
    }

    /// The trace. Padding rows: the clock runs on, eq = 1, npc = 1, rs1 = 0 is not sp.
    pub(crate) fn finish(mut self, n: usize) -> RowMajorMatrix<Val> {
        let l = &self.cols;
        let w = l.width;
        let f = |v: u32| Val::from_u32(v);
        let inv_m2 = (-f(2)).inverse();
        for i in n..self.height {
            let row = &mut self.main[i * w..(i + 1) * w];
            row[l.clk] = f(i as u32);
            row[l.eq] = Val::ONE;
            row[l.npc] = Val::ONE;
            row[l.spinv] = inv_m2;
        }
        RowMajorMatrix::new(self.main, w)
    }
}
