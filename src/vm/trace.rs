//! Tracing mode: what the prover needs from an execution, and a reference checker of its
//! memory, register and control-flow consistency.
//!
//! [`Vm::run_traced`] records one [`TraceRow`] per executed instruction (the instruction, the
//! register values it read and wrote, the next pc) and every memory access in order
//! ([`MemAccess`]: loads, stores, and the bytes a system call reads or writes), plus the
//! initial memory the VM built. [`check_trace`] replays that record the way an offline
//! memory-checking argument does: each read must return the last value written (or the
//! initial image), each register read the last register write, and each row must start where
//! the previous one said it would go. The execution fast path ([`Vm::run`]) is compiled without
//! any of this (`step::<false>`).

use super::{alu, branch_taken, extend, width, RunResult, Vm};
use crate::isa::{reg, Inst, Op};
use std::collections::HashMap;

/// One memory access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemAccess {
    pub addr: u32,
    /// 1, 2 or 4 bytes.
    pub width: u8,
    pub write: bool,
    /// The value read or written (zero-extended, before any sign extension of a load).
    pub value: u32,
}

/// One executed instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceRow {
    pub pc: u32,
    pub inst: Inst,
    /// Values of the registers named by the rs1/rs2 fields, before the instruction.
    pub rs1_val: u32,
    pub rs2_val: u32,
    /// The register written (0: none) and its new value. An `ecall` writes a0 (or sp).
    pub rd: u8,
    pub rd_val: u32,
    pub next_pc: u32,
    /// This row's accesses: `mem[mem_start..mem_start + mem_len]`.
    pub mem_start: u32,
    pub mem_len: u32,
}

/// A traced execution.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// The entry point (pc of the first row).
    pub entry: u32,
    /// Initial memory as the VM built it: `(address, bytes)`; everything else reads as zero.
    pub init: Vec<(u32, Vec<u8>)>,
    pub rows: Vec<TraceRow>,
    pub mem: Vec<MemAccess>,
    /// Registers an `ecall` wrote besides its row's `rd`, `(row, register, value)` in row
    /// order: RISC Zero's software calls return two words (a0, a1).
    pub also_written: Vec<(u32, u8, u32)>,
}

/// Where a trace is inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    #[error("row {row}: pc {pc:#x}, but the previous row continues at {expected:#x}")]
    ControlFlow { row: usize, pc: u32, expected: u32 },
    #[error("row {row}: register x{reg} read as {got:#x}, but it holds {expected:#x}")]
    Register {
        row: usize,
        reg: u8,
        got: u32,
        expected: u32,
    },
    #[error("row {row}: {width}-byte read at {addr:#x} returned {got:#x}, but memory holds {expected:#x}")]
    Memory {
        row: usize,
        addr: u32,
        width: u8,
        got: u32,
        expected: u32,
    },
    #[error("row {row}: memory accesses {start}..{end} are outside the access log")]
    AccessRange { row: usize, start: u32, end: u32 },
}

impl Trace {
    /// The registers row `row` wrote besides its `rd` ([`Trace::also_written`], found by
    /// binary search: the list is in row order).
    pub fn also_written_by(&self, row: usize) -> impl Iterator<Item = (u8, u32)> + '_ {
        let w = &self.also_written;
        let start = w.partition_point(|x| (x.0 as usize) < row);
        w[start..]
            .iter()
            .take_while(move |x| x.0 as usize == row)
            .map(|x| (x.1, x.2))
    }
}

impl Vm {
    /// Run to completion recording a [`Trace`].
    pub fn run_traced(mut self) -> (RunResult, Trace) {
        self.trace = Some(Box::new(Trace {
            entry: self.pc,
            init: std::mem::take(&mut self.init_regions),
            ..Trace::default()
        }));
        let stop = self.execute::<true>();
        let trace = *self.trace.take().expect("set above");
        (self.finish(stop), trace)
    }

