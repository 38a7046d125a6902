//! RV32IM interpreter that enforces a guest's memory layout.
//!
//! Semantics follow the RISC-V unprivileged spec (RV32I, M): division by zero gives all ones
//! (DIVU/DIV) or the dividend (REM/REMU); signed overflow `i32::MIN / -1` gives `i32::MIN` with
//! remainder 0; writes to x0 are discarded. Misaligned data accesses are performed (as
//! qemu-user does); a jump to an address that is not 4-byte aligned faults as `misaligned`
//! (no C extension). Instructions are predecoded once; a store into an executable segment
//! decodes the stored words again, so the cache always equals memory.
//!
//! Memory outside the layout faults with the region, pc, address, and the limit that would have
//! sufficed (see [`Fault`]). Stack accesses are those whose base register is `sp`: they define the
//! peak stack use and a stack overflow (an `sp`-based access below `stack_bottom`).

mod block;
mod mem;
pub mod profile;
mod syscall;
pub mod trace;

pub use crate::abi::Abi;
pub use trace::{check_trace, MemAccess, Trace, TraceError, TraceRow};

use crate::elf::Image;
use crate::isa::{self, reg, Inst, Op};
use crate::layout::Layout;
use mem::{MemFault, Memory};
use serde::Serialize;

/// Default cycle limit: about a minute of interpretation.
pub const DEFAULT_MAX_CYCLES: u64 = 10_000_000_000;
/// Reserved low words of the Nexus ABI: public-input and public-output base addresses.
pub const NEXUS_INPUT_BASE_ADDR: u32 = 0x80;
pub const NEXUS_OUTPUT_BASE_ADDR: u32 = 0x84;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VmError {
    #[error("executable segment at {vaddr:#x} is larger than 256 MiB of code")]
    CodeTooLarge { vaddr: u32 },
    #[error("{0}")]
    Config(String),
    /// The input cannot be presented in the guest's ABI (e.g. SP1 hint frames).
    #[error("{0}")]
    Input(String),
}

/// Why execution stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    StackOverflow,
    HeapOverflow,
    GuardGap,
    OutOfBounds,
    Misaligned,
    IllegalInstruction,
    CycleLimit,
    UnsupportedEcall,
    Ebreak,
    SelfLoop,
    /// The guest asked for input that `--input` does not hold (SP1 hints).
    InputExhausted,
    /// The guest reported a panic through its ABI (RISC Zero SYS_PANIC).
    GuestPanic,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::StackOverflow => "stack_overflow",
            FaultKind::HeapOverflow => "heap_overflow",
            FaultKind::GuardGap => "guard_gap",
            FaultKind::OutOfBounds => "out_of_bounds",
            FaultKind::Misaligned => "misaligned",
            FaultKind::IllegalInstruction => "illegal_instruction",
            FaultKind::CycleLimit => "cycle_limit",
            FaultKind::UnsupportedEcall => "unsupported_ecall",
            FaultKind::Ebreak => "ebreak",
            FaultKind::SelfLoop => "self_loop",
            FaultKind::InputExhausted => "input_exhausted",
            FaultKind::GuestPanic => "guest_panic",
        }
    }
}

/// A fault: what, where, and what would have helped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Fault {
    pub kind: FaultKind,
    pub pc: u32,
    pub addr: Option<u32>,
    /// The smallest memory limit under which this access would have been inside its region,
    /// when one exists (stack and heap overflows): a lower bound for the run, which may go on
    /// to need more.
    pub sufficient_memlimit: Option<u64>,
    pub message: String,
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub abi: Option<Abi>,
    /// Public input: stdin for linux-rv32, the input tape for nexus.
    pub input: Vec<u8>,
    /// Private input (nexus `ecall 0x400`).
    pub private_input: Vec<u8>,
    pub max_cycles: u64,
    /// linux-rv32: once `input` is used up, `read(0)` reads the process's own standard input
    /// (when the guest asks, as qemu-user does). The CLI sets it when no `--input` is given.
    pub stdin_passthrough: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            abi: None,
            input: Vec::new(),
            private_input: Vec::new(),
            max_cycles: DEFAULT_MAX_CYCLES,
            stdin_passthrough: false,
        }
    }
}

/// Result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub abi: Abi,
    /// The guest's exit code, or `None` when it faulted.
    pub exit_code: Option<i32>,
    #[serde(serialize_with = "lossy")]
    pub stdout: Vec<u8>,
    #[serde(serialize_with = "lossy")]
    pub stderr: Vec<u8>,
    /// Nexus public output: the output tape after its first word (which holds the exit code,
    /// written by the runtime before `exit`).
    #[serde(serialize_with = "hex")]
    pub public_output: Vec<u8>,
    pub cycles: u64,
    /// `stack_top` minus the lowest `sp`-based access.
    pub peak_stack_bytes: u32,
    /// Highest heap byte stored (not through `sp`, and below `sp`: RISC-V has no red zone, so
    /// nothing below `sp` is stack) minus `heap_start`.
    pub peak_heap_bytes: u32,
    /// Bytes of guest memory the VM had to allocate.
    pub resident_bytes: usize,
    /// Bytes of `--input` the run read: consumed through a stream read (linux-rv32 `read`,
    /// RISC Zero `SYS_READ`), up to the end of the highest Nexus tape word read, or the SP1
    /// hint frames the guest saw (read, or its length asked for). A proof states only these.
    #[serde(skip)]
    pub input_read: usize,
    /// The words of the ELF's executable sections the run stored into (self-modifying code),
    /// their byte addresses, increasing. A proof states them: they are writable memory whose
    /// instructions the prover fetches from memory (`prove::Statement::code_written`).
    #[serde(skip)]
    pub code_written: Vec<u32>,
    pub fault: Option<Fault>,
}

fn lossy<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(v))
}
fn hex<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(v))
}

