//! Predecoded basic blocks: the untraced interpreter's fast path ([`Vm::fast_run`]).
//!
//! A block is the run of *common* instructions (ALU, M, `lui`/`auipc`, loads and stores)
//! that starts at a code word, ended by a jump or branch (its terminator) or by the first
//! instruction that is not common (an `ecall`, a CSR access, `fence`, an undecoded word…),
//! which [`Vm::step`] executes. It is built the first time the pc reaches its start, once,
//! from the predecoded words of [`Vm::code`], into one array of operations:
//! - `auipc` becomes a constant (its pc is known), `lui` too; a write to `x0` goes to a sink
//!   register that is never read, so no instruction needs `x0` cleared after it;
//! - straight-line instructions neither update the pc nor count cycles: a terminator adds its
//!   block's instruction count, and a load or store that needs the checked path leaves with
//!   the pc and cycle count of that instruction (from [`Blocks::op_pc`]), having changed
//!   nothing;
//! - an operation whose `rs1` is the previous operation's result (or whose `rs2` is, for a
//!   symmetric one, swapped) reads it from the loop's local `acc` instead of the register
//!   array (its `…A` form, one dispatch like the others): a dependent pair does not pay the
//!   host's store-to-load round trip through the array;
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
/// `x31`, and [`SINK`] for a write to `x0`). A terminator has its block's instruction count in
/// `cycles`, and caches in `taken` the first operation of the block it continues at (`Next`,
/// `Jal`, a branch taken; [`UNBUILT`] until known); `link` holds the `rd` value of
/// `jal`/`jalr`, or the cached fall-through block of a branch.
#[derive(Clone, Copy, Debug)]
struct BOp {
    k: K,
    rd: u8,
    rs1: u8,
    rs2: u8,
    imm: u32,
    taken: u32,
    link: u32,
    cycles: u32,
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
    /// The pc of each operation of `ops` (of a `Next`: the pc it continues at).
    op_pc: Vec<u32>,
}

impl Blocks {
    pub(super) fn new(code_words: usize) -> Blocks {
        Blocks {
            at: vec![UNBUILT; code_words],
            held: vec![false; code_words],
            ops: Vec::new(),
            op_pc: Vec::new(),
        }
    }

