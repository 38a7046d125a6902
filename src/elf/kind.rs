//! What a file is, when it is not the guest ELF it was given as: a proof file, an ELF for
//! another machine or class (x86-64, AArch64, RV64), a shared object, text. Read from the first
//! bytes only; used to say what was given and what to give instead.

use super::{ElfError, EM_RISCV};

/// The magic at the start of a proof file (`prove`'s output; `prove::ProofFile`).
pub const PROOF_MAGIC: &[u8; 8] = b"NXRPROOF";

/// What kind of file some bytes are, as far as the first bytes say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    Empty,
    /// A `nexus-relink` proof file.
    Proof,
    Elf(ElfKind),
    /// An `ar` archive (a static library).
    Archive,
    /// UTF-8 text without control characters other than whitespace.
    Text,
    /// Anything else; a few formats are named by their magic.
    Data {
        format: Option<&'static str>,
        head: Vec<u8>,
    },
}

/// The identification and header fields of an ELF file, as far as present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElfKind {
    /// `e_ident[EI_CLASS]`: 1 ELF32, 2 ELF64.
    pub class: Option<u8>,
    pub big_endian: bool,
    pub e_type: Option<u16>,
    pub machine: Option<u16>,
}

impl ElfKind {
    /// An ELF32 little-endian RISC-V file: a guest, or one with a defect the parser names.
    pub fn is_rv32(&self) -> bool {
        self.class == Some(1) && !self.big_endian && self.machine.is_none_or(|m| m == EM_RISCV)
    }

    fn machine_name(&self) -> String {
        let rv = |bits| format!("RISC-V {bits}-bit (RV{bits})");
        match self.machine {
            None => "truncated".into(),
            Some(0) => "machine-less (e_machine 0)".into(),
            Some(3) => "x86 (i386)".into(),
            Some(8) => "MIPS".into(),
            Some(20) => "PowerPC".into(),
            Some(21) => "PowerPC64".into(),
            Some(22) => "s390x".into(),
            Some(40) => "32-bit ARM".into(),
            Some(62) => "x86-64".into(),
            Some(183) => "AArch64".into(),
            Some(EM_RISCV) => rv(if self.class == Some(2) { 64 } else { 32 }),
            Some(247) => "eBPF".into(),
            Some(258) => "LoongArch".into(),
            Some(m) => format!("e_machine {m}"),
        }
    }

    fn type_name(&self) -> String {
        match self.e_type {
            None => "file".into(),
            Some(1) => "object file (ET_REL, not linked)".into(),
            Some(2) => "executable".into(),
            Some(3) => "shared object or PIE (ET_DYN)".into(),
            Some(4) => "core dump".into(),
            Some(t) => format!("file of e_type {t}"),
        }
    }
}

/// "a" or "an" before a word, by its first sound (the words this module prints).
fn article(word: &str) -> &'static str {
    let w = word.to_ascii_lowercase();
    if w.starts_with("x86")
        || w.starts_with("aarch")
        || w.starts_with("elf")
        || w.starts_with("e_")
        || w.starts_with("ebpf")
        || w.starts_with("s390")
        || w.starts_with("ar ")
    {
        "an"
    } else {
        "a"
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileKind::Empty => f.write_str("an empty file"),
            FileKind::Proof => f.write_str("a nexus-relink proof file"),
            FileKind::Archive => f.write_str("an ar archive (a static library)"),
            FileKind::Text => f.write_str("a text file"),
            FileKind::Data {
                format: Some(name), ..
            } => write!(f, "{} {name}", article(name)),
            FileKind::Data { head, .. } => {
                // Spaced bytes, as `xxd`/`od` show a file's start (not `hex::encode`'s one run
                // of digits): read against the ELF magic beside it.
                let hex: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
                write!(
                    f,
                    "a file that is not ELF (it starts with bytes {}; an ELF starts with 7f 45 4c 46)",
                    hex.join(" ")
                )
            }
            FileKind::Elf(e) => {
                let machine = e.machine_name();
                let class = match e.class {
                    Some(1) => " ELF32",
                    Some(2) => " ELF64",
                    _ => " ELF",
                };
                let endian = if e.big_endian { " big-endian" } else { "" };
                write!(
                    f,
                    "{} {machine}{class}{endian} {}",
                    article(&machine),
                    e.type_name()
                )
            }
        }
    }
}

impl FileKind {
    /// Identify `bytes` from their first bytes.
    pub fn of(bytes: &[u8]) -> FileKind {
        if bytes.is_empty() {
            return FileKind::Empty;
        }
        if bytes.starts_with(PROOF_MAGIC) {
            return FileKind::Proof;
        }
        if bytes.starts_with(b"\x7fELF") {
            let big_endian = bytes.get(5) == Some(&2);
            let half = |at: usize| {
                let b: [u8; 2] = bytes.get(at..at + 2)?.try_into().ok()?;
                Some(if big_endian {
                    u16::from_be_bytes(b)
                } else {
                    u16::from_le_bytes(b)
                })
            };
            return FileKind::Elf(ElfKind {
                class: bytes.get(4).copied(),
                big_endian,
                e_type: half(16),
                machine: half(18),
            });
        }
        if bytes.starts_with(b"!<arch>\n") {
            return FileKind::Archive;
        }
        if is_text(&bytes[..bytes.len().min(4096)]) {
            return FileKind::Text;
        }
        let format = [
            (&b"\x1f\x8b"[..], "gzip file"),
            (b"PK\x03\x04", "zip archive"),
            (b"\xfd7zXZ\x00", "xz file"),
            (b"\x28\xb5\x2f\xfd", "zstd file"),
            (b"\0asm", "WebAssembly module"),
            (b"MZ", "Windows (PE) executable"),
            (b"\xcf\xfa\xed\xfe", "Mach-O executable"),
            (
                b"\xca\xfe\xba\xbe",
                "Mach-O universal binary or Java class file",
            ),
        ]
        .iter()
        .find(|(m, _)| bytes.starts_with(m))
        .map(|&(_, name)| name);
        FileKind::Data {
            format,
            head: bytes[..bytes.len().min(4)].to_vec(),
        }
    }