/// Outcome of one instruction that leaves the fast path.
enum Stop {
    Exit(i32),
    Fault(Fault),
    /// Tracing only: the cycle count reached [`Vm::pause`] (a segment boundary).
    Pause,
}

/// The interpreter.
pub struct Vm {
    regs: [u32; 32],
    pc: u32,
    code_base: u32,
    code: Vec<Option<Inst>>,
    /// The basic blocks built over `code` ([`block`]).
    blocks: block::Blocks,
    /// The register array of the block engine ([`Vm::fast_run`]): x0..x31 are valid only
    /// during a call, 32 is the sink of writes to x0, the rest unused.
    fast_regs: Box<[u32; 256]>,
    code_end: u32,
    /// The executable segments `[vaddr, vaddr + memsz)`: a word there that is not predecoded
    /// (not in an executable section, or in the zero-filled tail) is decoded when executed.
    exec: Vec<(u64, u64)>,
    mem: Memory,
    layout: Layout,
    abi: Abi,
    cfg: RunConfig,
    cycles: u64,
    stack_low: u32,
    heap_high: u32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    public_output: Vec<u8>,
    input_pos: usize,
    /// Nexus public input tape: `[byte length: u32 LE][input bytes]`.
    tape: Vec<u8>,
    /// End of the highest tape word read (Nexus `NexusRead`), in tape bytes.
    tape_read_end: usize,
    private_pos: usize,
    brk: u32,
    /// Zicsr register file (see [`Vm::csr`]).
    csrs: Vec<u32>,
    /// Address of the HTIF `tohost` word, when the ELF has one (else u32::MAX, never stored to
    /// with a 4-byte aligned access).
    tohost: u32,
    /// The bytes `new` placed in memory (for a trace's initial image).
    init_regions: Vec<(u32, Vec<u8>)>,
    /// Set only by [`Vm::run_traced`] and [`Vm::trace_segments`].
    trace: Option<Box<Trace>>,
    /// Tracing only: stop (resumably) when the cycle count reaches this.
    pause: u64,
    /// SP1 hint stream (frames of `--input`, then what the guest writes to the hint fd).
    hints: std::collections::VecDeque<Vec<u8>>,
    hints_read: usize,
    /// SP1: frames of the hint stream the guest saw (read, or its length asked for).
    hints_seen: usize,
    /// Tests only: run every instruction on the checked path ([`Vm::step`]), the reference
    /// the fast paths are compared with.
    single_step: bool,
    /// linux-rv32: the first ecall answered with -ENOSYS `(pc, a7, t0)`, named in a later fault.
    enosys: Option<(u32, u32, u32)>,
    /// The words of the executable sections (`Image::executable_words`), one bit per word of
    /// `code`: a store into one is recorded in `code_written`.
    static_code: Vec<u64>,
    code_written: std::collections::BTreeSet<u32>,
}

/// The initial stack a Linux loader (and qemu-user) gives a program: from `sp` up, `argc` (1),
/// `argv` (one name, then NULL), an empty `envp` (NULL), the auxiliary vector (`AT_PHDR`,
/// `AT_PHENT`, `AT_PHNUM` when the program headers are loaded, `AT_PAGESZ`, `AT_ENTRY`,
/// `AT_RANDOM` pointing at 16 bytes, `AT_NULL`), then the strings; `sp` 16-byte aligned.
/// Returns `sp`. The bytes are part of the initial memory (`init_regions`).
fn loader_stack(
    img: &Image,
    layout: &Layout,
    mem: &mut Memory,
    init_regions: &mut Vec<(u32, Vec<u8>)>,
) -> u32 {
    const NAME: &[u8] = b"guest\0";
    let top = layout.stack_top;
    let strings = top - 32; // 16 random bytes (zero: the VM is deterministic), then the name
    let random = strings;
    let name = strings + 16;
    let mut aux: Vec<(u32, u32)> = Vec::new();
    let phoff = img.segments.first().map_or(0, |s| s.hdr_offset as u64);
    let phnum = img.segments.len() as u64;
    if let Some(seg) = img.loads().find(|s| {
        u64::from(s.offset) <= phoff
            && phoff + phnum * 32 <= u64::from(s.offset) + u64::from(s.filesz)
    }) {
        aux.push((3, seg.vaddr + (phoff as u32 - seg.offset)));
        aux.push((4, 32));
        aux.push((5, phnum as u32));
    }
    aux.extend([(6, 4096), (9, img.entry), (25, random), (0, 0)]);
    let mut words = vec![1, name, 0, 0];
    for (k, v) in aux {
        words.extend([k, v]);
    }
    let sp = (strings - 4 * words.len() as u32) & !15;
    let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    bytes.resize((strings - sp) as usize, 0);
    bytes.extend_from_slice(&[0; 16]);
    bytes.extend_from_slice(NAME);
    mem.init(sp, &bytes);
    init_regions.push((sp, bytes));
    sp
}