    /// Trace the run in pieces ([`SegmentedTrace::next_segment`]): the trace of the whole run
    /// is never held at once, only that of one piece; between pieces the VM's own state (pc,
    /// registers, memory) is the checkpoint the next piece starts from.
    pub fn trace_segments(mut self) -> SegmentedTrace {
        let init = std::mem::take(&mut self.init_regions);
        SegmentedTrace {
            vm: self,
            spare: None,
            init,
            result: None,
            first: true,
        }
    }

    /// Record a memory access (tracing mode only).
    #[inline(always)]
    pub(super) fn trace_mem(&mut self, addr: u32, width: u32, write: bool, value: u32) {
        if let Some(t) = self.trace.as_mut() {
            t.mem.push(MemAccess {
                addr,
                width: width as u8,
                write,
                value,
            });
        }
    }
}

impl Vm {
    /// The traced fast path: executes instructions one at a time, recording each row and
    /// access exactly as [`Vm::step`] under tracing does, while each is one of the common
    /// kinds of the untraced fast path (ALU, M, `lui`/`auipc`, jumps and branches to aligned
    /// targets other than `j .`, loads and stores inside an allocated page of a region, not an
    /// `sp`-based access below the stack bottom, not a store to `tohost` or into code; a new
    /// lowest `sp`-based access and a new highest heap store are recorded as `step` does). It returns, with `pc` and `cycles` written back,
    /// *before* the first instruction that is not such, or at the pause or the cycle limit,
    /// having recorded nothing for it: that one is executed by the checked path.
    #[inline(never)]
    pub(super) fn fast_traced(&mut self) {
        let limit = self.cfg.max_cycles.min(self.pause);
        let (mut pc, mut cycles) = (self.pc, self.cycles);
        let code_base = self.code_base;
        let code_len = self.code_end - self.code_base;
        let (image_end, heap_end) = (self.layout.image_end, self.layout.heap_end);
        let (mut stack_low, mut heap_high, tohost) = (self.stack_low, self.heap_high, self.tohost);
        let (stack_bottom, memlimit) = (self.layout.stack_bottom, self.layout.memlimit);
        // The bookkeeping of an `sp`-based access below the lowest so far ([`Vm::note_stack`]),
        // done here when it cannot fault (inside the stack region): false when it would.
        let stack_ok = |stack_low: &mut u32, addr: u32| {
            if addr < *stack_low && addr >= image_end {
                if addr < stack_bottom || u64::from(addr) >= memlimit {
                    return false;
                }
                *stack_low = addr;
            }
            true
        };
        let code = &self.code[..];
        let regs = &mut self.regs;
        let mem = &mut self.mem;
        let Some(trace) = self.trace.as_deref_mut() else {
            return;
        };
        let (rows, accesses) = (&mut trace.rows, &mut trace.mem);
        while cycles < limit {
            if pc & 3 != 0 {
                break;
            }
            let Some(Some(i)) = code.get((pc.wrapping_sub(code_base) / 4) as usize) else {
                break;
            };
            let i = *i;
            // Register numbers are < 32 by decoding; the mask only lets the compiler see it.
            let a = regs[usize::from(i.rs1 & 31)];
            let b = regs[usize::from(i.rs2 & 31)];
            let imm = i.imm as u32;
            let mem_start = accesses.len() as u32;
            let mut next = pc.wrapping_add(4);
            let v: Option<u32> = match i.op {
                Op::Lui => Some(imm),
                Op::Auipc => Some(pc.wrapping_add(imm)),
                Op::Jal => {
                    next = pc.wrapping_add(imm);
                    if (imm == 0 && i.rd == 0) || next & 3 != 0 {
                        break;
                    }
                    Some(pc.wrapping_add(4))
                }
                Op::Jalr => {
                    next = a.wrapping_add(imm) & !1;
                    if next & 3 != 0 {
                        break;
                    }
                    Some(pc.wrapping_add(4))
                }
                Op::Beq | Op::Bne | Op::Blt | Op::Bge | Op::Bltu | Op::Bgeu => {
                    let taken = branch_taken(i.op, a, b);
                    if taken {
                        next = pc.wrapping_add(imm);
                        if next & 3 != 0 {
                            break;
                        }
                    }
                    None
                }
                Op::Lb | Op::Lh | Op::Lw | Op::Lbu | Op::Lhu => {
                    let addr = a.wrapping_add(imm);
                    let len = width(i.op);
                    let Some(x) = mem.try_load(addr, len) else {
                        break;
                    };
                    if i.rs1 == reg::SP && !stack_ok(&mut stack_low, addr) {
                        break;
                    }
                    accesses.push(MemAccess {
                        addr,
                        width: len as u8,
                        write: false,
                        value: x,
                    });
                    Some(extend(i.op, x))
                }
                Op::Sb | Op::Sh | Op::Sw => {
                    let addr = a.wrapping_add(imm);
                    let len = width(i.op);
                    let sp = i.rs1 == reg::SP;
                    if (sp && !stack_ok(&mut stack_low, addr))
                        || addr == tohost
                        || addr.wrapping_sub(code_base) < code_len
                        || addr.wrapping_add(len - 1).wrapping_sub(code_base) < code_len
                        || !mem.try_store(addr, len, b)
                    {
                        break;
                    }
                    if !sp && addr >= heap_high && addr < heap_end.min(regs[reg::SP as usize]) {
                        heap_high = addr + len;
                    }
                    accesses.push(MemAccess {
                        addr,
                        width: len as u8,
                        write: true,
                        value: if len == 4 {
                            b
                        } else {
                            b & ((1 << (8 * len)) - 1)
                        },
                    });
                    None
                }
                op => match alu(op, a, b, imm) {
                    Some(v) => Some(v),
                    None => break,
                },
            };
            let rd = match v {
                Some(v) => {
                    regs[usize::from(i.rd & 31)] = v;
                    regs[0] = 0;
                    i.rd
                }
                None => 0,
            };
            rows.push(TraceRow {
                pc,
                inst: i,
                rs1_val: a,
                rs2_val: b,
                rd,
                rd_val: regs[usize::from(rd & 31)],
                next_pc: next,
                mem_start,
                mem_len: accesses.len() as u32 - mem_start,
            });
            pc = next;
            cycles += 1;
        }
        self.stack_low = stack_low;
        self.heap_high = heap_high;
        self.pc = pc;
        self.cycles = cycles;
    }
}

