//! The `sp` set-up: evaluate the code at the entry point, tracking constant registers, and find
//! the instruction that gives `sp` its initial value.
//!
//! Rules (GUESTS.md, "Forms seen in real guest binaries" and "Forms seen in the 2026-12
//! measurement"):
//! - The search follows the code from the entry point. Until a stack is set up, a plain jump is
//!   followed (`_start: j reset_vector`), a branch continues on its fall-through path and a
//!   call returns (caller-saved registers unknown after it), so a crt0 that calls `memset`
//!   before reading `argc` from `0(sp)` is still seen reading the loader's stack. Once a stack
//!   is set up, a jump, a call or a branch ends the prologue: the code after it is another
//!   function, whose `addi sp, sp, -32` is its own frame (Ceno's `j _start_rust`). An exit
//!   system call, `unimp`, `ebreak`, `mret` or an indirect jump always ends it.
//! - A write to `sp`, refined by writes computed from `sp` itself (`addi sp, sp, lo` after
//!   `auipc`/`lui`, `andi sp, sp, -16`, `lw sp, 0(sp)`), is a *candidate*. It is the set-up
//!   only when something confirms it is a stack: a stack-top symbol at (or up to 16 bytes
//!   above) the value, the end of a `.stack` section, the end of a loaded segment (the value
//!   itself not loaded), a Nexus `ecall 0x402`, or its use as a stack (`addi sp, sp, -N`, a
//!   store below it into memory the file does not load, a called function that opens its frame
//!   with `addi sp, sp, -N`). The first confirmed candidate is the set-up. Anything else written
//!   to `sp` is data: a branch operand (`li x2, 1`) or a data pointer (`la x2, tdat`) of the
//!   ISA tests, which use `sp` as an ordinary register. Writing 0 (the register zeroing of
//!   bare-metal start-up code) sets up nothing.
//! - A Nexus `li a7, 0x402; ecall` after the set-up, inline or in a called function
//!   (`jal _overwrite_sp`), means the VM chooses `sp`.
//! - `sp` read before it is written, by the entry code or by a function it calls before any
//!   write (a frame opened on the stack it was given): the program expects the loader's stack
//!   (Linux crt0).

use super::{SpInit, SpKind, MEMORY_TOP_SYMS, STACK_TOP_SYMS};
use crate::elf::Image;
use crate::isa::{self, reg, Op};

/// Instructions evaluated from the entry point when looking for the `sp` set-up.
const WINDOW: usize = 48;
/// Instructions of a called function searched for the Nexus `li a7, 0x402; ecall` or for the
/// frame it opens.
const CALLEE_WINDOW: usize = 8;
/// Registers a call may change (the RISC-V psABI's caller-saved registers).
const CALLER_SAVED: &[u8] = &[1, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 28, 29, 30, 31];
/// System calls that do not return: Linux exit and exit_group, Nexus exit.
const EXIT_CALLS: &[u32] = &[93, 94, 0x201];
/// The `cycle` CSR: `csrrw x0, cycle, x0` is `unimp`, the pre-0.3 Nexus halt.
const CSR_CYCLE: i32 = 0xc00;

/// A register's statically known value and the instructions that produced it.
#[derive(Clone, Debug, Default)]
struct Known {
    value: u32,
    insts: Vec<u32>,
    kind: Option<SpKind>,
    word_addr: Option<u32>,
}

/// A value written to `sp` (with its refinements), and what the code does with it.
#[derive(Clone, Debug)]
struct Candidate {
    k: Known,
    /// The instruction that completes the value.
    at: u32,
    align_mask: Option<i32>,
    overwrite_ecall: Option<u32>,
    /// Why it is a stack, once something confirms it.
    confirmed: Option<String>,
    /// `sp` moved off the value (a frame): no more refinements.
    moved: bool,
}

impl Candidate {
    /// `lui`/`auipc` alone so far: the next `addi sp, sp, lo` completes it.
    fn hi_only(&self) -> bool {
        matches!(self.k.kind, Some(SpKind::Lui | SpKind::AuipcAddi)) && self.k.insts.len() == 1
    }
}

/// What the entry code does with `sp` and `gp`.
#[derive(Debug, Clone)]
pub(crate) struct Prologue {
    pub sp: SpInit,
    pub gp: Option<u32>,
    /// `sp` is read (as a base or an operand) before anything writes it.
    pub reads_sp_first: bool,
    /// What confirmed the set-up as a stack (None when there is none).
    pub confirmed_by: Option<String>,
    /// The first value written to `sp` that nothing confirmed as a stack, when no set-up was
    /// found: `(address of the write, value)`.
    pub not_stack: Option<(u32, u32)>,
}

