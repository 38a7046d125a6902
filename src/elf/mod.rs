//! Reading guest ELF files into an [`Image`].
//!
//! Headers, symbols and relocations are read with goblin's ELF32 structs through scroll, with
//! every table bounds-checked first, so a malformed file gives a typed [`ElfError`] naming the
//! field and file offset, never a panic. The file offset of every header and symbol entry is
//! kept: the rewriter patches them in place (see `patch`).

mod kind;
pub use kind::{ElfKind, FileKind, PROOF_MAGIC};

use goblin::elf::header::{
    EI_CLASS, EI_DATA, ELFCLASS32, ELFCLASS64, ELFDATA2LSB, ELFMAG, SELFMAG,
};
use goblin::elf32::header::Header;
use goblin::elf32::program_header::ProgramHeader;
use goblin::elf32::reloc::{Rel, Rela};
use goblin::elf32::section_header::SectionHeader;
use goblin::elf32::sym::Sym;
use scroll::{Pread, LE};

pub use goblin::elf::program_header::{PF_R, PF_W, PF_X, PT_GNU_STACK, PT_LOAD};
pub use goblin::elf::section_header::{
    SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHT_NOBITS, SHT_REL, SHT_RELA, SHT_SYMTAB,
};

/// `e_machine` of RISC-V.
pub const EM_RISCV: u16 = 243;
/// `e_type` of an executable.
pub const ET_EXEC: u16 = 2;
/// `e_flags` bit: the file uses compressed instructions.
pub const EF_RISCV_RVC: u32 = 0x1;
/// Size of the ELF32 header, a program header and a section header.
pub const EHDR_SIZE: usize = 52;
pub const PHDR_SIZE: usize = 32;
pub const SHDR_SIZE: usize = 40;
pub const SYM_SIZE: usize = 16;
/// More headers than any linker writes for a guest: refuse rather than allocate.
pub const MAX_HEADERS: usize = 4096;

/// Why a file is not a guest this tool can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("not an ELF file (bad magic at offset 0)")]
    NotElf,
    #[error("ELF64 file (e_ident[EI_CLASS] at offset 4): zkVM guests are ELF32 RV32")]
    Elf64,
    #[error("unknown ELF class {0} (e_ident[EI_CLASS] at offset 4)")]
    BadClass(u8),
    #[error("big-endian ELF (e_ident[EI_DATA] at offset 5): RISC-V guests are little-endian")]
    BigEndian,
    #[error("e_machine = {0} at offset 18: not RISC-V (243)")]
    NotRiscv(u16),
    #[error("e_type = {0} at offset 16: {why}", why = not_exec(*.0))]
    NotExec(u16),
    #[error("e_flags = {0:#x} at offset 36 has EF_RISCV_RVC: compressed instructions are not supported; build with -march=rv32im (no 'c')")]
    Compressed(u32),
    #[error("truncated file: {what} needs bytes {start:#x}..{end:#x} but the file has {len:#x}")]
    Truncated {
        what: String,
        start: u64,
        end: u64,
        len: usize,
    },
    #[error("{field} = {value} at offset {offset:#x}: {why}")]
    BadField {
        field: &'static str,
        value: u64,
        offset: u64,
        why: &'static str,
    },
    #[error("too many {what}: {count} (limit {MAX_HEADERS})")]
    TooManyHeaders { what: &'static str, count: usize },
    #[error(
        "program header {index} (offset {offset:#x}): p_filesz {filesz:#x} > p_memsz {memsz:#x}"
    )]
    FileszGtMemsz {
        index: usize,
        offset: u64,
        filesz: u32,
        memsz: u32,
    },
    #[error("program header {index} (offset {offset:#x}): segment {vaddr:#x}+{memsz:#x} extends past 4 GiB")]
    Past4G {
        index: usize,
        offset: u64,
        vaddr: u32,
        memsz: u32,
    },
    #[error(
        "loadable segments {a} and {b} (program headers at offsets {a_off:#x}, {b_off:#x}) overlap"
    )]
    SegmentsOverlap {
        a: usize,
        b: usize,
        a_off: u64,
        b_off: u64,
    },
    #[error("e_entry = {0:#x} at offset 24 is not inside an executable PT_LOAD segment")]
    EntryNotExecutable(u32),
    #[error("the file has no PT_LOAD segment")]
    NoLoad,
}

