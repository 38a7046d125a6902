//! Guest ABIs, in one place: how `ecall` (and a few halting instructions) talk to the host,
//! their numbers and names, and [`detect()`] (which one a guest uses, read from its code). The
//! VM's handlers (`vm::syscall`), the layout discovery and the proof's replay
//! (`prove::statement`) all read them from here. README, "ABIs", describes each.
//!
//! - **nexus** (GUESTS.md): code in a7, arguments in a0.., result in a0. Public I/O tapes are
//!   addressed from 0 (the words at 0x80/0x84 hold 0). The input tape is
//!   `[length of the public input: u32 LE][public input]`; the output tape's word 0 holds the
//!   exit code (the runtime writes it before `exit`), the public output follows from byte 4
//!   (the Nexus 3 order: public input | exit code | public output). `0x402` (overwrite sp) sets sp to the
//!   layout's stack top: the VM honours the ELF's own layout, so after a rewrite the call
//!   agrees with the patched prologue. `0x403` answers 0 ("keep your heap start").
//! - **linux-rv32**: exit 93/94, write 64, read 63, brk 214; other numbers return -ENOSYS
//!   as Linux (and qemu-user) would.
//! - **nexus-legacy** (the Nexus VM before 0.3): `unimp` (`csrrw x0, cycle, x0`) ends the
//!   run with success (exit code 0; that VM has no exit code); ecall numbers in s2 (nexus-xyz/nexus-zkvm `vm/src/syscalls.rs`):
//!   1 write log (a1 = address, a2 = length) to stdout, 2 read one private-input byte
//!   (u32::MAX at the end), 3 write a1..a1+a2 to the public output, 5 profile cycles (returns
//!   5); `a7 = 0x402` (overwrite sp) as nexus.
//! - **sp1**: id in t0, arguments a0, a1, a2 (succinctlabs/sp1
//!   `crates/core/executor/src/syscalls/code.rs`, `crates/zkvm/entrypoint/src/syscalls/`).
//! - **risc0**: t0 = ecall number (risc0/risc0 `risc0/zkvm/platform/src/syscall.rs`).
//! - **ceno**: t0 = 0 halts with the exit code in a0 (scroll-tech/ceno `ceno_rt/src/lib.rs`,
//!   `ceno_emul/src/platform.rs`); its precompiles use SP1's numbers.
//! - **openvm**: no ecalls; custom-0 `terminate` (funct3 0, rd = rs1 = x0) halts with the exit
//!   code in its immediate (openvm-org/openvm `crates/toolchain/platform/src/rust_rt.rs`,
//!   `extensions/rv32im/guest/src/lib.rs`).
//! - **unknown**: ecalls numbered in t0 that fit no convention: each faults naming it.

pub mod detect;

use crate::elf::Image;
use serde::Serialize;
use std::collections::VecDeque;

pub use detect::{detect, Detection};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    serde::Deserialize,
    clap::ValueEnum,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Abi {
    #[value(name = "nexus")]
    Nexus,
    #[value(name = "linux-rv32")]
    LinuxRv32,
    // New variants go after the existing ones: proofs serialise the ABI by index (postcard).
    #[value(name = "nexus-legacy")]
    NexusLegacy,
    #[value(name = "sp1")]
    Sp1,
    #[value(name = "risc0")]
    Risc0,
    #[value(name = "ceno")]
    Ceno,
    #[value(name = "openvm")]
    #[serde(rename = "openvm")]
    OpenVm,
    /// A Nexus runtime of late 2024 between the two conventions: 0.3's a7-numbered calls
    /// (0x200 write, 0x400 private input, ...) and the `unimp` halt of before 0.3.
    #[value(name = "nexus-mixed")]
    NexusMixed,
    /// Detected only: ecalls numbered in t0 under no known convention.
    #[value(skip)]
    Unknown,
}

