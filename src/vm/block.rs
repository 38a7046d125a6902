//! Predecoded basic blocks: the untraced interpreter's fast path ([`Vm::fast_run`]).
//!
//! A block is the run of *common* instructions (ALU, M, `lui`/`auipc`, loads and stores)
//! that starts at a code word, ended by a jump or branch (its terminator) or by the first
//! instruction that is not common (an `ecall`, a CSR access, `fence`, an undecoded word…),
//! which [`Vm::step`] executes. It is built the first time the pc reaches its start, once,
//! from the predecoded words of [`Vm::code`], into one array of operations, each with a
//! pointer to its handler (the code that executes it):
//! - the handlers are threaded: each ends by calling the next operation's handler in tail
//!   position (a jump in an optimised build), so there is no central dispatch loop, and the
//!   host predicts each operation's successor at a branch of its own (see [`Handler`]);
//! - `auipc` becomes a constant (its pc is known), `lui` too; a write to `x0` goes to a sink
//!   register that is never read, so no instruction needs `x0` cleared after it;
//! - straight-line instructions neither update the pc nor count cycles: a terminator adds its
//!   block's instruction count, and a load or store that needs the checked path leaves with
//!   the pc and cycle count of that instruction (its `pc` and `nth`), having changed
//!   nothing;
//! - an operation whose `rs1` is the previous operation's result (or whose `rs2` is, for a
//!   symmetric one, swapped) reads it from the handlers' `acc` argument (a host register)
//!   instead of the register array (its `…A` form, a handler like the others): a dependent
//!   pair does not pay the host's store-to-load round trip through the array;
//! - a terminator caches the block it went to (blocks are chained): a loop runs without a
//!   look-up of its pc;
//! - the cycle limit is checked once per block: blocks run while at least [`MAX_CYCLES`] cycles
//!   are left, so none can cross the limit; the last few hundred instructions before the limit
//!   run on the single-step path, which stops at the limit to the instruction.
//!
//! Blocks are only an index over [`Vm::code`]: a store into code (self-modifying code, or
//! [`Vm::tamper`]) that changes a word some block holds drops them all
//! ([`Blocks::code_changed`]), so a block always equals the words it was built from.

use super::Vm;
use crate::isa::{reg, Inst, Op};

/// An operation of a block: straight-line ones, then the terminators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum K {
    /// `rd = imm` (`lui`, and `auipc` with its pc added at build time; also `lui` followed
    /// by `addi` of the same register, fused).
    Li,
    /// `rd = (rs1 << imm) + rs2`: `slli t, a, k` followed by `add t, t, b` (fused; `t` is
    /// written once, with the second result, as the pair leaves it).
    ShAdd,
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
    Lb,
    Lh,
    Lw,
    Lbu,
    Lhu,
    Sb,
    Sh,
    Sw,
    // The loads and stores with `rs1` = `sp`: they also do the stack bookkeeping of
    // [`Vm::note_stack`] (the others cannot have `sp` as `rs1`, and are not forwarded from it).
    LbSp,
    LhSp,
    LwSp,
    LbuSp,
    LhuSp,
    SbSp,
    ShSp,
    SwSp,
    // The same operations with `rs1` the previous operation's result, read from the
    // block loop's `acc` instead of the register array (see [`forwarded`]).
    ShAddA,
    AddiA,
    SltiA,
    SltiuA,
    XoriA,
    OriA,
    AndiA,
    SlliA,
    SrliA,
    SraiA,
    AddA,
    SubA,
    SllA,
    SltA,
    SltuA,
    XorA,
    SrlA,
    SraA,
    OrA,
    AndA,
    MulA,
    LbA,
    LhA,
    LwA,
    LbuA,
    LhuA,
    SbA,
    ShA,
    SwA,
    JalrA,
    BeqA,
    BneA,
    BltA,
    BgeA,
    BltuA,
    BgeuA,
    /// No jump: the next block starts at `imm`, right after (the next word is not a common
    /// instruction, is not decoded, or the block reached its maximum length). Not an
    /// instruction: no cycle.
    Next,
    /// `jal`: `rd = link`, continue at `imm` (static, aligned, not the `jal` itself).
    Jal,
    /// `jalr`: `rd = link`, continue at `(rs1 + imm) & !1` (left to `step` when misaligned).
    Jalr,
    /// Conditional branches to the static, aligned target `imm`.
    Beq,
    Bne,
    Blt,
    Bge,
    Bltu,
    Bgeu,
}

/// One operation. Register numbers index the interpreter's 256-entry register array (`x0` to
/// `x31`, and [`SINK`] for a write to `x0`). `f` is its handler (the code that executes it,
/// [`handler`] of `k`); `pc` is its instruction's address (of a `Next`: the pc it continues
/// at) and `nth` the number of its block's instructions before it. A terminator has its
/// block's instruction count in `cycles`, and caches in `taken` the first operation of the
/// block it continues at (`Next`, `Jal`, a branch taken; [`UNBUILT`] until known); `link`
/// holds the `rd` value of `jal`/`jalr`, or the cached fall-through block of a branch.
#[derive(Clone, Copy, Debug)]
struct BOp {
    f: Handler,
    k: K,
    rd: u8,
    rs1: u8,
    rs2: u8,
    imm: u32,
    taken: u32,
    link: u32,
    pc: u32,
    cycles: u16,
    nth: u16,
}

/// Where a write to `x0` goes: a register of the interpreter's array that no instruction reads.
const SINK: u8 = 32;

