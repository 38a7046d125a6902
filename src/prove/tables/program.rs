//! **PROGRAM** (preprocessed, from the ELF): the decoded instructions, one row per executable
//! word the proof's machine can execute, as the CPU's lookup tuple `(pc/4, sel, use_imm, mdop,
//! rd, rs1, rs2, wr, imm[4], tgt, link[4], 1)`; the main column is the multiplicity, how often
//! the run executed the row. The CPU looks every row's (pc, instruction) up here, so it can
//! only execute what the ELF holds; a word the run wrote, or one of an executable segment
//! outside the instruction ranges, has no row here and is fetched from memory instead
//! (`super::fetch`).
//!
//! Rules of `docs/RULES.md` it carries: instructions only from the executable words; no
//! `ebreak`, Nexus keccak or custom words (not in the table, cannot be executed); misaligned
//! jump and branch targets (a branch or `jal` target is a field, [`BAD_TARGET`] for an
//! unaligned one, which no row has).
//!
//! Trace: [`Program::from_public`] (the verifier's too) and `Program::main` (the
//! multiplicities the CPU rows counted).

use super::common::*;
use super::cpu::sel;
use super::muldiv::md;
use crate::isa::{Inst, Op};

/// A jump or branch target that is no instruction (misaligned): no program row has it.
pub const BAD_TARGET: u32 = 1 << 30;

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
    pub(super) fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let p = preprocessed_row(b);
        let mult: AB::Expr = b.main().current_slice()[0].into();
        // The last key element tells a read-only word's row (0) from a fetched one's (its
        // clock + 1, `super::fetch`).
        let mut key = p;
        key.push(AB::Expr::ZERO);
        PROG.table_entry(b, key, mult);
    }
}

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
        Ecall | NexusRead | NexusWrite | Mret | Terminate => (sel::EV, false, 0),
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
            BAD_TARGET
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

pub(super) fn prog_tuple(pc: u32, r: &ProgRow) -> [u32; PROG_TUPLE] {
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

impl Program {
    /// The program rows of the public data's code (first occurrence of each pc; words that do
    /// not decode, or decode to what the machine cannot execute, have none), with the row
    /// index and decoding of each pc.
    pub fn from_public(p: &Public) -> (Program, HashMap<u32, (usize, ProgRow)>) {
        let mut rows = Vec::new();
        let mut prog_index = HashMap::new();
        for (pc, w) in p.static_code_words() {
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
        let program = Program {
            height: rows_for(&p.statement, rows.len() / PROG_TUPLE),
            rows,
        };
        (program, prog_index)
    }

    /// The main trace: the multiplicity of each row.
    pub(crate) fn main(mults: &Mults) -> RowMajorMatrix<Val> {
        RowMajorMatrix::new(mults.prog.iter().map(|&m| Val::from_u32(m)).collect(), 1)
    }
}
