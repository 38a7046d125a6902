//! The VM's side of the guest ABIs ([`crate::abi`]): the `ecall` handlers, the custom-0
//! instructions, and the notes that name another convention when a call fails.

use super::{FaultKind, Stop, Vm};
use crate::abi::{
    t0_hint, Abi, RISC0_ECALLS, RISC0_FD_JOURNAL, RISC0_FD_STDIN, RISC0_HALT_PAUSE,
    RISC0_HALT_TERMINATE, SP1_COMMIT, SP1_COMMIT_DEFERRED_PROOFS, SP1_FD_HINT,
    SP1_FD_PUBLIC_VALUES, SP1_HALT, SP1_HINT_LEN, SP1_HINT_READ, SP1_WRITE,
};
use crate::elf::Image;
use crate::isa::reg;

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
            Abi::Nexus | Abi::NexusMixed | Abi::LinuxRv32 => {}
            Abi::NexusLegacy => return self.ecall_nexus_legacy(),
            Abi::Sp1 => return self.ecall_sp1(),
            Abi::Risc0 => return self.ecall_risc0(),
            Abi::Ceno => return self.ecall_ceno(),
            Abi::OpenVm if self.regs[T0] == 2 => return Err(self.openvm_software()),
            Abi::OpenVm | Abi::Unknown => return Err(self.ecall_unknown()),
        }
        let a7 = self.regs[reg::A7 as usize];
        let (a0, a1, a2) = (self.regs[10], self.regs[11], self.regs[12]);
        let ret = match self.abi {
            Abi::Nexus | Abi::NexusMixed => match a7 {
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
            self.trace_mem(addr.wrapping_add(k), 1, false, u32::from(b));
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
                    self.hints_seen = self.hints_seen.max(self.hints_read + 1);
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
                self.hints_seen = self.hints_seen.max(self.hints_read);
                self.put_guest_bytes(a0, &frame)
            }
            id => Err(self.unsupported(match crate::abi::sp1_name(id) {
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
            id => Err(self.unsupported(match crate::abi::sp1_name(id) {
                Some(name) => format!(
                    "Ceno precompile {name} (t0 = {id:#010x}, SP1's number) is not supported: outside RV32IM"
                ),
                None => format!("Ceno defines only the halt (t0 = 0); t0 = {id:#x} is none of its calls"),
            })),
        }
    }

    /// An ecall under a convention that defines none (openvm) or that is not known.
    /// OpenVM's platform crate is a fork of RISC Zero's: its `sys_panic` (and any software
    /// call left from the fork) is an `ecall` with t0 = 2, a2 the call's name, a3/a4 the
    /// message. A panic is named with its message; anything else is refused by name.
    fn openvm_software(&mut self) -> Stop {
        let r = self.regs;
        let name = match self.guest_cstr(r[12], 256) {
            Ok(n) => n,
            Err(stop) => return stop,
        };
        let short = name.rsplit(|&c| c == b':').next().unwrap_or(&name).to_vec();
        if short == b"SYS_PANIC" {
            let msg = match self.guest_bytes(r[13], r[14].min(4096)) {
                Ok(m) => m,
                Err(stop) => return stop,
            };
            return self.fault(
                FaultKind::GuestPanic,
                None,
                format!(
                    "the OpenVM guest panicked (sys_panic, an ecall with t0 = 2): {}",
                    escaped(&msg)
                ),
            );
        }
        self.unsupported(format!(
            "OpenVM software call {} (ecall with t0 = 2, from the RISC Zero platform OpenVM's is forked from) is not supported; OpenVM guests read input with hint instructions",
            escaped(&name)
        ))
    }

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
                crate::abi::sp1_name(t0)
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
        let what = if matches!(self.abi, Abi::Nexus | Abi::NexusLegacy | Abi::NexusMixed) {
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
        (t0 == 0 || crate::abi::sp1_name(t0).is_some()).then(|| {
            format!(
                " (earlier, the ecall at pc {pc:#x} with a7 = {a7:#x} returned -ENOSYS under linux-rv32; {hint})"
            )
        })
    }
}