/// A traced run, executed a piece at a time ([`Vm::trace_segments`]).
pub struct SegmentedTrace {
    vm: Vm,
    /// The buffers of a trace handed back ([`SegmentedTrace::recycle`]), reused by the next
    /// piece: a piece of 2^20 rows holds 40 MiB, which a fresh allocation pays for in page
    /// faults.
    spare: Option<(Vec<TraceRow>, Vec<MemAccess>)>,
    init: Vec<(u32, Vec<u8>)>,
    result: Option<RunResult>,
    first: bool,
}

impl SegmentedTrace {
    /// The initial memory as the VM built it (what [`Trace::init`] holds).
    pub fn init(&self) -> &[(u32, Vec<u8>)] {
        &self.init
    }

    /// Execute at most `max` more instructions (`max` > 0) and return their trace: `None`
    /// once the run has ended (exit, fault or cycle limit: then [`Self::result`]). A piece
    /// shorter than `max` is the last one. The first piece's [`Trace::init`] is the initial
    /// memory; later pieces' is empty, and their access indices start at 0.
    pub fn next_segment(&mut self, max: u64) -> Option<Trace> {
        if self.result.is_some() {
            return None;
        }
        let vm = &mut self.vm;
        let (rows, mem) = self.spare.take().unwrap_or_default();
        vm.trace = Some(Box::new(Trace {
            rows,
            mem,
            entry: vm.pc,
            init: if self.first {
                self.init.clone()
            } else {
                Vec::new()
            },
            also_written: Vec::new(),
        }));
        self.first = false;
        vm.pause = vm.cycles.saturating_add(max.max(1));
        // Room for the whole piece up front (at most 2^22 rows: a larger piece grows), and
        // for a memory access per two rows; the piece ends at the cycle limit at the latest.
        let rows =
            (vm.pause.min(vm.cfg.max_cycles) - vm.cycles.min(vm.cfg.max_cycles)).min(1 << 22);
        if let Some(t) = vm.trace.as_mut() {
            t.rows.reserve_exact(rows as usize);
            t.mem.reserve(rows as usize / 2);
        }
        let stop = vm.execute::<true>();
        vm.pause = u64::MAX;
        let trace = *vm.trace.take().expect("set above");
        if !matches!(stop, super::Stop::Pause) {
            self.result = Some(self.vm.finish(stop));
        }
        if trace.rows.is_empty() && self.result.is_some() {
            return None;
        }
        Some(trace)
    }

