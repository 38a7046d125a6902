//! Traces for every table: from the public data (the tables the verifier rebuilds) and from
//! a traced VM run (the prover's private columns).

#![allow(clippy::needless_range_loop)]

use super::air::{self, ev, md, sel, CpuCols, MdCols, MemCols, Table, PROG_TUPLE};
use super::statement::{Event, Public};
use super::Val;
use crate::isa::{Inst, Op};
use crate::vm::trace::Trace;
use p3_field::{Field, PrimeCharacteristicRing};
use p3_matrix::dense::RowMajorMatrix;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How an instruction is executed by the CPU table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgRow {
    pub sel: usize,
    pub use_imm: bool,
    pub mdop: usize,
    pub rd: u8,
    pub rs1: u8,
    pub rs2: u8,
    pub wr: bool,
    pub imm: u32,
    pub tgt: u32,
    pub link: u32,
}

/// The CPU's view of `inst` at `pc`, or `None` when the proof system cannot execute it.
pub fn prog_row(pc: u32, i: &Inst) -> Option<ProgRow> {
    use Op::*;
    let (s, use_imm, mdop) = match i.op {
        Add => (sel::ADD, false, 0),
        Addi => (sel::ADD, true, 0),
        Sub => (sel::SUB, false, 0),
        Slt => (sel::SLT, false, 0),
        Slti => (sel::SLT, true, 0),
        Sltu => (sel::SLTU, false, 0),
        Sltiu => (sel::SLTU, true, 0),
        Xor => (sel::XOR, false, 0),
        Xori => (sel::XOR, true, 0),
        Or => (sel::OR, false, 0),
        Ori => (sel::OR, true, 0),
        And => (sel::AND, false, 0),
        Andi => (sel::AND, true, 0),
        Lui | Auipc => (sel::LUI, false, 0),
        Jal => (sel::JAL, false, 0),
        Jalr => (sel::JALR, true, 0),
        Beq => (sel::BEQ, false, 0),
        Bne => (sel::BNE, false, 0),
        Blt => (sel::BLT, false, 0),
        Bge => (sel::BGE, false, 0),
        Bltu => (sel::BLTU, false, 0),
        Bgeu => (sel::BGEU, false, 0),
        Lb => (sel::LB, true, 0),
        Lh => (sel::LH, true, 0),
        Lw => (sel::LW, true, 0),
        Lbu => (sel::LBU, true, 0),
        Lhu => (sel::LHU, true, 0),
        Sb => (sel::SB, true, 0),
        Sh => (sel::SH, true, 0),
        Sw => (sel::SW, true, 0),
        Sll => (sel::MD, false, md::SLL),
        Slli => (sel::MD, true, md::SLL),
        Srl => (sel::MD, false, md::SRL),
        Srli => (sel::MD, true, md::SRL),
        Sra => (sel::MD, false, md::SRA),
        Srai => (sel::MD, true, md::SRA),
        Mul => (sel::MD, false, md::MUL),
        Mulh => (sel::MD, false, md::MULH),
        Mulhsu => (sel::MD, false, md::MULHSU),
        Mulhu => (sel::MD, false, md::MULHU),
        Div => (sel::MD, false, md::DIV),
        Divu => (sel::MD, false, md::DIVU),
        Rem => (sel::MD, false, md::REM),
        Remu => (sel::MD, false, md::REMU),
        Ecall | NexusRead | NexusWrite | Mret => (sel::EV, false, 0),
        Csrrw | Csrrs | Csrrc | Csrrwi | Csrrsi | Csrrci => (sel::EV, false, 0),
        Fence | FenceI | Wfi => (sel::NOP, false, 0),
        _ => return None,
    };
    let branch = matches!(s, sel::BEQ..=sel::BGEU);
    let store = matches!(s, sel::SB..=sel::SW);
    let no_rs1 = matches!(s, sel::LUI | sel::JAL | sel::EV | sel::NOP);
    let uses_rs2 = branch || store || (!use_imm && !no_rs1);
    let wr = i.op.writes_rd() && i.rd != 0 && !matches!(s, sel::EV | sel::NOP);
    let imm = match i.op {
        Auipc => pc.wrapping_add(i.imm as u32),
        _ if use_imm || s == sel::LUI => i.imm as u32,
        _ => 0,
    };
    let tgt = if branch || s == sel::JAL {
        let t = pc.wrapping_add(i.imm as u32);
        if t % 4 == 0 {
            t / 4
        } else {
            air::BAD_TARGET
        }
    } else {
        0
    };
    let link = if matches!(s, sel::JAL | sel::JALR) {
        pc.wrapping_add(4)
    } else {
        0
    };
    Some(ProgRow {
        sel: s,
        use_imm,
        mdop,
        rd: if wr { i.rd } else { 0 },
        rs1: if no_rs1 { 0 } else { i.rs1 },
        rs2: if uses_rs2 { i.rs2 } else { 0 },
        wr,
        imm,
        tgt,
        link,
    })
}

