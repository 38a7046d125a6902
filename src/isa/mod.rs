//! RV32IM instruction set: decoding (through `riscv-decode`), encoding, and the shared
//! `hi20/lo12` immediate split.
//!
//! Every module that looks at or writes instructions goes through [`Inst`]: the VM predecodes
//! into it, the rewriter re-encodes patched immediates with [`encode`], the disassembler prints
//! it. One flat struct (op + three register numbers + a sign-extended immediate) keeps the VM's
//! dispatch table small and makes "same instruction, new immediate" a field update.

pub mod disasm;

use std::fmt;

/// Register numbers used by name in the code that inspects prologues.
pub mod reg {
    pub const ZERO: u8 = 0;
    pub const RA: u8 = 1;
    pub const SP: u8 = 2;
    pub const GP: u8 = 3;
    pub const TP: u8 = 4;
    pub const FP: u8 = 8;
    pub const A0: u8 = 10;
    pub const A1: u8 = 11;
    pub const A2: u8 = 12;
    pub const A7: u8 = 17;
}

/// Operation of a decoded instruction. RV32I + M, `fence`, `ecall`/`ebreak`, and the Nexus
/// custom I/O instructions (GUESTS.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    Lui,
    Auipc,
    Jal,
    Jalr,
    Beq,
    Bne,
    Blt,
    Bge,
    Bltu,
    Bgeu,
    Lb,
    Lh,
    Lw,
    Lbu,
    Lhu,
    Sb,
    Sh,
    Sw,
    Addi,
    Slti,
    Sltiu,
    Xori,
    Ori,
    Andi,
    Slli,
    Srli,
    Srai,
    Add,
    Sub,
    Sll,
    Slt,
    Sltu,
    Xor,
    Srl,
    Sra,
    Or,
    And,
    Mul,
    Mulh,
    Mulhsu,
    Mulhu,
    Div,
    Divu,
    Rem,
    Remu,
    /// `fence` / `fence.tso` / `pause`: `imm` keeps the raw 12-bit field (fm, pred, succ).
    Fence,
    /// `fence.i` (Zifencei): a no-op for a VM without self-modifying code caches.
    FenceI,
    Ecall,
    Ebreak,
    /// Nexus custom-1 (opcode 0b0101011, I-type, funct3 0): `rd = input_word[rs1 + imm]`.
    NexusRead,
    /// Nexus custom-2 (opcode 0b1011011, S-type, funct3 0): `output_word[rs1 + imm] = rs2`.
    NexusWrite,
    /// Nexus keccak-f precompile (opcode 0b1011010): decoded so it can be named, not executed.
    NexusKeccak,
    /// Zicsr: `imm` holds the CSR number (0..4096, unsigned); for the `*i` forms `rs1` holds
    /// the 5-bit immediate. Not RV32IM: decoded so bare-metal start-up code (the RISC-V ISA
    /// tests' environment) can run; the VM keeps a plain CSR file.
    Csrrw,
    Csrrs,
    Csrrc,
    Csrrwi,
    Csrrsi,
    Csrrci,
    /// Return from a machine-mode trap: `pc = mepc`.
    Mret,
    /// OpenVM's `terminate` (custom-0, opcode 0b0001011, I-type with funct3 0 and
    /// rd = rs1 = x0): ends the run with the exit code in the low byte of the 12-bit
    /// immediate (`imm`, unsigned). Other custom-0 words (Nexus precompiles, OpenVM's other
    /// system instructions) are not decoded.
    Terminate,
    /// Wait for interrupt: a no-op in a VM without interrupts.
    Wfi,
}

/// Instruction format, as the encoder needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    R,
    I,
    S,
    B,
    U,
    J,
    /// Fixed encodings and fence: no register/immediate layout beyond I.
    Sys,
}