impl Abi {
    pub fn name(self) -> &'static str {
        match self {
            Abi::Nexus => "nexus",
            Abi::LinuxRv32 => "linux-rv32",
            Abi::NexusLegacy => "nexus-legacy",
            Abi::Sp1 => "sp1",
            Abi::Risc0 => "risc0",
            Abi::Ceno => "ceno",
            Abi::OpenVm => "openvm",
            Abi::NexusMixed => "nexus-mixed",
            Abi::Unknown => "unknown",
        }
    }

    /// Whether the prover's machine encodes this ABI's system calls (`prove::statement::replay`):
    /// Nexus (and before 0.3), linux-rv32, SP1 (halt, write, commit, hints), RISC Zero's and
    /// Ceno's halts, OpenVM's `terminate`. What each leaves out is refused by name when a run
    /// uses it.
    pub fn provable(self) -> bool {
        matches!(
            self,
            Abi::Nexus
                | Abi::NexusLegacy
                | Abi::LinuxRv32
                | Abi::Sp1
                | Abi::Risc0
                | Abi::Ceno
                | Abi::OpenVm
                | Abi::NexusMixed
        )
    }

    /// The convention this ABI numbers its `ecall`s by: `nexus-mixed` calls as Nexus 0.3 does
    /// (its difference is the `unimp` halt); every other ABI is its own.
    pub fn call_numbering(self) -> Abi {
        if self == Abi::NexusMixed {
            Abi::Nexus
        } else {
            self
        }
    }

    /// Nexus 0.3's system-call numbers (a7 = 0x200 write, 0x201 exit, 0x400 private input,
    /// ...), tapes and memory map: `nexus`, and the late-2024 runtime that halts with `unimp`.
    pub fn nexus_calls(self) -> bool {
        matches!(self, Abi::Nexus | Abi::NexusMixed)
    }

    /// Choose the ABI from the ELF (see [`detect()`], which also says why).
    pub fn detect(img: &Image) -> Abi {
        detect(img).abi
    }
}

/// SP1 system-call ids and names (succinctlabs/sp1 `crates/core/executor/src/syscalls/code.rs`
/// and `crates/zkvm/entrypoint/src/syscalls/mod.rs`): byte 0 is the id, byte 1 says the call
/// has its own table, byte 2 its extra cycles.
pub const SP1_CALLS: &[(u32, &str)] = &[
    (0x00_00_00_00, "HALT"),
    (0x00_00_00_02, "WRITE"),
    (0x00_00_00_03, "ENTER_UNCONSTRAINED"),
    (0x00_00_00_04, "EXIT_UNCONSTRAINED"),
    (0x00_30_01_05, "SHA_EXTEND"),
    (0x00_01_01_06, "SHA_COMPRESS"),
    (0x00_01_01_07, "ED_ADD"),
    (0x00_00_01_08, "ED_DECOMPRESS"),
    (0x00_01_01_09, "KECCAK_PERMUTE"),
    (0x00_01_01_0A, "SECP256K1_ADD"),
    (0x00_00_01_0B, "SECP256K1_DOUBLE"),
    (0x00_00_01_0C, "SECP256K1_DECOMPRESS"),
    (0x00_01_01_0E, "BN254_ADD"),
    (0x00_00_01_0F, "BN254_DOUBLE"),
    (0x00_00_00_10, "COMMIT"),
    (0x00_00_00_1A, "COMMIT_DEFERRED_PROOFS"),
    (0x00_00_00_1B, "VERIFY_SP1_PROOF"),
    (0x00_00_01_1C, "BLS12381_DECOMPRESS"),
    (0x00_01_01_1D, "UINT256_MUL"),
    (0x00_01_01_1E, "BLS12381_ADD"),
    (0x00_00_01_1F, "BLS12381_DOUBLE"),
    (0x00_01_01_20, "BLS12381_FP_ADD"),
    (0x00_01_01_21, "BLS12381_FP_SUB"),
    (0x00_01_01_22, "BLS12381_FP_MUL"),
    (0x00_01_01_23, "BLS12381_FP2_ADD"),
    (0x00_01_01_24, "BLS12381_FP2_SUB"),
    (0x00_01_01_25, "BLS12381_FP2_MUL"),
    (0x00_01_01_26, "BN254_FP_ADD"),
    (0x00_01_01_27, "BN254_FP_SUB"),
    (0x00_01_01_28, "BN254_FP_MUL"),
    (0x00_01_01_29, "BN254_FP2_ADD"),
    (0x00_01_01_2A, "BN254_FP2_SUB"),
    (0x00_01_01_2B, "BN254_FP2_MUL"),
    (0x00_01_01_2C, "SECP256R1_ADD"),
    (0x00_00_01_2D, "SECP256R1_DOUBLE"),
    (0x00_00_01_2E, "SECP256R1_DECOMPRESS"),
    (0x00_01_01_2F, "U256XU2048_MUL"),
    (0x00_01_01_30, "UINT256_ADD_CARRY"),
    (0x00_01_01_31, "UINT256_MUL_CARRY"),
    (0x0000_0132, "MPROTECT"),
    (0x00_00_01_33, "POSEIDON2"),
    (0x0000_0134, "SIG_RETURN"),
    (0x00_00_00_35, "HINT_MPROTECT_FLUSH"),
    (0x00_00_00_40, "DUMP_ELF"),
    (0x00_00_00_41, "INSERT_PROFILER_SYMBOLS"),
    (0x00_00_00_42, "DELETE_PROFILER_SYMBOLS"),
    (0x00_00_00_F0, "HINT_LEN"),
    (0x00_00_00_F1, "HINT_READ"),
];
pub const SP1_HALT: u32 = 0x00;
pub const SP1_WRITE: u32 = 0x02;
pub const SP1_COMMIT: u32 = 0x10;
pub const SP1_COMMIT_DEFERRED_PROOFS: u32 = 0x1A;
pub const SP1_HINT_LEN: u32 = 0xF0;
pub const SP1_HINT_READ: u32 = 0xF1;
/// SP1 file descriptors (sp1-primitives `consts::fd`): public values 3 and hints 4 up to v3;
/// from v4 every named descriptor is offset by LOWEST_ALLOWED_FD = 10 (13, 14; hooks 15..).
pub const SP1_FD_PUBLIC_VALUES: [u32; 2] = [3, 13];
pub const SP1_FD_HINT: [u32; 2] = [4, 14];