/// The longest body of a block (longer straight-line code continues in the next block).
const MAX_BODY: usize = 255;
/// The most instructions a block holds: its body and a terminator.
const MAX_CYCLES: u64 = MAX_BODY as u64 + 1;
/// [`Blocks::at`] and the successor caches: no block known yet.
const UNBUILT: u32 = u32::MAX;
/// [`Blocks::at`]: the word here is not a common instruction (the single-step path runs it).
/// Never cached as a successor (the word may be decoded later, see [`Blocks::code_changed`]).
const NONE: u32 = u32::MAX - 1;

/// The blocks built so far. A block is named by the index of its first operation in `ops`.
#[derive(Debug, Default)]
pub(super) struct Blocks {
    /// Per word of [`Vm::code`]: the block starting there, [`UNBUILT`] or [`NONE`].
    at: Vec<u32>,
    /// Per word of [`Vm::code`]: whether some block holds it (its body or terminator).
    held: Vec<bool>,
    ops: Vec<BOp>,
}

impl Blocks {
    pub(super) fn new(code_words: usize) -> Blocks {
        Blocks {
            at: vec![UNBUILT; code_words],
            held: vec![false; code_words],
            ops: Vec::new(),
        }
    }

    /// The word at code index `idx` changed (or was decoded for the first time): drop every
    /// block when one holds it, else only what is known about a block starting there.
    pub(super) fn code_changed(&mut self, idx: usize) {
        if self.held.get(idx).copied().unwrap_or(false) {
            self.at.fill(UNBUILT);
            self.held.fill(false);
            self.ops.clear();
        } else if let Some(a) = self.at.get_mut(idx) {
            *a = UNBUILT;
        }
    }

    /// The block starting at `pc` (built now if it is not yet): its first operation, or
    /// [`NONE`] (not a common instruction, or not code).
    fn lookup(&mut self, code: &[Option<Inst>], code_base: u32, pc: u32) -> u32 {
        if pc & 3 != 0 {
            return NONE;
        }
        let idx = (pc.wrapping_sub(code_base) >> 2) as usize;
        match self.at.get(idx) {
            Some(&UNBUILT) => self.build(code, code_base, idx),
            Some(&id) => id,
            None => NONE,
        }
    }

    /// Build the block starting at code index `idx` (pc `code_base + 4 * idx`): its first
    /// operation, or [`NONE`] when the instruction there is not a common one.
    #[cold]
    #[inline(never)]
    fn build(&mut self, code: &[Option<Inst>], code_base: u32, idx: usize) -> u32 {
        let first = self.ops.len();
        let mut k = idx;
        let mut term = None;
        while k < code.len() && k - idx < MAX_BODY {
            let Some(i) = code[k] else { break };
            let pc = code_base.wrapping_add(4 * k as u32);
            if let Some(op) = straight(i, pc) {
                match self.ops[first..].last().and_then(|prev| fuse(prev, &op)) {
                    // The pair is one operation at the first one's pc (neither can leave the
                    // block, so no exit lands between them).
                    Some(fused) => {
                        let last = self.ops.last_mut().expect("a previous op");
                        *last = BOp {
                            pc: last.pc,
                            nth: last.nth,
                            ..fused
                        };
                    }
                    None => self.ops.push(BOp {
                        pc,
                        nth: (k - idx) as u16,
                        ..op
                    }),
                }
                self.held[k] = true;
                k += 1;
                continue;
            }
            term = terminator(i, pc);
            if term.is_some() {
                self.held[k] = true;
            }
            break;
        }
        // Instructions of the body (a fused pair is one operation but two instructions).
        let body = k - idx;
        if body == 0 && term.is_none() {
            self.at[idx] = NONE;
            return NONE;
        }
        let end = code_base.wrapping_add(4 * k as u32);
        self.ops.push(BOp {
            pc: end,
            nth: body as u16,
            cycles: (body + usize::from(term.is_some())) as u16,
            ..term.unwrap_or_else(|| bop(K::Next, SINK, 0, 0, end))
        });
        // An operation that reads the result of the one before it takes it from the loop's
        // `acc` (the first operation of a block reads the array).
        for j in first + 1..self.ops.len() {
            if let Some(f) = forwarded(&self.ops[j - 1], &self.ops[j]) {
                self.ops[j] = f;
            }
        }
        for o in &mut self.ops[first..] {
            o.f = handler(o.k);
        }
        let id = first as u32;
        self.at[idx] = id;
        id
    }
}

/// Why [`chain`] stopped.
enum Stop {
    /// Before the instruction at this pc, which needs the checked path (nothing of it done).
    Before(u32),
    /// A block ended and the next one starts at this pc (not known yet, or the cycle limit is
    /// near): `slot` is the successor cache of the terminator at this index to fill (`Some(true)`:
    /// `taken`, `Some(false)`: `link`), if any.
    At { pc: u32, slot: Option<(u32, bool)> },
}

/// Why a [`Handler`] returned (a `u32` and a tag: returned in a register, so that every call
/// of a handler in tail position can be a jump).
enum Exit {
    /// As [`Stop::Before`].
    Before(u32),
    /// As [`Stop::At`], with the slot in [`Cx::slot`].
    At(u32),
    /// A block ended and the next one, known, starts at this operation; [`chain`] enters it
    /// (a handler returns this after [`CHAIN`] instructions, so the handlers' nesting stays
    /// bounded).
    Enter(u32),
}