impl Vm {
    /// Load an image under a layout. The layout need not be the image's own: running an
    /// original binary under another layout shows what a rewrite would change.
    pub fn new(img: &Image, layout: &Layout, cfg: RunConfig) -> Result<Vm, VmError> {
        let abi = cfg.abi.unwrap_or_else(|| Abi::detect(img));
        let (lo, hi) = img.load_bounds();
        if hi > crate::layout::MAX_MEMLIMIT {
            // Keeps every end address (and the page-rounded brk) representable in 32 bits.
            return Err(VmError::Config(format!(
                "a loadable segment ends at {hi:#x}, in the last page of the 32-bit address space, which is not guest memory (segments must end at or below {:#x})",
                crate::layout::MAX_MEMLIMIT
            )));
        }
        if layout.memlimit > crate::layout::MAX_MEMLIMIT {
            return Err(VmError::Config(format!(
                "the memory limit {:#x} reaches into the last page of the 32-bit address space, which is not guest memory; the largest memory limit is {:#x}",
                layout.memlimit,
                crate::layout::MAX_MEMLIMIT
            )));
        }
        // The entry must hold bytes of the file: an entry in a segment's zero-filled part (a
        // NOBITS text section) has no program to run; say so instead of decoding zeros.
        if let Some(why) = img
            .no_code_at_entry()
            .or_else(|| crate::abi::risc0_kernel(img))
        {
            return Err(VmError::Config(why));
        }
        // A layout may allow memory below the lowest segment (a stack under the program).
        let mut base = lo.min(layout.image_start);
        if abi.nexus_calls() {
            base = base.min(NEXUS_INPUT_BASE_ADDR);
        }
        let init_end = img
            .loads()
            .map(|s| s.vaddr as u64 + s.filesz as u64)
            .max()
            .unwrap_or(0)
            .max(u64::from(layout.image_end)) as u32;
        let init_end = init_end.max(base);
        if u64::from(layout.stack_top) > layout.memlimit || u64::from(init_end) > layout.memlimit {
            return Err(VmError::Config(format!(
                "the image ends at {init_end:#x}, the stack top is {:#x}: both must be within the memory limit {:#x}",
                layout.stack_top, layout.memlimit
            )));
        }
        let mut mem = Memory::new(layout, base, init_end);
        let mut init_regions = Vec::new();
        for s in img.loads() {
            let data = &img.bytes[s.offset as usize..(s.offset + s.filesz) as usize];
            mem.init(s.vaddr, data);
            init_regions.push((s.vaddr, data.to_vec()));
        }
        // Initialised data linked to run at one address and stored at another (p_paddr, the
        // load address: picolibc's crt0 copies .data from there): place the bytes at the load
        // address too, where no segment lives, as flash would hold them.
        for s in img.loads().filter(|s| s.paddr != s.vaddr && s.filesz > 0) {
            let (start, end) = (u64::from(s.paddr), u64::from(s.paddr) + u64::from(s.filesz));
            let free = !img
                .loads()
                .any(|o| u64::from(o.vaddr) < end && o.end() > start);
            if free && start >= u64::from(base) && end <= u64::from(init_end) {
                let data = &img.bytes[s.offset as usize..(s.offset + s.filesz) as usize];
                mem.init(s.paddr, data);
                init_regions.push((s.paddr, data.to_vec()));
            }
        }
        if abi == Abi::Ceno && !cfg.input.is_empty() {
            let at = syscall::ceno_hints_at(img, &mem, cfg.input.len()).map_err(VmError::Input)?;
            mem.init(at, &cfg.input);
            init_regions.push((at, cfg.input.clone()));
        }
        if abi.nexus_calls() && lo >= NEXUS_INPUT_BASE_ADDR + 8 {
            // Tapes are addressed from 0: the base words hold 0 (see abi.rs).
            let _ = mem.store(NEXUS_INPUT_BASE_ADDR, 4, 0);
            let _ = mem.store(NEXUS_OUTPUT_BASE_ADDR, 4, 0);
        }
        // Predecode the executable range.
        let exec: Vec<_> = img.loads().filter(|s| s.is_exec()).collect();
        let code_base = exec.iter().map(|s| s.vaddr).min().unwrap_or(0);
        let code_end = exec.iter().map(|s| s.vaddr + s.filesz).max().unwrap_or(0);
        if code_end - code_base > 256 << 20 {
            return Err(VmError::CodeTooLarge { vaddr: code_base });
        }
        let mut code = vec![None; ((code_end - code_base) / 4) as usize];
        let mut static_code = vec![0u64; code.len().div_ceil(64)];
        // Words of executable sections; a section outside the executable segments (its
        // flags say code, the segment says otherwise) is not executable.
        for (addr, word) in img.executable_words() {
            if addr >= code_base {
                let idx = ((addr - code_base) / 4) as usize;
                if let Some(slot) = code.get_mut(idx) {
                    *slot = isa::decode(word).ok();
                    static_code[idx / 64] |= 1 << (idx % 64);
                }
            }
        }
        let hints = if abi == Abi::Sp1 {
            crate::abi::sp1_frames(&cfg.input).map_err(VmError::Input)?
        } else {
            Default::default()
        };
        let mut tape = (cfg.input.len() as u32).to_le_bytes().to_vec();
        tape.extend_from_slice(&cfg.input);
        let brk = (img.load_bounds().1.min(u64::from(u32::MAX)) as u32).next_multiple_of(4096);
        let mut regs = [0; 32];
        if layout.sp_init.kind == crate::layout::SpKind::Loader {
            regs[reg::SP as usize] = loader_stack(img, layout, &mut mem, &mut init_regions);
        }
        Ok(Vm {
            regs,
            pc: img.entry,
            code_base,
            blocks: block::Blocks::new(code.len()),
            fast_regs: Box::new([0; 256]),
            code,
            code_end,
            exec: exec
                .iter()
                .map(|s| (u64::from(s.vaddr), u64::from(s.vaddr) + u64::from(s.memsz)))
                .collect(),
            mem,
            stack_low: layout.stack_top,
            heap_high: layout.heap_start,
            layout: layout.clone(),
            abi,
            cycles: 0,
            cfg,
            stdout: Vec::new(),
            stderr: Vec::new(),
            public_output: Vec::new(),
            input_pos: 0,
            tape,
            tape_read_end: 0,
            private_pos: 0,
            brk,
            csrs: vec![0; 4096],
            tohost: img.symbol("tohost").map_or(u32::MAX, |s| s.value),
            init_regions,
            trace: None,
            pause: u64::MAX,
            hints,
            hints_read: 0,
            hints_seen: 0,
            enosys: None,
            single_step: false,
            static_code,
            code_written: Default::default(),
        })
    }

    pub fn abi(&self) -> Abi {
        self.abi
    }