impl Op {
    /// The instruction's encoding format.
    pub fn format(self) -> Format {
        use Op::*;
        match self {
            Lui | Auipc => Format::U,
            Jal => Format::J,
            Beq | Bne | Blt | Bge | Bltu | Bgeu => Format::B,
            Sb | Sh | Sw | NexusWrite => Format::S,
            Jalr | Lb | Lh | Lw | Lbu | Lhu | Addi | Slti | Sltiu | Xori | Ori | Andi | Slli
            | Srli | Srai | NexusRead | Fence | FenceI => Format::I,
            Add | Sub | Sll | Slt | Sltu | Xor | Srl | Sra | Or | And | Mul | Mulh | Mulhsu
            | Mulhu | Div | Divu | Rem | Remu | NexusKeccak => Format::R,
            Ecall | Ebreak | Mret | Wfi | Terminate => Format::Sys,
            Csrrw | Csrrs | Csrrc | Csrrwi | Csrrsi | Csrrci => Format::I,
        }
    }

    /// Loads from memory (including the Nexus input read, which reads a tape, not memory).
    pub fn is_load(self) -> bool {
        matches!(self, Op::Lb | Op::Lh | Op::Lw | Op::Lbu | Op::Lhu)
    }

    pub fn is_store(self) -> bool {
        matches!(self, Op::Sb | Op::Sh | Op::Sw)
    }

    pub fn is_branch(self) -> bool {
        matches!(
            self,
            Op::Beq | Op::Bne | Op::Blt | Op::Bge | Op::Bltu | Op::Bgeu
        )
    }

    /// Ends a basic block: control may not fall through to the next instruction only.
    pub fn ends_block(self) -> bool {
        self.is_branch()
            || matches!(
                self,
                Op::Jal | Op::Jalr | Op::Ebreak | Op::Mret | Op::Terminate
            )
    }

    /// The base mnemonic, without objdump's aliases (`addi`, not `mv`).
    pub fn mnemonic(self) -> String {
        format!("{self:?}").to_lowercase()
    }

    pub fn is_csr(self) -> bool {
        matches!(
            self,
            Op::Csrrw | Op::Csrrs | Op::Csrrc | Op::Csrrwi | Op::Csrrsi | Op::Csrrci
        )
    }

    /// Writes `rd`.
    pub fn writes_rd(self) -> bool {
        !matches!(self.format(), Format::S | Format::B | Format::Sys)
            && !matches!(self, Op::Fence | Op::FenceI | Op::NexusKeccak)
    }
}

/// A decoded RV32 instruction. `imm` is sign-extended; for `lui`/`auipc` it is the value added
/// (`hi20 << 12`), for branches and `jal` the byte offset, for shifts the shift amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Inst {
    pub op: Op,
    pub rd: u8,
    pub rs1: u8,
    pub rs2: u8,
    pub imm: i32,
}

impl Inst {
    pub const fn new(op: Op, rd: u8, rs1: u8, rs2: u8, imm: i32) -> Self {
        Inst {
            op,
            rd,
            rs1,
            rs2,
            imm,
        }
    }

    /// `addi x0, x0, 0`.
    pub const NOP: Inst = Inst::new(Op::Addi, 0, 0, 0, 0);

    pub const fn lui(rd: u8, value: u32) -> Self {
        Inst::new(Op::Lui, rd, 0, 0, (value & 0xffff_f000) as i32)
    }
    pub const fn auipc(rd: u8, value: u32) -> Self {
        Inst::new(Op::Auipc, rd, 0, 0, (value & 0xffff_f000) as i32)
    }
    pub const fn addi(rd: u8, rs1: u8, imm: i32) -> Self {
        Inst::new(Op::Addi, rd, rs1, 0, imm)
    }
    pub const fn jal(rd: u8, offset: i32) -> Self {
        Inst::new(Op::Jal, rd, 0, 0, offset)
    }
    pub const fn load(op: Op, rd: u8, rs1: u8, imm: i32) -> Self {
        Inst::new(op, rd, rs1, 0, imm)
    }
    pub const fn store(op: Op, rs2: u8, rs1: u8, imm: i32) -> Self {
        Inst::new(op, 0, rs1, rs2, imm)
    }

