//! Which system-call convention a guest uses, read from its code (README, "ABIs").
//!
//! Evidence, strongest first:
//! - the instructions around each `ecall`: the constant in `a7` (Nexus 0.3+, linux-rv32), in
//!   `t0` (SP1, RISC Zero, Ceno) or in `s2` (the Nexus VM before 0.3), tracked along
//!   straight-line code (`li`, `lui` + `addi`);
//! - halts that are not `ecall`s: `unimp` right after a `jal` in the start-up code, with a
//!   Nexus symbol (`__memory_top`, `_start_rust`) or s2-numbered calls beside it (the Nexus
//!   runtime before 0.3 halts with `unimp`; Rust code elsewhere puts `unimp`
//!   after every call that does not return), the OpenVM `terminate` instruction (custom-0,
//!   funct3 0, rd = rs1 = x0);
//! - runtime symbols (`__memory_top` and `_heap`: Nexus; `_sheap`, `_hints_start`: Ceno),
//!   RISC Zero's system-call names (`risc0_zkvm_platform::syscall::nr::SYS_…`) in the image,
//!   and memory maps (SP1 and RISC Zero link code at 0x200800; Ceno at 0x20000000 or
//!   0x08000000).
//!
//! With no evidence at all the guest is taken for linux-rv32. Ecalls numbered in `t0` that no
//! known convention defines give [`Abi::Unknown`]: its run faults at the first `ecall`, naming
//! the registers, instead of answering -ENOSYS as Linux would.

use super::{risc0_name, sp1_name, sp1_only, Abi, CUSTOM0, UNIMP};
use crate::elf::Image;
use crate::isa::{self, reg, Op};
use serde::Serialize;

const T0: u8 = 5;
const S2: u8 = 18;

/// The chosen ABI and the facts that chose it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Detection {
    pub abi: Abi,
    /// One sentence per fact, e.g. "ecall at 0x200a10 with t0 = 0xf0 (SP1 HINT_LEN)".
    pub evidence: Vec<String>,
}

/// An `ecall` and the constants that reach it.
#[derive(Debug, Clone, Copy)]
struct Call {
    pc: u32,
    a7: Option<u32>,
    t0: Option<u32>,
    s2: Option<u32>,
}

/// Straight-line constant tracking of a few registers.
#[derive(Default, Clone, Copy)]
struct Consts {
    v: [Option<u32>; 32],
}

impl Consts {
    fn step(&mut self, i: &isa::Inst) {
        if i.op.ends_block() {
            *self = Consts::default();
            return;
        }
        if !i.op.writes_rd() || i.rd == 0 {
            return;
        }
        let src = |r: u8| if r == 0 { Some(0) } else { self.v[r as usize] };
        let val = match i.op {
            Op::Lui => Some(i.imm as u32),
            Op::Addi => src(i.rs1).map(|a| a.wrapping_add(i.imm as u32)),
            Op::Ori => src(i.rs1).map(|a| a | i.imm as u32),
            Op::Xori => src(i.rs1).map(|a| a ^ i.imm as u32),
            Op::Add | Op::Or if i.rs1 == 0 || i.rs2 == 0 => {
                src(if i.rs1 == 0 { i.rs2 } else { i.rs1 })
            }
            _ => None,
        };
        self.v[i.rd as usize] = val;
    }
}

fn scan(img: &Image) -> (Vec<Call>, Vec<u32>, Vec<u32>, Vec<u32>) {
    let mut calls = Vec::new();
    let mut unimp_after_jal = Vec::new();
    let mut terminate = Vec::new();
    let mut custom0 = Vec::new();
    let mut c = Consts::default();
    let mut prev_jal = false;
    for (pc, w) in img.code_words() {
        if w & 0x7f == CUSTOM0 {
            let (rd, f3, rs1) = ((w >> 7) & 31, (w >> 12) & 7, (w >> 15) & 31);
            if f3 == 0 && rd == 0 && rs1 == 0 {
                terminate.push(pc);
            } else {
                custom0.push(pc);
            }
        }
        if w == UNIMP && prev_jal {
            unimp_after_jal.push(pc);
        }
        let Ok(i) = isa::decode(w) else {
            c = Consts::default();
            prev_jal = false;
            continue;
        };
        prev_jal = i.op == Op::Jal && i.rd == reg::RA;
        if i.op == Op::Ecall {
            calls.push(Call {
                pc,
                a7: c.v[reg::A7 as usize],
                t0: c.v[T0 as usize],
                s2: c.v[S2 as usize],
            });
        }
        c.step(&i);
    }
    (calls, unimp_after_jal, terminate, custom0)
}