    /// The bytes the loader placed in memory (segments and load-address copies); everything
    /// else starts as zero.
    pub fn initial_regions(&self) -> &[(u32, Vec<u8>)] {
        &self.init_regions
    }

    /// The byte ranges `[start, end)` the guest may touch (see `vm::mem`): image and heap, stack.
    pub fn allowed_ranges(&self) -> [(u64, u64); 2] {
        self.mem.allowed()
    }

    /// The HTIF `tohost` word, when the ELF names one: an odd word stored there ends the run.
    pub fn tohost(&self) -> Option<u32> {
        (self.tohost != u32::MAX).then_some(self.tohost)
    }

    /// The initial program break (linux-rv32 `brk`).
    pub fn initial_brk(&self) -> u32 {
        self.brk
    }

    /// A register's current value.
    pub fn reg(&self, r: u8) -> u32 {
        self.regs[usize::from(r & 31)]
    }

    pub fn pc(&self) -> u32 {
        self.pc
    }

    /// Change a register, the pc or a memory word of a paused run: what a *modified prover*
    /// does between two segments (soundness tests); a changed code word is also fetched
    /// changed. Returns false if the word is not mapped.
    #[doc(hidden)]
    pub fn tamper(
        &mut self,
        reg: Option<(u8, u32)>,
        pc: Option<u32>,
        word: Option<(u32, u32)>,
    ) -> bool {
        if let Some((r, v)) = reg {
            self.regs[usize::from(r & 31)] = v;
        }
        if let Some(p) = pc {
            self.pc = p;
        }
        match word {
            Some((a, v)) => {
                let ok = self.mem.store(a, 4, v).is_ok();
                if ok {
                    // A word of code changed is fetched changed, as a store would be.
                    self.redecode(a, 4);
                }
                ok
            }
            None => true,
        }
    }

    /// Execute until the pc reaches `addr` (not executing it), at most `max` instructions.
    /// Returns whether `addr` was reached; a guest exit or fault before it returns false.
    pub fn run_to(&mut self, addr: u32, max: u64) -> bool {
        for _ in 0..max {
            if self.pc == addr {
                return true;
            }
            let idx = self.pc.wrapping_sub(self.code_base) / 4;
            let Some(Some(inst)) = self.code.get(idx as usize).copied() else {
                return false;
            };
            self.cycles += 1;
            if self.step::<false>(inst).is_err() {
                return false;
            }
        }
        self.pc == addr
    }

    /// Run to completion; with the op and pc of the instruction that ended the run when the
    /// guest exited (an `ecall`, or a store to `tohost`).
    pub fn run_to_end(mut self) -> (RunResult, Option<(isa::Op, u32)>) {
        let stop = self.execute::<false>();
        let last = match stop {
            // An exit leaves the pc at the instruction that made it.
            Stop::Exit(_) => {
                let idx = self.pc.wrapping_sub(self.code_base) / 4;
                self.code
                    .get(idx as usize)
                    .copied()
                    .flatten()
                    .map(|i| (i.op, self.pc))
            }
            _ => None,
        };
        (self.finish(stop), last)
    }

    /// Run to completion (exit, fault or cycle limit).
    pub fn run(mut self) -> RunResult {
        let stop = self.execute::<false>();
        self.finish(stop)
    }

    /// [`Vm::run`], calling `observe` with the cycle count every `every` cycles (for a
    /// progress display). The run and its result are the same: the run stops at a
    /// temporary cycle limit, which is checked before an instruction and changes nothing,
    /// and goes on.
    pub fn run_observed(mut self, every: u64, observe: &mut dyn FnMut(u64)) -> RunResult {
        let max = self.cfg.max_cycles;
        loop {
            self.cfg.max_cycles = max.min(self.cycles.saturating_add(every.max(1)));
            let stop = self.execute::<false>();
            self.cfg.max_cycles = max;
            match &stop {
                Stop::Fault(f) if f.kind == FaultKind::CycleLimit && self.cycles < max => {
                    observe(self.cycles)
                }
                _ => return self.finish(stop),
            }
        }
    }

    fn finish(&mut self, stop: Stop) -> RunResult {
        let (exit_code, fault) = match stop {
            Stop::Exit(c) => (Some(c), None),
            // A paused run is resumed, never finished ([`trace::SegmentedTrace`]).
            Stop::Pause => (None, None),
            Stop::Fault(mut f) => {
                if let Some(note) = self.enosys_note() {
                    f.message.push_str(&note);
                }
                (None, Some(f))
            }
        };
        // Nexus: the output tape's word 0 is the exit code; other ABIs collect bytes.
        let skip = if self.abi.nexus_calls() { 4 } else { 0 };
        RunResult {
            abi: self.abi,
            exit_code,
            stdout: std::mem::take(&mut self.stdout),
            stderr: std::mem::take(&mut self.stderr),
            public_output: self.public_output.get(skip..).unwrap_or_default().to_vec(),
            cycles: self.cycles,
            peak_stack_bytes: self.layout.stack_top.saturating_sub(self.stack_low),
            peak_heap_bytes: self.heap_high.saturating_sub(self.layout.heap_start),
            resident_bytes: self.mem.resident(),
            input_read: if self.abi.nexus_calls() {
                self.tape_read_end.saturating_sub(4)
            } else if self.abi == Abi::Sp1 {
                // The input's frames the guest saw: the stream's first frames are the input's
                // (frames the guest writes follow them).
                crate::abi::sp1_frames(&self.cfg.input)
                    .map(|f| f.iter().take(self.hints_seen).map(|f| 4 + f.len()).sum())
                    .unwrap_or(self.cfg.input.len())
            } else {
                self.input_pos
            }
            .min(self.cfg.input.len()),
            code_written: self.code_written.iter().copied().collect(),
            fault,
        }
    }