/// The register index an instruction writes: `x0` goes to the sink.
fn dest(rd: u8) -> u8 {
    if rd == reg::ZERO {
        SINK
    } else {
        rd
    }
}

fn bop(k: K, rd: u8, rs1: u8, rs2: u8, imm: u32) -> BOp {
    BOp {
        f: handler(k),
        k,
        rd,
        rs1,
        rs2,
        imm,
        taken: UNBUILT,
        link: UNBUILT,
        pc: 0,
        cycles: 0,
        nth: 0,
    }
}

/// `i` at `pc` as a straight-line operation, if it is one.
fn straight(i: Inst, pc: u32) -> Option<BOp> {
    let imm = i.imm as u32;
    let k = match i.op {
        Op::Lui => return Some(bop(K::Li, dest(i.rd), 0, 0, imm)),
        Op::Auipc => return Some(bop(K::Li, dest(i.rd), 0, 0, pc.wrapping_add(imm))),
        Op::Addi => K::Addi,
        Op::Slti => K::Slti,
        Op::Sltiu => K::Sltiu,
        Op::Xori => K::Xori,
        Op::Ori => K::Ori,
        Op::Andi => K::Andi,
        Op::Slli => K::Slli,
        Op::Srli => K::Srli,
        Op::Srai => K::Srai,
        Op::Add => K::Add,
        Op::Sub => K::Sub,
        Op::Sll => K::Sll,
        Op::Slt => K::Slt,
        Op::Sltu => K::Sltu,
        Op::Xor => K::Xor,
        Op::Srl => K::Srl,
        Op::Sra => K::Sra,
        Op::Or => K::Or,
        Op::And => K::And,
        Op::Mul => K::Mul,
        Op::Mulh => K::Mulh,
        Op::Mulhsu => K::Mulhsu,
        Op::Mulhu => K::Mulhu,
        Op::Div => K::Div,
        Op::Divu => K::Divu,
        Op::Rem => K::Rem,
        Op::Remu => K::Remu,
        Op::Lb => K::Lb,
        Op::Lh => K::Lh,
        Op::Lw => K::Lw,
        Op::Lbu => K::Lbu,
        Op::Lhu => K::Lhu,
        // A store's rd field is not a register it writes.
        Op::Sb | Op::Sh | Op::Sw => {
            let sp = i.rs1 == reg::SP;
            let k = match i.op {
                Op::Sb if sp => K::SbSp,
                Op::Sh if sp => K::ShSp,
                Op::Sw if sp => K::SwSp,
                Op::Sb => K::Sb,
                Op::Sh => K::Sh,
                _ => K::Sw,
            };
            return Some(bop(k, SINK, i.rs1, i.rs2, imm));
        }
        _ => return None,
    };
    // An immediate form reads no `rs2` (its field holds immediate bits): `x0`, which no
    // operation writes, so the block loop never waits on a store it does not need.
    let rs2 = match i.op {
        Op::Add | Op::Sub | Op::Sll | Op::Slt | Op::Sltu | Op::Xor | Op::Srl | Op::Sra | Op::Or => {
            i.rs2
        }
        Op::And | Op::Mul | Op::Mulh | Op::Mulhsu | Op::Mulhu | Op::Div | Op::Divu | Op::Rem => {
            i.rs2
        }
        Op::Remu => i.rs2,
        _ => reg::ZERO,
    };
    let k = match k {
        _ if i.rs1 != reg::SP => k,
        K::Lb => K::LbSp,
        K::Lh => K::LhSp,
        K::Lw => K::LwSp,
        K::Lbu => K::LbuSp,
        K::Lhu => K::LhuSp,
        _ => k,
    };
    Some(bop(k, dest(i.rd), i.rs1, rs2, imm))
}

/// Two consecutive operations as one, when the first's result is only an input of the second,
/// which overwrites it: `lui r; addi r, r` (a constant) and `slli t, a, k; add t, t, b` (an
/// index scaled and added, the commonest address computation).
fn fuse(prev: &BOp, op: &BOp) -> Option<BOp> {
    let r = prev.rd;
    if r == SINK || op.rd != r {
        return None;
    }
    match (prev.k, op.k) {
        (K::Li, K::Addi) if op.rs1 == r => Some(bop(K::Li, r, 0, 0, prev.imm.wrapping_add(op.imm))),
        (K::Slli, K::Add) if op.rs1 == r && op.rs2 != r => {
            Some(bop(K::ShAdd, r, prev.rs1, op.rs2, prev.imm & 31))
        }
        (K::Slli, K::Add) if op.rs2 == r && op.rs1 != r => {
            Some(bop(K::ShAdd, r, prev.rs1, op.rs1, prev.imm & 31))
        }
        _ => None,
    }
}