/// RISC Zero ecall numbers in t0 (risc0/risc0 `risc0/zkvm/platform/src/syscall.rs`,
/// `pub mod ecall`).
pub const RISC0_ECALLS: &[(u32, &str)] = &[
    (0, "HALT"),
    (1, "INPUT"),
    (2, "SOFTWARE"),
    (3, "SHA"),
    (4, "BIGINT"),
    (5, "USER"),
    (6, "BIGINT2"),
];
/// RISC Zero halt types in a0's low byte (`pub mod halt`); the user exit code is a0 >> 8.
pub const RISC0_HALT_TERMINATE: u32 = 0;
pub const RISC0_HALT_PAUSE: u32 = 1;
/// RISC Zero file descriptors (`risc0_zkvm_platform::fileno`).
pub const RISC0_FD_STDIN: u32 = 0;
pub const RISC0_FD_JOURNAL: u32 = 3;

/// `unimp` (`csrrw x0, cycle, x0`, a write to a read-only counter): the halt of the Nexus
/// runtime before 0.3 (and of the late-2024 runtime with 0.3's calls). That Nexus VM has no
/// exit code: its `eval` loop breaks at `unimp` and returns success, whatever a0 holds
/// (nexus-xyz/nexus-zkvm `vm/src/lib.rs`, `vm/src/eval.rs`), so the exit code is 0.
/// One rule for the VM (`Vm::csr`) and the proof's replay and transcript (`prove::statement`).
pub fn is_legacy_halt(abi: Abi, inst: &crate::isa::Inst) -> bool {
    matches!(abi, Abi::NexusLegacy | Abi::NexusMixed)
        && inst.op == crate::isa::Op::Csrrw
        && inst.imm as u32 & 0xfff == 0xc00
}