    fn fault(&self, kind: FaultKind, addr: Option<u32>, detail: String) -> Stop {
        let l = &self.layout;
        let mut sufficient = None;
        let msg = match (kind, addr) {
            (FaultKind::StackOverflow, Some(a)) => {
                let need = u64::from(l.stack_bottom - a.min(l.stack_bottom));
                sufficient = Some((l.memlimit + need).next_multiple_of(4096));
                format!(
                    "stack overflow at pc {:#x}: access to {a:#x} is {need} bytes below the stack bottom {:#x} (stack {:#x}..{:#x}, {} bytes); this access needed a memory limit of at least {:#x} (a stack at least {} bytes larger; a deeper stack needs more)",
                    self.pc, l.stack_bottom, l.stack_bottom, l.stack_top, l.stack_size(), sufficient.unwrap(), need
                )
            }
            (FaultKind::HeapOverflow, Some(a)) => {
                let need = u64::from(a) + 4 - u64::from(l.heap_end);
                sufficient = Some((l.memlimit + need).next_multiple_of(4096));
                format!(
                    "heap overflow at pc {:#x}: access to {a:#x} is past the heap end {:#x} (heap {:#x}..{:#x}); this access needed a memory limit of at least {:#x} (a heap at least {} bytes larger)",
                    self.pc, l.heap_end, l.heap_start, l.heap_end, sufficient.unwrap(), need
                )
            }
            (FaultKind::OutOfBounds, Some(a)) if detail.is_empty() && u64::from(a) + 4 > l.memlimit => format!(
                "out of bounds at pc {:#x}: access to {a:#x} {} the memory limit {:#x}; a limit of at least {:#x} would be needed",
                self.pc,
                if u64::from(a) >= l.memlimit { "is at or above" } else { "crosses" },
                l.memlimit,
                (u64::from(a) + 4).next_multiple_of(4096)
            ),
            // A fault with its own explanation (oversized write, output tape) takes the default.
            (FaultKind::OutOfBounds, Some(a)) if detail.is_empty() => format!(
                "out of bounds at pc {:#x}: access to {a:#x} is below the lowest mapped address {:#x} (no memory limit helps: a null or wild pointer)",
                self.pc, l.image_start.min(self.code_base)
            ),
            (FaultKind::CycleLimit, _) => format!(
                "cycle limit of {} reached at pc {:#x}; raise it with --max-cycles",
                self.cfg.max_cycles, self.pc
            ),
            _ => format!("{} at pc {:#x}: {detail}", kind.name(), self.pc),
        };
        Stop::Fault(Fault {
            kind,
            pc: self.pc,
            addr,
            sufficient_memlimit: sufficient,
            message: msg,
        })
    }

    #[cold]
    fn mem_fault(&self, f: MemFault, base_reg: u8) -> Stop {
        let kind = match f.kind {
            FaultKind::GuardGap | FaultKind::HeapOverflow if base_reg == reg::SP => {
                FaultKind::StackOverflow
            }
            FaultKind::GuardGap => FaultKind::HeapOverflow,
            k => k,
        };
        self.fault(kind, Some(f.addr), String::new())
    }

    /// Track an `sp`-based access. Accesses into the loaded image are ordinary data accesses
    /// (`la sp, WORD; lw sp, 0(sp)` reads the stack top through sp before sp is a stack
    /// pointer); an overflowing stack reaches the heap or guard gap before it reaches the image.
    #[inline(always)]
    fn note_stack(&mut self, addr: u32) -> Result<(), Stop> {
        if addr < self.stack_low && addr >= self.layout.image_end {
            self.stack_low = addr;
            if addr < self.layout.stack_bottom || u64::from(addr) >= self.layout.memlimit {
                let kind = if u64::from(addr) >= self.layout.memlimit {
                    FaultKind::OutOfBounds
                } else {
                    FaultKind::StackOverflow
                };
                return Err(self.fault(kind, Some(addr), String::new()));
            }
        }
        Ok(())
    }

    fn execute<const TRACE: bool>(&mut self) -> Stop {
        loop {
            // The common instructions; each returns before the first one that needs the
            // checked path below (or near the cycle limit, or at the pause), having changed
            // nothing for it.
            if self.single_step {
            } else if TRACE {
                self.fast_traced();
            } else {
                self.fast_run();
            }
            if self.cycles >= self.cfg.max_cycles {
                return self.fault(FaultKind::CycleLimit, None, String::new());
            }
            if TRACE && self.cycles >= self.pause {
                return Stop::Pause;
            }
            let idx = self.pc.wrapping_sub(self.code_base) / 4;
            let inst = match self.code.get(idx as usize) {
                Some(Some(i)) if self.pc & 3 == 0 => *i,
                _ => match self.fetch_uncached() {
                    Ok(i) => i,
                    Err(stop) => return stop,
                },
            };
            self.cycles += 1;
            if TRACE {
                if let Err(stop) = self.traced_step(inst) {
                    return stop;
                }
            } else if let Err(stop) = self.step::<false>(inst) {
                return stop;
            }
        }
    }