/// Why an `e_type` is not a guest, and what to do.
fn not_exec(e_type: u16) -> &'static str {
    match e_type {
        1 => "an object file (ET_REL), not an executable; link the guest first",
        3 => "a shared object or position-independent executable (ET_DYN); link the guest as a static executable (no -shared, -pie)",
        4 => "a core dump (ET_CORE), not an executable; give the guest's ELF",
        _ => "not an executable (ET_EXEC); link the guest first",
    }
}

/// One program header, with where it lives in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub index: usize,
    /// File offset of this program header entry.
    pub hdr_offset: usize,
    pub p_type: u32,
    pub flags: u32,
    pub offset: u32,
    pub vaddr: u32,
    pub paddr: u32,
    pub filesz: u32,
    pub memsz: u32,
    pub align: u32,
}

impl Segment {
    pub fn is_load(&self) -> bool {
        self.p_type == PT_LOAD
    }
    pub fn is_exec(&self) -> bool {
        self.flags & PF_X != 0
    }
    /// End of the segment in memory (exclusive), as u64 so 4 GiB is representable.
    pub fn end(&self) -> u64 {
        u64::from(self.vaddr) + u64::from(self.memsz)
    }
    pub fn contains(&self, addr: u32) -> bool {
        addr >= self.vaddr && u64::from(addr) < self.end()
    }
}

/// One section header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub index: usize,
    pub name: String,
    pub hdr_offset: usize,
    pub sh_type: u32,
    pub flags: u32,
    pub addr: u32,
    pub offset: u32,
    pub size: u32,
    pub link: u32,
    pub info: u32,
    pub entsize: u32,
}

impl Section {
    pub fn is_alloc(&self) -> bool {
        self.flags & SHF_ALLOC != 0
    }
    pub fn is_nobits(&self) -> bool {
        self.sh_type == SHT_NOBITS
    }
    pub fn end(&self) -> u64 {
        u64::from(self.addr) + u64::from(self.size)
    }
}

/// Section index of absolute symbols.
pub const SHN_ABS: u16 = 0xfff1;

/// One symbol of `.symtab`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub value: u32,
    pub size: u32,
    pub info: u8,
    pub shndx: u16,
    /// Index in the symbol table (relocations refer to it).
    pub index: usize,
    /// File offset of the `Elf32_Sym` entry.
    pub entry_offset: usize,
}

impl Symbol {
    pub fn is_abs(&self) -> bool {
        self.shndx == SHN_ABS
    }
}

/// One relocation kept in the executable (`-Wl,-q` / `--emit-relocs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloc {
    /// Address the relocation applies to (`r_offset` in an executable is a virtual address).
    pub addr: u32,
    pub r_type: u32,
    /// Symbol index into `.symtab`.
    pub sym: usize,
    pub addend: i32,
    /// Section header index of the relocation section.
    pub section: usize,
}

/// A parsed guest executable: the file bytes plus its headers, symbols and relocations.
#[derive(Debug, Clone)]
pub struct Image {
    pub bytes: Vec<u8>,
    pub entry: u32,
    pub e_flags: u32,
    /// All program headers, in file order.
    pub segments: Vec<Segment>,
    pub sections: Vec<Section>,
    pub symbols: Vec<Symbol>,
    pub relocs: Vec<Reloc>,
}

fn need(
    bytes: &[u8],
    what: impl FnOnce() -> String,
    start: u64,
    size: u64,
) -> Result<(), ElfError> {
    let end = start.saturating_add(size);
    if end > bytes.len() as u64 {
        return Err(ElfError::Truncated {
            what: what(),
            start,
            end,
            len: bytes.len(),
        });
    }
    Ok(())
}

/// Check a header table (`n` entries of `entsize` at `offset`): the entry size the class needs,
/// a sane count, and bytes present. Returns the table's file offset.
fn header_table(
    bytes: &[u8],
    n: usize,
    entsize: u16,
    expect: usize,
    (field, field_offset, what): (&'static str, u64, &'static str),
    offset: u32,
) -> Result<u64, ElfError> {
    if usize::from(entsize) != expect {
        return Err(ElfError::BadField {
            field,
            value: entsize.into(),
            offset: field_offset,
            why: if expect == PHDR_SIZE {
                "must be 32 for ELF32"
            } else {
                "must be 40 for ELF32"
            },
        });
    }
    if n > MAX_HEADERS {
        return Err(ElfError::TooManyHeaders { what, count: n });
    }
    let base = u64::from(offset);
    need(
        bytes,
        || format!("{what} table ({n} entries at file offset {base:#x})"),
        base,
        (n * expect) as u64,
    )?;
    Ok(base)
}