/// `op` reading the result of `prev` (the operation before it in a block) through the block
/// loop's `acc`, when it has such a form: its `rs1` is `prev`'s destination, or its `rs2` is
/// and the operation is symmetric (its operands swapped). A value a store writes, or the `rs2`
/// of an asymmetric operation, is read from the array as before.
fn forwarded(prev: &BOp, op: &BOp) -> Option<BOp> {
    let r = prev.rd;
    if r == SINK || (op.rs1 != r && op.rs2 != r) {
        return None;
    }
    let symmetric = matches!(
        op.k,
        K::Add | K::Xor | K::Or | K::And | K::Mul | K::Beq | K::Bne
    );
    let mut o = *op;
    if o.rs1 != r {
        if !symmetric {
            return None;
        }
        std::mem::swap(&mut o.rs1, &mut o.rs2);
    }
    o.k = match o.k {
        K::ShAdd => K::ShAddA,
        K::Addi => K::AddiA,
        K::Slti => K::SltiA,
        K::Sltiu => K::SltiuA,
        K::Xori => K::XoriA,
        K::Ori => K::OriA,
        K::Andi => K::AndiA,
        K::Slli => K::SlliA,
        K::Srli => K::SrliA,
        K::Srai => K::SraiA,
        K::Add => K::AddA,
        K::Sub => K::SubA,
        K::Sll => K::SllA,
        K::Slt => K::SltA,
        K::Sltu => K::SltuA,
        K::Xor => K::XorA,
        K::Srl => K::SrlA,
        K::Sra => K::SraA,
        K::Or => K::OrA,
        K::And => K::AndA,
        K::Mul => K::MulA,
        K::Lb => K::LbA,
        K::Lh => K::LhA,
        K::Lw => K::LwA,
        K::Lbu => K::LbuA,
        K::Lhu => K::LhuA,
        K::Sb => K::SbA,
        K::Sh => K::ShA,
        K::Sw => K::SwA,
        K::Jalr => K::JalrA,
        K::Beq => K::BeqA,
        K::Bne => K::BneA,
        K::Blt => K::BltA,
        K::Bge => K::BgeA,
        K::Bltu => K::BltuA,
        K::Bgeu => K::BgeuA,
        _ => return None,
    };
    Some(o)
}

/// `i` at `pc` as a block terminator, if it is a jump or branch the fast path can take: a
/// `jal` or branch to an aligned target that is not `j .` (which `step` names as a self loop).
fn terminator(i: Inst, pc: u32) -> Option<BOp> {
    let imm = i.imm as u32;
    let target = pc.wrapping_add(imm);
    let link = pc.wrapping_add(4);
    let k = match i.op {
        Op::Jal if target & 3 == 0 && !(imm == 0 && i.rd == reg::ZERO) => {
            return Some(BOp {
                link,
                ..bop(K::Jal, dest(i.rd), 0, 0, target)
            })
        }
        Op::Jalr => {
            return Some(BOp {
                link,
                ..bop(K::Jalr, dest(i.rd), i.rs1, 0, imm)
            })
        }
        _ if target & 3 != 0 => return None,
        Op::Beq => K::Beq,
        Op::Bne => K::Bne,
        Op::Blt => K::Blt,
        Op::Bge => K::Bge,
        Op::Bltu => K::Bltu,
        Op::Bgeu => K::Bgeu,
        _ => return None,
    };
    Some(bop(k, SINK, i.rs1, i.rs2, target))
}

/// What the block loop reads and never changes (the checks of the fast path).
#[derive(Clone, Copy)]
struct Env {
    code_base: u32,
    code_len: u32,
    image_end: u32,
    heap_end: u32,
    stack_bottom: u32,
    memlimit: u64,
    /// [`Vm::stack_low`] and [`Vm::heap_high`], kept up to date here and written back.
    stack_low: u32,
    heap_high: u32,
    tohost: u32,
    /// Blocks run while the cycle count is at most this (see [`MAX_CYCLES`]).
    soft: u64,
}

/// The interpreter's register array: `x0` to `x31`, the [`SINK`] and unused entries, so that
/// any `u8` register number indexes it without a bounds check.
type Regs = [u32; 256];

/// The code of an operation: `h(r, cx, op, acc, cyc)` executes the operation `op` (in
/// `cx.ops`) and continues with the next one by a call in tail position (threaded code: each
/// operation dispatches the next from its own code, so the host predicts each successor at its
/// own branch), until an operation needs the checked path or a block's successor is not known.
/// `acc` is the previous operation's result (what a `…A` operation reads as `rs1`), `cyc` the
/// instructions completed before the operation's block (both in host registers).
///
/// # Safety
/// `op` points to an element of `cx.ops` that is an operation of a block built by
/// [`Blocks::build`] (so a terminator of its block is at or after it, and every successor
/// cache it holds is [`UNBUILT`] or the first operation of a block), and `cx.ops[op].f` is
/// this handler.
type Handler = unsafe fn(&mut Regs, &mut Cx<'_>, *const BOp, u32, u64) -> Exit;

/// How many instructions handlers run, entering blocks by tail calls, before a block end
/// returns to [`chain`] ([`Exit::Enter`]): the handlers' nesting stays bounded where the host
/// compiler does not make the tail calls jumps (an unoptimised build). An operation is at
/// least half an instruction (a fused pair is one; a `Next` ends a block of at least one), so
/// at most `2 * (CHAIN + MAX_CYCLES)` handlers nest.
const CHAIN: u64 = if cfg!(debug_assertions) { 64 } else { 4096 };

/// What the handlers share.
struct Cx<'a> {
    ops: &'a [BOp],
    /// [`Blocks::at`] (a `jalr` looks its target up).
    at: &'a [u32],
    mem: &'a mut super::mem::Memory,
    env: Env,
    /// The instructions completed, when a handler returns (while they run, the count is their
    /// `cyc` argument: every block's terminator adds its block's count).
    cycles: u64,
    /// A block end enters its successor while `cycles` is at most this: the lesser of
    /// `env.soft` and [`CHAIN`] past the count when [`chain`] last entered a block.
    limit: u64,
    /// With [`Exit::At`]: as [`Stop::At`]'s.
    slot: Option<(u32, bool)>,
}

