//! The `sp` set-up: evaluate the code at the entry point, tracking constant registers, and find
//! the instruction that gives `sp` its initial value.
//!
//! Rules (GUESTS.md, "Forms seen in real guest binaries"):
//! - The search follows the straight-line code from the entry point. Before `sp` is set, a plain
//!   jump is followed (`_start: j reset_vector`); once it is set, a plain jump or a tail call
//!   ends the prologue: the code after it is another function, whose `addi sp, sp, -32` is its
//!   own frame (Ceno's `j _start_rust`). A call, an indirect jump or a branch always ends it.
//! - The first write to `sp` is the set-up, refined by writes computed from `sp` itself
//!   (`addi sp, sp, lo` after `auipc`/`lui`, `andi sp, sp, -16`, `lw sp, 0(sp)`). A later write
//!   from elsewhere replaces it only when a stack-top symbol confirms the new value and not the
//!   old one; otherwise it is data (riscv-tests load test values into `sp`). Writing 0 (the
//!   register zeroing of bare-metal start-up code) sets up nothing.
//! - A Nexus `li a7, 0x402; ecall` after the set-up, inline or in a called function
//!   (`jal _overwrite_sp`), means the VM chooses `sp`.
//! - `sp` read before it is written: the program expects the loader's stack (Linux crt0).

use super::{SpInit, SpKind};
use crate::elf::Image;
use crate::isa::{self, reg, Op};

/// Instructions evaluated from the entry point when looking for the `sp` set-up.
const WINDOW: usize = 48;
/// Instructions of a called function searched for the Nexus `li a7, 0x402; ecall`.
const CALLEE_WINDOW: usize = 6;

/// A register's statically known value and the instructions that produced it.
#[derive(Clone, Debug, Default)]
struct Known {
    value: u32,
    insts: Vec<u32>,
    kind: Option<SpKind>,
    word_addr: Option<u32>,
}

/// What the entry code does with `sp` and `gp`.
#[derive(Debug, Clone)]
pub(crate) struct Prologue {
    pub sp: SpInit,
    pub gp: Option<u32>,
    /// `sp` is read (as a base or an operand) before anything writes it.
    pub reads_sp_first: bool,
}

/// Is `v` confirmed by a stack-top symbol (equal to one, or at most 16 bytes below it, as
/// `la sp, __memory_top - 4` and `andi sp, sp, -16` leave it)?
fn confirmed(v: u32, tops: &[u32]) -> bool {
    tops.iter().any(|&t| v <= t && t - v <= 16)
}

/// Analyse the entry code. `gp_sym`: `__global_pointer$`; `tops`: values of the stack-top
/// symbols, which confirm a set-up.
pub(crate) fn analyse(img: &Image, gp_sym: Option<u32>, tops: &[u32]) -> Prologue {
    let mut regs: [Option<Known>; 32] = Default::default();
    // The set-up: (value, address of the completing instruction).
    let mut sp: Option<(Known, u32)> = None;
    let mut sp_runtime_at: Option<u32> = None;
    let mut align_mask = None;
    let mut overwrite_ecall = None;
    let mut sp_written = false;
    // The set-up is complete: later writes are frames or data, never part of it.
    let mut sp_final = false;
    let mut reads_sp_first = false;
    let mut pc = img.entry;
    for _ in 0..WINDOW {
        let Some(word) = img.word_at(pc) else { break };
        let Ok(i) = isa::decode(word) else { break };
        if !sp_written && reads(&i, reg::SP) {
            reads_sp_first = true;
        }
        let src = |r: u8, regs: &[Option<Known>; 32]| -> Option<Known> {
            match r {
                0 => Some(Known::default()),
                // gp set outside the window (or by the loader): trust __global_pointer$.
                reg::GP if regs[3].is_none() => gp_sym.map(|value| Known {
                    value,
                    ..Known::default()
                }),
                _ => regs[r as usize].clone(),
            }
        };
        let result = eval(img, &i, pc, &regs, src);
        if i.op == Op::Ecall
            && regs[reg::A7 as usize].as_ref().map(|k| k.value) == Some(0x402)
            && sp.is_some()
        {
            overwrite_ecall = Some(pc);
        }
        if i.op.writes_rd() && i.rd != 0 {
            if i.rd == reg::SP && !sp_final {
                sp_written = true;
                let derived = i.rs1 == reg::SP && !matches!(i.op, Op::Lui | Op::Auipc);
                // `addi sp, sp, lo` completes a `lui`/`auipc`; after a complete value it
                // allocates a frame. `andi` (alignment) and `lw` (a stack-top word) refine it.
                let hi_only = sp.as_ref().is_some_and(|(k, _)| {
                    matches!(k.kind, Some(SpKind::Lui | SpKind::AuipcAddi)) && k.insts.len() == 1
                });
                let derived = derived && (i.op != Op::Addi || hi_only);
                if i.rs1 == reg::SP && !derived && sp.is_some() {
                    sp_final = true;
                }
                match (&result, &sp) {
                    // A refinement of the set-up (`addi`/`andi`/`lw` from sp itself).
                    (Some(k), Some((_, at))) if derived => {
                        if i.op == Op::Andi {
                            align_mask = Some(i.imm);
                            sp = Some((k.clone(), *at));
                        } else {
                            sp = Some((k.clone(), pc));
                        }
                    }
                    (Some(k), None) if k.value != 0 || derived => sp = Some((k.clone(), pc)),
                    (Some(k), Some((old, _))) => {
                        // Test data, unless a stack-top symbol confirms it and not the old one.
                        if k.value != 0 && confirmed(k.value, tops) && !confirmed(old.value, tops) {
                            sp = Some((k.clone(), pc));
                            align_mask = None;
                        } else if !matches!(i.op, Op::Lui | Op::Auipc) {
                            sp_final = true;
                        }
                    }
                    // `li sp, 0`: register zeroing, no set-up.
                    (Some(_), None) => {}
                    (None, None) => sp_runtime_at = Some(pc),
                    (None, Some(_)) => {}
                }
            }
            regs[i.rd as usize] = result;
        }
        let set = sp.as_ref().is_some_and(|(k, _)| k.value != 0);
        match i.op {
            Op::Jal if i.rd == 0 && !set => {
                pc = pc.wrapping_add(i.imm as u32);
                continue;
            }
            Op::Jal if i.rd != 0 => {
                if set && overwrite_ecall.is_none() {
                    overwrite_ecall = callee_overwrites_sp(img, pc.wrapping_add(i.imm as u32));
                }
                if !set {
                    // sp comes from what the callee computes (`call _get_stack_size; mv sp, a0`).
                    sp_runtime_at = sp_runtime_at.or(Some(pc));
                }
                break;
            }
            Op::Jal | Op::Jalr => break,
            op if op.is_branch() => break,
            _ => pc = pc.wrapping_add(4),
        }
    }
    let gp = regs[reg::GP as usize].as_ref().map(|k| k.value).or(gp_sym);
    let sp = match sp.filter(|(k, _)| k.value != 0) {
        Some((k, at)) => SpInit {
            kind: k.kind.unwrap_or(SpKind::AddiZero),
            value: Some(k.value),
            at,
            insts: k.insts,
            word_addr: k.word_addr,
            align_mask,
            overwrite_ecall,
        },
        None => SpInit {
            kind: if sp_runtime_at.is_some() {
                SpKind::Runtime
            } else {
                SpKind::NotFound
            },
            value: None,
            at: sp_runtime_at.unwrap_or(img.entry),
            insts: Vec::new(),
            word_addr: None,
            align_mask: None,
            overwrite_ecall: None,
        },
    };
    Prologue {
        sp,
        gp,
        reads_sp_first,
    }
}