/// Read one fixed-size table entry (a goblin struct) at file offset `off`.
fn entry<'a, T>(
    bytes: &'a [u8],
    off: usize,
    size: usize,
    what: impl FnOnce() -> String,
) -> Result<T, ElfError>
where
    T: scroll::ctx::TryFromCtx<'a, scroll::Endian, Error = scroll::Error>,
{
    bytes.pread_with(off, LE).map_err(|_| ElfError::Truncated {
        what: what(),
        start: off as u64,
        end: (off + size) as u64,
        len: bytes.len(),
    })
}

fn cstr(table: &[u8], at: usize) -> String {
    let tail = table.get(at..).unwrap_or(&[]);
    let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
    // Escaped: names are printed in messages and reports, and a garbled one must not break a
    // line or a terminal (boundary names, the only ones matched, are plain ASCII).
    crate::escape::bytes(&tail[..end])
}

impl Image {
    /// Read a guest from disk. An error names the file, what it is when it is not a RV32
    /// guest (a proof file, an x86-64 program, text) and what to do ([`crate::Error::Input`]).
    pub fn read(path: &std::path::Path) -> Result<Image, crate::Error> {
        Image::read_as(path, None)
    }

    /// [`Image::read`] of a file given as the argument `arg` (e.g. `--elf`), which errors name.
    pub fn read_as(
        path: &std::path::Path,
        arg: Option<&'static str>,
    ) -> Result<Image, crate::Error> {
        let bytes = crate::read_input(path, arg)?;
        let kind = FileKind::of(&bytes);
        if kind == FileKind::Proof {
            return Err(crate::Error::input(
                arg,
                path,
                format!(
                    "a nexus-relink proof file, not a guest ELF; to check the proof: nexus-relink verify {}",
                    crate::escape::path(path)
                ),
            ));
        }
        Image::parse(bytes).map_err(|e| crate::Error::input(arg, path, kind.not_a_guest(&e)))
    }

    /// Parse and validate an ELF32 little-endian RISC-V executable.
    pub fn parse(bytes: Vec<u8>) -> Result<Image, ElfError> {
        if bytes.len() < SELFMAG || &bytes[..SELFMAG] != ELFMAG {
            return Err(ElfError::NotElf);
        }
        need(&bytes, || "ELF identification".into(), 0, 16)?;
        match bytes[EI_CLASS] {
            ELFCLASS32 => {}
            ELFCLASS64 => return Err(ElfError::Elf64),
            c => return Err(ElfError::BadClass(c)),
        }
        if bytes[EI_DATA] != ELFDATA2LSB {
            return Err(ElfError::BigEndian);
        }
        need(&bytes, || "ELF header".into(), 0, EHDR_SIZE as u64)?;
        let h: Header = bytes.pread_with(0, LE).map_err(|_| ElfError::NotElf)?;
        if h.e_machine != EM_RISCV {
            return Err(ElfError::NotRiscv(h.e_machine));
        }
        if h.e_type != ET_EXEC {
            return Err(ElfError::NotExec(h.e_type));
        }
        if h.e_flags & EF_RISCV_RVC != 0 {
            return Err(ElfError::Compressed(h.e_flags));
        }
        let segments = Self::read_segments(&bytes, &h)?;
        let sections = Self::read_sections(&bytes, &h)?;
        let symbols = Self::read_symbols(&bytes, &sections)?;
        let relocs = Self::read_relocs(&bytes, &sections, symbols.len())?;
        let img = Image {
            entry: h.e_entry,
            e_flags: h.e_flags,
            segments,
            sections,
            symbols,
            relocs,
            bytes,
        };
        img.check_loads()?;
        Ok(img)
    }