/// Continue with the operation after `op`, which is not a terminator.
///
/// # Safety
/// As [`Handler`], and `op` is not a terminator.
#[inline(always)]
unsafe fn next(r: &mut Regs, cx: &mut Cx<'_>, op: *const BOp, acc: u32, cyc: u64) -> Exit {
    // SAFETY: `op` belongs to a block built by `Blocks::build`, which ends every block with a
    // terminator; `op` is not it, so the terminator is the element after `op` or a later one,
    // and `op + 1` is an operation of the same block in `cx.ops` (the handler's precondition
    // for it; its `f` is its handler).
    unsafe {
        let n = op.add(1);
        ((*n).f)(r, cx, n, acc, cyc)
    }
}

/// Leave before the operation `o` (its block's operations before it completed). Inlined:
/// a handler makes no call but its tail calls, so it needs no stack frame and each tail call
/// can be a jump.
#[inline(always)]
fn bail(cx: &mut Cx<'_>, o: &BOp, cyc: u64) -> Exit {
    cx.cycles = cyc + u64::from(o.nth);
    Exit::Before(o.pc)
}

/// Continue at the block `next` (pc `pc`), cached in the successor slot `taken` of the
/// terminator `op`, or leave (filling that cache when `next` is not known yet).
///
/// # Safety
/// `op` is an element of `cx.ops`; `next` is [`UNBUILT`] or the first operation of a block
/// built by [`Blocks::build`].
#[inline(always)]
unsafe fn go(
    r: &mut Regs,
    cx: &mut Cx<'_>,
    op: *const BOp,
    next: u32,
    pc: u32,
    taken: bool,
    cyc: u64,
) -> Exit {
    if next == UNBUILT {
        // SAFETY: `op` and the start of `cx.ops` are in the same allocation.
        let ip = unsafe { op.offset_from(cx.ops.as_ptr()) };
        cx.cycles = cyc;
        cx.slot = Some((ip as u32, taken));
        return Exit::At(pc);
    }
    if cyc > cx.limit {
        cx.cycles = cyc;
        if cyc > cx.env.soft {
            cx.slot = None;
            return Exit::At(pc);
        }
        return Exit::Enter(next);
    }
    // SAFETY: `next` is the first operation of a built block (the precondition), so it is an
    // index of `ops` and a terminator ends its block.
    unsafe {
        let n = cx.ops.as_ptr().add(next as usize);
        ((*n).f)(r, cx, n, 0, cyc)
    }
}

/// The bookkeeping of an `sp`-based access below the lowest so far ([`Vm::note_stack`]), done
/// here when it cannot fault (inside the stack region): false when it would.
#[inline(always)]
fn stack_ok(env: &mut Env, addr: u32) -> bool {
    if addr < env.stack_low && addr >= env.image_end {
        if addr < env.stack_bottom || u64::from(addr) >= env.memlimit {
            return false;
        }
        env.stack_low = addr;
    }
    true
}

/// A `len`-byte load at `base + imm` (zero-extended, then `ext`), into `rd`, unless it needs
/// the checked path.
///
/// # Safety
/// As [`Handler`]; `o` is `*op`, a load.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn load<const SP: bool>(
    r: &mut Regs,
    cx: &mut Cx<'_>,
    op: *const BOp,
    o: &BOp,
    base: u32,
    len: u32,
    ext: fn(u32) -> u32,
    cyc: u64,
) -> Exit {
    let addr = base.wrapping_add(o.imm);
    match cx.mem.try_load(addr, len) {
        Some(x) if !SP || stack_ok(&mut cx.env, addr) => {
            let x = ext(x);
            r[usize::from(o.rd)] = x;
            // SAFETY: the precondition; a load is not a terminator.
            unsafe { next(r, cx, op, x, cyc) }
        }
        _ => bail(cx, o, cyc),
    }
}

/// A `len`-byte store of `v` at `base + imm`, unless it needs the checked path; a store above
/// the highest heap byte so far raises it, as [`Vm::step`] does.
///
/// # Safety
/// As [`Handler`]; `o` is `*op`, a store.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn store<const SP: bool>(
    r: &mut Regs,
    cx: &mut Cx<'_>,
    op: *const BOp,
    o: &BOp,
    base: u32,
    v: u32,
    len: u32,
    acc: u32,
    cyc: u64,
) -> Exit {
    let addr = base.wrapping_add(o.imm);
    if (SP && !stack_ok(&mut cx.env, addr))
        || addr == cx.env.tohost
        || addr.wrapping_sub(cx.env.code_base) < cx.env.code_len
        || addr.wrapping_add(len - 1).wrapping_sub(cx.env.code_base) < cx.env.code_len
        || !cx.mem.try_store(addr, len, v)
    {
        return bail(cx, o, cyc);
    }
    let env = &mut cx.env;
    if !SP && addr >= env.heap_high && addr < env.heap_end.min(r[usize::from(reg::SP)]) {
        env.heap_high = addr + len;
    }
    // SAFETY: the precondition; a store is not a terminator.
    unsafe { next(r, cx, op, acc, cyc) }
}

/// The handlers, one per [`K`] (named as its variant). The ALU handlers repeat `super::alu`,
/// and the branch handlers `super::branch_taken`, on purpose: each is its operation alone.
#[allow(non_snake_case)]
mod h {
    use super::{bail, go, load, next, store, BOp, Cx, Exit, Regs};

