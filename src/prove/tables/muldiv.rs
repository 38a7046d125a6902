//! **MULDIV**: the shifts and the M extension. The CPU sends `(op, a, b, c)` on the MULDIV bus
//! for every such row; a row here receives it and proves `c = op(a, b)` with RISC-V
//! semantics: a 64-bit byte convolution of the (sign-extended) operands with 16-bit carries
//! for the products; shifts as products by `2^s` (left) or `2^(32-s)` (right, the high word)
//! looked up in SHIFT; division as `q * b + r = a` with `|r| < |b|`, `sign(r) = sign(a)`,
//! division by zero (`q` all ones, `r = a`) and the overflow `-2^31 / -1` by name. Bytes are
//! range-checked as AND8 byte pairs.
//!
//! Columns: [`MdCols`]. Rules of `docs/RULES.md` it carries: none of its own; it makes the
//! shifts and the M extension compute what the VM computes.
//!
//! Trace: `MdTrace`, one row per MULDIV instruction the CPU executes, in execution order.

// Column arithmetic reads best as index loops over parallel arrays of column numbers.
#![allow(clippy::needless_range_loop)]

use super::common::*;

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
    pub(super) fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
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

/// The result of a MULDIV operation (RISC-V semantics).
pub fn md_result(op: usize, a: u32, b: u32) -> u32 {
    let (sa, sb) = (a as i32, b as i32);
    match op {
        md::SLL => a << (b & 31),
        md::SRL => a >> (b & 31),
        md::SRA => (sa >> (b & 31)) as u32,
        md::MUL => a.wrapping_mul(b),
        md::MULH => ((i64::from(sa) * i64::from(sb)) >> 32) as u32,
        md::MULHSU => ((i64::from(sa) * i64::from(b)) >> 32) as u32,
        md::MULHU => ((u64::from(a) * u64::from(b)) >> 32) as u32,
        md::DIV => {
            if b == 0 {
                u32::MAX
            } else {
                sa.wrapping_div(sb) as u32
            }
        }
        md::DIVU => a.checked_div(b).unwrap_or(u32::MAX),
        md::REM => {
            if b == 0 {
                a
            } else {
                sa.wrapping_rem(sb) as u32
            }
        }
        _ => a.checked_rem(b).unwrap_or(a),
    }
}