    fn read_segments(bytes: &[u8], h: &Header) -> Result<Vec<Segment>, ElfError> {
        let n = usize::from(h.e_phnum);
        if n == 0 {
            return Err(ElfError::NoLoad);
        }
        let base = header_table(
            bytes,
            n,
            h.e_phentsize,
            PHDR_SIZE,
            ("e_phentsize", 42, "program headers"),
            h.e_phoff,
        )?;
        let mut out = Vec::with_capacity(n);
        for index in 0..n {
            let off = base as usize + index * PHDR_SIZE;
            let p: ProgramHeader =
                entry(bytes, off, PHDR_SIZE, || format!("program header {index}"))?;
            let seg = Segment {
                index,
                hdr_offset: off,
                p_type: p.p_type,
                flags: p.p_flags,
                offset: p.p_offset,
                vaddr: p.p_vaddr,
                paddr: p.p_paddr,
                filesz: p.p_filesz,
                memsz: p.p_memsz,
                align: p.p_align,
            };
            if seg.is_load() {
                if seg.filesz > seg.memsz {
                    return Err(ElfError::FileszGtMemsz {
                        index,
                        offset: off as u64,
                        filesz: seg.filesz,
                        memsz: seg.memsz,
                    });
                }
                if seg.end() > 1 << 32 {
                    return Err(ElfError::Past4G {
                        index,
                        offset: off as u64,
                        vaddr: seg.vaddr,
                        memsz: seg.memsz,
                    });
                }
                need(
                    bytes,
                    || {
                        format!("data of segment {index} (p_offset/p_filesz in program header at {off:#x})")
                    },
                    seg.offset.into(),
                    seg.filesz.into(),
                )?;
            }
            out.push(seg);
        }
        Ok(out)
    }

    fn read_sections(bytes: &[u8], h: &Header) -> Result<Vec<Section>, ElfError> {
        let n = usize::from(h.e_shnum);
        if n == 0 || h.e_shoff == 0 {
            return Ok(Vec::new());
        }
        let base = header_table(
            bytes,
            n,
            h.e_shentsize,
            SHDR_SIZE,
            ("e_shentsize", 46, "section headers"),
            h.e_shoff,
        )?;
        let mut raw = Vec::with_capacity(n);
        for index in 0..n {
            let off = base as usize + index * SHDR_SIZE;
            let s: SectionHeader =
                entry(bytes, off, SHDR_SIZE, || format!("section header {index}"))?;
            if s.sh_type != SHT_NOBITS && s.sh_type != 0 {
                need(
                    bytes,
                    || {
                        format!("contents of section {index} (sh_offset/sh_size in section header at {off:#x})")
                    },
                    s.sh_offset.into(),
                    s.sh_size.into(),
                )?;
            }
            raw.push((off, s));
        }
        let shstrndx = usize::from(h.e_shstrndx);
        let names: &[u8] = match raw.get(shstrndx) {
            Some((_, s)) if s.sh_type != SHT_NOBITS => {
                &bytes[s.sh_offset as usize..(s.sh_offset + s.sh_size) as usize]
            }
            _ => &[],
        };
        Ok(raw
            .into_iter()
            .enumerate()
            .map(|(index, (off, s))| Section {
                index,
                name: cstr(names, s.sh_name as usize),
                hdr_offset: off,
                sh_type: s.sh_type,
                flags: s.sh_flags,
                addr: s.sh_addr,
                offset: s.sh_offset,
                size: s.sh_size,
                link: s.sh_link,
                info: s.sh_info,
                entsize: s.sh_entsize,
            })
            .collect())
    }

