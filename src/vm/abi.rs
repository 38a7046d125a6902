//! Guest ABIs: how `ecall` talks to the host.
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

use super::{FaultKind, Stop, Vm};
use crate::elf::Image;
use crate::isa::{self, reg, Op};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Abi {
    #[value(name = "nexus")]
    Nexus,
    #[value(name = "linux-rv32")]
    LinuxRv32,
}

impl Abi {
    pub fn name(self) -> &'static str {
        match self {
            Abi::Nexus => "nexus",
            Abi::LinuxRv32 => "linux-rv32",
        }
    }

    /// Choose the ABI from the ELF: Nexus runtime symbols, Nexus custom I/O instructions, or
    /// system-call numbers: the constant in a7 when an `ecall` executes (tracked along
    /// straight-line code), counted per ABI; linux-rv32 when nothing says otherwise.
    pub fn detect(img: &Image) -> Abi {
        if img.symbol("__memory_top").is_some() && img.symbol("_heap").is_some() {
            return Abi::Nexus;
        }
        let (mut nexus, mut linux) = (0, 0);
        let mut a7: Option<i32> = None;
        for (_, w) in img.code_words() {
            let Ok(i) = isa::decode(w) else {
                a7 = None;
                continue;
            };
            match i.op {
                Op::NexusRead | Op::NexusWrite => nexus += 4,
                Op::Ecall => match a7 {
                    Some(0x200 | 0x201 | 0x400..=0x405) => nexus += 1,
                    Some(93 | 94 | 64 | 63 | 214) => linux += 1,
                    _ => {}
                },
                _ => {}
            }
            if i.op.writes_rd() && i.rd == reg::A7 {
                a7 = (i.op == Op::Addi && i.rs1 == 0).then_some(i.imm);
            }
            if i.op.ends_block() {
                a7 = None;
            }
        }
        if nexus > linux {
            Abi::Nexus
        } else {
            Abi::LinuxRv32
        }
    }
}

const ENOSYS: i32 = 38;
const EBADF: i32 = 9;

impl Vm {
    pub(super) fn ecall(&mut self) -> Result<(), Stop> {
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
                    return Err(self.fault(
                        FaultKind::UnsupportedEcall,
                        None,
                        format!("unknown Nexus system call a7 = {a7:#x}"),
                    ))
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
                _ => (-ENOSYS) as u32,
            },
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