/// RISC Zero's v1compat kernel (`risc0-zkos-v1compat`, linked at `KERNEL_START_ADDR`
/// 0xc0000000): machine-mode code that installs its ecall and trap dispatch addresses in the
/// machine page (0xffff1000, 0xffff2000), reads the user program's entry from 0x10000 and enters
/// it with `mret`. It runs a RISC Zero v1 user guest (the two travel together in an `R0BF`
/// program binary) and does nothing alone. Named when the entry lies in the kernel range
/// 0xc0000000..0xff000000 and the code both forms a dispatch address (`lui rd, 0xffff1` or
/// `0xffff2`) and returns with `mret`; returns the sentence that says so.
pub fn risc0_kernel(img: &Image) -> Option<String> {
    use crate::isa::{decode, Op};
    if !(0xc000_0000..0xff00_0000).contains(&img.entry) {
        return None;
    }
    let (mut dispatch, mut mret) = (None, None);
    for (pc, w) in img.executable_words() {
        match decode(w) {
            Ok(i) if i.op == Op::Lui && matches!(i.imm as u32, 0xffff_1000 | 0xffff_2000) => {
                dispatch.get_or_insert((pc, i.imm as u32));
            }
            Ok(i) if i.op == Op::Mret => {
                mret.get_or_insert(pc);
            }
            _ => {}
        }
    }
    let ((at, addr), mret) = (dispatch?, mret?);
    Some(format!(
        "this is RISC Zero's v1compat kernel, not a guest: machine-mode code with its entry {:#x} in RISC Zero's kernel range (0xc0000000..0xff000000) that forms the dispatch address {addr:#x} at {at:#x} and enters a user program with `mret` at {mret:#x}; it runs a RISC Zero v1 user guest and does nothing alone: run that guest's ELF (--abi risc0)",
        img.entry
    ))
}

/// The conventions that number calls in t0, for faults of a guest run under another ABI.
pub(crate) fn t0_hint(t0: u32) -> String {
    match t0 {
        0 => "t0 = 0 is the RISC Zero/SP1/Ceno halt convention (run with --abi risc0, sp1 or ceno)"
            .into(),
        _ => match sp1_name(t0) {
            Some(n) => format!("t0 = {t0:#x} is SP1's {n} (run with --abi sp1)"),
            None => format!("t0 = {t0:#x}"),
        },
    }
}

/// `unimp`: `csrrw x0, cycle, x0`, a write to the read-only `cycle` CSR.
pub const UNIMP: u32 = 0xc000_1073;
/// The custom-0 major opcode (OpenVM's system instructions, Nexus guest-defined precompiles).
pub const CUSTOM0: u32 = 0b000_1011;

/// The SP1 name of a system-call id, when SP1 defines it.
pub fn sp1_name(id: u32) -> Option<&'static str> {
    SP1_CALLS
        .iter()
        .find(|(n, _)| *n == id)
        .map(|(_, name)| *name)
}

/// SP1 ids that no other t0-numbered convention uses (halt and write are shared).
pub(crate) fn sp1_only(id: u32) -> bool {
    id != 0 && id != 2 && id != 3 && id != 4 && sp1_name(id).is_some()
}

/// RISC Zero's ecall numbers in t0 (HALT 0, INPUT 1, SOFTWARE 2, SHA 3, BIGINT 4, USER 5,
/// BIGINT2 6).
pub(crate) fn risc0_name(id: u32) -> Option<&'static str> {
    RISC0_ECALLS
        .iter()
        .find(|(n, _)| *n == id)
        .map(|(_, name)| *name)
}

/// The SP1 hint stream from `--input`: frames of `[byte length: u32 LE][bytes]`, one per
/// `HINT_LEN`/`HINT_READ` pair (what `SP1Stdin::write_vec` pushes, one frame per
/// `sp1_zkvm::io::read`).
pub fn sp1_frames(input: &[u8]) -> Result<VecDeque<Vec<u8>>, String> {
    let mut frames = VecDeque::new();
    let mut at = 0usize;
    while at < input.len() {
        let Some(len) = input.get(at..at + 4) else {
            return Err(format!(
                "the input for an SP1 guest is a sequence of hint frames, each a u32 LE byte length and that many bytes; {} byte(s) at offset {at} are too few for a length",
                input.len() - at
            ));
        };
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let Some(body) = input.get(at + 4..at + 4 + len) else {
            return Err(format!(
                "the input for an SP1 guest is a sequence of hint frames, each a u32 LE byte length and that many bytes; the frame at offset {at} says {len} bytes but only {} follow",
                input.len() - at - 4
            ));
        };
        frames.push_back(body.to_vec());
        at += 4 + len;
    }
    Ok(frames)
}