    /// The word at code index `idx` changed (or was decoded for the first time): drop every
    /// block when one holds it, else only what is known about a block starting there.
    pub(super) fn code_changed(&mut self, idx: usize) {
        if self.held.get(idx).copied().unwrap_or(false) {
            self.at.fill(UNBUILT);
            self.held.fill(false);
            self.ops.clear();
            self.op_pc.clear();
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
                    Some(fused) => *self.ops.last_mut().expect("a previous op") = fused,
                    None => {
                        self.ops.push(op);
                        self.op_pc.push(pc);
                    }
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
        let cycles = (body + usize::from(term.is_some())) as u32;
        self.ops.push(BOp {
            cycles,
            ..term.unwrap_or_else(|| bop(K::Next, SINK, 0, 0, end))
        });
        self.op_pc.push(end);
        // An operation that reads the result of the one before it takes it from the loop's
        // `acc` (the first operation of a block reads the array).
        for j in first + 1..self.ops.len() {
            if let Some(f) = forwarded(&self.ops[j - 1], &self.ops[j]) {
                self.ops[j] = f;
            }
        }
        let id = first as u32;
        self.at[idx] = id;
        id
    }
}

/// Why [`chain`] stopped.
enum Exit {
    /// Before the operation at this index, which needs the checked path (nothing of it done).
    Before(u32),
    /// A block ended and the next one starts at this pc (not known yet, or the cycle limit is
    /// near): `slot` is the successor cache of the terminator at this index to fill (`Some(true)`:
    /// `taken`, `Some(false)`: `link`), if any.
    At { pc: u32, slot: Option<(u32, bool)> },
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
        k,
        rd,
        rs1,
        rs2,
        imm,
        taken: UNBUILT,
        link: UNBUILT,
        cycles: 0,
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
        Op::Sb => return Some(bop(K::Sb, SINK, i.rs1, i.rs2, imm)),
        Op::Sh => return Some(bop(K::Sh, SINK, i.rs1, i.rs2, imm)),
        Op::Sw => return Some(bop(K::Sw, SINK, i.rs1, i.rs2, imm)),
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

/// Run chained blocks from the block whose first operation is `ip`, until an operation needs
/// the checked path or a block's successor is not known (or the cycle limit is near).
/// `cycles` counts every instruction completed.
#[inline(never)]
fn chain(
    blocks: &Blocks,
    env: &mut Env,
    r: &mut [u32; 256],
    mem: &mut super::mem::Memory,
    mut ip: usize,
    cycles: &mut u64,
) -> Exit {
    let ops = &blocks.ops[..];
    let mut cyc = *cycles;
    let mut first = ip;
    // The last operation's result: what a `…A` operation reads as `rs1`.
    let mut acc = 0u32;
    // Leave before the operation at `ip`: the operations of its block before it completed.
    macro_rules! bail {
        () => {{
            let op_pc = &blocks.op_pc;
            *cycles = cyc + u64::from(op_pc[ip].wrapping_sub(op_pc[first]) / 4);
            return Exit::Before(ip as u32);
        }};
    }
    // Continue at the cached block `next` (pc `pc`), or leave filling cache `slot`.
    macro_rules! go {
        ($next:expr, $pc:expr, $taken:expr) => {{
            let next = $next;
            if next == UNBUILT || cyc > env.soft {
                *cycles = cyc;
                return Exit::At {
                    pc: $pc,
                    slot: (next == UNBUILT).then_some((ip as u32, $taken)),
                };
            }
            ip = next as usize;
            first = ip;
            continue;
        }};
    }
    // The bookkeeping of an `sp`-based access below the lowest so far ([`Vm::note_stack`]),
    // done here when it cannot fault (inside the stack region): false when it would.
    macro_rules! stack_ok {
        ($addr:expr) => {{
            let addr = $addr;
            if addr < env.stack_low && addr >= env.image_end {
                if addr < env.stack_bottom || u64::from(addr) >= env.memlimit {
                    false
                } else {
                    env.stack_low = addr;
                    true
                }
            } else {
                true
            }
        }};
    }
    // A `len`-byte load at `rs1 + imm` (zero-extended), unless it needs the checked path.
    macro_rules! load {
        ($o:ident, $a:ident, $len:literal) => {{
            let addr = $a.wrapping_add($o.imm);
            match mem.try_load(addr, $len) {
                Some(x) if $o.rs1 != reg::SP || stack_ok!(addr) => x,
                _ => bail!(),
            }
        }};
    }
    // A `len`-byte store of `rs2` at `rs1 + imm`, unless it needs the checked path; a store
    // above the highest heap byte so far raises it, as [`Vm::step`] does.
    macro_rules! store {
        ($o:ident, $a:ident, $v:ident, $len:literal) => {{
            let addr = $a.wrapping_add($o.imm);
            let sp = $o.rs1 == reg::SP;
            if (sp && !stack_ok!(addr))
                || addr == env.tohost
                || addr.wrapping_sub(env.code_base) < env.code_len
                || addr.wrapping_add($len - 1).wrapping_sub(env.code_base) < env.code_len
                || !mem.try_store(addr, $len, $v)
            {
                bail!();
            }
            if !sp && addr >= env.heap_high && addr < env.heap_end.min(r[reg::SP as usize]) {
                env.heap_high = addr + $len;
            }
            ip += 1;
            continue;
        }};
    }
    loop {
        debug_assert!(ip < ops.len());
        // SAFETY: `ip` < `ops.len()`. It is set only to the first operation of a block (from
        // `Blocks::at` or a successor cache, both filled by `Blocks::build` with the index of an
        // operation it pushed; `ops` only grows while they are kept, and `code_changed` clears
        // them together) or to `ip + 1` after an operation that is not a terminator; every
        // block ends with a terminator (`build` pushes one last), so `ip + 1` is at most the
        // index of that terminator. `ops` is not changed during this function (shared borrow).
        let o = unsafe { ops.get_unchecked(ip) };
        let imm = o.imm;
        // The operands, read in the arms that use them (so a forwarded operation does not
        // wait on the register the previous one just stored).
        macro_rules! rs1 {
            () => {
                r[usize::from(o.rs1)]
            };
        }
        macro_rules! rs2 {
            () => {
                r[usize::from(o.rs2)]
            };
        }
        // A conditional branch: count the block, continue at the taken or fall-through block.
        macro_rules! branch {
            ($taken:expr) => {{
                cyc += u64::from(o.cycles);
                if $taken {
                    go!(o.taken, imm, true)
                } else {
                    go!(o.link, blocks.op_pc[ip].wrapping_add(4), false)
                }
            }};
        }
        // Each operation with a forwarded form is two arms of one match: itself, `a` from the
        // array, and its `…A` form, `a` from `acc` (one dispatch either way).
        macro_rules! with_acc {
            ($a:ident, $v:ident; $($k:ident / $ka:ident => $e:expr,)* ; $($rest:tt)*) => {
                match o.k {
                    $(
                        // (`v` is unused by the immediate forms: no load is made for it.)
                        #[allow(unused_variables)]
                        K::$k => {
                            let ($a, $v) = (rs1!(), rs2!());
                            $e
                        }
                        #[allow(unused_variables)]
                        K::$ka => {
                            let ($a, $v) = (acc, rs2!());
                            $e
                        }
                    )*
                    $($rest)*
                }
            };
        }
        // The ALU arms repeat `super::alu` and the branch arms `super::branch_taken` on purpose:
        // one match on the operation, without a second dispatch on an `Op`.
        let x = with_acc!(a, v;
            ShAdd / ShAddA => (a << imm).wrapping_add(v),
            Addi / AddiA => a.wrapping_add(imm),
            Slti / SltiA => ((a as i32) < (imm as i32)) as u32,
            Sltiu / SltiuA => (a < imm) as u32,
            Xori / XoriA => a ^ imm,
            Ori / OriA => a | imm,
            Andi / AndiA => a & imm,
            Slli / SlliA => a << (imm & 31),
            Srli / SrliA => a >> (imm & 31),
            Srai / SraiA => ((a as i32) >> (imm & 31)) as u32,
            Add / AddA => a.wrapping_add(v),
            Sub / SubA => a.wrapping_sub(v),
            Sll / SllA => a << (v & 31),
            Slt / SltA => ((a as i32) < (v as i32)) as u32,
            Sltu / SltuA => (a < v) as u32,
            Xor / XorA => a ^ v,
            Srl / SrlA => a >> (v & 31),
            Sra / SraA => ((a as i32) >> (v & 31)) as u32,
            Or / OrA => a | v,
            And / AndA => a & v,
            Mul / MulA => a.wrapping_mul(v),
            Lb / LbA => load!(o, a, 1) as u8 as i8 as i32 as u32,
            Lh / LhA => load!(o, a, 2) as u16 as i16 as i32 as u32,
            Lw / LwA => load!(o, a, 4),
            Lbu / LbuA => load!(o, a, 1),
            Lhu / LhuA => load!(o, a, 2),
            Sb / SbA => store!(o, a, v, 1),
            Sh / ShA => store!(o, a, v, 2),
            Sw / SwA => store!(o, a, v, 4),
            Jalr / JalrA => {
                let pc = a.wrapping_add(imm) & !1;
                if pc & 3 != 0 {
                    bail!();
                }
                r[usize::from(o.rd)] = o.link;
                cyc += u64::from(o.cycles);
                let idx = (pc.wrapping_sub(env.code_base) >> 2) as usize;
                let next = match blocks.at.get(idx) {
                    Some(&id) if id < NONE => id,
                    _ => UNBUILT,
                };
                if next == UNBUILT || cyc > env.soft {
                    *cycles = cyc;
                    return Exit::At { pc, slot: None };
                }
                ip = next as usize;
                first = ip;
                continue;
            },
            Beq / BeqA => branch!(a == v),
            Bne / BneA => branch!(a != v),
            Blt / BltA => branch!((a as i32) < (v as i32)),
            Bge / BgeA => branch!((a as i32) >= (v as i32)),
            Bltu / BltuA => branch!(a < v),
            Bgeu / BgeuA => branch!(a >= v),
            ;
            K::Li => imm,
            K::Mulh => ((i64::from(rs1!() as i32) * i64::from(rs2!() as i32)) >> 32) as u32,
            K::Mulhsu => ((i64::from(rs1!() as i32) * i64::from(rs2!())) >> 32) as u32,
            K::Mulhu => ((u64::from(rs1!()) * u64::from(rs2!())) >> 32) as u32,
            K::Div => super::div(rs1!(), rs2!()),
            K::Divu => rs1!().checked_div(rs2!()).unwrap_or(u32::MAX),
            K::Rem => super::rem(rs1!(), rs2!()),
            K::Remu => {
                let a = rs1!();
                a.checked_rem(rs2!()).unwrap_or(a)
            }
            K::Next => {
                cyc += u64::from(o.cycles);
                go!(o.taken, imm, true)
            }
            K::Jal => {
                r[usize::from(o.rd)] = o.link;
                cyc += u64::from(o.cycles);
                go!(o.taken, imm, true)
            }
        );
        r[usize::from(o.rd)] = x;
        acc = x;
        ip += 1;
    }
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
                Exit::Before(ip) => {
                    pc = blocks.op_pc[ip as usize];
                    break;
                }
                Exit::At { pc: next, slot: s } => {
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