/// What confirms `v` as a stack top without looking at its use: a stack-top symbol at it or
/// up to 16 bytes above (`la sp, __memory_top - 4`, `andi sp, sp, -16`), the end of a `.stack`
/// section, or the end of a loaded segment when `v` itself is not loaded memory (a segment
/// that ends where the next begins ends at a data address, not at a stack top).
fn confirmed_statically(img: &Image, v: u32, aligned: bool) -> Option<String> {
    let near = |t: u64| t >= u64::from(v) && t - u64::from(v) <= 16;
    if let Some(n) = STACK_TOP_SYMS
        .iter()
        .chain(MEMORY_TOP_SYMS)
        .find(|n| img.symbol(n).is_some_and(|s| near(s.value.into())))
    {
        return Some(format!("symbol {n}"));
    }
    if let Some(s) = img
        .sections
        .iter()
        .find(|s| s.is_alloc() && s.name == ".stack" && near(s.end()))
    {
        return Some(format!("end of section {}", s.name));
    }
    let loaded = img.loads().any(|s| s.memsz > 0 && s.contains(v));
    let at_end = |e: u64| e == u64::from(v) || (aligned && near(e) && e - u64::from(v) < 16);
    if !loaded {
        if let Some(s) = img.loads().find(|s| s.memsz > 0 && at_end(s.end())) {
            return Some(format!("end of segment {}", s.index));
        }
    }
    None
}

/// What confirms a candidate as a stack: what the file says at its value (a symbol, a section,
/// a segment's end), else its use or a Nexus `ecall 0x402`.
fn why(img: &Image, c: &Candidate) -> Option<String> {
    confirmed_statically(img, c.k.value, c.align_mask.is_some()).or_else(|| c.confirmed.clone())
}

/// Does the function at `at` open a stack frame among its first instructions (`addi sp, sp,
/// -N`, or a store below `sp`) before any branch or jump?
fn callee_opens_frame(img: &Image, at: u32) -> bool {
    for k in 0..CALLEE_WINDOW as u32 {
        let Some(i) = img
            .word_at(at.wrapping_add(4 * k))
            .and_then(|w| isa::decode(w).ok())
        else {
            return false;
        };
        if i.rs1 == reg::SP
            && ((i.op == Op::Addi && i.rd == reg::SP && i.imm < 0)
                || (i.op.is_store() && i.imm < 0))
        {
            return true;
        }
        if i.op.ends_block() || (i.op.writes_rd() && i.rd == reg::SP) {
            return false;
        }
    }
    false
}