    fn section_bytes<'a>(bytes: &'a [u8], s: &Section) -> &'a [u8] {
        if s.is_nobits() {
            return &[];
        }
        // Bounds were checked in read_sections.
        &bytes[s.offset as usize..s.offset as usize + s.size as usize]
    }

    fn read_symbols(bytes: &[u8], sections: &[Section]) -> Result<Vec<Symbol>, ElfError> {
        let Some(symtab) = sections.iter().find(|s| s.sh_type == SHT_SYMTAB) else {
            return Ok(Vec::new());
        };
        let strtab = sections
            .get(symtab.link as usize)
            .map(|s| Self::section_bytes(bytes, s))
            .unwrap_or(&[]);
        let data = Self::section_bytes(bytes, symtab);
        let n = data.len() / SYM_SIZE;
        if n > 1 << 22 {
            return Err(ElfError::TooManyHeaders {
                what: "symbols",
                count: n,
            });
        }
        let mut out = Vec::with_capacity(n);
        for index in 0..n {
            let off = symtab.offset as usize + index * SYM_SIZE;
            let sym: Sym = entry(bytes, off, SYM_SIZE, || format!("symbol {index}"))?;
            out.push(Symbol {
                name: cstr(strtab, sym.st_name as usize),
                value: sym.st_value,
                size: sym.st_size,
                info: sym.st_info,
                shndx: sym.st_shndx,
                index,
                entry_offset: off,
            });
        }
        Ok(out)
    }

    fn read_relocs(
        bytes: &[u8],
        sections: &[Section],
        nsyms: usize,
    ) -> Result<Vec<Reloc>, ElfError> {
        let mut out = Vec::new();
        for s in sections
            .iter()
            .filter(|s| s.sh_type == SHT_RELA || s.sh_type == SHT_REL)
        {
            let data = Self::section_bytes(bytes, s);
            let rela = s.sh_type == SHT_RELA;
            let size = if rela { 12 } else { 8 };
            for i in 0..data.len() / size {
                let off = s.offset as usize + i * size;
                let what = || format!("relocation {i} of section {}", s.name);
                let (r_offset, r_info, addend) = if rela {
                    let r: Rela = entry(bytes, off, size, what)?;
                    (r.r_offset, r.r_info, r.r_addend)
                } else {
                    let r: Rel = entry(bytes, off, size, what)?;
                    (r.r_offset, r.r_info, 0)
                };
                let sym = (r_info >> 8) as usize;
                if sym >= nsyms.max(1) {
                    return Err(ElfError::BadField {
                        field: "r_info symbol",
                        value: sym as u64,
                        offset: u64::from(s.offset) + (i * size) as u64 + 4,
                        why: "symbol index past the end of .symtab",
                    });
                }
                out.push(Reloc {
                    addr: r_offset,
                    r_type: r_info & 0xff,
                    sym,
                    addend,
                    section: s.index,
                });
            }
        }
        Ok(out)
    }

    fn check_loads(&self) -> Result<(), ElfError> {
        let loads: Vec<&Segment> = self.loads().collect();
        if loads.is_empty() {
            return Err(ElfError::NoLoad);
        }
        // Segments with memory must be disjoint. Their order in the table is not checked: the
        // gABI asks for ascending p_vaddr, but picolibc's stock linker script emits its .bss
        // segment before .data (loaders, qemu-user and this tool do not depend on the order).
        let mut sorted: Vec<&Segment> = loads.iter().copied().filter(|s| s.memsz > 0).collect();
        sorted.sort_by_key(|s| (s.vaddr, s.index));
        for w in sorted.windows(2) {
            let (a, b) = (w[0], w[1]);
            if a.end() > u64::from(b.vaddr) {
                return Err(ElfError::SegmentsOverlap {
                    a: a.index,
                    b: b.index,
                    a_off: a.hdr_offset as u64,
                    b_off: b.hdr_offset as u64,
                });
            }
        }
        if !loads.iter().any(|s| s.is_exec() && s.contains(self.entry)) {
            return Err(ElfError::EntryNotExecutable(self.entry));
        }
        Ok(())
    }

    /// The PT_LOAD segments, in the program header table's order (usually, not always, address
    /// order).
    pub fn loads(&self) -> impl Iterator<Item = &Segment> + '_ {
        self.segments.iter().filter(|s| s.is_load())
    }

    /// The value of the first symbol with this name.
    pub fn symbol(&self, name: &str) -> Option<&Symbol> {
        self.symbols.iter().find(|s| s.name == name)
    }

    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The loaded (file-backed) bytes at `addr..addr+len`, if one PT_LOAD holds them all.
    pub fn bytes_at(&self, addr: u32, len: u32) -> Option<&[u8]> {
        let off = self.file_offset(addr, len)?;
        Some(&self.bytes[off..off + len as usize])
    }

    /// The file offset of `addr..addr+len` in the file-backed part of a PT_LOAD.
    pub fn file_offset(&self, addr: u32, len: u32) -> Option<usize> {
        self.loads().find_map(|s| {
            let rel = addr.checked_sub(s.vaddr)?;
            (u64::from(rel) + u64::from(len) <= u64::from(s.filesz))
                .then(|| (s.offset + rel) as usize)
        })
    }

    pub fn word_at(&self, addr: u32) -> Option<u32> {
        self.bytes_at(addr, 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Every 32-bit instruction word: `(address, word)`, in address order. With section
    /// headers, the words of allocated SHF_EXECINSTR sections (read-only data linked into the
    /// text segment is not code); without, every executable PT_LOAD.
    pub fn code_words(&self) -> Box<dyn Iterator<Item = (u32, u32)> + '_> {
        fn words(vaddr: u32, data: &[u8]) -> impl Iterator<Item = (u32, u32)> + '_ {
            data.chunks_exact(4).enumerate().map(move |(i, c)| {
                (
                    vaddr + 4 * i as u32,
                    u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                )
            })
        }
        let mut exec: Vec<&Section> = self
            .sections
            .iter()
            .filter(|s| {
                s.is_alloc() && !s.is_nobits() && s.flags & SHF_EXECINSTR != 0 && s.size >= 4
            })
            .filter(|s| self.bytes_at(s.addr, s.size).is_some())
            .collect();
        // Trust the sections only when they hold the entry point (a script may put start-up
        // code in a section not flagged executable); otherwise every executable segment.
        let covers_entry = exec
            .iter()
            .any(|s| u64::from(self.entry) >= u64::from(s.addr) && u64::from(self.entry) < s.end());
        if !covers_entry {
            return Box::new(self.loads().filter(|s| s.is_exec()).flat_map(move |s| {
                words(
                    s.vaddr,
                    &self.bytes[s.offset as usize..(s.offset + s.filesz) as usize],
                )
            }));
        }
        exec.sort_by_key(|s| s.addr);
        Box::new(exec.into_iter().flat_map(move |s| {
            // Instructions are 4-byte aligned; a section's unaligned head is not code.
            let start = s.addr.next_multiple_of(4);
            let len = (s.end() as u32).saturating_sub(start) & !3;
            words(start, self.bytes_at(start, len).unwrap_or(&[]))
        }))
    }

    /// "No code at the entry": the entry word is not in bytes the file holds (it lies in the
    /// zero-filled part of a segment, or in none), so the file carries no program to run. The
    /// one rule `inspect` lists as a problem and the VM refuses to start on.
    pub fn no_code_at_entry(&self) -> Option<String> {
        let entry = u64::from(self.entry);
        if self.loads().any(|s| {
            u64::from(s.vaddr) <= entry && entry + 4 <= u64::from(s.vaddr) + u64::from(s.filesz)
        }) {
            return None;
        }
        let section = self
            .sections
            .iter()
            .find(|s| {
                s.is_alloc()
                    && u64::from(s.addr) <= entry
                    && entry < u64::from(s.addr) + u64::from(s.size)
            })
            .map(|s| {
                format!(
                    " (section {}{})",
                    escape(&s.name),
                    if s.is_nobits() { ", NOBITS" } else { "" }
                )
            })
            .unwrap_or_default();
        let zero_filled = self.loads().any(|s| {
            u64::from(s.vaddr) <= entry && entry < u64::from(s.vaddr) + u64::from(s.memsz)
        });
        let where_ = if zero_filled {
            "in the zero-filled part of its segment"
        } else {
            "outside every loaded segment"
        };
        Some(format!(
            "no code at the entry {:#x}: it lies {where_}{section}, not in bytes the file holds, so the file carries no program to run (an Airbender app.elf, for one, is linked without its code)",
            self.entry
        ))
    }

    /// The instruction words the machine may execute: [`Image::code_words`] inside the
    /// file-backed part of an executable PT_LOAD. An `"ax"` section placed in a segment
    /// without execute permission (code run from RAM) is not among them. The VM executes
    /// exactly these words and the prover's PROGRAM table holds exactly these.
    pub fn executable_words(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        let exec: Vec<(u64, u64)> = self
            .loads()
            .filter(|s| s.is_exec())
            .map(|s| (u64::from(s.vaddr), u64::from(s.vaddr) + u64::from(s.filesz)))
            .collect();
        self.code_words().filter(move |&(a, _)| {
            let a = u64::from(a);
            exec.iter().any(|&(s, e)| s <= a && a + 4 <= e)
        })
    }

    /// Lowest and highest (exclusive) address of any PT_LOAD.
    pub fn load_bounds(&self) -> (u32, u64) {
        let lo = self
            .loads()
            .filter(|s| s.memsz > 0)
            .map(|s| s.vaddr)
            .min()
            .unwrap_or(0);
        let hi = self.loads().map(|s| s.end()).max().unwrap_or(0);
        (lo, hi)
    }
}

/// A name read from the file, made safe to print on one line: printable ASCII as is, everything
/// else (control characters, quotes' lookalikes, non-ASCII) escaped as `\u{..}`, a backslash as
/// `\\`.
pub fn escape(name: &str) -> String {
    let mut o = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            c if c.is_ascii_graphic() || c == ' ' => o.push(c),
            c => o.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_elf_and_short_input() {
        assert_eq!(Image::parse(vec![]).unwrap_err(), ElfError::NotElf);
        assert_eq!(
            Image::parse(b"\x7fELF".to_vec()).unwrap_err(),
            ElfError::Truncated {
                what: "ELF identification".into(),
                start: 0,
                end: 16,
                len: 4
            }
        );
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        assert_eq!(Image::parse(h.clone()).unwrap_err(), ElfError::Elf64);
        h[4] = 1;
        h[5] = 2;
        assert_eq!(Image::parse(h).unwrap_err(), ElfError::BigEndian);
    }
}