/// Does the loaded image contain these bytes?
fn image_contains(img: &Image, needle: &[u8]) -> bool {
    img.loads().any(|s| {
        let data = &img.bytes[s.offset as usize..(s.offset + s.filesz) as usize];
        data.windows(needle.len()).any(|w| w == needle)
    })
}

/// Detect the ABI of an image, with the evidence.
pub fn detect(img: &Image) -> Detection {
    if super::risc0_kernel(img).is_some() {
        return Detection {
            abi: Abi::Risc0,
            evidence: vec![
                "RISC Zero's v1compat kernel (entry in its kernel range, the machine page's dispatch address, `mret` into a user program): it runs v1 user guests, whose calls are RISC Zero's"
                    .into(),
            ],
        };
    }
    let (calls, unimp, terminate, custom0) = scan(img);
    let mut ev: Vec<String> = Vec::new();
    let has = |n: &str| img.symbol(n).is_some();

    // Nexus: symbols, tape instructions, a7 numbers; before 0.3: unimp halts, s2 numbers.
    let nexus_syms = has("__memory_top") && has("_heap");
    let tape = img
        .code_words()
        .filter(|&(_, w)| {
            matches!(
                isa::decode(w).map(|i| i.op),
                Ok(Op::NexusRead | Op::NexusWrite)
            )
        })
        .count();
    let nexus_a7: Vec<&Call> = calls
        .iter()
        .filter(|c| matches!(c.a7, Some(0x200 | 0x201 | 0x400..=0x405)))
        .collect();
    let nexus_exit = calls.iter().any(|c| c.a7 == Some(0x201));
    let legacy_s2: Vec<&Call> = calls
        .iter()
        .filter(|c| c.a7.is_none() && c.t0.is_none() && matches!(c.s2, Some(1 | 2 | 3 | 5)))
        .collect();
    let linux: Vec<&Call> = calls
        .iter()
        .filter(|c| matches!(c.a7, Some(93 | 94 | 64 | 63 | 214 | 57 | 80 | 222)))
        .collect();
    let t0_calls: Vec<&Call> = calls
        .iter()
        .filter(|c| c.a7.is_none() && c.t0.is_some())
        .collect();

    // Rust code puts `unimp` after every call that does not return (LLVM's trap): only the
    // start-up code's counts, near the entry point, with a Nexus sign beside it.
    let unimp: Vec<u32> = unimp
        .into_iter()
        .filter(|&pc| pc.wrapping_sub(img.entry) < 96)
        .collect();
    let nexus_sign = has("__memory_top") || has("_start_rust") || !legacy_s2.is_empty();
    // The late-2024 runtime between the two: 0.3's a7-numbered calls, no 0x201 exit, and the
    // `unimp` halt after the call into the program.
    if !unimp.is_empty()
        && nexus_sign
        && !nexus_exit
        && linux.is_empty()
        && t0_calls.is_empty()
        && legacy_s2.is_empty()
        && nexus_a7.iter().any(|c| c.a7 != Some(0x402))
    {
        ev.push(format!(
            "`unimp` right after a `jal` in the start-up code at {} (the halt of the Nexus runtime before 0.3)",
            list(&unimp)
        ));
        ev.push(format!(
            "{} ecall(s) with a7 in 0x200..0x405 (Nexus 0.3 numbers) and none with a7 = 0x201 (0.3's exit) or numbered in s2 (before 0.3): the late-2024 runtime between the two",
            nexus_a7.len()
        ));
        return Detection {
            abi: Abi::NexusMixed,
            evidence: ev,
        };
    }
    if !unimp.is_empty() && nexus_sign && !nexus_exit && linux.is_empty() && t0_calls.is_empty() {
        ev.push(format!(
            "`unimp` right after a `jal` in the start-up code at {} (the Nexus runtime before 0.3 halts with unimp)",
            list(&unimp)
        ));
        let syms: Vec<&str> = ["__memory_top", "_start_rust"]
            .into_iter()
            .filter(|n| has(n))
            .collect();
        if !syms.is_empty() {
            ev.push(format!("Nexus runtime symbols {}", syms.join(", ")));
        }
        if !legacy_s2.is_empty() {
            ev.push(format!(
                "{} ecall(s) numbered in s2 (the Nexus VM before 0.3: 1 write log, 2 read private input, 3 write output, 5 profile cycles)",
                legacy_s2.len()
            ));
        }
        ev.push("no ecall with a7 = 0x201 (the Nexus 0.3 exit)".into());
        return Detection {
            abi: Abi::NexusLegacy,
            evidence: ev,
        };
    }
    if !legacy_s2.is_empty() && nexus_a7.is_empty() && linux.is_empty() && t0_calls.is_empty() {
        ev.push(format!(
            "{} ecall(s) numbered in s2 at {} (the Nexus VM before 0.3)",
            legacy_s2.len(),
            list(&legacy_s2.iter().map(|c| c.pc).collect::<Vec<_>>())
        ));
        return Detection {
            abi: Abi::NexusLegacy,
            evidence: ev,
        };
    }
    if nexus_syms || tape > 0 || nexus_a7.len() > linux.len() {
        if nexus_syms {
            ev.push("symbols __memory_top and _heap (Nexus runtime)".into());
        }
        if tape > 0 {
            ev.push(format!(
                "{tape} Nexus tape instruction(s) (custom-1 read, custom-2 write)"
            ));
        }
        if !nexus_a7.is_empty() {
            ev.push(format!(
                "{} ecall(s) with a7 in 0x200..0x405 (Nexus system calls)",
                nexus_a7.len()
            ));
        }
        if !custom0.is_empty() {
            ev.push(format!(
                "custom-0 instruction(s) at {} (Nexus guest-defined precompiles; not executable here)",
                list(&custom0)
            ));
        }
        return Detection {
            abi: Abi::Nexus,
            evidence: ev,
        };
    }
    if !linux.is_empty() {
        ev.push(format!(
            "{} ecall(s) with a Linux system-call number in a7 (93/94 exit, 64 write, 63 read, 214 brk…), first at {:#x}",
            linux.len(),
            linux[0].pc
        ));
        return Detection {
            abi: Abi::LinuxRv32,
            evidence: ev,
        };
    }
    // OpenVM's platform (a fork of RISC Zero's) reaches `sys_panic` through an ecall with
    // t0 = 2; with terminate instructions and no other call, the guest is OpenVM's.
    let panics: Vec<u32> = calls
        .iter()
        .filter(|c| c.t0 == Some(2) && c.a7.is_none())
        .map(|c| c.pc)
        .collect();
    if !terminate.is_empty() && !calls.is_empty() && panics.len() == calls.len() {
        ev.push(format!(
            "OpenVM terminate instruction(s) (custom-0, funct3 0, rd = rs1 = x0) at {}",
            list(&terminate)
        ));
        ev.push(format!(
            "ecall(s) with t0 = 2 at {} (sys_panic of OpenVM's platform, forked from RISC Zero's)",
            list(&panics)
        ));
        return Detection {
            abi: Abi::OpenVm,
            evidence: ev,
        };
    }
    if !terminate.is_empty() && calls.is_empty() {
        ev.push(format!(
            "OpenVM terminate instruction(s) (custom-0, funct3 0, rd = rs1 = x0) at {}",
            list(&terminate)
        ));
        return Detection {
            abi: Abi::OpenVm,
            evidence: ev,
        };
    }
    if !t0_calls.is_empty() {
        return detect_t0(img, &t0_calls);
    }
    if !terminate.is_empty() {
        ev.push(format!(
            "OpenVM terminate instruction(s) at {}",
            list(&terminate)
        ));
        return Detection {
            abi: Abi::OpenVm,
            evidence: ev,
        };
    }
    ev.push("no system-call convention found in the code: linux-rv32 (the default)".to_string());
    Detection {
        abi: Abi::LinuxRv32,
        evidence: ev,
    }
}