    /// The same instruction with another immediate (what a patch does).
    pub fn with_imm(self, imm: i32) -> Self {
        Inst { imm, ..self }
    }

    /// Does `imm` fit this instruction's immediate field?
    pub fn imm_fits(op: Op, imm: i32) -> bool {
        if op.is_csr() {
            return (0..4096).contains(&imm);
        }
        match op.format() {
            Format::I | Format::S => (-2048..=2047).contains(&imm),
            Format::U => imm & 0xfff == 0,
            Format::B => (-4096..=4094).contains(&imm) && imm & 1 == 0,
            Format::J => (-(1 << 20)..(1 << 20)).contains(&imm) && imm & 1 == 0,
            Format::R | Format::Sys => imm == 0,
        }
    }
}

/// Why a word is not an instruction this project executes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("compressed (16-bit) instruction: the C extension is not supported")]
    Compressed,
    #[error("not an RV32IM instruction")]
    Illegal,
    #[error("RV64-only instruction")]
    Rv64,
    #[error("floating-point, atomic or CSR instruction: not part of RV32IM")]
    Unsupported,
}

fn sext(value: u32, bits: u32) -> i32 {
    let shift = 32 - bits;
    ((value << shift) as i32) >> shift
}

/// Decode one 32-bit word.
pub fn decode(word: u32) -> Result<Inst, DecodeError> {
    use riscv_decode::Instruction as D;
    // Nexus keccak-f (opcode 0b1011010): its low bits say "16-bit" under the standard length
    // rule, but without the C extension the Nexus VM reads it as one 32-bit word.
    if word & 0x7f == 0b1011010 {
        let (rd, rs1, rs2) = (
            ((word >> 7) & 31) as u8,
            ((word >> 15) & 31) as u8,
            ((word >> 20) & 31) as u8,
        );
        return Ok(Inst::new(Op::NexusKeccak, rd, rs1, rs2, 0));
    }
    if word & 0b11 != 0b11 {
        return Err(DecodeError::Compressed);
    }
    // fence / fence.tso / pause (riscv-decode accepts only fm = 0).
    if word & 0x707f == 0x000f {
        let fm = word >> 28;
        return if (fm == 0 || fm == 0b1000) && word & 0x000f_8f80 == 0 {
            Ok(Inst::new(Op::Fence, 0, 0, 0, (word >> 20) as i32))
        } else {
            Err(DecodeError::Illegal)
        };
    }
    let rd = ((word >> 7) & 31) as u8;
    let rs1 = ((word >> 15) & 31) as u8;
    let rs2 = ((word >> 20) & 31) as u8;
    let funct3 = (word >> 12) & 7;
    let i_imm = sext(word >> 20, 12);
    let s_imm = sext(((word >> 25) << 5) | ((word >> 7) & 31), 12);
    // Nexus custom opcodes: riscv-decode reports custom-1/2 space as `Custom`.
    match word & 0x7f {
        0b0101011 if funct3 == 0 => return Ok(Inst::new(Op::NexusRead, rd, rs1, 0, i_imm)),
        0b1011011 if funct3 == 0 => return Ok(Inst::new(Op::NexusWrite, 0, rs1, rs2, s_imm)),
        0b0001011 if funct3 == 0 && rd == 0 && rs1 == 0 => {
            return Ok(Inst::new(Op::Terminate, 0, 0, 0, (word >> 20) as i32))
        }
        _ => {}
    }
    let d = riscv_decode::decode(word).map_err(|_| DecodeError::Illegal)?;
    let i = |op| Ok(Inst::new(op, rd, rs1, 0, i_imm));
    let s = |op| Ok(Inst::new(op, 0, rs1, rs2, s_imm));
    let r = |op| Ok(Inst::new(op, rd, rs1, rs2, 0));
    let b = |op, t: riscv_decode::types::BType| Ok(Inst::new(op, 0, rs1, rs2, sext(t.imm(), 13)));
    let sh = |op| {
        // RV32: shamt[5] (bit 25) must be zero; riscv-decode accepts the RV64 6-bit form.
        if word & (1 << 25) != 0 {
            Err(DecodeError::Rv64)
        } else {
            Ok(Inst::new(op, rd, rs1, 0, rs2 as i32))
        }
    };
    match d {
        D::Lui(u) => Ok(Inst::new(Op::Lui, rd, 0, 0, u.imm() as i32)),
        D::Auipc(u) => Ok(Inst::new(Op::Auipc, rd, 0, 0, u.imm() as i32)),
        D::Jal(j) => Ok(Inst::new(Op::Jal, rd, 0, 0, sext(j.imm(), 21))),
        D::Jalr(_) if funct3 == 0 => i(Op::Jalr),
        D::Beq(t) => b(Op::Beq, t),
        D::Bne(t) => b(Op::Bne, t),
        D::Blt(t) => b(Op::Blt, t),
        D::Bge(t) => b(Op::Bge, t),
        D::Bltu(t) => b(Op::Bltu, t),
        D::Bgeu(t) => b(Op::Bgeu, t),
        D::Lb(_) => i(Op::Lb),
        D::Lh(_) => i(Op::Lh),
        D::Lw(_) => i(Op::Lw),
        D::Lbu(_) => i(Op::Lbu),
        D::Lhu(_) => i(Op::Lhu),
        D::Sb(_) => s(Op::Sb),
        D::Sh(_) => s(Op::Sh),
        D::Sw(_) => s(Op::Sw),
        D::Addi(_) => i(Op::Addi),
        D::Slti(_) => i(Op::Slti),
        D::Sltiu(_) => i(Op::Sltiu),
        D::Xori(_) => i(Op::Xori),
        D::Ori(_) => i(Op::Ori),
        D::Andi(_) => i(Op::Andi),
        D::Slli(_) => sh(Op::Slli),
        D::Srli(_) => sh(Op::Srli),
        D::Srai(_) => sh(Op::Srai),
        D::Add(_) => r(Op::Add),
        D::Sub(_) => r(Op::Sub),
        D::Sll(_) => r(Op::Sll),
        D::Slt(_) => r(Op::Slt),
        D::Sltu(_) => r(Op::Sltu),
        D::Xor(_) => r(Op::Xor),
        D::Srl(_) => r(Op::Srl),
        D::Sra(_) => r(Op::Sra),
        D::Or(_) => r(Op::Or),
        D::And(_) => r(Op::And),
        D::Mul(_) => r(Op::Mul),
        D::Mulh(_) => r(Op::Mulh),
        D::Mulhsu(_) => r(Op::Mulhsu),
        D::Mulhu(_) => r(Op::Mulhu),
        D::Div(_) => r(Op::Div),
        D::Divu(_) => r(Op::Divu),
        D::Rem(_) => r(Op::Rem),
        D::Remu(_) => r(Op::Remu),
        D::FenceI => Ok(Inst::new(Op::FenceI, rd, rs1, 0, i_imm)),
        D::Ecall => Ok(Inst::new(Op::Ecall, 0, 0, 0, 0)),
        D::Ebreak => Ok(Inst::new(Op::Ebreak, 0, 0, 0, 0)),
        D::Mret => Ok(Inst::new(Op::Mret, 0, 0, 0, 0)),
        D::Wfi => Ok(Inst::new(Op::Wfi, 0, 0, 0, 0)),
        D::Csrrw(_) | D::Csrrs(_) | D::Csrrc(_) | D::Csrrwi(_) | D::Csrrsi(_) | D::Csrrci(_) => {
            let op = match funct3 {
                1 => Op::Csrrw,
                2 => Op::Csrrs,
                3 => Op::Csrrc,
                5 => Op::Csrrwi,
                6 => Op::Csrrsi,
                _ => Op::Csrrci,
            };
            Ok(Inst::new(op, rd, rs1, 0, (word >> 20) as i32))
        }
        D::Lwu(_)
        | D::Ld(_)
        | D::Sd(_)
        | D::Addiw(_)
        | D::Slliw(_)
        | D::Srliw(_)
        | D::Sraiw(_)
        | D::Addw(_)
        | D::Subw(_)
        | D::Sllw(_)
        | D::Srlw(_)
        | D::Sraw(_)
        | D::Mulw(_)
        | D::Divw(_)
        | D::Divuw(_)
        | D::Remw(_)
        | D::Remuw(_) => Err(DecodeError::Rv64),
        D::Jalr(_) => Err(DecodeError::Illegal),
        _ => Err(DecodeError::Unsupported),
    }
}