fn md_row(row: &mut [Val], l: &MdCols, op: usize, a: u32, b: u32, m: &mut Mults) -> u32 {
    let c = md_result(op, a, b);
    let f = |v: u32| Val::from_u32(v);
    row[l.real] = Val::ONE;
    row[l.sel[op]] = Val::ONE;
    set4(row, l.a, a);
    set4(row, l.b, b);
    set4(row, l.c, c);
    let shift = matches!(op, md::SLL | md::SRL | md::SRA);
    let div4 = matches!(op, md::DIV | md::DIVU | md::REM | md::REMU);
    let sdiv = matches!(op, md::DIV | md::REM);
    let signed_x = matches!(op, md::MULH | md::MULHSU | md::SRA | md::DIV | md::REM);
    let signed_y = matches!(op, md::MULH | md::DIV | md::REM);
    let (x, y, zf) = if shift {
        let dir = u32::from(op != md::SLL);
        let s = b & 31;
        m.shift[(dir * 256 + (b & 255)) as usize] += 1;
        if dir == 0 {
            (a, 1u32 << s, 0)
        } else if s == 0 {
            (a, 0, 1)
        } else {
            (a, 1u32 << (32 - s), 0)
        }
    } else if div4 {
        let q = if sdiv {
            md_result(md::DIV, a, b)
        } else {
            md_result(md::DIVU, a, b)
        };
        (q, b, 0)
    } else {
        (a, b, 0)
    };
    set4(row, l.x, x);
    set4(row, l.y, y);
    row[l.zf] = f(zf);
    let sx = if signed_x { x >> 31 } else { 0 };
    let sy = if signed_y { y >> 31 } else { 0 };
    row[l.sx] = f(sx);
    row[l.sy] = f(sy);
    if signed_x {
        m.and8(2 * ((x >> 24) & 127), 0);
    }
    if signed_y {
        m.and8(2 * ((y >> 24) & 127), 0);
    }
    // Product.
    let xe: [u32; 8] = std::array::from_fn(|i| if i < 4 { bytes(x)[i] } else { 255 * sx });
    let ye: [u32; 8] = std::array::from_fn(|i| if i < 4 { bytes(y)[i] } else { 255 * sy });
    let mut p = [0u32; 8];
    let mut carry = 0u64;
    for k in 0..8 {
        let mut acc = carry;
        for i in 0..=k {
            acc += u64::from(xe[i]) * u64::from(ye[k - i]);
        }
        p[k] = (acc & 255) as u32;
        carry = acc >> 8;
        row[l.p[k]] = f(p[k]);
        row[l.kc[k]] = f(carry as u32);
        m.u16(carry as u32);
    }
    for j in 0..4 {
        row[l.zp[j]] = f(p[2 * j] & p[2 * j + 1]);
        m.and8(p[2 * j], p[2 * j + 1]);
    }
    // Division.
    let r = if div4 {
        if sdiv {
            md_result(md::REM, a, b)
        } else {
            md_result(md::REMU, a, b)
        }
    } else {
        0
    };
    set4(row, l.r, r);
    let (sa, sr) = if sdiv { (a >> 31, r >> 31) } else { (0, 0) };
    row[l.sa] = f(sa);
    row[l.sr] = f(sr);
    if sdiv {
        m.and8(2 * ((a >> 24) & 127), 0);
        m.and8(2 * ((r >> 24) & 127), 0);
    }
    let ov = sdiv && a == 0x8000_0000 && b == u32::MAX;
    row[l.ov] = f(ov as u32);
    if div4 && !ov {
        let re: [u32; 8] = std::array::from_fn(|i| if i < 4 { bytes(r)[i] } else { 255 * sr });
        let mut cz = 0;
        for k in 0..8 {
            cz = (p[k] + re[k] + cz) >> 8;
            row[l.cz[k]] = f(cz);
        }
    }
    let bsum: u32 = bytes(b).iter().sum();
    row[l.bz] = f((bsum == 0) as u32);
    row[l.binv] = inv_or_zero(bsum);
    let neg = |row: &mut [Val], out: [usize; 4], cs: [usize; 4], v: u32, s: u32| -> u32 {
        if s == 1 {
            let o = v.wrapping_neg();
            set4(row, out, o);
            for (k, cy) in carries(o, v, 0).into_iter().enumerate() {
                row[cs[k]] = Val::from_u32(cy);
            }
            o
        } else {
            set4(row, out, v);
            v
        }
    };
    let u = neg(row, l.u, l.cu, r, sr);
    let v = neg(row, l.v, l.cv, b, sy);
    let w = if div4 && bsum != 0 {
        let w = v.wrapping_sub(u).wrapping_sub(1);
        for (k, cy) in carries(u, w, 1).into_iter().enumerate() {
            row[l.cw[k]] = f(cy);
        }
        w
    } else {
        0
    };
    set4(row, l.w, w);
    for (vals, zs) in [(r, l.zr), (x, l.zx), (u, l.zu), (v, l.zv), (w, l.zw)] {
        let bb = bytes(vals);
        for j in 0..2 {
            row[zs[j]] = f(bb[2 * j] & bb[2 * j + 1]);
            m.and8(bb[2 * j], bb[2 * j + 1]);
        }
    }
    c
}

/// The MULDIV main trace as the CPU fills it.
pub(crate) struct MdTrace {
    pub(crate) cols: MdCols,
    main: Vec<Val>,
    next: usize,
    height: usize,
}

impl MdTrace {
    pub(crate) fn new(height: usize) -> Self {
        let cols = MdCols::new();
        MdTrace {
            main: Val::zero_vec(height * cols.width),
            cols,
            next: 0,
            height,
        }
    }

    /// Fill the next row with `op(a, b)`; the result.
    pub(crate) fn push(&mut self, op: usize, a: u32, b: u32, mults: &mut Mults) -> u32 {
        let w = self.cols.width;
        if (self.next + 1) * w > self.main.len() {
            // More than counted (only a forger's fetched instruction can differ from what the
            // VM executed): a power of two more rows.
            self.height = (self.next + 1).next_power_of_two().max(2 * self.height);
            self.main.resize(self.height * w, Val::ZERO);
        }
        let r = &mut self.main[self.next * w..(self.next + 1) * w];
        self.next += 1;
        md_row(r, &self.cols, op, a, b, mults)
    }

    /// The trace: padding rows have `b = 0` (`bz = 1`).
    pub(crate) fn finish(mut self) -> RowMajorMatrix<Val> {
        for i in self.next..self.height {
            self.main[i * self.cols.width + self.cols.bz] = Val::ONE;
        }
        RowMajorMatrix::new(self.main, self.cols.width)
    }
}