    // Every handler: `a` (its `rs1`) from the register array, or from `acc` for a `…A` form.
    macro_rules! def {
        (
            $k:ident, $src:ident,
            |$r:ident, $cx:ident, $op:ident, $o:ident, $a:ident, $acc:ident, $cyc:ident| $body:expr
        ) => {
            /// # Safety
            /// As [`super::Handler`].
            #[allow(unused_variables)]
            pub(super) unsafe fn $k(
                $r: &mut Regs,
                $cx: &mut Cx<'_>,
                $op: *const BOp,
                $acc: u32,
                $cyc: u64,
            ) -> Exit {
                // SAFETY (in every handler): the handler's precondition.
                let $o = unsafe { &*$op };
                let $a = def!(@rs1 $src, $r, $o, $acc);
                $body
            }
        };
        (@rs1 array, $r:ident, $o:ident, $acc:ident) => { $r[usize::from($o.rs1)] };
        (@rs1 acc, $r:ident, $o:ident, $acc:ident) => { $acc };
    }
    // Each operation with a forwarded form has two handlers (its `…A` form reads `a` from
    // `acc`). `v` is `rs2` (an immediate form's is `x0`, and the compiler drops the read when
    // the expression does not use it).
    macro_rules! alu {
        ($($k:ident / $ka:ident => |$a:ident, $v:ident, $imm:ident| $e:expr;)*) => {$(
            alu!(@one $k, array, |$a, $v, $imm| $e);
            alu!(@one $ka, acc, |$a, $v, $imm| $e);
        )*};
        (@one $k:ident, $src:ident, |$a:ident, $v:ident, $imm:ident| $e:expr) => {
            def!($k, $src, |r, cx, op, o, $a, acc, cyc| {
                let ($v, $imm) = (r[usize::from(o.rs2)], o.imm);
                let x = $e;
                r[usize::from(o.rd)] = x;
                // SAFETY: the precondition; an ALU operation is not a terminator.
                unsafe { next(r, cx, op, x, cyc) }
            });
        };
    }
    // Operations without a forwarded form.
    macro_rules! alu1 {
        ($($k:ident => |$a:ident, $v:ident, $imm:ident| $e:expr;)*) => {$(
            alu!(@one $k, array, |$a, $v, $imm| $e);
        )*};
    }
    // Loads: from the array, from `acc`, and `sp`-based (with the stack check).
    macro_rules! loads {
        ($($k:ident / $ka:ident / $ksp:ident => $len:literal, $ext:expr;)*) => {$(
            loads!(@one $k, array, false, $len, $ext);
            loads!(@one $ka, acc, false, $len, $ext);
            loads!(@one $ksp, array, true, $len, $ext);
        )*};
        (@one $k:ident, $src:ident, $sp:literal, $len:literal, $ext:expr) => {
            def!($k, $src, |r, cx, op, o, a, acc, cyc| {
                // SAFETY: the precondition, and `o` is `*op`, a load.
                unsafe { load::<$sp>(r, cx, op, o, a, $len, $ext, cyc) }
            });
        };
    }
    // Stores, the same three ways (`v` from the array: a store's `rs2` is never forwarded).
    macro_rules! stores {
        ($($k:ident / $ka:ident / $ksp:ident => $len:literal;)*) => {$(
            stores!(@one $k, array, false, $len);
            stores!(@one $ka, acc, false, $len);
            stores!(@one $ksp, array, true, $len);
        )*};
        (@one $k:ident, $src:ident, $sp:literal, $len:literal) => {
            def!($k, $src, |r, cx, op, o, a, acc, cyc| {
                let v = r[usize::from(o.rs2)];
                // SAFETY: the precondition, and `o` is `*op`, a store.
                unsafe { store::<$sp>(r, cx, op, o, a, v, $len, acc, cyc) }
            });
        };
    }
    // A conditional branch: count the block, continue at the taken or fall-through block.
    macro_rules! branches {
        ($($k:ident / $ka:ident => |$a:ident, $v:ident| $e:expr;)*) => {$(
            branches!(@one $k, array, |$a, $v| $e);
            branches!(@one $ka, acc, |$a, $v| $e);
        )*};
        (@one $k:ident, $src:ident, |$a:ident, $v:ident| $e:expr) => {
            def!($k, $src, |r, cx, op, o, $a, acc, cyc| {
                let $v = r[usize::from(o.rs2)];
                let cyc = cyc + u64::from(o.cycles);
                // SAFETY: a terminator's caches hold `UNBUILT` or a block (filled by
                // `fast_run` with ids from `Blocks::lookup`).
                if $e {
                    unsafe { go(r, cx, op, o.taken, o.imm, true, cyc) }
                } else {
                    unsafe { go(r, cx, op, o.link, o.pc.wrapping_add(4), false, cyc) }
                }
            });
        };
    }