/// Errors of the encoder: the caller asked for an immediate the format cannot hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("immediate {imm} ({imm:#x}) does not fit the {} instruction's field", op.mnemonic())]
pub struct EncodeError {
    pub op: Op,
    pub imm: i32,
}

fn opcode_funct(op: Op) -> (u32, u32, u32) {
    // (opcode, funct3, funct7)
    use Op::*;
    match op {
        Lui => (0b0110111, 0, 0),
        Auipc => (0b0010111, 0, 0),
        Jal => (0b1101111, 0, 0),
        Jalr => (0b1100111, 0, 0),
        Beq => (0b1100011, 0, 0),
        Bne => (0b1100011, 1, 0),
        Blt => (0b1100011, 4, 0),
        Bge => (0b1100011, 5, 0),
        Bltu => (0b1100011, 6, 0),
        Bgeu => (0b1100011, 7, 0),
        Lb => (0b0000011, 0, 0),
        Lh => (0b0000011, 1, 0),
        Lw => (0b0000011, 2, 0),
        Lbu => (0b0000011, 4, 0),
        Lhu => (0b0000011, 5, 0),
        Sb => (0b0100011, 0, 0),
        Sh => (0b0100011, 1, 0),
        Sw => (0b0100011, 2, 0),
        Addi => (0b0010011, 0, 0),
        Slti => (0b0010011, 2, 0),
        Sltiu => (0b0010011, 3, 0),
        Xori => (0b0010011, 4, 0),
        Ori => (0b0010011, 6, 0),
        Andi => (0b0010011, 7, 0),
        Slli => (0b0010011, 1, 0),
        Srli => (0b0010011, 5, 0),
        Srai => (0b0010011, 5, 0b0100000),
        Add => (0b0110011, 0, 0),
        Sub => (0b0110011, 0, 0b0100000),
        Sll => (0b0110011, 1, 0),
        Slt => (0b0110011, 2, 0),
        Sltu => (0b0110011, 3, 0),
        Xor => (0b0110011, 4, 0),
        Srl => (0b0110011, 5, 0),
        Sra => (0b0110011, 5, 0b0100000),
        Or => (0b0110011, 6, 0),
        And => (0b0110011, 7, 0),
        Mul => (0b0110011, 0, 1),
        Mulh => (0b0110011, 1, 1),
        Mulhsu => (0b0110011, 2, 1),
        Mulhu => (0b0110011, 3, 1),
        Div => (0b0110011, 4, 1),
        Divu => (0b0110011, 5, 1),
        Rem => (0b0110011, 6, 1),
        Remu => (0b0110011, 7, 1),
        Fence => (0b0001111, 0, 0),
        FenceI => (0b0001111, 1, 0),
        Ecall | Ebreak | Mret | Wfi => (0b1110011, 0, 0),
        Csrrw => (0b1110011, 1, 0),
        Csrrs => (0b1110011, 2, 0),
        Csrrc => (0b1110011, 3, 0),
        Csrrwi => (0b1110011, 5, 0),
        Csrrsi => (0b1110011, 6, 0),
        Csrrci => (0b1110011, 7, 0),
        NexusRead => (0b0101011, 0, 0),
        NexusWrite => (0b1011011, 0, 0),
        NexusKeccak => (0b1011010, 0, 0),
        Terminate => (0b0001011, 0, 0),
    }
}

