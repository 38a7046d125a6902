//! What a proof states, and the native replay of the system-call transcript.
//!
//! The STARK proves that the guest's execution is consistent with a public transcript: at
//! each `ecall` (and Nexus tape instruction) the registers held the listed values, the listed
//! register was written with the listed value, and guest memory held (or received) the listed
//! bytes. What those system calls *mean* is host behaviour, so the verifier checks it here, in
//! native code: [`replay`] runs the transcript against the ABI and the public input and
//! derives the exit code and outputs the statement claims.

use crate::isa::{self, Op};
use crate::vm::Abi;
use serde::{Deserialize, Serialize};

/// Most executable segments a statement may name (ELF files have one or two).
pub const MAX_EXEC_SEGMENTS: usize = 256;

/// The claim a proof makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub abi: Abi,
    /// SHA-256 of the initial memory image, the entry point and the instruction ranges
    /// ([`image_digest`]).
    pub image_digest: String,
    pub entry: u32,
    pub memlimit: u64,
    /// Lowest loaded address and end of text, data and bss: an `sp`-based access between
    /// `image_end` and `stack_bottom` is a stack overflow.
    pub image_start: u32,
    pub image_end: u32,
    pub stack_bottom: u32,
    pub stack_top: u32,
    pub heap_start: u32,
    pub heap_end: u32,
    /// Heap and stack share one region (the Nexus 0.3 runtime).
    pub shared: bool,
    /// Initial program break (linux-rv32 `brk`).
    pub brk: u32,
    /// `sp` at the entry: 0, or the loader's initial stack pointer (layout family e: the
    /// initial stack, argc, argv, envp and auxv, is part of the image).
    pub initial_sp: u32,
    /// The byte ranges `[start, end)` the guest may touch, as the VM enforces them: image and
    /// heap, then stack (equal when heap and stack share one region).
    pub regions: [(u64, u64); 2],
    /// The HTIF `tohost` word (Spike, the RISC-V ISA tests), when the ELF names one: it is
    /// read-only in a proof (a store to it ends the VM's run; see `docs/RULES.md`).
    pub tohost: Option<u32>,
    /// A zero-knowledge proof: hiding commitments ([`super::ZkConfig`]), every table at least
    /// [`super::witness::ZK_MIN_ROWS`] rows. See `docs/ZK.md`.
    pub zk: bool,
    pub cycles: u64,
    pub exit_code: i32,
    /// The bytes of `--input` the run read: a stream's bytes consumed (linux-rv32, RISC Zero's
    /// SYS_READ), the input up to the end of the highest tape word read (Nexus), the hint
    /// frames the guest saw, whole (SP1). The run is the same for every input that starts
    /// with them.
    pub public_input: Vec<u8>,
    /// The length of `--input`. Nexus: the input tape's first word, which the guest may read;
    /// `public_input` is its prefix up to the highest word read. Every other ABI: the length
    /// of `public_input`.
    pub input_len: u64,
    /// Where the input is placed in memory before the run, as part of the initial memory
    /// (Ceno: its hints region at `_hints_start`, which the guest reads as memory); `None`
    /// under every other ABI.
    pub input_at: Option<u32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Nexus public output (the output tape after the exit-code word).
    pub public_output: Vec<u8>,
    /// The run ended with the HTIF exit: its last instruction stored the odd word
    /// `(exit_code << 1) | 1` to `tohost` (Spike's convention, the RISC-V architecture tests),
    /// not with an exit system call.
    pub htif_exit: bool,
    /// The instruction words the run stored into (self-modifying code: words of the
    /// instruction ranges, byte addresses, strictly increasing). They are ordinary writable
    /// memory, and every instruction executed there is fetched from memory (FETCH, DYNPROG),
    /// as is every instruction of an executable segment outside the instruction ranges
    /// ([`Public::exec`]); the other instruction words are read-only and looked up in PROGRAM.
    pub code_written: Vec<u32>,
}

/// One system call (or Nexus tape instruction) as the guest saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The run's cycle (in a segment's tables: counted from the segment's first cycle).
    pub clk: u64,
    pub pc: u32,
    /// Registers read and their values.
    pub reads: Vec<(u8, u32)>,
    /// Register written; `None` as the value when it is private (Nexus private input).
    pub write: Option<(u8, Option<u32>)>,
    /// A second register written, after the first (RISC Zero's software calls return a0 and
    /// a1).
    pub write2: Option<(u8, u32)>,
    /// Bytes the host read from guest memory (at the address).
    pub mem_read: Option<(u32, Vec<u8>)>,
    /// A second range the host read (RISC Zero's software calls read the call's name, then
    /// the buffer a write or log call names).
    pub mem_read2: Option<(u32, Vec<u8>)>,
    /// Bytes the host wrote into guest memory.
    pub mem_write: Option<(u32, Vec<u8>)>,
    /// Where execution continues when it is not the next instruction (`mret`).
    #[serde(default)]
    pub next_pc: Option<u32>,
}

/// Everything the verifier needs besides the STARK itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Public {
    pub statement: Statement,
    /// Initial memory: `(address, bytes)`; everything else starts as zero.
    pub image: Vec<(u32, Vec<u8>)>,
    /// Ranges of instruction words: `(address, number of words)`.
    pub code: Vec<(u32, u32)>,
    /// The executable segments `[start, end)` (each loaded segment with `PF_X`, its whole
    /// memory size): where the VM may execute. A word there outside `code`, or one the run
    /// wrote ([`Statement::code_written`]), is executed as memory holds it then.
    pub exec: Vec<(u64, u64)>,
    pub events: Vec<Event>,
}