fn bytes(v: u32) -> [u32; 4] {
    v.to_le_bytes().map(u32::from)
}

fn prog_tuple(pc: u32, r: &ProgRow) -> [u32; PROG_TUPLE] {
    let i = bytes(r.imm);
    let l = bytes(r.link);
    [
        pc / 4,
        r.sel as u32,
        r.use_imm as u32,
        r.mdop as u32,
        u32::from(r.rd),
        u32::from(r.rs1),
        u32::from(r.rs2),
        r.wr as u32,
        i[0],
        i[1],
        i[2],
        i[3],
        r.tgt,
        l[0],
        l[1],
        l[2],
        l[3],
        1,
    ]
}

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

/// The tables fixed by the public data, with the program row index of each instruction pc.
pub struct PublicTables {
    pub program: air::Program,
    pub image: air::ImageTable,
    pub events: air::Events,
    pub io: air::IoWords,
    pub prog_index: HashMap<u32, (usize, ProgRow)>,
    pub image_words: BTreeMap<u32, [u8; 4]>,
    /// Read-only words (word addresses): every instruction word and `tohost`.
    pub ro_words: BTreeSet<u32>,
}

pub fn public_tables(p: &Public) -> PublicTables {
    // Program.
    let mut rows = Vec::new();
    let mut prog_index = HashMap::new();
    for (pc, w) in p.code_words() {
        let Ok(inst) = crate::isa::decode(w) else {
            continue;
        };
        let Some(r) = prog_row(pc, &inst) else {
            continue;
        };
        if prog_index.contains_key(&pc) {
            continue;
        }
        prog_index.insert(pc, (rows.len() / PROG_TUPLE, r));
        rows.extend(prog_tuple(pc, &r));
    }
    let program = air::Program {
        height: rows_for(&p.statement, rows.len() / PROG_TUPLE),
        rows,
    };
    // Image words (later regions overwrite earlier ones, as the loader does).
    let mut image_words: BTreeMap<u32, [u8; 4]> = BTreeMap::new();
    for (a, data) in &p.image {
        for (k, &byte) in data.iter().enumerate() {
            let addr = a.wrapping_add(k as u32);
            image_words.entry(addr >> 2).or_insert([0; 4])[(addr & 3) as usize] = byte;
        }
    }
    // Read-only words: the instruction words and `tohost` (an image word, zero when the
    // image does not hold it), so MEM starts each of them through IMAGE.
    let mut ro_words: BTreeSet<u32> = p
        .code
        .iter()
        .flat_map(|&(a, n)| (0..n).map(move |i| (a >> 2) + i))
        .collect();
    if let Some(t) = p.statement.tohost {
        ro_words.insert(t >> 2);
        image_words.entry(t >> 2).or_insert([0; 4]);
    }
    let mut rows = Vec::with_capacity(image_words.len() * air::IMAGE_W);
    for (w, b) in &image_words {
        rows.extend([1, *w]);
        rows.extend(b.map(u32::from));
        rows.push(u32::from(ro_words.contains(w)));
    }
    let image = air::ImageTable {
        height: rows_for(&p.statement, image_words.len()),
        rows,
    };
    // Events and the memory words they touch.
    let mut rows = Vec::with_capacity(p.events.len() * ev::W);
    let mut io = Vec::new();
    for e in &p.events {
        let mut row = vec![0u32; ev::W];
        row[ev::REAL] = 1;
        row[ev::CLK] = e.clk;
        row[ev::PCW] = e.pc / 4;
        row[ev::NPC] = e.next_pc.map_or(e.pc / 4 + 1, |p| p / 4);
        for (k, &(r, v)) in e.reads.iter().take(4).enumerate() {
            let base = ev::READ + 6 * k;
            row[base] = u32::from(r);
            row[base + 1..base + 5].copy_from_slice(&bytes(v));
            row[base + 5] = 1;
        }
        if let Some((rd, v)) = e.write {
            row[ev::RD] = u32::from(rd);
            row[ev::WR] = 1;
            match v {
                Some(v) => row[ev::RET..ev::RET + 4].copy_from_slice(&bytes(v)),
                None => row[ev::PRIV] = 1,
            }
        }
        rows.extend(row);
        io.extend(io_rows(e));
    }
    let events = air::Events {
        height: rows_for(&p.statement, p.events.len()),
        rows,
    };
    let n_io = io.len() / air::IOW_PW;
    let io = air::IoWords {
        height: rows_for(&p.statement, n_io),
        rows: io,
    };
    PublicTables {
        program,
        image,
        events,
        io,
        prog_index,
        image_words,
        ro_words,
    }
}