    /// One step recording its [`TraceRow`]. The exit `ecall` is recorded too; a faulting
    /// instruction, which did not complete, is not.
    #[inline(always)]
    fn traced_step(&mut self, inst: Inst) -> Result<(), Stop> {
        let pc = self.pc;
        let rs1_val = self.regs[usize::from(inst.rs1 & 31)];
        let rs2_val = self.regs[usize::from(inst.rs2 & 31)];
        // Only an ecall writes a register its op does not name (stores, branches, `mret`,
        // `wfi` write none): the register file is copied for it alone.
        let before = (inst.op == Op::Ecall).then_some(self.regs);
        let mem_start = self.trace.as_ref().map_or(0, |t| t.mem.len()) as u32;
        let result = self.step::<true>(inst);
        if let Err(Stop::Fault(_)) = result {
            return result;
        }
        let rd = if inst.op.writes_rd() {
            inst.rd
        } else if let Some(before) = before {
            // An ecall writes a0 (or sp for Nexus 0x402); RISC Zero's software calls also a1,
            // which the trace keeps beside the row.
            let mut changed =
                (1..32u8).filter(|&r| self.regs[usize::from(r)] != before[usize::from(r)]);
            let rd = changed.next().unwrap_or(0);
            if let Some(t) = self.trace.as_mut() {
                let row = t.rows.len() as u32;
                t.also_written
                    .extend(changed.map(|r| (row, r, self.regs[usize::from(r)])));
            }
            rd
        } else {
            0
        };
        let next_pc = if result.is_err() {
            pc.wrapping_add(4)
        } else {
            self.pc
        };
        if let Some(t) = self.trace.as_mut() {
            t.rows.push(TraceRow {
                pc,
                inst,
                rs1_val,
                rs2_val,
                rd,
                rd_val: self.regs[usize::from(rd)],
                next_pc,
                mem_start,
                mem_len: t.mem.len() as u32 - mem_start,
            });
        }
        result
    }

    #[inline(always)]
    fn step<const TRACE: bool>(&mut self, i: Inst) -> Result<(), Stop> {
        let r = &self.regs;
        let a = r[i.rs1 as usize];
        let b = r[i.rs2 as usize];
        let imm = i.imm as u32;
        let mut next = self.pc.wrapping_add(4);
        let v: u32 = match i.op {
            Op::Lui => imm,
            Op::Auipc => self.pc.wrapping_add(imm),
            Op::Jal => {
                if imm == 0 && i.rd == 0 {
                    // `j .`: nothing can change any more; stop instead of spinning to the
                    // cycle limit.
                    return Err(self.fault(
                        FaultKind::SelfLoop,
                        None,
                        "the guest jumps to itself (`j .`, how bare-metal start-up code idles after main); exit with an ecall instead".into(),
                    ));
                }
                next = self.pc.wrapping_add(imm);
                self.pc.wrapping_add(4)
            }
            Op::Jalr => {
                next = a.wrapping_add(imm) & !1;
                self.pc.wrapping_add(4)
            }
            Op::Beq | Op::Bne | Op::Blt | Op::Bge | Op::Bltu | Op::Bgeu => {
                let taken = branch_taken(i.op, a, b);
                if taken {
                    next = self.pc.wrapping_add(imm);
                    if next & 3 != 0 {
                        return Err(self.fault(
                            FaultKind::Misaligned,
                            Some(next),
                            format!("branch target {next:#x} is not 4-byte aligned"),
                        ));
                    }
                }
                self.pc = next;
                return Ok(());
            }
            Op::Lb | Op::Lh | Op::Lw | Op::Lbu | Op::Lhu => {
                let addr = a.wrapping_add(imm);
                if i.rs1 == reg::SP {
                    self.note_stack(addr)?;
                }
                let len = width(i.op);
                let x = self
                    .mem
                    .load(addr, len)
                    .map_err(|f| self.mem_fault(f, i.rs1))?;
                if TRACE {
                    self.trace_mem(addr, len, false, x);
                }
                extend(i.op, x)
            }
            Op::Sb | Op::Sh | Op::Sw => {
                let addr = a.wrapping_add(imm);
                let len = width(i.op);
                if i.rs1 == reg::SP {
                    self.note_stack(addr)?;
                } else if addr >= self.heap_high
                    && addr < self.layout.heap_end.min(self.regs[reg::SP as usize])
                {
                    self.heap_high = addr + len;
                }
                self.mem
                    .store(addr, len, b)
                    .map_err(|f| self.mem_fault(f, i.rs1))?;
                if TRACE {
                    self.trace_mem(
                        addr,
                        len,
                        true,
                        if len == 4 {
                            b
                        } else {
                            b & ((1 << (8 * len)) - 1)
                        },
                    );
                }
                if addr == self.tohost && b & 1 == 1 {
                    // HTIF (Spike, the RISC-V ISA tests): an odd word stored to `tohost` ends the
                    // run with exit code word >> 1 (1: pass).
                    return Err(Stop::Exit((b >> 1) as i32));
                }
                let code_len = self.code_end - self.code_base;
                // First or last byte in code (a store may straddle the start of the text).
                if addr.wrapping_sub(self.code_base) < code_len
                    || addr.wrapping_add(len - 1).wrapping_sub(self.code_base) < code_len
                {
                    self.redecode(addr, len);
                }
                self.pc = next;
                return Ok(());
            }
            op @ (Op::Addi
            | Op::Slti
            | Op::Sltiu
            | Op::Xori
            | Op::Ori
            | Op::Andi
            | Op::Slli
            | Op::Srli
            | Op::Srai
            | Op::Add
            | Op::Sub
            | Op::Sll
            | Op::Slt
            | Op::Sltu
            | Op::Xor
            | Op::Srl
            | Op::Sra
            | Op::Or
            | Op::And
            | Op::Mul
            | Op::Mulh
            | Op::Mulhsu
            | Op::Mulhu
            | Op::Div
            | Op::Divu
            | Op::Rem
            | Op::Remu) => alu(op, a, b, imm).expect("an ALU operation"),
            Op::Fence | Op::FenceI => {
                self.pc = next;
                return Ok(());
            }
            Op::Ecall => {
                self.ecall()?;
                self.pc = next;
                return Ok(());
            }
            Op::Csrrw | Op::Csrrs | Op::Csrrc | Op::Csrrwi | Op::Csrrsi | Op::Csrrci => {
                self.csr(i)?
            }
            Op::Mret => {
                next = self.csrs[CSR_MEPC];
                if next & 3 != 0 {
                    return Err(self.fault(
                        FaultKind::Misaligned,
                        Some(next),
                        format!("mret to {next:#x}, not 4-byte aligned"),
                    ));
                }
                self.pc = next;
                return Ok(());
            }
            Op::Wfi => {
                self.pc = next;
                return Ok(());
            }
            Op::Ebreak => {
                // RISC-V semihosting: `slli x0, x0, 0x1f; ebreak; srai x0, x0, 7`, operation in
                // a0 (picolibc's bare-metal `--oslib=semihost`).
                let before = self.mem.load(self.pc.wrapping_sub(4), 4).ok();
                let after = self.mem.load(self.pc.wrapping_add(4), 4).ok();
                let why = if before == Some(0x01f0_1013) && after == Some(0x4070_5013) {
                    format!(
                        "ebreak executed: a semihosting call (operation a0 = {:#x}{}), which this VM does not provide; link the guest with a system-call layer for its zkVM or Linux instead of semihosting",
                        self.regs[10],
                        match self.regs[10] {
                            0x18 | 0x20 => ", exit",
                            0x03..=0x05 => ", console output",
                            0x01 => ", open",
                            _ => "",
                        }
                    )
                } else {
                    "ebreak executed".into()
                };
                return Err(self.fault(FaultKind::Ebreak, None, why));
            }
            Op::NexusRead => {
                let off = a.wrapping_add(imm) as usize;
                let mut w = [0u8; 4];
                for (k, byte) in w.iter_mut().enumerate() {
                    *byte = self.tape.get(off + k).copied().unwrap_or(0);
                }
                if off < self.tape.len() {
                    self.tape_read_end = self.tape_read_end.max(off + 4);
                }
                u32::from_le_bytes(w)
            }
            Op::NexusWrite => {
                let off = a.wrapping_add(imm) as usize;
                if off > 64 << 20 {
                    return Err(self.fault(
                        FaultKind::OutOfBounds,
                        Some(off as u32),
                        "public output offset above 64 MiB".into(),
                    ));
                }
                if self.public_output.len() < off + 4 {
                    self.public_output.resize(off + 4, 0);
                }
                self.public_output[off..off + 4].copy_from_slice(&b.to_le_bytes());
                self.pc = next;
                return Ok(());
            }
            Op::Terminate => {
                return Err(if self.abi == Abi::OpenVm {
                    Stop::Exit((imm & 0xff) as i32)
                } else {
                    self.custom0(isa::encode(&i).unwrap_or(0))
                });
            }
            Op::NexusKeccak => {
                return Err(self.fault(
                    FaultKind::IllegalInstruction,
                    None,
                    "unsupported precompile: Nexus keccak-f (opcode 0b1011010)".into(),
                ))
            }
        };
        if next & 3 != 0 {
            return Err(self.fault(
                FaultKind::Misaligned,
                Some(next),
                format!("jump target {next:#x} is not 4-byte aligned"),
            ));
        }
        self.regs[i.rd as usize] = v;
        self.regs[0] = 0;
        self.pc = next;
        Ok(())
    }
}