/// SHA-256 over the entry point, the instruction ranges, the executable segments, the
/// `tohost` word and the initial memory: everything the ELF contributes to the machine a
/// proof is about.
pub fn image_digest(
    entry: u32,
    code: &[(u32, u32)],
    exec: &[(u64, u64)],
    image: &[(u32, Vec<u8>)],
    tohost: Option<u32>,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"nexus-relink image v3");
    h.update((exec.len() as u32).to_le_bytes());
    for (s, e) in exec {
        h.update(s.to_le_bytes());
        h.update(e.to_le_bytes());
    }
    h.update(entry.to_le_bytes());
    match tohost {
        Some(a) => {
            h.update([1]);
            h.update(a.to_le_bytes());
        }
        None => h.update([0]),
    }
    h.update((code.len() as u32).to_le_bytes());
    for (a, n) in code {
        h.update(a.to_le_bytes());
        h.update(n.to_le_bytes());
    }
    h.update((image.len() as u32).to_le_bytes());
    for (a, b) in image {
        h.update(a.to_le_bytes());
        h.update((b.len() as u32).to_le_bytes());
        h.update(b);
    }
    hex(&h.finalize())
}

/// The machine a statement is about, without the run: what [`Statement::program_id`] hashes.
/// Every field that decides which runs exist (the program through its image digest, the ABI,
/// the whole memory layout); none of the run's outcome.
#[derive(Serialize)]
struct Machine<'a> {
    abi: Abi,
    image_digest: &'a str,
    entry: u32,
    tohost: Option<u32>,
    memlimit: u64,
    image_start: u32,
    image_end: u32,
    stack_bottom: u32,
    stack_top: u32,
    heap_start: u32,
    heap_end: u32,
    shared: bool,
    brk: u32,
    initial_sp: u32,
    regions: [(u64, u64); 2],
}

impl Statement {
    /// The program identity: SHA-256 (64 hex digits) over everything that defines the machine
    /// a statement is about: the image digest (initial memory, entry, instruction ranges,
    /// `tohost`), the ABI, the memory limit, the regions, the image, heap and stack bounds,
    /// sharing, the initial break and where the input is placed (Ceno). Two statements with one identity are about the same
    /// machine; whoever checks a proof without the ELF compares this one value with the
    /// identity `nexus-relink inspect` prints for the program they expect.
    pub fn program_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let m = Machine {
            abi: self.abi,
            image_digest: &self.image_digest,
            entry: self.entry,
            tohost: self.tohost,
            memlimit: self.memlimit,
            image_start: self.image_start,
            image_end: self.image_end,
            stack_bottom: self.stack_bottom,
            stack_top: self.stack_top,
            heap_start: self.heap_start,
            heap_end: self.heap_end,
            shared: self.shared,
            brk: self.brk,
            initial_sp: self.initial_sp,
            regions: self.regions,
        };
        let mut h = Sha256::new();
        h.update(b"nexus-relink program v1");
        h.update(postcard::to_allocvec(&m).expect("serialisable"));
        // Where the input goes (Ceno's hints region), for the machines that place it.
        if let Some(at) = self.input_at {
            h.update(b"input at");
            h.update(at.to_le_bytes());
        }
        hex(&h.finalize())
    }
}

/// Lower-case hex digits of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

impl Public {
    /// Instruction ranges inside the image, word-aligned, not overflowing: what a decoded
    /// (possibly hostile) proof file must satisfy before anything iterates over them.
    pub fn check_shape(&self) -> Result<(), String> {
        let inside = |a: u64, len: u64| {
            self.image
                .iter()
                .any(|(s, b)| u64::from(*s) <= a && a + len <= u64::from(*s) + b.len() as u64)
        };
        for &(a, n) in &self.code {
            if a % 4 != 0 || !inside(u64::from(a), 4 * u64::from(n)) {
                return Err(format!(
                    "instruction range {a:#x} + {n} words is not in the image"
                ));
            }
        }
        if self.exec.len() > MAX_EXEC_SEGMENTS
            || self.exec.iter().any(|&(s, e)| s >= e || e > 1 << 32)
        {
            return Err("the executable segments are not ranges below 4 GiB".into());
        }
        let cw = &self.statement.code_written;
        if cw.windows(2).any(|w| w[0] >= w[1]) || cw.iter().any(|&a| !self.in_code(a)) {
            return Err(
                "the written instruction words are not increasing words of the instruction ranges"
                    .into(),
            );
        }
        if self
            .image
            .iter()
            .any(|(a, b)| u64::from(*a) + b.len() as u64 > 1 << 32)
        {
            return Err("an image region ends past 4 GiB".into());
        }
        // Every initial byte inside a region the guest may touch.
        let [(s0, e0), (s1, e1)] = self.statement.regions;
        for (a, b) in &self.image {
            let (a, e) = (u64::from(*a), u64::from(*a) + b.len() as u64);
            if !b.is_empty() && (a < s0 || e > e1 || (a < s1 && e > e0)) {
                return Err(format!(
                    "image bytes {a:#x}..{e:#x} are outside the memory regions"
                ));
            }
        }
        if self.events.len() as u64 > self.statement.cycles {
            return Err("more system calls than cycles".into());
        }
        // Input placed in memory lies beside the image (and `tohost`), never over it.
        if let (Some(at), false) = (
            self.statement.input_at,
            self.statement.public_input.is_empty(),
        ) {
            let (s, e) = (
                u64::from(at),
                u64::from(at) + self.statement.public_input.len() as u64,
            );
            let over = |a: u64, len: u64| a < e && s < a + len;
            if self
                .image
                .iter()
                .any(|(a, b)| over(u64::from(*a), b.len() as u64))
                || self.statement.tohost.is_some_and(|t| over(u64::from(t), 4))
            {
                return Err(format!(
                    "the input placed at {s:#x}..{e:#x} overlaps the image"
                ));
            }
        }
        Ok(())
    }

    /// The initial value of the byte at `addr`.
    pub fn image_byte(&self, addr: u32) -> u8 {
        crate::vm::trace::initial_byte(&self.image, addr)
    }