    /// Hand back a piece's trace once it is used: the next piece records into its buffers
    /// (emptied first) instead of new ones.
    pub fn recycle(&mut self, mut trace: Trace) {
        trace.rows.clear();
        trace.mem.clear();
        self.spare = Some((trace.rows, trace.mem));
    }

    /// How the run ended, once it has.
    pub fn result(&self) -> Option<&RunResult> {
        self.result.as_ref()
    }

    /// Instructions executed so far.
    pub fn cycles(&self) -> u64 {
        self.vm.cycles
    }

    /// The paused VM, for tests that play a *modified prover* changing the state between
    /// pieces (a register, the pc, a memory word).
    #[doc(hidden)]
    pub fn vm_mut(&mut self) -> &mut Vm {
        &mut self.vm
    }
}

/// The byte at `addr` in an initial image given as `(address, bytes)` regions (a later region
/// wins, as the loader writes them in order); zero outside them.
pub fn initial_byte(init: &[(u32, Vec<u8>)], addr: u32) -> u8 {
    init.iter()
        .rev()
        .find_map(|(a, b)| {
            addr.checked_sub(*a)
                .and_then(|k| b.get(k as usize))
                .copied()
        })
        .unwrap_or(0)
}

/// Check a trace's memory, register and control-flow consistency (see the module docs).
pub fn check_trace(t: &Trace) -> Result<(), TraceError> {
    let mut regs = [0u32; 32];
    let mut mem: HashMap<u32, u8> = HashMap::new();
    let initial = |addr: u32| initial_byte(&t.init, addr);
    let mut expected_pc = t.entry;
    for (row, r) in t.rows.iter().enumerate() {
        if r.pc != expected_pc {
            return Err(TraceError::ControlFlow {
                row,
                pc: r.pc,
                expected: expected_pc,
            });
        }
        for (reg, got) in [(r.inst.rs1, r.rs1_val), (r.inst.rs2, r.rs2_val)] {
            let expected = regs[usize::from(reg & 31)];
            if got != expected {
                return Err(TraceError::Register {
                    row,
                    reg,
                    got,
                    expected,
                });
            }
        }
        let (start, end) = (r.mem_start, r.mem_start.saturating_add(r.mem_len));
        let Some(accesses) = t.mem.get(start as usize..end as usize) else {
            return Err(TraceError::AccessRange { row, start, end });
        };
        for a in accesses {
            let bytes = a.addr..a.addr.wrapping_add(u32::from(a.width));
            if a.write {
                for (k, addr) in (0..a.width).zip(bytes) {
                    mem.insert(addr, (a.value >> (8 * k)) as u8);
                }
            } else {
                let expected = (0..a.width).fold(0u32, |v, k| {
                    let addr = a.addr.wrapping_add(u32::from(k));
                    v | u32::from(mem.get(&addr).copied().unwrap_or_else(|| initial(addr)))
                        << (8 * k)
                });
                if expected != a.value {
                    return Err(TraceError::Memory {
                        row,
                        addr: a.addr,
                        width: a.width,
                        got: a.value,
                        expected,
                    });
                }
            }
        }
        if r.rd != 0 {
            regs[usize::from(r.rd & 31)] = r.rd_val;
        }
        for (reg, v) in t.also_written_by(row) {
            if reg != 0 {
                regs[usize::from(reg & 31)] = v;
            }
        }
        expected_pc = r.next_pc;
    }
    Ok(())
}
