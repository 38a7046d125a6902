//! Guest ABIs: how `ecall` (and a few halting instructions) talk to the host. README,
//! "ABIs", describes each; [`crate::layout::abi::detect`] chooses one from the code.
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
//! - **nexus-legacy** (the Nexus VM before 0.3): `unimp` (`csrrw x0, cycle, x0`) halts with
//!   the exit code in a0; ecall numbers in s2 (nexus-xyz/nexus-zkvm `vm/src/syscalls.rs`):
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

use super::{FaultKind, Stop, Vm};
use crate::elf::Image;
use crate::isa::reg;
use serde::Serialize;
use std::collections::VecDeque;

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
            Abi::Unknown => "unknown",
        }
    }

    /// Whether the prover's machine encodes this ABI's system calls (nexus and linux-rv32).
    /// In the proof's machine: Nexus (and before 0.3), linux-rv32, SP1 (halt, write, commit, hints), RISC
    /// Zero's and Ceno's halts (`prove::statement::replay`).
    pub fn provable(self) -> bool {
        matches!(
            self,
            Abi::Nexus | Abi::NexusLegacy | Abi::LinuxRv32 | Abi::Sp1 | Abi::Risc0 | Abi::Ceno
        )
    }

    /// Choose the ABI from the ELF (see [`crate::layout::abi::detect`], which also says why).
    pub fn detect(img: &Image) -> Abi {
        crate::layout::abi::detect(img).abi
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
/// runtime before 0.3, the exit code in a0. One rule for the VM (`Vm::csr`) and the proof's
/// replay and transcript (`prove::statement`).
pub fn is_legacy_halt(abi: Abi, inst: &crate::isa::Inst) -> bool {
    abi == Abi::NexusLegacy && inst.op == crate::isa::Op::Csrrw && inst.imm as u32 & 0xfff == 0xc00
}

/// The conventions that number calls in t0, for faults of a guest run under another ABI.
fn t0_hint(t0: u32) -> String {
    match t0 {
        0 => "t0 = 0 is the RISC Zero/SP1/Ceno halt convention (run with --abi risc0, sp1 or ceno)"
            .into(),
        _ => match crate::layout::abi::sp1_name(t0) {
            Some(n) => format!("t0 = {t0:#x} is SP1's {n} (run with --abi sp1)"),
            None => format!("t0 = {t0:#x}"),
        },
    }
}

/// Escape bytes read from the guest for a one-line message.
fn escaped(b: &[u8]) -> String {
    b.iter()
        .flat_map(|&c| std::ascii::escape_default(c))
        .map(char::from)
        .collect()
}

const T0: usize = 5;
const S2: usize = 18;
const ENOSYS: i32 = 38;
const EBADF: i32 = 9;

impl Vm {
    pub(super) fn ecall(&mut self) -> Result<(), Stop> {
        match self.abi {
            Abi::Nexus | Abi::LinuxRv32 => {}
            Abi::NexusLegacy => return self.ecall_nexus_legacy(),
            Abi::Sp1 => return self.ecall_sp1(),
            Abi::Risc0 => return self.ecall_risc0(),
            Abi::Ceno => return self.ecall_ceno(),
            Abi::OpenVm | Abi::Unknown => return Err(self.ecall_unknown()),
        }
        let a7 = self.regs[reg::A7 as usize];
        let (a0, a1, a2) = (self.regs[10], self.regs[11], self.regs[12]);
        let ret = match self.abi {
            Abi::Nexus => match a7 {
                0x200 => {
                    let bytes = self.guest_bytes(a1, a2)?;
                    if a0 == 1 {
                        self.stdout.extend_from_slice(&bytes);
                        a2
                    } else {
                        u32::MAX
                    }
                }
                0x201 => return Err(Stop::Exit(a0 as i32)),
                0x400 => match self.cfg.private_input.get(self.private_pos) {
                    Some(&b) => {
                        self.private_pos += 1;
                        u32::from(b)
                    }
                    None => u32::MAX,
                },
                0x401 | 0x405 => 0,
                0x402 => {
                    self.regs[reg::SP as usize] = self.layout.stack_top;
                    return Ok(());
                }
                0x403 => 0,
                _ => {
                    let t0 = self.regs[T0];
                    return Err(self.fault(
                        FaultKind::UnsupportedEcall,
                        None,
                        format!(
                            "unknown Nexus system call a7 = {a7:#x} (Nexus numbers 0x200-0x405); {}",
                            t0_hint(t0)
                        ),
                    ));
                }
            },
            Abi::LinuxRv32 => match a7 {
                93 | 94 => return Err(Stop::Exit(a0 as i32)),
                64 => {
                    let bytes = self.guest_bytes(a1, a2)?;
                    match a0 {
                        1 => self.stdout.extend_from_slice(&bytes),
                        2 => self.stderr.extend_from_slice(&bytes),
                        _ => {
                            self.regs[10] = (-EBADF) as u32;
                            return Ok(());
                        }
                    }
                    a2
                }
                63 => {
                    if a0 != 0 {
                        (-EBADF) as u32
                    } else {
                        if self.cfg.stdin_passthrough && self.input_pos >= self.cfg.input.len() {
                            // One read(2) of the host's stdin, at most what the guest asked for.
                            use std::io::Read;
                            let mut buf = vec![0u8; (a2 as usize).min(1 << 20)];
                            let n = std::io::stdin().lock().read(&mut buf).unwrap_or(0);
                            self.cfg.input.extend_from_slice(&buf[..n]);
                        }
                        let rest = &self.cfg.input[self.input_pos.min(self.cfg.input.len())..];
                        let n = rest.len().min(a2 as usize);
                        let chunk = rest[..n].to_vec();
                        for (k, b) in chunk.iter().enumerate() {
                            let addr = a1.wrapping_add(k as u32);
                            self.mem
                                .store(addr, 1, u32::from(*b))
                                .map_err(|f| self.mem_fault(f, 0))?;
                            self.trace_mem(addr, 1, true, u32::from(*b));
                            if addr.wrapping_sub(self.code_base) < self.code_end - self.code_base {
                                self.redecode(addr, 1); // keep the predecoded code = memory
                            }
                        }
                        self.input_pos += n;
                        n as u32
                    }
                }
                214 => {
                    // brk: grows within the memory limit, never into the stack.
                    if a0 >= self.brk
                        && u64::from(a0) <= u64::from(self.layout.stack_bottom.max(self.brk))
                    {
                        self.brk = a0;
                    }
                    self.brk
                }
                _ => {
                    if self.enosys.is_none() {
                        self.enosys = Some((self.pc, a7, self.regs[T0]));
                    }
                    (-ENOSYS) as u32
                }
            },
            _ => return Err(self.ecall_unknown()),
        };
        self.regs[10] = ret;
        Ok(())
    }

    fn guest_bytes(&mut self, addr: u32, len: u32) -> Result<Vec<u8>, Stop> {
        if len > 64 << 20 {
            return Err(self.fault(
                FaultKind::OutOfBounds,
                Some(addr),
                format!("write of {len} bytes"),
            ));
        }
        let bytes = self
            .mem
            .read_bytes(addr, len)
            .map_err(|f| self.mem_fault(f, 0))?;
        if self.trace.is_some() {
            for (k, b) in bytes.iter().enumerate() {
                self.trace_mem(addr.wrapping_add(k as u32), 1, false, u32::from(*b));
            }
        }
        Ok(bytes)
    }
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

/// Where a Ceno guest's `--input` goes: its hints region at `_hints_start`, read by the guest
/// as memory (ceno_rt `mmio.rs`); the bytes are placed as given (the host's serialised hints).
pub(super) fn ceno_hints_at(
    img: &Image,
    mem: &super::mem::Memory,
    len: usize,
) -> Result<u32, String> {
    let at = img.symbol("_hints_start").map(|s| s.value).ok_or_else(|| {
        "a Ceno guest's input goes to its hints region at the symbol _hints_start, which this ELF does not have; run without --input".to_string()
    })?;
    let end = u64::from(at) + len as u64;
    if !mem
        .allowed()
        .iter()
        .any(|&(s, e)| u64::from(at) >= s && end <= e)
    {
        return Err(format!(
            "the Ceno hints region {at:#x}..{end:#x} (_hints_start and the {len} input bytes) is outside the guest's memory under this layout"
        ));
    }
    Ok(at)
}

impl Vm {
    /// Store bytes into guest memory on behalf of a system call (traced, code kept decoded).
    fn put_guest_bytes(&mut self, addr: u32, bytes: &[u8]) -> Result<(), Stop> {
        for (k, b) in bytes.iter().enumerate() {
            let a = addr.wrapping_add(k as u32);
            self.mem
                .store(a, 1, u32::from(*b))
                .map_err(|f| self.mem_fault(f, 0))?;
            self.trace_mem(a, 1, true, u32::from(*b));
            if a.wrapping_sub(self.code_base) < self.code_end - self.code_base {
                self.redecode(a, 1);
            }
        }
        Ok(())
    }

    /// A NUL-terminated string of at most `max` bytes.
    fn guest_cstr(&mut self, addr: u32, max: u32) -> Result<Vec<u8>, Stop> {
        let mut out = Vec::new();
        for k in 0..max {
            let b = self
                .mem
                .load(addr.wrapping_add(k), 1)
                .map_err(|f| self.mem_fault(f, 0))? as u8;
            if b == 0 {
                return Ok(out);
            }
            out.push(b);
        }
        Ok(out)
    }

    fn unsupported(&self, detail: String) -> Stop {
        self.fault(FaultKind::UnsupportedEcall, None, detail)
    }

    /// The Nexus VM before 0.3: numbers in s2 (a7 = 0x402 overwrites sp as in 0.3).
    fn ecall_nexus_legacy(&mut self) -> Result<(), Stop> {
        let (s2, a1, a2) = (self.regs[S2], self.regs[11], self.regs[12]);
        let ret = match s2 {
            1 => {
                let bytes = self.guest_bytes(a1, a2)?;
                self.stdout.extend_from_slice(&bytes);
                0
            }
            2 => match self.cfg.private_input.get(self.private_pos) {
                Some(&b) => {
                    self.private_pos += 1;
                    u32::from(b)
                }
                None => u32::MAX,
            },
            3 => {
                let bytes = self.guest_bytes(a1, a2)?;
                self.public_output.extend_from_slice(&bytes);
                0
            }
            5 => {
                self.guest_bytes(a1, a2)?;
                5
            }
            _ if self.regs[reg::A7 as usize] == 0x402 => {
                self.regs[reg::SP as usize] = self.layout.stack_top;
                return Ok(());
            }
            _ => {
                return Err(self.unsupported(format!(
                    "ecall with s2 = {s2:#x} (a7 = {:#x}): the Nexus VM before 0.3 numbers calls in s2 (1 write log, 2 read private input, 3 write output, 5 profile cycles) and this is none of them",
                    self.regs[reg::A7 as usize]
                )))
            }
        };
        self.regs[10] = ret;
        Ok(())
    }

    fn ecall_sp1(&mut self) -> Result<(), Stop> {
        let (t0, a0, a1, a2) = (self.regs[T0], self.regs[10], self.regs[11], self.regs[12]);
        match t0 {
            SP1_HALT => Err(Stop::Exit(a0 as i32)),
            SP1_WRITE => {
                let bytes = self.guest_bytes(a1, a2)?;
                match a0 {
                    1 => self.stdout.extend_from_slice(&bytes),
                    2 => self.stderr.extend_from_slice(&bytes),
                    fd if SP1_FD_PUBLIC_VALUES.contains(&fd) => {
                        self.public_output.extend_from_slice(&bytes)
                    }
                    fd if SP1_FD_HINT.contains(&fd) => self.hints.push_back(bytes),
                    fd => {
                        return Err(self.unsupported(format!(
                            "SP1 WRITE to fd {fd}: a host hook or an unknown descriptor; supported are 1 (stdout), 2 (stderr), 3 or 13 (public values), 4 or 14 (hints)"
                        )))
                    }
                }
                Ok(())
            }
            SP1_COMMIT | SP1_COMMIT_DEFERRED_PROOFS => {
                if a0 >= 8 {
                    return Err(self.unsupported(format!(
                        "SP1 {} of digest word {a0}: the digest has 8 words (0-7)",
                        if t0 == SP1_COMMIT { "COMMIT" } else { "COMMIT_DEFERRED_PROOFS" }
                    )));
                }
                Ok(())
            }
            SP1_HINT_LEN => match self.hints.front() {
                Some(f) => {
                    self.regs[T0] = f.len() as u32;
                    Ok(())
                }
                None => Err(self.fault(
                    FaultKind::InputExhausted,
                    None,
                    format!(
                        "SP1 HINT_LEN: the hint stream is exhausted after {} frame(s); give more frames in --input ([u32 LE length][bytes] each)",
                        self.hints_read
                    ),
                )),
            },
            SP1_HINT_READ => {
                let Some(frame) = self.hints.pop_front() else {
                    return Err(self.fault(
                        FaultKind::InputExhausted,
                        None,
                        format!(
                            "SP1 HINT_READ: the hint stream is exhausted after {} frame(s); give more frames in --input ([u32 LE length][bytes] each)",
                            self.hints_read
                        ),
                    ));
                };
                if a1 as usize != frame.len() {
                    return Err(self.unsupported(format!(
                        "SP1 HINT_READ of {a1} bytes, but the next hint frame (number {}) holds {}: SP1 reads whole frames",
                        self.hints_read + 1,
                        frame.len()
                    )));
                }
                self.hints_read += 1;
                self.put_guest_bytes(a0, &frame)
            }
            id => Err(self.unsupported(match crate::layout::abi::sp1_name(id) {
                Some(name) => format!(
                    "SP1 system call {name} (t0 = {id:#010x}) is not supported: a precompile or host service outside RV32IM"
                ),
                None => format!("SP1 has no system call t0 = {id:#x}"),
            })),
        }
    }

    fn ecall_risc0(&mut self) -> Result<(), Stop> {
        let (t0, a0) = (self.regs[T0], self.regs[10]);
        match t0 {
            0 => match a0 & 0xff {
                RISC0_HALT_TERMINATE => Err(Stop::Exit(((a0 >> 8) & 0xff) as i32)),
                // A pause ends a segment; the host resumes at once with nothing new.
                RISC0_HALT_PAUSE => Ok(()),
                ty => Err(self.unsupported(format!(
                    "RISC Zero halt (t0 = 0) of type {ty} (a0 = {a0:#x}): 0 (terminate, exit code a0 >> 8) and 1 (pause) are supported"
                ))),
            },
            2 => self.risc0_software(),
            n => {
                let name = RISC0_ECALLS
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map_or("unknown", |(_, v)| v);
                Err(self.unsupported(format!(
                    "RISC Zero ecall {name} (t0 = {n}) is not supported (an accelerator or host service outside RV32IM)"
                )))
            }
        }
    }

    /// RISC Zero's software ecall: a0 = host-to-guest buffer, a1 its length in words, a2 the
    /// call's name (a C string), a3.. the arguments; results in a0, a1.
    fn risc0_software(&mut self) -> Result<(), Stop> {
        let r = self.regs;
        let (buf, words, name_ptr, a3, a4, a5) = (r[10], r[11], r[12], r[13], r[14], r[15]);
        let name = self.guest_cstr(name_ptr, 256)?;
        let short = name.rsplit(|&c| c == b':').next().unwrap_or(&name).to_vec();
        let (ret0, ret1) = match &short[..] {
            b"SYS_WRITE" => {
                let bytes = self.guest_bytes(a4, a5)?;
                match a3 {
                    1 => self.stdout.extend_from_slice(&bytes),
                    2 => self.stderr.extend_from_slice(&bytes),
                    RISC0_FD_JOURNAL => self.public_output.extend_from_slice(&bytes),
                    fd => {
                        return Err(self.unsupported(format!(
                            "RISC Zero SYS_WRITE to fd {fd}: supported are 1 (stdout), 2 (stderr), 3 (journal)"
                        )))
                    }
                }
                (0, 0)
            }
            b"SYS_READ" => {
                if a3 != RISC0_FD_STDIN {
                    return Err(self.unsupported(format!(
                        "RISC Zero SYS_READ from fd {a3}: only fd 0 (the --input bytes) is supported"
                    )));
                }
                let rest = &self.cfg.input[self.input_pos.min(self.cfg.input.len())..];
                let n = rest.len().min(a4 as usize);
                let full = (n / 4).min(words as usize);
                let tail = (n - 4 * full).min(4);
                let chunk = rest[..4 * full].to_vec();
                let mut last = [0u8; 4];
                last[..tail].copy_from_slice(&rest[4 * full..4 * full + tail]);
                self.put_guest_bytes(buf, &chunk)?;
                self.input_pos += 4 * full + tail;
                ((4 * full + tail) as u32, u32::from_le_bytes(last))
            }
            b"SYS_LOG" => {
                let mut bytes = self.guest_bytes(a3, a4)?;
                bytes.push(b'\n');
                self.stderr.extend_from_slice(&bytes);
                (0, 0)
            }
            b"SYS_PANIC" => {
                let msg = self.guest_bytes(a3, a4.min(4096))?;
                return Err(self.fault(
                    FaultKind::GuestPanic,
                    None,
                    format!("the RISC Zero guest panicked: {}", escaped(&msg)),
                ));
            }
            b"SYS_CYCLE_COUNT" => ((self.cycles >> 32) as u32, self.cycles as u32),
            b"SYS_GETENV" => (u32::MAX, 0),
            b"SYS_ARGC" => (0, 0),
            _ => {
                return Err(self.unsupported(format!(
                    "RISC Zero software ecall {} is not supported (supported: SYS_WRITE, SYS_READ, SYS_LOG, SYS_PANIC, SYS_CYCLE_COUNT, SYS_GETENV, SYS_ARGC)",
                    escaped(&name)
                )))
            }
        };
        self.regs[10] = ret0;
        self.regs[11] = ret1;
        Ok(())
    }

    fn ecall_ceno(&mut self) -> Result<(), Stop> {
        match self.regs[T0] {
            0 => Err(Stop::Exit(self.regs[10] as i32)),
            id => Err(self.unsupported(match crate::layout::abi::sp1_name(id) {
                Some(name) => format!(
                    "Ceno precompile {name} (t0 = {id:#010x}, SP1's number) is not supported: outside RV32IM"
                ),
                None => format!("Ceno defines only the halt (t0 = 0); t0 = {id:#x} is none of its calls"),
            })),
        }
    }

    /// An ecall under a convention that defines none (openvm) or that is not known.
    fn ecall_unknown(&self) -> Stop {
        let (t0, a7) = (self.regs[T0], self.regs[reg::A7 as usize]);
        let detail = match self.abi {
            Abi::OpenVm => format!(
                "OpenVM guests make no ecalls (they halt with the custom-0 terminate instruction); t0 = {t0:#x}, a7 = {a7:#x}"
            ),
            _ if t0 == 0 => format!(
                "ecall with t0 = 0 (a0 = {:#x}): the RISC Zero/SP1/Ceno halt convention; run with --abi sp1 or ceno (exit code a0) or --abi risc0 (exit code a0 >> 8)",
                self.regs[10]
            ),
            _ => format!(
                "ecall with t0 = {t0:#x}, a7 = {a7:#x}: a t0-numbered system call (the convention of SP1, RISC Zero and Ceno), but none of them defines {t0:#x}{}",
                crate::layout::abi::sp1_name(t0)
                    .map(|n| format!(" except SP1 ({n}): run with --abi sp1"))
                    .unwrap_or_default()
            ),
        };
        self.unsupported(detail)
    }

    /// A custom-0 word (major opcode 0b0001011) reached: OpenVM's terminate halts an openvm
    /// guest; anything else is named.
    pub(super) fn custom0(&self, word: u32) -> Stop {
        let (rd, f3, rs1) = ((word >> 7) & 31, (word >> 12) & 7, (word >> 15) & 31);
        let imm = word >> 20;
        if self.abi == Abi::OpenVm {
            return match f3 {
                0 if rd == 0 && rs1 == 0 => Stop::Exit((imm & 0xff) as i32),
                _ => {
                    let name = match f3 {
                        0 => "TERMINATE with registers",
                        1 => "HINT_STOREW/HINT_BUFFER",
                        2 => "REVEAL",
                        3 => "PHANTOM",
                        _ => "an extension instruction",
                    };
                    self.fault(
                        FaultKind::IllegalInstruction,
                        Some(self.pc),
                        format!(
                            "custom-0 instruction {word:#010x} (funct3 {f3}): OpenVM {name}, not supported (only terminate is)"
                        ),
                    )
                }
            };
        }
        let what = if self.abi == Abi::Nexus || self.abi == Abi::NexusLegacy {
            "a Nexus guest-defined precompile, not RV32IM"
        } else if f3 == 0 && rd == 0 && rs1 == 0 {
            "OpenVM's terminate instruction, not RV32IM (run with --abi openvm)"
        } else {
            "a guest-defined precompile (Nexus) or an OpenVM system instruction, not RV32IM"
        };
        self.fault(
            FaultKind::IllegalInstruction,
            Some(self.pc),
            format!("custom-0 instruction {word:#010x}: {what}"),
        )
    }

    /// A note for a fault that follows an ecall Linux answered with -ENOSYS, when that
    /// ecall looks like another convention's.
    pub(super) fn enosys_note(&self) -> Option<String> {
        let (pc, a7, t0) = self.enosys?;
        let hint = t0_hint(t0);
        (t0 == 0 || crate::layout::abi::sp1_name(t0).is_some()).then(|| {
            format!(
                " (earlier, the ecall at pc {pc:#x} with a7 = {a7:#x} returned -ENOSYS under linux-rv32; {hint})"
            )
        })
    }
}