    alu! {
        ShAdd / ShAddA => |a, v, imm| (a << imm).wrapping_add(v);
        Addi / AddiA => |a, v, imm| a.wrapping_add(imm);
        Slti / SltiA => |a, v, imm| ((a as i32) < (imm as i32)) as u32;
        Sltiu / SltiuA => |a, v, imm| (a < imm) as u32;
        Xori / XoriA => |a, v, imm| a ^ imm;
        Ori / OriA => |a, v, imm| a | imm;
        Andi / AndiA => |a, v, imm| a & imm;
        Slli / SlliA => |a, v, imm| a << (imm & 31);
        Srli / SrliA => |a, v, imm| a >> (imm & 31);
        Srai / SraiA => |a, v, imm| ((a as i32) >> (imm & 31)) as u32;
        Add / AddA => |a, v, imm| a.wrapping_add(v);
        Sub / SubA => |a, v, imm| a.wrapping_sub(v);
        Sll / SllA => |a, v, imm| a << (v & 31);
        Slt / SltA => |a, v, imm| ((a as i32) < (v as i32)) as u32;
        Sltu / SltuA => |a, v, imm| (a < v) as u32;
        Xor / XorA => |a, v, imm| a ^ v;
        Srl / SrlA => |a, v, imm| a >> (v & 31);
        Sra / SraA => |a, v, imm| ((a as i32) >> (v & 31)) as u32;
        Or / OrA => |a, v, imm| a | v;
        And / AndA => |a, v, imm| a & v;
        Mul / MulA => |a, v, imm| a.wrapping_mul(v);
    }
    alu1! {
        Li => |a, v, imm| imm;
        Mulh => |a, v, imm| ((i64::from(a as i32) * i64::from(v as i32)) >> 32) as u32;
        Mulhsu => |a, v, imm| ((i64::from(a as i32) * i64::from(v)) >> 32) as u32;
        Mulhu => |a, v, imm| ((u64::from(a) * u64::from(v)) >> 32) as u32;
        Div => |a, v, imm| crate::vm::div(a, v);
        Divu => |a, v, imm| a.checked_div(v).unwrap_or(u32::MAX);
        Rem => |a, v, imm| crate::vm::rem(a, v);
        Remu => |a, v, imm| a.checked_rem(v).unwrap_or(a);
    }
    loads! {
        Lb / LbA / LbSp => 1, |x| x as u8 as i8 as i32 as u32;
        Lh / LhA / LhSp => 2, |x| x as u16 as i16 as i32 as u32;
        Lw / LwA / LwSp => 4, |x| x;
        Lbu / LbuA / LbuSp => 1, |x| x;
        Lhu / LhuA / LhuSp => 2, |x| x;
    }
    stores! {
        Sb / SbA / SbSp => 1;
        Sh / ShA / ShSp => 2;
        Sw / SwA / SwSp => 4;
    }
    branches! {
        Beq / BeqA => |a, v| a == v;
        Bne / BneA => |a, v| a != v;
        Blt / BltA => |a, v| (a as i32) < (v as i32);
        Bge / BgeA => |a, v| (a as i32) >= (v as i32);
        Bltu / BltuA => |a, v| a < v;
        Bgeu / BgeuA => |a, v| a >= v;
    }

    /// # Safety
    /// As [`super::Handler`].
    pub(super) unsafe fn Next(
        r: &mut Regs,
        cx: &mut Cx<'_>,
        op: *const BOp,
        _acc: u32,
        cyc: u64,
    ) -> Exit {
        let o = unsafe { &*op };
        let cyc = cyc + u64::from(o.cycles);
        // SAFETY: a terminator's cache holds `UNBUILT` or a block.
        unsafe { go(r, cx, op, o.taken, o.imm, true, cyc) }
    }

    /// # Safety
    /// As [`super::Handler`].
    pub(super) unsafe fn Jal(
        r: &mut Regs,
        cx: &mut Cx<'_>,
        op: *const BOp,
        _acc: u32,
        cyc: u64,
    ) -> Exit {
        let o = unsafe { &*op };
        r[usize::from(o.rd)] = o.link;
        let cyc = cyc + u64::from(o.cycles);
        // SAFETY: a terminator's cache holds `UNBUILT` or a block.
        unsafe { go(r, cx, op, o.taken, o.imm, true, cyc) }
    }

    /// `jalr` with `a` its `rs1`: its target block looked up in `Blocks::at` (no cache: the
    /// target varies); a misaligned target takes the checked path.
    ///
    /// # Safety
    /// As [`super::Handler`].
    #[inline(always)]
    unsafe fn jalr(r: &mut Regs, cx: &mut Cx<'_>, op: *const BOp, a: u32, cyc: u64) -> Exit {
        let o = unsafe { &*op };
        let pc = a.wrapping_add(o.imm) & !1;
        if pc & 3 != 0 {
            return bail(cx, o, cyc);
        }
        r[usize::from(o.rd)] = o.link;
        let cyc = cyc + u64::from(o.cycles);
        let idx = (pc.wrapping_sub(cx.env.code_base) >> 2) as usize;
        let next = match cx.at.get(idx) {
            Some(&id) if id < super::NONE => id,
            _ => super::UNBUILT,
        };
        if next == super::UNBUILT {
            // No successor cache to fill: `fast_run` looks the target up again.
            cx.cycles = cyc;
            cx.slot = None;
            return Exit::At(pc);
        }
        // SAFETY: `Blocks::at` holds `UNBUILT`, `NONE` or a block, and `next` is a block.
        unsafe { go(r, cx, op, next, pc, true, cyc) }
    }

    /// # Safety
    /// As [`super::Handler`].
    pub(super) unsafe fn Jalr(
        r: &mut Regs,
        cx: &mut Cx<'_>,
        op: *const BOp,
        _acc: u32,
        cyc: u64,
    ) -> Exit {
        let a = r[usize::from(unsafe { &*op }.rs1)];
        unsafe { jalr(r, cx, op, a, cyc) }
    }

    /// # Safety
    /// As [`super::Handler`].
    pub(super) unsafe fn JalrA(
        r: &mut Regs,
        cx: &mut Cx<'_>,
        op: *const BOp,
        acc: u32,
        cyc: u64,
    ) -> Exit {
        unsafe { jalr(r, cx, op, acc, cyc) }
    }
}