/// IOW rows of one event: one per memory word, `[real, ts, waddr, wm[4], rm[4], v[4]]`.
fn io_rows(e: &Event) -> Vec<u32> {
    let mut words: BTreeMap<u32, [u32; 12]> = BTreeMap::new();
    for (mem, write) in [(&e.mem_read, false), (&e.mem_write, true)] {
        if let Some((addr, data)) = mem {
            for (k, &byte) in data.iter().enumerate() {
                let a = addr.wrapping_add(k as u32);
                let lane = (a & 3) as usize;
                let w = words.entry(a >> 2).or_insert([0; 12]);
                w[if write { lane } else { 4 + lane }] = 1;
                w[8 + lane] = u32::from(byte);
            }
        }
    }
    let mut out = Vec::new();
    for (waddr, w) in words {
        out.extend([1, 8 * e.clk + 7, waddr]);
        out.extend(w);
    }
    out
}

/// Lookup multiplicities gathered while filling the private tables.
struct Mults {
    u16: Vec<u32>,
    and8: Vec<u32>,
    shift: Vec<u32>,
    prog: Vec<u32>,
}

impl Mults {
    /// Count a 16-bit lookup. A value outside 16 bits (only a forged witness has one) has
    /// no table row: it is not counted, and the lookup argument fails.
    fn u16(&mut self, v: u32) {
        if let Some(m) = self.u16.get_mut(v as usize) {
            *m += 1;
        }
    }
    fn and8(&mut self, x: u32, y: u32) {
        self.and8[(x + 256 * y) as usize] += 1;
    }
    /// The two 16-bit checks of a time difference `lo + 2^16 hi`.
    fn diff(&mut self, d: u32) {
        self.u16(d & 0xffff);
        self.u16((d >> 16) * 16);
    }
}

/// Memory and register state: value and time of the last access.
struct State {
    mem: HashMap<u32, (u32, u32)>,
    regs: [(u32, u32); 32],
    touched: BTreeSet<u32>,
}

impl State {
    fn word(&mut self, image: &BTreeMap<u32, [u8; 4]>, w: u32) -> (u32, u32) {
        self.touched.insert(w);
        *self
            .mem
            .entry(w)
            .or_insert_with(|| (image.get(&w).map_or(0, |b| u32::from_le_bytes(*b)), 0))
    }
}

fn set4(row: &mut [Val], cols: [usize; 4], v: u32) {
    for (k, b) in bytes(v).into_iter().enumerate() {
        row[cols[k]] = Val::from_u32(b);
    }
}

fn carries(l: u32, r: u32, cin: u32) -> [u32; 4] {
    let (lb, rb) = (bytes(l), bytes(r));
    let mut c = cin;
    let mut out = [0; 4];
    for k in 0..4 {
        c = (lb[k] + rb[k] + c) >> 8;
        out[k] = c;
    }
    out
}

fn inv_or_zero(x: u32) -> Val {
    Val::from_u32(x).try_inverse().unwrap_or(Val::ZERO)
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

/// Why a run cannot be proven.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("cycle {cycle}, pc {pc:#x}: {what} cannot be proven")]
    Unsupported { cycle: usize, pc: u32, what: String },
    #[error("the run has {0} cycles; the prover handles at most 2^25")]
    TooLong(usize),
    #[error("internal error: the trace and the proof tables disagree at cycle {cycle} ({what})")]
    Internal { cycle: usize, what: String },
}