    pub fn image_word(&self, addr: u32) -> u32 {
        u32::from_le_bytes(std::array::from_fn(|k| {
            self.image_byte(addr.wrapping_add(k as u32))
        }))
    }

    /// The instruction words the run never wrote, `(address, word)`: read-only, in PROGRAM.
    pub fn static_code_words(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        let written = &self.statement.code_written;
        self.code_words()
            .filter(move |(a, _)| written.binary_search(a).is_err())
    }

    /// Whether `pc` is a read-only instruction word (in the instruction ranges, never written
    /// by the run): PROGRAM's.
    pub fn is_static_code(&self, pc: u32) -> bool {
        self.in_code(pc) && self.statement.code_written.binary_search(&pc).is_err()
    }

    /// Whether `pc` is a word of the instruction ranges.
    fn in_code(&self, pc: u32) -> bool {
        pc % 4 == 0
            && self
                .code
                .iter()
                .any(|&(s, n)| pc >= s && u64::from(pc - s) < 4 * u64::from(n))
    }

    /// Whether the VM may execute the word at `pc` (inside an executable segment).
    pub fn executable(&self, pc: u32) -> bool {
        let pc = u64::from(pc);
        self.exec.iter().any(|&(s, e)| s <= pc && pc + 4 <= e)
    }

    /// Instruction words `(address, word)`.
    pub fn code_words(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.code.iter().flat_map(move |&(a, n)| {
            (0..n).map(move |i| {
                let addr = a + 4 * i;
                (addr, self.image_word(addr))
            })
        })
    }
}

/// SHA-256 of a public part in its canonical encoding: the statement, image, instruction
/// ranges and transcript. It enters the STARK as public values, which the Fiat-Shamir
/// transcript absorbs before any challenge: a proof made for one public part fails for any
/// other (see [`super::verify`]).
/// The digest of everything public but the transcript: what a proof's segments are bound to,
/// each also to its own events ([`super::segment::segment_digest`]), so that a segment can be
/// proven as soon as the run reaches its end.
pub fn statement_digest(p: &Public) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"nexus-relink statement v");
    h.update(super::VERSION.to_le_bytes());
    h.update(postcard::to_allocvec(&p.statement).expect("serialisable"));
    h.update(postcard::to_allocvec(&p.image).expect("serialisable"));
    h.update(postcard::to_allocvec(&p.code).expect("serialisable"));
    h.update(postcard::to_allocvec(&p.exec).expect("serialisable"));
    h.finalize().into()
}

pub fn public_digest(p: &Public) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"nexus-relink public v");
    h.update(super::VERSION.to_le_bytes());
    h.update(postcard::to_allocvec(p).expect("serialisable"));
    h.finalize().into()
}

impl Statement {
    /// The statement's own rules, checked before anything else: regions word-aligned, ordered
    /// and inside the memory limit, the layout inside them, the break and `tohost` sensible.
    /// Returns the first rule broken.
    pub fn check_consistency(&self) -> Result<(), String> {
        let limit = self.memlimit;
        if limit == 0 || limit > super::MAX_MEMLIMIT || limit % 4 != 0 {
            return Err(format!(
                "memory limit {limit:#x}: the proof system handles multiples of 4 up to 4 GiB"
            ));
        }
        if self.entry % 4 != 0 {
            return Err(format!(
                "entry point {:#x} is not 4-byte aligned",
                self.entry
            ));
        }
        let [(s0, e0), (s1, e1)] = self.regions;
        if [s0, e0, s1, e1].iter().any(|v| v % 4 != 0) {
            return Err("a memory region bound is not a multiple of 4".into());
        }
        if self.shared {
            if (s1, e1) != (s0, e0) || e0 != limit || s0 >= e0 {
                return Err(
                    "a shared heap/stack region must be one range up to the memory limit".into(),
                );
            }
        } else if !(s0 < e0 && e0 <= s1 && s1 < e1 && e1 == limit) {
            return Err(format!(
                "memory regions {s0:#x}..{e0:#x} and {s1:#x}..{e1:#x} are not ordered inside the memory limit {limit:#x}"
            ));
        }
        let (img_s, img_e) = (u64::from(self.image_start), u64::from(self.image_end));
        if !(s0 <= img_s && img_s <= img_e && img_e <= e0) {
            return Err(format!(
                "image {img_s:#x}..{img_e:#x} is not inside the first region {s0:#x}..{e0:#x}"
            ));
        }
        let (hs, he) = (u64::from(self.heap_start), u64::from(self.heap_end));
        let (sb, top) = (u64::from(self.stack_bottom), u64::from(self.stack_top));
        if !(sb <= top && top <= limit && hs <= he && he <= limit) {
            return Err(format!(
                "heap {hs:#x}..{he:#x} and stack {sb:#x}..{top:#x} are not ordered below the memory limit {limit:#x}"
            ));
        }
        // Without sharing, the heap ends inside the first region, the stack begins at or above
        // the heap end, and the stack region begins no higher than the stack bottom.
        if !(self.shared || he <= e0 && he <= sb && s1 <= sb.max(img_e)) {
            return Err(format!(
                "heap end {he:#x} and stack bottom {sb:#x} do not match the regions {s0:#x}..{e0:#x} and {s1:#x}..{e1:#x}"
            ));
        }
        let brk = u64::from(self.brk);
        if brk % 4096 != 0 || brk < img_e || brk > limit.next_multiple_of(4096) {
            return Err(format!(
                "initial break {brk:#x} is not a page boundary between the image end and the limit"
            ));
        }
        if let Some(t) = self.tohost {
            let t = u64::from(t);
            if t % 4 != 0 || !((s0..e0).contains(&t) || (s1..e1).contains(&t)) {
                return Err(format!(
                    "tohost word {t:#x} is not an aligned word of a region"
                ));
            }
        }
        if self.initial_sp != 0
            && (self.initial_sp % 16 != 0 || !(sb..=top).contains(&u64::from(self.initial_sp)))
        {
            return Err(format!(
                "initial sp {:#x} is not a 16-byte aligned address of the stack {sb:#x}..{top:#x}",
                self.initial_sp
            ));
        }
        if self.cycles == 0 {
            return Err("a run of zero cycles".into());
        }
        let stated = self.public_input.len() as u64;
        if self.input_at.is_some() && self.abi != Abi::Ceno {
            return Err("only a Ceno guest's input is placed in memory".into());
        }
        if let Some(at) = self.input_at {
            let end = u64::from(at) + stated;
            let inside = |(s, e): (u64, u64)| u64::from(at) >= s && end <= e;
            if !self.public_input.is_empty() && !self.regions.into_iter().any(inside) {
                return Err(format!(
                    "the input placed at {at:#x}..{end:#x} is outside the memory regions"
                ));
            }
        }
        if self.abi.nexus_calls() {
            if self.input_len < stated || self.input_len > u64::from(u32::MAX) {
                return Err(format!(
                    "input length {} is not a 32-bit length of at least the {stated} input bytes stated",
                    self.input_len
                ));
            }
        } else if self.input_len != stated {
            return Err(format!(
                "input length {} is not the {stated} input bytes stated (only a Nexus input tape states a longer input)",
                self.input_len
            ));
        }
        Ok(())
    }
}