/// The handler of an operation.
fn handler(k: K) -> Handler {
    macro_rules! map {
        ($($k:ident)*) => {
            match k {
                $(K::$k => h::$k,)*
            }
        };
    }
    map!(
        Li ShAdd Addi Slti Sltiu Xori Ori Andi Slli Srli Srai Add Sub Sll Slt Sltu Xor Srl Sra
        Or And Mul Mulh Mulhsu Mulhu Div Divu Rem Remu Lb Lh Lw Lbu Lhu Sb Sh Sw
        LbSp LhSp LwSp LbuSp LhuSp SbSp ShSp SwSp
        ShAddA AddiA SltiA SltiuA XoriA OriA AndiA SlliA SrliA SraiA AddA SubA SllA SltA SltuA
        XorA SrlA SraA OrA AndA MulA LbA LhA LwA LbuA LhuA SbA ShA SwA JalrA BeqA BneA BltA BgeA
        BltuA BgeuA Next Jal Jalr Beq Bne Blt Bge Bltu Bgeu
    )
}

/// Run chained blocks from the block whose first operation is `ip`, until an operation needs
/// the checked path or a block's successor is not known (or the cycle limit is near).
/// `cycles` counts every instruction completed.
#[inline(never)]
fn chain(
    blocks: &Blocks,
    env: &mut Env,
    r: &mut Regs,
    mem: &mut super::mem::Memory,
    mut ip: usize,
    cycles: &mut u64,
) -> Stop {
    let mut cx = Cx {
        ops: &blocks.ops,
        at: &blocks.at,
        mem,
        env: *env,
        cycles: *cycles,
        limit: 0,
        slot: None,
    };
    let exit = loop {
        cx.limit = cx.env.soft.min(cx.cycles + CHAIN);
        // SAFETY: `ip` is the first operation of a block built by `Blocks::build` (the
        // caller's `lookup`, or a block a handler entered), and `ops` does not change during
        // this function (shared borrow): every handler's precondition holds for it.
        let e = unsafe {
            let op = cx.ops.as_ptr().add(ip);
            let cyc = cx.cycles;
            ((*op).f)(r, &mut cx, op, 0, cyc)
        };
        match e {
            Exit::Enter(next) => ip = next as usize,
            Exit::Before(pc) => break Stop::Before(pc),
            Exit::At(pc) => break Stop::At { pc, slot: cx.slot },
        }
    };
    *env = cx.env;
    *cycles = cx.cycles;
    exit
}

impl Vm {
    /// The untraced fast path: executes chained blocks (see the module documentation) while
    /// every instruction is common and cannot fault: not an `sp`-based access below the stack
    /// bottom, a store to `tohost` or into code, an access outside an allocated page of a
    /// region, a misaligned `jalr` target (a new lowest `sp`-based access and a new highest
    /// heap store are recorded here, as [`Vm::step`] records them). It returns,
    /// with `pc`, `cycles` and the registers written back, *before* the first instruction that
    /// is not such (or when fewer than [`MAX_CYCLES`] cycles are left), having changed nothing
    /// for it: that one is executed by `step`, with every check and the exact fault. The
    /// results are the same as `step`'s; the checks skipped are those that cannot fire (an
    /// aligned `pc + 4` or static target, an access inside a page that
    /// [`super::mem::Memory`] holds only when it is wholly allowed).
    #[inline(never)]
    pub(super) fn fast_run(&mut self) {
        // Blocks run while at least MAX_CYCLES cycles are left (so none crosses the limit).
        let Some(soft) = self.cfg.max_cycles.checked_sub(MAX_CYCLES) else {
            return;
        };
        if self.cycles > soft {
            return;
        }
        let mut env = Env {
            code_base: self.code_base,
            code_len: self.code_end - self.code_base,
            image_end: self.layout.image_end,
            heap_end: self.layout.heap_end,
            stack_bottom: self.layout.stack_bottom,
            memlimit: self.layout.memlimit,
            stack_low: self.stack_low,
            heap_high: self.heap_high,
            tohost: self.tohost,
            soft,
        };
        // x0..x31, the sink (32), and unused entries: any `u8` register number is a valid
        // index, so no access needs a bounds check. Kept between calls (only x0..x31 are
        // copied in and out; nothing reads the others), as a guest that leaves the fast path
        // often (a growing heap, system calls) enters it as often.
        let r = &mut *self.fast_regs;
        r[..32].copy_from_slice(&self.regs);
        let (mut pc, mut cycles) = (self.pc, self.cycles);
        let code = &self.code[..];
        let blocks = &mut self.blocks;
        let mut slot = None;
        while cycles <= soft {
            let id = blocks.lookup(code, env.code_base, pc);
            if id == NONE {
                break;
            }
            if let Some((at, taken)) = slot.take() {
                let t = &mut blocks.ops[at as usize];
                if taken {
                    t.taken = id;
                } else {
                    t.link = id;
                }
            }
            match chain(blocks, &mut env, r, &mut self.mem, id as usize, &mut cycles) {
                Stop::Before(at) => {
                    pc = at;
                    break;
                }
                Stop::At { pc: next, slot: s } => {
                    pc = next;
                    slot = s;
                }
            }
        }
        self.regs.copy_from_slice(&r[..32]);
        self.stack_low = env.stack_low;
        self.heap_high = env.heap_high;
        self.pc = pc;
        self.cycles = cycles;
    }
}