/// Encode an instruction. Inverse of [`decode`] for every word `decode` accepts (tested on every
/// instruction of every fixture).
pub fn encode(inst: &Inst) -> Result<u32, EncodeError> {
    let (opcode, f3, f7) = opcode_funct(inst.op);
    let (rd, rs1, rs2) = (
        u32::from(inst.rd & 31),
        u32::from(inst.rs1 & 31),
        u32::from(inst.rs2 & 31),
    );
    let err = Err(EncodeError {
        op: inst.op,
        imm: inst.imm,
    });
    let imm = inst.imm as u32;
    Ok(match inst.op {
        Op::Ecall => 0x0000_0073,
        Op::Ebreak => 0x0010_0073,
        Op::Mret => 0x3020_0073,
        Op::Wfi => 0x1050_0073,
        Op::Terminate => {
            if imm > 0xfff {
                return err;
            }
            (imm << 20) | opcode
        }
        Op::Fence => {
            if imm > 0xfff {
                return err;
            }
            (imm << 20) | (rs1 << 15) | (rd << 7) | opcode
        }
        Op::Slli | Op::Srli | Op::Srai => {
            if imm > 31 {
                return err;
            }
            (f7 << 25) | (imm << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opcode
        }
        _ => {
            if !Inst::imm_fits(inst.op, inst.imm) {
                return err;
            }
            match inst.op.format() {
                Format::R => {
                    (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opcode
                }
                Format::I => ((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opcode,
                Format::S => {
                    ((imm >> 5 & 0x7f) << 25)
                        | (rs2 << 20)
                        | (rs1 << 15)
                        | (f3 << 12)
                        | ((imm & 31) << 7)
                        | opcode
                }
                Format::B => {
                    ((imm >> 12 & 1) << 31)
                        | ((imm >> 5 & 0x3f) << 25)
                        | (rs2 << 20)
                        | (rs1 << 15)
                        | (f3 << 12)
                        | ((imm >> 1 & 0xf) << 8)
                        | ((imm >> 11 & 1) << 7)
                        | opcode
                }
                Format::U => (imm & 0xffff_f000) | (rd << 7) | opcode,
                Format::J => {
                    ((imm >> 20 & 1) << 31)
                        | ((imm >> 1 & 0x3ff) << 21)
                        | ((imm >> 11 & 1) << 20)
                        | ((imm >> 12 & 0xff) << 12)
                        | (rd << 7)
                        | opcode
                }
                Format::Sys => unreachable!("handled above"),
            }
        }
    })
}

/// Split a 32-bit value into the `lui`/`auipc` upper part and the sign-extended low 12 bits, so
/// that `(hi20 << 12) + lo12 == value` (mod 2^32). The one place this rounding rule lives.
pub fn split_hi_lo(value: u32) -> (u32, i32) {
    let hi20 = value.wrapping_add(0x800) >> 12;
    let lo12 = value.wrapping_sub(hi20 << 12) as i32;
    (hi20, lo12)
}

/// Join what [`split_hi_lo`] split.
pub fn join_hi_lo(hi20: u32, lo12: i32) -> u32 {
    (hi20 << 12).wrapping_add(lo12 as u32)
}

/// ABI register names, as GNU objdump prints them.
pub const REG_NAMES: [&str; 32] = [
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4",
    "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4",
    "t5", "t6",
];

impl fmt::Display for Inst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&disasm::disasm(self, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_round_trips_at_the_rounding_edges() {
        for v in [
            0u32,
            0x7ff,
            0x800,
            0xfff,
            0x1000,
            0x0040_0000,
            0x8040_0000,
            0xffff_f800,
            0xffff_ffff,
            0x7fff_f7ff,
            0x7fff_f800,
        ] {
            let (hi, lo) = split_hi_lo(v);
            assert!((-2048..=2047).contains(&lo), "{v:#x}: lo {lo}");
            assert!(hi < (1 << 20), "{v:#x}: hi {hi:#x}");
            assert_eq!(join_hi_lo(hi, lo), v);
        }
        assert_eq!(split_hi_lo(0x800), (1, -2048));
        assert_eq!(split_hi_lo(0x0040_0000), (0x400, 0));
    }

    #[test]
    fn encode_decode_round_trip_for_each_format() {
        let cases = [
            Inst::lui(5, 0xdead_b000),
            Inst::auipc(2, 0x8040_0000),
            Inst::addi(2, 2, -2048),
            Inst::addi(2, 2, 2047),
            Inst::jal(1, -1_048_576),
            Inst::jal(0, 1_048_574),
            Inst::new(Op::Bgeu, 0, 3, 4, -4096),
            Inst::new(Op::Blt, 0, 3, 4, 4094),
            Inst::store(Op::Sw, 1, 2, -4),
            Inst::store(Op::Sb, 31, 30, 2047),
            Inst::load(Op::Lhu, 7, 8, -1),
            Inst::new(Op::Srai, 9, 9, 0, 31),
            Inst::new(Op::Mulhsu, 10, 11, 12, 0),
            Inst::new(Op::Remu, 31, 30, 29, 0),
            Inst::new(Op::NexusRead, 5, 6, 0, 8),
            Inst::new(Op::NexusWrite, 0, 6, 7, -8),
            Inst::new(Op::Ecall, 0, 0, 0, 0),
            Inst::new(Op::Ebreak, 0, 0, 0, 0),
            Inst::new(Op::Fence, 0, 0, 0, 0x0ff),
        ];
        for inst in cases {
            let word = encode(&inst).unwrap();
            assert_eq!(decode(word), Ok(inst), "{inst:?} -> {word:#010x}");
        }
    }

    #[test]
    fn pinned_encodings() {
        // Words as GNU as assembles them (riscv64-unknown-elf-as -march=rv32im).
        assert_eq!(encode(&Inst::NOP), Ok(0x0000_0013));
        assert_eq!(encode(&Inst::auipc(2, 0x8040_0000)), Ok(0x8040_0117));
        assert_eq!(encode(&Inst::addi(2, 2, -4)), Ok(0xffc1_0113));
        assert_eq!(encode(&Inst::lui(2, 0x0040_0000)), Ok(0x0040_0137));
        assert_eq!(encode(&Inst::jal(1, 8)), Ok(0x0080_00ef));
        assert_eq!(encode(&Inst::store(Op::Sw, 1, 2, 12)), Ok(0x0011_2623));
        assert_eq!(encode(&Inst::load(Op::Lw, 2, 2, 0)), Ok(0x0001_2103));
    }

    #[test]
    fn rejects_what_rv32im_does_not_have() {
        assert_eq!(decode(0x4501), Err(DecodeError::Compressed)); // c.li a0,0
        assert_eq!(decode(0x0000_3003), Err(DecodeError::Rv64)); // ld zero,0(zero)
        assert_eq!(decode(0x0205_1513), Err(DecodeError::Rv64)); // slli a0,a0,32
        assert_eq!(decode(0b11), Ok(Inst::load(Op::Lb, 0, 0, 0)));
        assert_eq!(decode(0xffff_ffff), Err(DecodeError::Illegal));
        assert_eq!(decode(0x0000_2007), Err(DecodeError::Unsupported)); // flw: no F
                                                                        // Zicsr decodes (for bare-metal start-up code); csr number kept unsigned.
        assert_eq!(
            decode(0xf140_2573),
            Ok(Inst::new(Op::Csrrs, 10, 0, 0, 0xf14))
        ); // csrr a0, mhartid
        assert_eq!(
            encode(&Inst::new(Op::Csrrs, 10, 0, 0, 0xf14)),
            Ok(0xf140_2573)
        );
    }

    #[test]
    fn encoder_refuses_out_of_range_immediates() {
        assert!(encode(&Inst::addi(1, 1, 2048)).is_err());
        assert!(encode(&Inst::jal(0, 3)).is_err());
        assert!(encode(&Inst::new(Op::Slli, 1, 1, 0, 32)).is_err());
    }
}