/// The registers an `ecall` reads under `abi`, in the transcript's order: the call number's
/// register (a7, or t0 for the conventions that number calls in t0: SP1, RISC Zero, Ceno),
/// then a0, a1, a2 (and a3, a4, a5 under RISC Zero, whose software calls take six
/// arguments). `None` for the ABIs outside the proof's machine.
pub fn ecall_reads(abi: Abi) -> Option<&'static [u8]> {
    match abi {
        Abi::Nexus | Abi::NexusMixed | Abi::LinuxRv32 => Some(&[17, 10, 11, 12]),
        Abi::Sp1 | Abi::Ceno => Some(&[5, 10, 11, 12]),
        Abi::Risc0 => Some(&[5, 10, 11, 12, 13, 14, 15]),
        // The Nexus VM before 0.3: the number in s2, arguments in a1, a2; a7 = 0x402 overwrites
        // sp as in 0.3 (nexus-xyz/nexus-zkvm `vm/src/syscalls.rs`).
        Abi::NexusLegacy => Some(&[18, 11, 12, 17]),
        _ => None,
    }
}

pub use crate::abi::is_legacy_halt;

/// The width of a load or store whose address `addr` is not a multiple of it (a halfword at
/// an odd address, a word off a word boundary): such an access is an event of the
/// transcript, its bytes IOW's, as qemu and the VM perform it. `None` for an aligned access
/// or another instruction.
pub fn misaligned(op: isa::Op, addr: u32) -> Option<u32> {
    use isa::Op;
    let width = match op {
        Op::Lh | Op::Lhu | Op::Sh => 2,
        Op::Lw | Op::Sw => 4,
        _ => return None,
    };
    (addr % width != 0).then_some(width)
}

/// The register an `ecall` writes under `abi`, given the call number `n` (the trace names only
/// a register whose value changed, so this follows from the ABI).
pub fn ecall_writes(abi: Abi, n: u32) -> Option<u8> {
    use crate::abi::SP1_HINT_LEN;
    // The late-2024 Nexus runtime numbers its calls as 0.3 does.
    let abi = abi.call_numbering();
    match (abi, n) {
        (Abi::Nexus, 0x201) | (Abi::LinuxRv32, 93 | 94) => None,
        (Abi::Nexus, 0x402) => Some(2),
        (Abi::Nexus | Abi::LinuxRv32, _) => Some(10),
        (Abi::Sp1, SP1_HINT_LEN) => Some(5),
        // RISC Zero's software calls return a0 (and a1: `Event::write2`).
        (Abi::Risc0, 2) => Some(10),
        (Abi::NexusLegacy, 1 | 2 | 3 | 5) => Some(10),
        (Abi::NexusLegacy, _) => Some(2),
        _ => None,
    }
}

/// A system call the proof's machine cannot state, refused by name before proving: RISC
/// Zero's calls other than the halt and the software calls (its precompiles), Ceno's other
/// than its halt.
pub fn unprovable_call(abi: Abi, n: u32) -> Option<String> {
    match (abi, n) {
        (Abi::Risc0, 0 | 2) | (Abi::Ceno, 0) => None,
        (Abi::Risc0, n) => Some(format!("the RISC Zero ecall t0 = {n:#x} ({}) is not in the proof's machine; only its halt and software calls are", crate::abi::risc0_name(n).unwrap_or("unknown"))),
        (Abi::Ceno, n) => Some(format!("the Ceno call t0 = {n:#x} is not in the proof's machine; only its halt is")),
        _ => None,
    }
}

const ENOSYS: i32 = 38;
const EBADF: i32 = 9;