/// Analyse the entry code. `gp_sym`: `__global_pointer$`.
pub(crate) fn analyse(img: &Image, gp_sym: Option<u32>) -> Prologue {
    let mut regs: [Option<Known>; 32] = Default::default();
    let mut cands: Vec<Candidate> = Vec::new();
    // The candidate sp holds (or a frame below it), if any.
    let mut live: Option<usize> = None;
    let mut sp_runtime_at: Option<u32> = None;
    let mut sp_written = false;
    let mut reads_sp_first = false;
    let mut pc = img.entry;
    let file_backed = |a: u32| img.file_offset(a, 1).is_some();
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
        let value_of = |r: u8, regs: &[Option<Known>; 32]| src(r, regs).map(|k| k.value);
        let result = eval(img, &i, pc, &regs, src);
        if let Some(c) = live.map(|l| &mut cands[l]) {
            if i.op == Op::Ecall && value_of(reg::A7, &regs) == Some(0x402) {
                c.overwrite_ecall = Some(pc);
                c.confirmed
                    .get_or_insert_with(|| format!("ecall 0x402 at {pc:#x}"));
            }
            // A store below the value into memory the file does not load: a push.
            if i.op.is_store() && i.rs1 == reg::SP && c.confirmed.is_none() {
                if let Some(sp) = value_of(reg::SP, &regs) {
                    let a = sp.wrapping_add(i.imm as u32);
                    if a < c.k.value && !file_backed(a) {
                        c.confirmed = Some(format!("a store below it at {pc:#x}"));
                    }
                }
            }
        }
        if i.op.writes_rd() && i.rd == reg::SP {
            sp_written = true;
            let derived = i.rs1 == reg::SP && !matches!(i.op, Op::Lui | Op::Auipc);
            let first_write = cands.is_empty() && sp_runtime_at.is_none();
            let live_cand = live.map(|l| &mut cands[l]);
            match (live_cand, &result) {
                (Some(c), Some(k)) if derived && !c.moved => {
                    if i.op == Op::Addi && c.hi_only() {
                        // `addi sp, sp, lo` completes a `lui`/`auipc`.
                        c.k = k.clone();
                        c.at = pc;
                    } else if i.op == Op::Andi {
                        c.align_mask = Some(i.imm);
                        c.k = k.clone();
                    } else if i.op == Op::Lw {
                        c.k = k.clone();
                        c.at = pc;
                    } else {
                        frame(c, &i, pc, k, file_backed);
                    }
                }
                (Some(c), Some(k)) if derived => frame(c, &i, pc, k, file_backed),
                (Some(c), None) if derived => c.moved = true,
                (_, Some(k)) if k.value != 0 => {
                    cands.push(Candidate {
                        k: k.clone(),
                        at: pc,
                        align_mask: None,
                        overwrite_ecall: None,
                        confirmed: None,
                        moved: false,
                    });
                    live = Some(cands.len() - 1);
                }
                // A value the entry code cannot know (a function's result): computed at run
                // time. An `addi sp, sp, -N` on the loader's stack is not a set-up.
                (_, None) if !derived && !reads_sp_first && first_write => {
                    sp_runtime_at = Some(pc);
                    live = None;
                }
                // `li sp, 0` (register zeroing), or a value computed from data.
                _ => live = None,
            }
        }
        if i.op.writes_rd() && i.rd != 0 {
            regs[i.rd as usize] = result;
        }
        let set = cands.iter().any(|c| why(img, c).is_some());
        match i.op {
            Op::Jal => {
                let target = pc.wrapping_add(i.imm as u32);
                if let Some(c) = live.map(|l| &mut cands[l]) {
                    if i.rd != 0 && c.overwrite_ecall.is_none() {
                        if let Some(e) = callee_overwrites_sp(img, target) {
                            c.overwrite_ecall = Some(e);
                            c.confirmed
                                .get_or_insert_with(|| format!("ecall 0x402 at {e:#x}"));
                        }
                    }
                    if c.confirmed.is_none() && callee_opens_frame(img, target) {
                        c.confirmed = Some(format!("the frame of the function at {target:#x}"));
                    }
                } else if i.rd != 0 && !sp_written && callee_opens_frame(img, target) {
                    // The callee pushes on the stack the entry code was given.
                    reads_sp_first = true;
                }
                if set || cands.iter().any(|c| why(img, c).is_some()) {
                    break;
                }
                if i.rd == 0 {
                    pc = target;
                    continue;
                }
                // The call returns; what it leaves in caller-saved registers is unknown.
                for &r in CALLER_SAVED {
                    regs[r as usize] = None;
                }
                pc = pc.wrapping_add(4);
            }
            Op::Jalr | Op::Ebreak | Op::Mret | Op::Wfi => break,
            Op::Csrrw if i.rd == 0 && i.imm == CSR_CYCLE => break,
            Op::Ecall
                if value_of(reg::A7, &regs).is_some_and(|n| EXIT_CALLS.contains(&n))
                    || (value_of(reg::A7, &regs).is_none() && value_of(5, &regs) == Some(0)) =>
            {
                break
            }
            op if op.is_branch() && set => break,
            _ => pc = pc.wrapping_add(4),
        }
    }
    // gp as an address (`la gp, __global_pointer$`), not a small constant kept in it (the ISA
    // tests keep their case number in gp).
    let gp = regs[reg::GP as usize]
        .as_ref()
        .filter(|k| k.kind != Some(SpKind::AddiZero))
        .map(|k| k.value)
        .or(gp_sym);
    let chosen = cands
        .iter()
        .find_map(|c| why(img, c).map(|w| (c.clone(), w)));
    let not_stack = match &chosen {
        None => cands.first().map(|c| (c.at, c.k.value)),
        Some(_) => None,
    };
    let confirmed_by = chosen.as_ref().map(|(_, w)| w.clone());
    let chosen = chosen.map(|(c, _)| c);
    let sp = match chosen {
        Some(c) => SpInit {
            kind: c.k.kind.unwrap_or(SpKind::AddiZero),
            value: Some(c.k.value),
            at: c.at,
            insts: c.k.insts,
            word_addr: c.k.word_addr,
            align_mask: c.align_mask,
            overwrite_ecall: c.overwrite_ecall,
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
        confirmed_by,
        not_stack,
    }
}

/// `sp` moves off a candidate's value (`addi sp, sp, -N` opens a frame): no more refinements,
/// and a frame below the value in memory the file does not load confirms it as a stack.
fn frame(c: &mut Candidate, i: &isa::Inst, pc: u32, k: &Known, file_backed: impl Fn(u32) -> bool) {
    c.moved = true;
    if i.op == Op::Addi && i.imm < 0 && c.confirmed.is_none() && !file_backed(k.value) {
        c.confirmed = Some(format!("a frame opened at {pc:#x}"));
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