/// All tables and their traces (main columns), in [`air::TABLE_NAMES`] order. Refuses, by
/// name, what the constraints cannot prove (code modified or `tohost` written at run time,
/// misaligned accesses, instructions outside RV32IM) and checks every value against the VM's.
pub fn build(
    p: &Public,
    t: &Trace,
) -> Result<(Vec<Table>, Vec<RowMajorMatrix<Val>>), WitnessError> {
    build_with(p, t, true)
}

/// [`build`] without its refusals and consistency checks: what a *modified* prover would do
/// with a run the VM does not allow. Every value is computed from the public data and the
/// trace's control flow as the honest builder computes it; where a rule is broken, the
/// witness is whatever the arithmetic gives, and the verifier must reject the proof. For
/// soundness tests only.
#[doc(hidden)]
pub fn build_unchecked(
    p: &Public,
    t: &Trace,
) -> Result<(Vec<Table>, Vec<RowMajorMatrix<Val>>), WitnessError> {
    build_with(p, t, false)
}

fn build_with(
    p: &Public,
    t: &Trace,
    checked: bool,
) -> Result<(Vec<Table>, Vec<RowMajorMatrix<Val>>), WitnessError> {
    let n = t.rows.len();
    if n >= 1 << 25 {
        return Err(WitnessError::TooLong(n));
    }
    let pt = public_tables(p);
    let cl = CpuCols::new();
    let ml = MdCols::new();
    let mut mults = Mults {
        u16: vec![0; 1 << 16],
        and8: vec![0; 1 << 16],
        shift: vec![0; 512],
        prog: vec![0; pt.program.height],
    };
    let mut st = State {
        mem: HashMap::new(),
        regs: [(0, 0); 32],
        touched: BTreeSet::new(),
    };
    let h = rows_for(&p.statement, n + 1);
    let w = cl.width;
    let mut cpu = Val::zero_vec(h * w);
    let n_md = t
        .rows
        .iter()
        .filter(|r| {
            pt.prog_index
                .get(&r.pc)
                .is_some_and(|(_, p)| p.sel == sel::MD)
        })
        .count();
    let hmd = rows_for(&p.statement, n_md);
    let mut mdt = Val::zero_vec(hmd * ml.width);
    let mut md_i = 0;
    let mut ev_main = Val::zero_vec(pt.events.height * ev::MW);
    let mut io_main = Val::zero_vec(pt.io.height * air::IOW_MW);
    let (mut ev_i, mut io_i) = (0usize, 0usize);
    let f = |v: u32| Val::from_u32(v);
    for (i, tr) in t.rows.iter().enumerate() {
        let unsupported = |what: String| WitnessError::Unsupported {
            cycle: i,
            pc: tr.pc,
            what,
        };
        let (pidx, pr) = match pt.prog_index.get(&tr.pc) {
            Some(&(k, r)) => (Some(k), r),
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
            return Err(unsupported("code modified at run time".into()));
        }
        if let Some(k) = pidx {
            mults.prog[k] += 1;
        }
        let row = &mut cpu[i * w..(i + 1) * w];
        let ts = 8 * i as u32 + 1;
        row[cl.real] = Val::ONE;
        row[cl.clk] = f(i as u32);
        row[cl.pcw] = f(tr.pc / 4);
        row[cl.sel[pr.sel]] = Val::ONE;
        row[cl.use_imm] = f(pr.use_imm as u32);
        row[cl.mdop] = f(pr.mdop as u32);
        row[cl.rd] = f(u32::from(pr.rd));
        row[cl.rs1] = f(u32::from(pr.rs1));
        row[cl.rs2] = f(u32::from(pr.rs2));
        row[cl.wr] = f(pr.wr as u32);
        set4(row, cl.imm, pr.imm);
        row[cl.tgt] = f(pr.tgt);
        // Register reads.
        let mut slot_diff = [0u32; 4];
        let (a, pa) = st.regs[pr.rs1 as usize];
        st.regs[pr.rs1 as usize].1 = ts;
        let (b, pb) = st.regs[pr.rs2 as usize];
        st.regs[pr.rs2 as usize].1 = ts + 1;
        row[cl.pt[0]] = f(pa);
        row[cl.pt[1]] = f(pb);
        slot_diff[0] = ts - pa - 1;
        slot_diff[1] = ts + 1 - pb - 1;
        set4(row, cl.a, a);
        set4(row, cl.b, b);
        let op2 = if pr.use_imm { pr.imm } else { b };
        set4(row, cl.op2, op2);
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
        if is_mem {
            lane = (d & 3) as usize;
            let width = match s {
                sel::LB | sel::LBU | sel::SB => 1,
                sel::LH | sel::LHU | sel::SH => 2,
                _ => 4,
            };
            if lane % width != 0 {
                return Err(unsupported(format!(
                    "a misaligned {width}-byte access at {d:#x}"
                )));
            }
            let ro = pt.ro_words.contains(&(d >> 2));
            if ro && matches!(s, sel::SB | sel::SH | sel::SW) && checked {
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
            if ro && matches!(s, sel::LB..=sel::LHU) {
                row[cl.rom] = Val::ONE;
            }
            let (old, pm) = st.word(&pt.image_words, d >> 2);
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
            row[cl.pt[2]] = f(pm);
            slot_diff[2] = ts + 2 - pm - 1;
            row[cl.f[lane]] = Val::ONE;
        }
        set4(row, cl.m, mword);
        set4(row, cl.nw, nword);
        let mb = mword.to_le_bytes().map(u32::from);
        let lb0 = if is_mem { mb[lane] } else { 0 };
        let lb1 = match lane {
            0 => mb[1],
            2 => mb[3],
            _ => 0,
        } * u32::from(is_mem);
        row[cl.lb0] = f(lb0);
        row[cl.lb1] = f(lb1);
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
            sel::MD => {
                let r = &mut mdt[md_i * ml.width..(md_i + 1) * ml.width];
                md_i += 1;
                md_row(r, &ml, pr.mdop, a, op2, &mut mults)
            }
            _ => 0,
        };
        set4(row, cl.c, c);
        set4(row, cl.d, d);
        // The stack rule on sp-based loads and stores.
        row[cl.spinv] = (f(pr.rs1 as u32) - f(2)).try_inverse().unwrap_or(Val::ZERO);
        if pr.rs1 == 2 {
            row[cl.isp] = Val::ONE;
        }
        if is_mem && pr.rs1 == 2 {
            row[cl.spchk] = Val::ONE;
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
            row[cl.below] = f(below as u32);
            row[cl.sbr] = f(br);
            row[cl.slo] = f(lo);
            row[cl.shi] = hi;
            mults.u16(lo);
            use p3_field::PrimeField32;
            mults.u16(hi.as_canonical_u32());
        }
        if checked && pr.wr && c != tr.rd_val {
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
            row[cl.cy[k]] = f(cy[k]);
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
            row[cl.z[k]] = f(x & y);
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
        row[cl.s1] = f(s1);
        row[cl.s2] = f(s2);
        let sx = s1 ^ s2;
        let lt = cy[3] ^ sx;
        row[cl.sx] = f(sx);
        row[cl.lt] = f(lt);
        let dsum: u32 = db.iter().sum();
        let eq = u32::from(dsum == 0);
        row[cl.eq] = f(eq);
        row[cl.dinv] = inv_or_zero(dsum);
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
        row[cl.taken] = f(taken);
        let k = if is_mem || s == sel::JALR {
            db[0] >> 2
        } else {
            0
        };
        row[cl.k] = f(k);
        if is_mem || s == sel::JALR {
            mults.and8(k, 0);
        }
        if s == sel::JALR {
            row[cl.jb] = f(db[0] & 1);
        }
        let ev_next = if s == sel::EV {
            p.events
                .get(ev_i)
                .and_then(|e| e.next_pc)
                .map_or(tr.pc / 4 + 1, |x| x / 4)
        } else {
            0
        };
        row[cl.evn] = f(ev_next);
        let npc = if s == sel::JALR {
            k + 64 * db[1] + (1 << 14) * db[2] + (1 << 22) * db[3]
        } else if s == sel::EV {
            ev_next
        } else if taken == 1 {
            pr.tgt
        } else {
            tr.pc / 4 + 1
        };
        row[cl.npc] = f(npc);
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
            set4(row, cl.ro, old);
            row[cl.pt[3]] = f(pd);
            slot_diff[3] = ts + 3 - pd - 1;
        }
        for j in 0..4 {
            row[cl.tlo[j]] = f(slot_diff[j] & 0xffff);
            row[cl.thi[j]] = f(slot_diff[j] >> 16);
            mults.diff(slot_diff[j]);
        }
        // Events.
        if s == sel::EV {
            let e = p.events.get(ev_i).ok_or_else(|| WitnessError::Internal {
                cycle: i,
                what: "more system calls than events".into(),
            })?;
            let mrow = &mut ev_main[ev_i * ev::MW..(ev_i + 1) * ev::MW];
            ev_i += 1;
            // Unused read slots check a difference of 0.
            let mut read_diff = [0u32; 4];
            for (k, &(r, _)) in e.reads.iter().enumerate() {
                let (_, prev) = st.regs[r as usize];
                st.regs[r as usize].1 = ts + 4; // 8 clk + 5
                mrow[ev::M_RPT + k] = f(prev);
                read_diff[k] = ts + 4 - prev - 1;
            }
            for (k, dd) in read_diff.into_iter().enumerate() {
                mrow[ev::M_RLO + k] = f(dd & 0xffff);
                mrow[ev::M_RHI + k] = f(dd >> 16);
                mults.diff(dd);
            }
            let mut wdiff = 0;
            let mut cval = 0;
            if let Some((rd, v)) = e.write {
                let (old, prev) = st.regs[rd as usize];
                cval = v.unwrap_or(if tr.rd == rd { tr.rd_val } else { old });
                st.regs[rd as usize] = (cval, ts + 5); // 8 clk + 6
                set4(mrow, std::array::from_fn(|k| ev::M_RO + k), old);
                mrow[ev::M_WPT] = f(prev);
                wdiff = ts + 5 - prev - 1;
            }
            mrow[ev::M_WLO] = f(wdiff & 0xffff);
            mrow[ev::M_WHI] = f(wdiff >> 16);
            mults.diff(wdiff);
            let cb = bytes(cval);
            set4(mrow, std::array::from_fn(|k| ev::M_C + k), cval);
            for j in 0..2 {
                mrow[ev::M_Z + j] = f(cb[2 * j] & cb[2 * j + 1]);
                mults.and8(cb[2 * j], cb[2 * j + 1]);
            }
            // Memory words of this event.
            let io_rows = io_rows(e);
            for r in io_rows.chunks(air::IOW_PW) {
                let waddr = r[2];
                let ro = pt.ro_words.contains(&waddr);
                let writes = r[3..7].contains(&1);
                if checked && ro && writes {
                    return Err(unsupported(format!(
                        "a system call writing into the read-only word {:#x} (code or `tohost`)",
                        waddr * 4
                    )));
                }
                let (old, prev) = st.word(&pt.image_words, waddr);
                let ob = old.to_le_bytes();
                let mut nb = ob;
                for lane in 0..4 {
                    if r[3 + lane] == 1 {
                        nb[lane] = r[11 + lane] as u8;
                    }
                }
                st.mem.insert(waddr, (u32::from_le_bytes(nb), r[1]));
                let m = &mut io_main[io_i * air::IOW_MW..(io_i + 1) * air::IOW_MW];
                io_i += 1;
                set4(m, [0, 1, 2, 3], old);
                m[4] = f(prev);
                let dd = r[1] - prev - 1;
                m[5] = f(dd & 0xffff);
                m[6] = f(dd >> 16);
                m[7] = f((ro && !writes) as u32);
                mults.diff(dd);
            }
        }
    }
    if ev_i != p.events.len() {
        return Err(WitnessError::Internal {
            cycle: n,
            what: "fewer system calls than events".into(),
        });
    }
    // Padding rows of the CPU: the clock runs on, eq = 1, npc = 1, rs1 = 0 is not sp.
    let inv_m2 = (-f(2)).inverse();
    for i in n..h {
        let row = &mut cpu[i * w..(i + 1) * w];
        row[cl.clk] = f(i as u32);
        row[cl.eq] = Val::ONE;
        row[cl.npc] = Val::ONE;
        row[cl.spinv] = inv_m2;
    }
    // Private input exhaustion: monotone, carried over the rows between private reads and
    // over the padding.
    let mut eof = false;
    for (k, e) in p.events.iter().enumerate() {
        if let Some((_, None)) = e.write {
            let c = (0..4).fold(0u32, |acc, j| {
                use p3_field::PrimeField32;
                acc | (ev_main[k * ev::MW + ev::M_C + j].as_canonical_u32() << (8 * j))
            });
            if checked && c != u32::MAX && (c > 0xff || eof) {
                return Err(WitnessError::Internal {
                    cycle: e.clk as usize,
                    what: format!("private input read {c:#x} is not a byte or the end"),
                });
            }
            eof = c == u32::MAX;
        }
        ev_main[k * ev::MW + ev::M_EOF] = f(eof as u32);
    }
    for k in p.events.len()..pt.events.height {
        ev_main[k * ev::MW + ev::M_EOF] = f(eof as u32);
    }
    for i in md_i..hmd {
        mdt[i * ml.width + ml.bz] = Val::ONE;
    }
    // MEM: image words and touched words, sorted, with final values.
    let mm = MemCols::new();
    let mut words = std::mem::take(&mut st.touched);
    words.extend(pt.image_words.keys().copied());
    let bounds = super::mem_bounds(&p.statement);
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
        let init = pt.image_words.get(&wa);
        row[mm.img] = f(init.is_some() as u32);
        row[mm.ro] = f(pt.ro_words.contains(&wa) as u32);
        let iv = init.map_or(0, |b| u32::from_le_bytes(*b));
        set4(row, mm.iv, iv);
        let (fv, fts) = st.mem.get(&wa).copied().unwrap_or((iv, 0));
        set4(row, mm.fv, fv);
        row[mm.fts] = f(fts);
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
    if let Some(pw) = prev_w {
        let ph = pw >> 16;
        for i in words.len()..hm {
            let row = &mut mem[i * mm.width..(i + 1) * mm.width];
            let prev_hi = if i == words.len() { ph } else { 0 };
            let prev_lo = if i == words.len() { pw & 0xffff } else { 0 };
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
    // Registers.
    let hr = reg_rows(&p.statement);
    let mut regs = Val::zero_vec(hr * air::REG_W);
    for r in 0..hr {
        let row = &mut regs[r * air::REG_W..(r + 1) * air::REG_W];
        row[0] = f(r as u32);
        let (v, t) = st.regs.get(r).copied().unwrap_or((0, 0));
        set4(row, [1, 2, 3, 4], v);
        row[5] = f(t);
    }
    // Range table.
    let mut range = Val::zero_vec((1 << 16) * air::RANGE_W);
    for v in 0..1usize << 16 {
        let row = &mut range[v * air::RANGE_W..(v + 1) * air::RANGE_W];
        row[0] = f(v as u32);
        for bit in 0..16 {
            row[1 + bit] = f(((v >> bit) & 1) as u32);
        }
        row[17] = f(mults.u16[v]);
        row[18] = f(mults.and8[v]);
    }
    let prog_main = RowMajorMatrix::new(mults.prog.iter().map(|&m| f(m)).collect(), 1);
    let shift_main = RowMajorMatrix::new(mults.shift.iter().map(|&m| f(m)).collect(), 1);
    let tables = vec![
        Table::Cpu(air::Cpu { cols: cl.clone() }),
        Table::Program(pt.program.clone()),
        Table::Mem(air::Mem { cols: mm.clone() }),
        Table::Image(pt.image.clone()),
        Table::Regs(air::Regs),
        Table::Range(air::Range),
        Table::Shift(air::ShiftTable),
        Table::Events(pt.events.clone()),
        Table::IoWords(pt.io.clone()),
        Table::MulDiv(air::MulDiv { cols: ml.clone() }),
    ];
    let traces = vec![
        RowMajorMatrix::new(cpu, w),
        prog_main,
        RowMajorMatrix::new(mem, mm.width),
        RowMajorMatrix::new(Val::zero_vec(pt.image.height), 1),
        RowMajorMatrix::new(regs, air::REG_W),
        RowMajorMatrix::new(range, air::RANGE_W),
        shift_main,
        RowMajorMatrix::new(ev_main, ev::MW),
        RowMajorMatrix::new(io_main, air::IOW_MW),
        RowMajorMatrix::new(mdt, ml.width),
    ];
    Ok((tables, traces))
}

/// The tables as the verifier builds them (no traces).
pub fn verifier_tables(p: &Public) -> Vec<Table> {
    let pt = public_tables(p);
    vec![
        Table::Cpu(air::Cpu {
            cols: CpuCols::new(),
        }),
        Table::Program(pt.program),
        Table::Mem(air::Mem {
            cols: MemCols::new(),
        }),
        Table::Image(pt.image),
        Table::Regs(air::Regs),
        Table::Range(air::Range),
        Table::Shift(air::ShiftTable),
        Table::Events(pt.events),
        Table::IoWords(pt.io),
        Table::MulDiv(air::MulDiv {
            cols: MdCols::new(),
        }),
    ]
}