/// Check the transcript against the ABI and the statement's public input; return nothing or
/// the first inconsistency. Also checks that the statement's outputs, exit code and cycle
/// count are those the transcript implies.
pub fn replay(p: &Public) -> Result<(), String> {
    let st = &p.statement;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut out_tape: Vec<u8> = Vec::new();
    // Nexus: the tape's first word is the input's length; the statement holds the input up to
    // the highest word the run read, so a read past it is a read the run did not make.
    let mut in_tape = (st.input_len as u32).to_le_bytes().to_vec();
    in_tape.extend_from_slice(&st.public_input);
    let mut input_pos = 0usize;
    // SP1: the hint stream (the input's frames, and frames the guest writes to fd 4/14), and
    // the public values written to fd 3/13.
    use crate::abi::{
        RISC0_HALT_PAUSE, RISC0_HALT_TERMINATE, SP1_COMMIT, SP1_COMMIT_DEFERRED_PROOFS,
        SP1_FD_HINT, SP1_FD_PUBLIC_VALUES, SP1_HALT, SP1_HINT_LEN, SP1_HINT_READ, SP1_WRITE,
    };
    let mut hints = if st.abi == Abi::Sp1 {
        crate::abi::sp1_frames(&st.public_input)?
    } else {
        std::collections::VecDeque::new()
    };
    let mut sp1_public: Vec<u8> = Vec::new();
    // RISC Zero: the journal, written to fd 3.
    let mut risc0_journal: Vec<u8> = Vec::new();
    // Nexus before 0.3: the output written with s2 = 3.
    let mut legacy_public: Vec<u8> = Vec::new();
    let mut brk = st.brk;
    let mut exit: Option<i32> = None;
    let mut last_clk: Option<u64> = None;
    // Machine CSRs, as the VM keeps them (bare-metal start-up code: the RISC-V ISA tests).
    let mut csrs: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
    // The instruction an event executed: a read-only word of PROGRAM (an event at a word the
    // run wrote, or outside the instruction ranges, has none: those are fetched from memory,
    // and which word was there is not the transcript's).
    let code: std::collections::HashMap<u32, u32> = p.static_code_words().collect();
    for (i, e) in p.events.iter().enumerate() {
        let at = format!("system call {i} (cycle {}, pc {:#x})", e.clk, e.pc);
        if last_clk.is_some_and(|c| e.clk <= c) {
            return Err(format!("{at}: events are not in cycle order"));
        }
        last_clk = Some(e.clk);
        if exit.is_some() {
            return Err(format!("{at}: the guest exited before it"));
        }
        let word = *code
            .get(&e.pc)
            .ok_or_else(|| format!("{at}: no instruction at that pc"))?;
        let inst = isa::decode(word).map_err(|_| format!("{at}: undecodable instruction"))?;
        let none = |e: &Event| e.mem_read.is_none() && e.mem_write.is_none();
        if e.reads.len() > super::tables::ev::READS {
            return Err(format!("{at}: more registers read than an event holds"));
        }
        // Only a RISC Zero software call writes two registers or reads two ranges.
        let software = st.abi == Abi::Risc0
            && inst.op == Op::Ecall
            && e.reads.first().is_some_and(|&(r, v)| r == 5 && v == 2);
        if !software && (e.write2.is_some() || e.mem_read2.is_some()) {
            return Err(format!(
                "{at}: only a RISC Zero software call writes two registers or reads two byte ranges"
            ));
        }
        if e.next_pc.is_some() && inst.op != Op::Mret {
            return Err(format!("{at}: only mret continues elsewhere"));
        }
        match inst.op {
            // The Nexus VM before 0.3 ends its run at `unimp` with success: exit code 0.
            Op::Csrrw if is_legacy_halt(st.abi, &inst) => match e.reads[..] {
                [(r, _)] if r == inst.rs1 => {
                    if e.write.is_some() || !none(e) {
                        return Err(format!("{at}: the unimp halt writes nothing"));
                    }
                    exit = Some(0);
                }
                _ => return Err(format!("{at}: the unimp halt reads rs1")),
            },
            Op::Csrrw | Op::Csrrs | Op::Csrrc | Op::Csrrwi | Op::Csrrsi | Op::Csrrci => {
                let csr = inst.imm as u32 & 0xfff;
                let imm_form = matches!(inst.op, Op::Csrrwi | Op::Csrrsi | Op::Csrrci);
                let src = if imm_form {
                    if !e.reads.is_empty() {
                        return Err(format!(
                            "{at}: an immediate CSR instruction reads no register"
                        ));
                    }
                    u32::from(inst.rs1)
                } else {
                    match e.reads[..] {
                        [(r, v)] if r == inst.rs1 => v,
                        _ => return Err(format!("{at}: a CSR instruction reads rs1")),
                    }
                };
                let writes = matches!(inst.op, Op::Csrrw | Op::Csrrwi) || inst.rs1 != 0;
                // Counters read the cycle count (the VM counts this instruction).
                let cycles = e.clk + 1;
                let old = match csr {
                    0xc00..=0xc02 => cycles as u32,
                    0xc80..=0xc82 => (cycles >> 32) as u32,
                    0xf14 => 0,
                    0x301 => (1 << 30) | (1 << 8) | (1 << 12),
                    _ => csrs.get(&csr).copied().unwrap_or(0),
                };
                if writes {
                    if csr >> 10 == 3 {
                        return Err(format!("{at}: write to a read-only CSR"));
                    }
                    let new = match inst.op {
                        Op::Csrrw | Op::Csrrwi => src,
                        Op::Csrrs | Op::Csrrsi => old | src,
                        _ => old & !src,
                    };
                    csrs.insert(csr, new);
                }
                let want = (inst.rd != 0).then_some((inst.rd, Some(old)));
                if e.write != want || !none(e) {
                    return Err(format!("{at}: CSR {csr:#x} read as another value"));
                }
            }
            Op::Mret => {
                let mepc = csrs.get(&0x341).copied().unwrap_or(0);
                if !e.reads.is_empty()
                    || e.write.is_some()
                    || !none(e)
                    || e.next_pc != Some(mepc)
                    || mepc % 4 != 0
                {
                    return Err(format!("{at}: mret must continue at mepc"));
                }
            }
            Op::Ecall => {
                let Some(want) = ecall_reads(st.abi) else {
                    return Err(if st.abi.provable() {
                        format!("{at}: the {} ABI makes no ecall", st.abi.name())
                    } else {
                        format!(
                            "{at}: the {} ABI is not in the proof's machine",
                            st.abi.name()
                        )
                    });
                };
                let regs: Vec<u8> = e.reads.iter().map(|r| r.0).collect();
                let nreg = match want[0] {
                    5 => "t0",
                    18 => "s2",
                    _ => "a7",
                };
                if regs != want {
                    let names = if want[0] == 18 {
                        "s2, a1, a2, a7"
                    } else if want.len() == 7 {
                        "t0, a0, a1, a2, a3, a4, a5"
                    } else if want[0] == 5 {
                        "t0, a0, a1, a2"
                    } else {
                        "a7, a0, a1, a2"
                    };
                    return Err(format!("{at}: an ecall reads {names}"));
                }
                let v = [e.reads[0].1, e.reads[1].1, e.reads[2].1, e.reads[3].1];
                // Nexus before 0.3 reads s2 (the number), a1, a2 and a7 (for 0x402).
                let (a7, a0, a1, a2, legacy_a7) = if st.abi == Abi::NexusLegacy {
                    (v[0], 0, v[1], v[2], v[3])
                } else {
                    (v[0], v[1], v[2], v[3], 0)
                };
                let ret = |v: u32| Some((10u8, Some(v)));
                let read_bytes = |e: &Event| -> Result<Vec<u8>, String> {
                    match &e.mem_read {
                        Some((addr, bytes))
                            if *addr == a1 && bytes.len() as u64 == u64::from(a2) =>
                        {
                            Ok(bytes.clone())
                        }
                        None if a2 == 0 => Ok(Vec::new()),
                        _ => Err(format!("{at}: the bytes read are not [a1, a1 + a2)")),
                    }
                };
                let expect = |ok: bool| {
                    if ok {
                        Ok(())
                    } else {
                        Err(format!(
                            "{at}: does not follow the {} ABI ({nreg} = {a7:#x})",
                            st.abi.name()
                        ))
                    }
                };
                // The late-2024 Nexus runtime numbers its calls as 0.3 does.
                let abi_calls = st.abi.call_numbering();
                match (abi_calls, a7) {
                    (Abi::LinuxRv32, 93 | 94) | (Abi::Nexus, 0x201) => {
                        expect(e.write.is_none() && none(e))?;
                        exit = Some(a0 as i32);
                    }
                    (Abi::LinuxRv32, 64) => {
                        let bytes = read_bytes(e)?;
                        expect(e.mem_write.is_none())?;
                        match a0 {
                            1 => stdout.extend_from_slice(&bytes),
                            2 => stderr.extend_from_slice(&bytes),
                            _ => {}
                        }
                        let v = if matches!(a0, 1 | 2) {
                            a2
                        } else {
                            (-EBADF) as u32
                        };
                        expect(e.write == ret(v))?;
                    }
                    (Abi::LinuxRv32, 63) => {
                        expect(e.mem_read.is_none())?;
                        if a0 != 0 {
                            expect(e.mem_write.is_none() && e.write == ret((-EBADF) as u32))?;
                        } else {
                            let rest = &st.public_input[input_pos.min(st.public_input.len())..];
                            let n = rest.len().min(a2 as usize);
                            let ok_mem = match &e.mem_write {
                                Some((addr, b)) => *addr == a1 && b[..] == rest[..n],
                                None => n == 0,
                            };
                            expect(ok_mem && e.write == ret(n as u32))?;
                            input_pos += n;
                        }
                    }
                    (Abi::LinuxRv32, 214) => {
                        expect(none(e))?;
                        if a0 >= brk && a0 <= st.stack_bottom.max(brk) {
                            brk = a0;
                        }
                        expect(e.write == ret(brk))?;
                    }
                    (Abi::LinuxRv32, _) => {
                        expect(none(e) && e.write == ret((-ENOSYS) as u32))?;
                    }
                    (Abi::Nexus, 0x200) => {
                        let bytes = read_bytes(e)?;
                        expect(e.mem_write.is_none())?;
                        let v = if a0 == 1 {
                            stdout.extend_from_slice(&bytes);
                            a2
                        } else {
                            u32::MAX
                        };
                        expect(e.write == ret(v))?;
                    }
                    (Abi::Nexus, 0x400) => expect(none(e) && e.write == Some((10, None)))?,
                    (Abi::Nexus, 0x401 | 0x403 | 0x405) => expect(none(e) && e.write == ret(0))?,
                    (Abi::Nexus, 0x402) => {
                        expect(none(e) && e.write == Some((2, Some(st.stack_top))))?
                    }
                    (Abi::Nexus, _) => {
                        return Err(format!("{at}: unknown Nexus system call {a7:#x}"))
                    }
                    (Abi::NexusLegacy, 1 | 3 | 5) => {
                        // a1 = address, a2 = length: read by the host (a log line, the public
                        // output, or profiling); a0 = 0, or 5 for the profile call.
                        let bytes = read_bytes(e)?;
                        expect(e.mem_write.is_none())?;
                        match a7 {
                            1 => stdout.extend_from_slice(&bytes),
                            3 => legacy_public.extend_from_slice(&bytes),
                            _ => {}
                        }
                        expect(e.write == ret(if a7 == 5 { 5 } else { 0 }))?;
                    }
                    (Abi::NexusLegacy, 2) => expect(none(e) && e.write == Some((10, None)))?,
                    (Abi::NexusLegacy, _) if legacy_a7 == 0x402 => {
                        expect(none(e) && e.write == Some((2, Some(st.stack_top))))?
                    }
                    (Abi::NexusLegacy, s2) => {
                        return Err(format!(
                            "{at}: unknown Nexus (before 0.3) system call s2 = {s2:#x}"
                        ))
                    }
                    (Abi::Sp1, SP1_HALT) | (Abi::Ceno, 0) => {
                        expect(e.write.is_none() && none(e))?;
                        exit = Some(a0 as i32);
                    }
                    (Abi::Risc0, 0) => {
                        expect(e.write.is_none() && none(e))?;
                        match a0 & 0xff {
                            RISC0_HALT_TERMINATE => exit = Some(((a0 >> 8) & 0xff) as i32),
                            RISC0_HALT_PAUSE => {}
                            ty => return Err(format!("{at}: RISC Zero halt type {ty}")),
                        }
                    }
                    (Abi::Risc0, 2) => {
                        let (buf, words, a3, a4, a5) =
                            (a0, a1, e.reads[4].1, e.reads[5].1, e.reads[6].1);
                        // The call's name: the bytes at a2 up to and with its NUL.
                        let name = match &e.mem_read {
                            Some((addr, b))
                                if *addr == a2
                                    && b.last() == Some(&0)
                                    && !b[..b.len() - 1].contains(&0) =>
                            {
                                &b[..b.len() - 1]
                            }
                            _ => {
                                return Err(format!(
                                    "{at}: a RISC Zero software call reads its NUL-terminated name at a2"
                                ))
                            }
                        };
                        let short = name.rsplit(|&c| c == b':').next().unwrap_or(name);
                        let second = |addr: u32, len: u32| match &e.mem_read2 {
                            Some((a, b)) if *a == addr && b.len() as u64 == u64::from(len) => {
                                Ok(b.clone())
                            }
                            None if len == 0 => Ok(Vec::new()),
                            _ => Err(format!("{at}: the bytes read are not the call's buffer")),
                        };
                        let rets = |r0: u32, r1: u32| {
                            e.write == Some((10, Some(r0))) && e.write2 == Some((11, r1))
                        };
                        match short {
                            b"SYS_WRITE" => {
                                let bytes = second(a4, a5)?;
                                match a3 {
                                    1 => stdout.extend_from_slice(&bytes),
                                    2 => stderr.extend_from_slice(&bytes),
                                    3 => risc0_journal.extend_from_slice(&bytes),
                                    fd => {
                                        return Err(format!("{at}: RISC Zero SYS_WRITE to fd {fd}"))
                                    }
                                }
                                expect(e.mem_write.is_none() && rets(0, 0))?;
                            }
                            b"SYS_READ" => {
                                if a3 != crate::abi::RISC0_FD_STDIN {
                                    return Err(format!("{at}: RISC Zero SYS_READ from fd {a3}"));
                                }
                                // As the VM: whole words into the buffer, the last 0-3 bytes
                                // in a1; a0 the bytes read.
                                let rest = &st.public_input[input_pos.min(st.public_input.len())..];
                                let n = rest.len().min(a4 as usize);
                                let full = (n / 4).min(words as usize);
                                let tail = (n - 4 * full).min(4);
                                let mut last = [0u8; 4];
                                last[..tail].copy_from_slice(&rest[4 * full..4 * full + tail]);
                                let ok_mem = match &e.mem_write {
                                    Some((addr, b)) => *addr == buf && b[..] == rest[..4 * full],
                                    None => full == 0,
                                };
                                expect(
                                    e.mem_read2.is_none()
                                        && ok_mem
                                        && rets((4 * full + tail) as u32, u32::from_le_bytes(last)),
                                )?;
                                input_pos += 4 * full + tail;
                            }
                            b"SYS_LOG" => {
                                let mut bytes = second(a3, a4)?;
                                bytes.push(b'\n');
                                stderr.extend_from_slice(&bytes);
                                expect(e.mem_write.is_none() && rets(0, 0))?;
                            }
                            b"SYS_CYCLE_COUNT" => {
                                // The VM's count of instructions executed, this one included.
                                let c = e.clk + 1;
                                expect(
                                    e.mem_read2.is_none()
                                        && e.mem_write.is_none()
                                        && rets((c >> 32) as u32, c as u32),
                                )?;
                            }
                            b"SYS_GETENV" | b"SYS_ARGC" => {
                                let r0 = if short == b"SYS_GETENV" { u32::MAX } else { 0 };
                                expect(
                                    e.mem_read2.is_none() && e.mem_write.is_none() && rets(r0, 0),
                                )?;
                            }
                            _ => {
                                return Err(format!(
                                "{at}: RISC Zero software call {} is not in the proof's machine",
                                crate::elf::escape(&String::from_utf8_lossy(name))
                            ))
                            }
                        }
                    }
                    (Abi::Sp1, SP1_WRITE) => {
                        let bytes = read_bytes(e)?;
                        expect(e.mem_write.is_none() && e.write.is_none())?;
                        match a0 {
                            1 => stdout.extend_from_slice(&bytes),
                            2 => stderr.extend_from_slice(&bytes),
                            fd if SP1_FD_PUBLIC_VALUES.contains(&fd) => {
                                sp1_public.extend_from_slice(&bytes)
                            }
                            fd if SP1_FD_HINT.contains(&fd) => hints.push_back(bytes),
                            fd => return Err(format!("{at}: SP1 WRITE to fd {fd}")),
                        }
                    }
                    (Abi::Sp1, SP1_COMMIT | SP1_COMMIT_DEFERRED_PROOFS) => {
                        expect(a0 < 8 && none(e) && e.write.is_none())?;
                    }
                    (Abi::Sp1, SP1_HINT_LEN) => {
                        let len = hints
                            .front()
                            .ok_or_else(|| format!("{at}: HINT_LEN after the last hint"))?
                            .len() as u32;
                        expect(none(e) && e.write == Some((5, Some(len))))?;
                    }
                    (Abi::Sp1, SP1_HINT_READ) => {
                        let frame = hints
                            .pop_front()
                            .ok_or_else(|| format!("{at}: HINT_READ after the last hint"))?;
                        let ok_mem = match &e.mem_write {
                            Some((addr, b)) => *addr == a0 && *b == frame,
                            None => frame.is_empty(),
                        };
                        expect(
                            a1 as usize == frame.len()
                                && ok_mem
                                && e.mem_read.is_none()
                                && e.write.is_none(),
                        )?;
                    }
                    (abi, _) => {
                        return Err(format!(
                            "{at}: the {} ABI is not in the proof's machine",
                            abi.name()
                        ))
                    }
                }
            }
            // OpenVM's terminate: the exit code is the low byte of its immediate.
            Op::Terminate if st.abi == Abi::OpenVm => {
                if !e.reads.is_empty() || e.write.is_some() || !none(e) {
                    return Err(format!("{at}: terminate reads and writes nothing"));
                }
                exit = Some((inst.imm as u32 & 0xff) as i32);
            }
            Op::NexusRead | Op::NexusWrite if st.abi.nexus_calls() => {
                if !none(e) {
                    return Err(format!("{at}: a tape instruction touches no memory"));
                }
                let v1 = match e.reads.first() {
                    Some(&(r, v)) if r == inst.rs1 => v,
                    _ => return Err(format!("{at}: must read rs1")),
                };
                let off = v1.wrapping_add(inst.imm as u32) as usize;
                if inst.op == Op::NexusRead {
                    if (off + 4).min(4 + st.input_len as usize) > in_tape.len() {
                        return Err(format!(
                            "{at}: reads input tape bytes {off}..{} past the {} stated",
                            off + 4,
                            in_tape.len()
                        ));
                    }
                    let w = u32::from_le_bytes(std::array::from_fn(|k| {
                        in_tape.get(off + k).copied().unwrap_or(0)
                    }));
                    let want = (inst.rd != 0).then_some((inst.rd, Some(w)));
                    if e.reads.len() != 1 || e.write != want {
                        return Err(format!("{at}: input tape word mismatch"));
                    }
                } else {
                    let v2 = if inst.rs2 == inst.rs1 {
                        (e.reads.len() == 1).then_some(v1)
                    } else {
                        match e.reads.get(1) {
                            Some(&(r, v)) if r == inst.rs2 && e.reads.len() == 2 => Some(v),
                            _ => None,
                        }
                    };
                    let Some(v2) = v2 else {
                        return Err(format!("{at}: must read rs1 and rs2"));
                    };
                    if e.write.is_some() || off > 64 << 20 {
                        return Err(format!("{at}: bad output tape write"));
                    }
                    if out_tape.len() < off + 4 {
                        out_tape.resize(off + 4, 0);
                    }
                    out_tape[off..off + 4].copy_from_slice(&v2.to_le_bytes());
                }
            }
            // A misaligned load or store: the bytes at rs1 + imm, the value as the instruction
            // makes it.
            op @ (Op::Lh | Op::Lhu | Op::Lw | Op::Sh | Op::Sw) => {
                let v1 = match e.reads.first() {
                    Some(&(r, v)) if r == inst.rs1 => v,
                    _ => return Err(format!("{at}: a misaligned access reads rs1")),
                };
                let addr = v1.wrapping_add(inst.imm as u32);
                let Some(width) = misaligned(op, addr) else {
                    return Err(format!("{at}: an aligned access at {addr:#x} is no event"));
                };
                let store = matches!(op, Op::Sh | Op::Sw);
                let ok = if store {
                    let v2 = if inst.rs2 == inst.rs1 {
                        (e.reads.len() == 1).then_some(v1)
                    } else {
                        match e.reads[1..] {
                            [(r, v)] if r == inst.rs2 => Some(v),
                            _ => None,
                        }
                    };
                    v2.is_some_and(|v2| {
                        e.mem_write == Some((addr, v2.to_le_bytes()[..width as usize].to_vec()))
                            && e.mem_read.is_none()
                            && e.write.is_none()
                    })
                } else {
                    match &e.mem_read {
                        Some((a, b)) if *a == addr && b.len() == width as usize => {
                            let v = match op {
                                Op::Lh => u16::from_le_bytes([b[0], b[1]]) as i16 as i32 as u32,
                                Op::Lhu => u32::from(u16::from_le_bytes([b[0], b[1]])),
                                _ => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                            };
                            e.reads.len() == 1
                                && e.mem_write.is_none()
                                && e.write == (inst.rd != 0).then_some((inst.rd, Some(v)))
                        }
                        _ => false,
                    }
                };
                if !ok {
                    return Err(format!(
                        "{at}: the misaligned {width}-byte access at {addr:#x} does not read and write what the instruction does"
                    ));
                }
            }
            _ => return Err(format!("{at}: not a system call instruction")),
        }
    }
    let code = match (exit, st.htif_exit) {
        (Some(code), false) => {
            if last_clk.unwrap_or(0) + 1 != st.cycles {
                return Err("the exit is not the last cycle".into());
            }
            code
        }
        (None, true) => {
            // The last cycle is the store to `tohost` (the CPU's exit rule), after every
            // system call.
            if st.tohost.is_none() {
                return Err("an HTIF exit without a tohost word".into());
            }
            if st.exit_code < 0 {
                return Err("an HTIF exit code is a word shifted right by one".into());
            }
            if last_clk.is_some_and(|c| c + 1 >= st.cycles) {
                return Err("a system call at or after the HTIF exit".into());
            }
            st.exit_code
        }
        (Some(_), true) => return Err("an exit system call before the HTIF exit".into()),
        (None, false) => return Err("the transcript does not end with an exit".into()),
    };
    let public_output = if st.abi == Abi::Sp1 {
        sp1_public
    } else if st.abi == Abi::Risc0 {
        risc0_journal
    } else if st.abi == Abi::NexusLegacy {
        legacy_public
    } else {
        out_tape.get(4..).unwrap_or_default().to_vec()
    };
    if code != st.exit_code
        || stdout != st.stdout
        || stderr != st.stderr
        || public_output != st.public_output
    {
        return Err("the exit code or outputs differ from what the system calls produced".into());
    }
    Ok(())
}