const CSR_MEPC: usize = 0x341;

impl Vm {
    /// The instruction at `pc` when the predecoded cache does not hold it: a word of an
    /// executable segment outside its executable sections (code placed in an RWX segment's
    /// data, as a user-mode build of riscv-tests' fence_i has) or in its zero-filled tail is
    /// decoded from memory now (and cached when the cache covers it; a store there decodes it
    /// again, see [`Vm::redecode`]). Anything else is the fault, with its reason.
    #[cold]
    #[inline(never)]
    fn fetch_uncached(&mut self) -> Result<Inst, Stop> {
        let pc = self.pc;
        let idx = (pc.wrapping_sub(self.code_base) / 4) as usize;
        let cached = idx < self.code.len();
        if pc & 3 != 0 {
            return Err(self.fault(
                FaultKind::Misaligned,
                Some(pc),
                "instruction address not 4-byte aligned".into(),
            ));
        }
        let executable = self
            .exec
            .iter()
            .any(|&(s, e)| s <= u64::from(pc) && u64::from(pc) + 4 <= e);
        if !cached && !executable {
            return Err(self.fault(
                FaultKind::IllegalInstruction,
                Some(pc),
                format!(
                    "pc is outside the executable segments {:#x}..{:#x}",
                    self.code_base, self.code_end
                ),
            ));
        }
        let word = self.mem.load(pc, 4).unwrap_or(0);
        let why = match isa::decode(word) {
            // A custom-0 word that is not OpenVM's `terminate` (which decodes): named.
            Err(_) if executable && word & 0x7f == crate::abi::CUSTOM0 => {
                return Err(self.custom0(word));
            }
            Ok(_) if !executable => {
                "it lies between the executable segments, in memory that is not executable"
                    .to_string()
            }
            Ok(inst) => {
                if cached {
                    self.code[idx] = Some(inst);
                    self.blocks.code_changed(idx);
                }
                return Ok(inst);
            }
            Err(e) => e.to_string(),
        };
        Err(self.fault(
            FaultKind::IllegalInstruction,
            Some(pc),
            format!("word {word:#010x} cannot be executed: {why}"),
        ))
    }

    /// A store into code: decode the changed words again, so the predecoded cache always
    /// equals memory (self-modifying code, and data placed in an executable segment, as the
    /// RISC-V ISA tests do).
    #[cold]
    fn redecode(&mut self, addr: u32, len: u32) {
        let first = addr & !3;
        let last = addr.wrapping_add(len - 1) & !3;
        for w in [first, last] {
            let idx = (w.wrapping_sub(self.code_base) / 4) as usize;
            if idx < self.code.len() {
                // Only words of an executable segment are code (the cache may span a gap
                // between two executable segments); the others stay undecoded.
                let exec = self
                    .exec
                    .iter()
                    .any(|&(s, e)| s <= u64::from(w) && u64::from(w) + 4 <= e);
                let word = self.mem.load(w, 4).unwrap_or(0);
                self.code[idx] = if exec { isa::decode(word).ok() } else { None };
                self.blocks.code_changed(idx);
                if self.static_code[idx / 64] >> (idx % 64) & 1 == 1 {
                    self.code_written.insert(w);
                }
            }
        }
    }