    /// The next step for a file of this kind given where a guest ELF was expected, when
    /// there is more to say than what the file is (`None` for a RISC-V ELF32, whose defect
    /// the parser names with its own advice).
    pub fn guest_advice(&self) -> Option<&'static str> {
        Some(match self {
            FileKind::Proof => "a proof is checked with `nexus-relink verify PROOF`",
            FileKind::Elf(e) if e.is_rv32() => return None,
            FileKind::Elf(e) if e.machine == Some(EM_RISCV) && e.class == Some(2) => {
                "rebuild the guest for RV32: -march=rv32im -mabi=ilp32 (C), --target riscv32im-unknown-none-elf (Rust)"
            }
            FileKind::Elf(e) if e.machine == Some(EM_RISCV) => {
                "zkVM guests are little-endian ELF32 RV32 executables: rebuild with -march=rv32im -mabi=ilp32"
            }
            FileKind::Elf(_) => {
                "give the zkVM guest's ELF, built for RISC-V RV32 (riscv32im), not a program for another machine"
            }
            FileKind::Archive => "link the guest into an executable first and give that",
            _ => "give the zkVM guest's ELF (the linked RV32 executable its build writes)",
        })
    }

    /// Why a file of this kind is not a guest: what the file is and what to do, in one line, given the
    /// parser's error. A RISC-V ELF32 keeps the parser's message (the field, its offset and
    /// the fix); anything else is named ("an x86-64 ELF64 shared object or PIE") with the
    /// next step.
    pub fn not_a_guest(&self, err: &ElfError) -> String {
        match self.guest_advice() {
            None => err.to_string(),
            Some(advice) if matches!(self, FileKind::Elf(_)) => {
                format!("{self}, not a RISC-V RV32 guest ELF; {advice}")
            }
            Some(advice) => format!("{self}, not an ELF file; {advice}"),
        }
    }
}

/// UTF-8 (a character cut at the end allowed) with no control characters but whitespace.
fn is_text(b: &[u8]) -> bool {
    let valid = match std::str::from_utf8(b) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    !valid.is_empty()
        && valid
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\x0c'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(class: u8, data: u8, e_type: u16, machine: u16) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = class;
        b[5] = data;
        let (t, m) = if data == 2 {
            (e_type.to_be_bytes(), machine.to_be_bytes())
        } else {
            (e_type.to_le_bytes(), machine.to_le_bytes())
        };
        b[16..18].copy_from_slice(&t);
        b[18..20].copy_from_slice(&m);
        b
    }

    #[test]
    fn files_are_named_by_what_they_are() {
        let name = |b: &[u8]| FileKind::of(b).to_string();
        assert_eq!(name(b""), "an empty file");
        assert_eq!(name(b"NXRPROOF\x03\0\0\0"), "a nexus-relink proof file");
        assert_eq!(
            name(&elf(2, 1, 3, 62)),
            "an x86-64 ELF64 shared object or PIE (ET_DYN)"
        );
        assert_eq!(name(&elf(2, 1, 2, 183)), "an AArch64 ELF64 executable");
        assert_eq!(
            name(&elf(2, 1, 2, 243)),
            "a RISC-V 64-bit (RV64) ELF64 executable"
        );
        assert_eq!(name(&elf(1, 1, 2, 40)), "a 32-bit ARM ELF32 executable");
        assert_eq!(
            name(&elf(1, 2, 2, 243)),
            "a RISC-V 32-bit (RV32) ELF32 big-endian executable"
        );
        assert_eq!(name(b"#!/bin/sh\necho hi\n"), "a text file");
        assert_eq!(name(b"!<arch>\nx"), "an ar archive (a static library)");
        assert_eq!(name(b"\x1f\x8b\x08\0rest"), "a gzip file");
        assert_eq!(
            name(b"\x01\x02\x03\x04\x05"),
            "a file that is not ELF (it starts with bytes 01 02 03 04; an ELF starts with 7f 45 4c 46)"
        );
    }

    #[test]
    fn a_riscv_elf32_keeps_the_parsers_message_and_others_get_advice() {
        let rv32 = elf(1, 1, 3, 243);
        assert_eq!(
            FileKind::of(&rv32).not_a_guest(&ElfError::NotExec(3)),
            ElfError::NotExec(3).to_string()
        );
        let m = FileKind::of(&elf(2, 1, 2, 243)).not_a_guest(&ElfError::Elf64);
        assert!(m.starts_with("a RISC-V 64-bit (RV64) ELF64 executable, not a RISC-V RV32 guest ELF; rebuild the guest for RV32"), "{m}");
        let m = FileKind::of(b"NXRPROOF").not_a_guest(&ElfError::NotElf);
        assert!(
            m.contains("proof file, not an ELF file") && m.contains("verify"),
            "{m}"
        );
        let m = FileKind::of(b"text\n").not_a_guest(&ElfError::NotElf);
        assert!(m.starts_with("a text file, not an ELF file; "), "{m}");
    }
}