/// The t0-numbered conventions: SP1, RISC Zero, Ceno.
fn detect_t0(img: &Image, calls: &[&Call]) -> Detection {
    let mut ids: Vec<u32> = calls.iter().filter_map(|c| c.t0).collect();
    ids.sort_unstable();
    ids.dedup();
    let first = |id: u32| calls.iter().find(|c| c.t0 == Some(id)).map_or(0, |c| c.pc);
    let has = |n: &str| img.symbol(n).is_some();
    let mut ev = Vec::new();

    let ceno_syms: Vec<&str> = ["_sheap", "_hints_start", "_stack_start"]
        .into_iter()
        .filter(|n| has(n))
        .collect();
    let text = img.loads().filter(|s| s.is_exec()).map(|s| s.vaddr).min();
    let ceno_map = matches!(text, Some(0x2000_0000 | 0x0800_0000));
    let risc0_str = image_contains(img, b"risc0_zkvm_platform::syscall::nr::");
    // Ceno's precompiles use SP1's numbers: its symbols or its memory map come first.
    if ceno_syms.len() >= 2 || (ceno_map && !ceno_syms.is_empty()) || (ceno_map && !risc0_str) {
        ev.push(format!("Ceno runtime symbols {}", ceno_syms.join(", ")));
        if ceno_map {
            ev.push(format!(
                "code at {:#x} (the Ceno memory map)",
                text.unwrap_or(0)
            ));
        }
        ev.push(format!("ecall(s) numbered in t0: {}", hexes(&ids)));
        return Detection {
            abi: Abi::Ceno,
            evidence: ev,
        };
    }
    let sp1: Vec<u32> = ids.iter().copied().filter(|&i| sp1_only(i)).collect();
    let risc0_only: Vec<u32> = ids
        .iter()
        .copied()
        .filter(|&i| matches!(i, 1 | 5 | 6))
        .collect();
    if !sp1.is_empty() && !risc0_str {
        for id in &sp1 {
            ev.push(format!(
                "ecall at {:#x} with t0 = {id:#x} (SP1 {})",
                first(*id),
                sp1_name(*id).unwrap_or("?")
            ));
        }
        return Detection {
            abi: Abi::Sp1,
            evidence: ev,
        };
    }
    if risc0_str || !risc0_only.is_empty() {
        if risc0_str {
            ev.push(
                "RISC Zero system-call names (risc0_zkvm_platform::syscall::nr::SYS_…) in the image"
                    .into(),
            );
        }
        for id in &ids {
            if let Some(n) = risc0_name(*id) {
                ev.push(format!(
                    "ecall at {:#x} with t0 = {id} (RISC Zero {n})",
                    first(*id)
                ));
            }
        }
        return Detection {
            abi: Abi::Risc0,
            evidence: ev,
        };
    }
    if ids.iter().all(|&i| i == 0 || i == 2) && text == Some(0x0020_0800) {
        ev.push(
            "code at 0x200800 (the RISC Zero / SP1 memory map) and only t0 = 0 (halt) or 2 ecalls, without SP1's COMMIT before its halt: RISC Zero"
                .into(),
        );
        return Detection {
            abi: Abi::Risc0,
            evidence: ev,
        };
    }
    ev.push(format!(
        "ecall(s) numbered in t0 ({}) that fit no known convention (SP1, RISC Zero and Ceno are told apart by their other calls, names and memory maps): choose one with --abi",
        hexes(&ids)
    ));
    Detection {
        abi: Abi::Unknown,
        evidence: ev,
    }
}

fn list(pcs: &[u32]) -> String {
    let mut s: Vec<String> = pcs.iter().take(4).map(|p| format!("{p:#x}")).collect();
    if pcs.len() > 4 {
        s.push(format!("and {} more", pcs.len() - 4));
    }
    s.join(", ")
}

fn hexes(ids: &[u32]) -> String {
    ids.iter()
        .map(|i| format!("{i:#x}"))
        .collect::<Vec<_>>()
        .join(", ")
}