/// Does the instruction read register `r`?
fn reads(i: &isa::Inst, r: u8) -> bool {
    use Op::*;
    let rs2 = matches!(
        i.op,
        Sb | Sh
            | Sw
            | Beq
            | Bne
            | Blt
            | Bge
            | Bltu
            | Bgeu
            | Add
            | Sub
            | Sll
            | Slt
            | Sltu
            | Xor
            | Srl
            | Sra
            | Or
            | And
            | Mul
            | Mulh
            | Mulhsu
            | Mulhu
            | Div
            | Divu
            | Rem
            | Remu
    );
    let rs1 = !matches!(
        i.op,
        Lui | Auipc | Jal | Ecall | Ebreak | Fence | FenceI | Csrrwi | Csrrsi | Csrrci | Mret | Wfi
    );
    (rs1 && i.rs1 == r) || (rs2 && i.rs2 == r)
}

/// The value an instruction writes, when its sources are known.
fn eval(
    img: &Image,
    i: &isa::Inst,
    pc: u32,
    regs: &[Option<Known>; 32],
    src: impl Fn(u8, &[Option<Known>; 32]) -> Option<Known>,
) -> Option<Known> {
    match i.op {
        Op::Lui => Some(Known {
            value: i.imm as u32,
            insts: vec![pc],
            kind: Some(SpKind::Lui),
            word_addr: None,
        }),
        Op::Auipc => Some(Known {
            value: pc.wrapping_add(i.imm as u32),
            insts: vec![pc],
            kind: Some(SpKind::AuipcAddi),
            word_addr: None,
        }),
        Op::Addi => src(i.rs1, regs).map(|mut k| {
            k.value = k.value.wrapping_add(i.imm as u32);
            k.insts.push(pc);
            k.kind = Some(match (i.rs1, k.kind) {
                (reg::ZERO, _) => SpKind::AddiZero,
                (reg::GP, _) => SpKind::GpRelative,
                (_, Some(SpKind::Lui)) => SpKind::LuiAddi,
                (_, Some(kd)) => kd,
                (_, None) => SpKind::AddiZero,
            });
            k
        }),
        Op::Andi => src(i.rs1, regs).map(|mut k| {
            k.value &= i.imm as u32;
            k.insts.push(pc);
            k
        }),
        Op::Lw => {
            let k = src(i.rs1, regs)?;
            let addr = k.value.wrapping_add(i.imm as u32);
            let v = img.word_at(addr)?;
            let mut insts = k.insts;
            insts.push(pc);
            Some(Known {
                value: v,
                insts,
                kind: Some(SpKind::LoadWord),
                word_addr: Some(addr),
            })
        }
        _ => None,
    }
}

/// `li a7, 0x402; ecall` among the first instructions of a called function (Nexus
/// `_overwrite_sp`): the address of the `ecall`.
fn callee_overwrites_sp(img: &Image, at: u32) -> Option<u32> {
    let mut a7 = None;
    for k in 0..CALLEE_WINDOW as u32 {
        let pc = at.wrapping_add(4 * k);
        let i = isa::decode(img.word_at(pc)?).ok()?;
        match i.op {
            Op::Addi if i.rd == reg::A7 && i.rs1 == 0 => a7 = Some(i.imm),
            Op::Ecall if a7 == Some(0x402) => return Some(pc),
            op if op.ends_block() => return None,
            _ => {}
        }
    }
    None
}