    /// Zicsr on a plain CSR file: enough for bare-metal start-up code (the RISC-V ISA tests'
    /// environment writes mtvec, mstatus, mepc… and reads mhartid). Counters read the cycle
    /// count; writing a read-only CSR (`unimp` is `csrrw x0, cycle, x0`) is illegal.
    #[cold]
    fn csr(&mut self, i: Inst) -> Result<u32, Stop> {
        let csr = (i.imm as u32 & 0xfff) as usize;
        let imm_form = matches!(i.op, Op::Csrrwi | Op::Csrrsi | Op::Csrrci);
        let src = if imm_form {
            u32::from(i.rs1)
        } else {
            self.regs[i.rs1 as usize]
        };
        let writes = matches!(i.op, Op::Csrrw | Op::Csrrwi) || i.rs1 != 0;
        let old = match csr {
            0xc00..=0xc02 => self.cycles as u32,
            0xc80..=0xc82 => (self.cycles >> 32) as u32,
            0xf14 => 0,                                // mhartid: one hart
            0x301 => (1 << 30) | (1 << 8) | (1 << 12), // misa: RV32 I M
            _ => self.csrs[csr],
        };
        if writes {
            if csr >> 10 == 3 {
                if crate::abi::is_legacy_halt(self.abi, &i) {
                    // `unimp`: the halt of the Nexus runtime before 0.3. That VM has no exit
                    // code: its run ends there with success, whatever a0 holds (`abort` too;
                    // a panic shows only as its "PANIC" log line).
                    return Err(Stop::Exit(0));
                }
                let hint = if self.abi == Abi::Nexus && csr == 0xc00 {
                    "; the Nexus runtime before 0.3 halts this way: run with --abi nexus-legacy"
                } else {
                    ""
                };
                return Err(self.fault(
                    FaultKind::IllegalInstruction,
                    None,
                    format!("write to the read-only CSR {csr:#x} (unimp){hint}"),
                ));
            }
            self.csrs[csr] = match i.op {
                Op::Csrrw | Op::Csrrwi => src,
                Op::Csrrs | Op::Csrrsi => old | src,
                _ => old & !src,
            };
        }
        Ok(old)
    }
}

/// RV32M DIV: x/0 = -1, MIN/-1 = MIN.
/// The register-to-register and immediate operations of RV32IM: `rd`'s value from the operands
/// (`imm` for the immediate forms), `None` for any other instruction. One definition for the
/// checked step and the fast loop, so the two cannot disagree.
#[inline(always)]
fn alu(op: Op, a: u32, b: u32, imm: u32) -> Option<u32> {
    Some(match op {
        Op::Addi => a.wrapping_add(imm),
        Op::Slti => ((a as i32) < (imm as i32)) as u32,
        Op::Sltiu => (a < imm) as u32,
        Op::Xori => a ^ imm,
        Op::Ori => a | imm,
        Op::Andi => a & imm,
        Op::Slli => a << (imm & 31),
        Op::Srli => a >> (imm & 31),
        Op::Srai => ((a as i32) >> (imm & 31)) as u32,
        Op::Add => a.wrapping_add(b),
        Op::Sub => a.wrapping_sub(b),
        Op::Sll => a << (b & 31),
        Op::Slt => ((a as i32) < (b as i32)) as u32,
        Op::Sltu => (a < b) as u32,
        Op::Xor => a ^ b,
        Op::Srl => a >> (b & 31),
        Op::Sra => ((a as i32) >> (b & 31)) as u32,
        Op::Or => a | b,
        Op::And => a & b,
        Op::Mul => a.wrapping_mul(b),
        Op::Mulh => ((i64::from(a as i32) * i64::from(b as i32)) >> 32) as u32,
        Op::Mulhsu => ((i64::from(a as i32) * i64::from(b)) >> 32) as u32,
        Op::Mulhu => ((u64::from(a) * u64::from(b)) >> 32) as u32,
        Op::Div => div(a, b),
        Op::Divu => a.checked_div(b).unwrap_or(u32::MAX),
        Op::Rem => rem(a, b),
        Op::Remu => a.checked_rem(b).unwrap_or(a),
        _ => return None,
    })
}

/// Whether a conditional branch `op` (one of `beq` … `bgeu`) with operands `a`, `b` is taken.
#[inline(always)]
fn branch_taken(op: Op, a: u32, b: u32) -> bool {
    match op {
        Op::Beq => a == b,
        Op::Bne => a != b,
        Op::Blt => (a as i32) < (b as i32),
        Op::Bge => (a as i32) >= (b as i32),
        Op::Bltu => a < b,
        _ => a >= b,
    }
}

/// The bytes a load or store accesses.
#[inline(always)]
fn width(op: Op) -> u32 {
    match op {
        Op::Lb | Op::Lbu | Op::Sb => 1,
        Op::Lh | Op::Lhu | Op::Sh => 2,
        _ => 4,
    }
}

/// A loaded value as `rd` receives it (sign extension of `lb` and `lh`).
#[inline(always)]
fn extend(op: Op, x: u32) -> u32 {
    match op {
        Op::Lb => x as u8 as i8 as i32 as u32,
        Op::Lh => x as u16 as i16 as i32 as u32,
        _ => x,
    }
}

pub fn div(a: u32, b: u32) -> u32 {
    let (a, b) = (a as i32, b as i32);
    if b == 0 {
        u32::MAX
    } else {
        a.wrapping_div(b) as u32
    }
}

/// RV32M REM: x%0 = x, MIN%-1 = 0.
pub fn rem(a: u32, b: u32) -> u32 {
    let (a, b) = (a as i32, b as i32);
    if b == 0 {
        a as u32
    } else {
        a.wrapping_rem(b) as u32
    }
}

#[cfg(test)]
mod tests;
