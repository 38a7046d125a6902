//! Unit tests of the interpreter: every RV32IM operation, the memory-layout faults and both
//! ABIs, on small guests assembled in the test (see [`Asm`] and [`elf`]).
//!
//! Each program ends with an exit system call whose `a0` is the value under test, so
//! `RunResult::exit_code` carries the result.

use super::*;
use crate::elf::{PF_R, PF_W, PF_X, PT_LOAD, SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHT_SYMTAB};
use crate::isa::encode;
use crate::layout::{SpInit, SpKind};

#[test]
fn division_corner_cases_follow_the_spec() {
    assert_eq!(div(7, 0), u32::MAX);
    assert_eq!(div(i32::MIN as u32, -1i32 as u32), i32::MIN as u32);
    assert_eq!(rem(7, 0), 7);
    assert_eq!(rem(i32::MIN as u32, -1i32 as u32), 0);
    assert_eq!(div(-7i32 as u32, 2), -3i32 as u32);
    assert_eq!(rem(-7i32 as u32, 2), -1i32 as u32);
}

// ---------------------------------------------------------------------------------------------
// A minimal ELF32 RISC-V executable builder and assembler.
// ---------------------------------------------------------------------------------------------

/// Load address of the text segment (the entry point).
const TEXT: u32 = 0x1_0000;
/// Load address of the data segment.
const DATA: u32 = 0x2_0000;
const HEAP_START: u32 = 0x3_0000;
const STACK_BOTTOM: u32 = 0x30_0000;
const STACK_TOP: u32 = 0x40_0000;
const MEMLIMIT: u64 = 0x40_0000;

const T0: u8 = 5;
const T1: u8 = 6;
const T2: u8 = 7;
const S1: u8 = 9;
const A0: u8 = 10;
const A1: u8 = 11;
const A2: u8 = 12;
const A7: u8 = 17;
const S2: u8 = 18;
const SP: u8 = reg::SP;
const RA: u8 = reg::RA;

fn push_u16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn push_u32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn pad_to(v: &mut Vec<u8>, len: usize) {
    assert!(v.len() <= len, "builder layout overflow");
    v.resize(len, 0);
}

/// Emit a minimal ELF32 little-endian RISC-V `ET_EXEC`: an R+X PT_LOAD holding `text` at
/// [`TEXT`], an RW PT_LOAD holding `data` at [`DATA`], `.text`/`.data` sections and a
/// `.symtab` with the layout symbols, so that [`Layout::discover`] works on it.
fn elf(text: &[u32], data: &[u8], heap_end: u32) -> Vec<u8> {
    assert!(!text.is_empty() && text.len() * 4 < (DATA - TEXT) as usize);
    let mut data = data.to_vec();
    data.resize(data.len().max(16).next_multiple_of(4), 0);
    let text_bytes: Vec<u8> = text.iter().flat_map(|w| w.to_le_bytes()).collect();

    // Symbols and string tables.
    let syms: [(&str, u32); 5] = [
        ("_start", TEXT),
        ("_stack_top", STACK_TOP),
        ("_stack_bottom", STACK_BOTTOM),
        ("_heap_start", HEAP_START),
        ("_heap_end", heap_end),
    ];
    let mut strtab = vec![0u8];
    let mut symtab = vec![0u8; 16]; // null symbol
    for (name, value) in syms {
        let name_off = strtab.len() as u32;
        strtab.extend_from_slice(name.as_bytes());
        strtab.push(0);
        push_u32(&mut symtab, name_off);
        push_u32(&mut symtab, value);
        push_u32(&mut symtab, 0); // st_size
        symtab.push(0x10); // STB_GLOBAL, STT_NOTYPE
        symtab.push(0); // st_other
        push_u16(&mut symtab, 0xfff1); // SHN_ABS
    }
    let mut shstrtab = vec![0u8];
    let mut name = |s: &str| {
        let at = shstrtab.len() as u32;
        shstrtab.extend_from_slice(s.as_bytes());
        shstrtab.push(0);
        at
    };
    let n_text = name(".text");
    let n_data = name(".data");
    let n_symtab = name(".symtab");
    let n_strtab = name(".strtab");
    let n_shstrtab = name(".shstrtab");

    // File layout: ehdr, 2 phdrs, text, data, symtab, strtab, shstrtab, section headers.
    let text_off = 0x100usize;
    let data_off = (text_off + text_bytes.len()).next_multiple_of(16);
    let symtab_off = (data_off + data.len()).next_multiple_of(16);
    let strtab_off = symtab_off + symtab.len();
    let shstrtab_off = strtab_off + strtab.len();
    let shoff = (shstrtab_off + shstrtab.len()).next_multiple_of(4);
    let shnum = 6u16;

    let mut f = Vec::new();
    f.extend_from_slice(b"\x7fELF");
    f.extend_from_slice(&[1, 1, 1, 0]); // ELFCLASS32, ELFDATA2LSB, EV_CURRENT, SYSV
    f.extend_from_slice(&[0; 8]);
    push_u16(&mut f, ET_EXEC_);
    push_u16(&mut f, crate::elf::EM_RISCV);
    push_u32(&mut f, 1); // e_version
    push_u32(&mut f, TEXT); // e_entry
    push_u32(&mut f, 52); // e_phoff
    push_u32(&mut f, shoff as u32);
    push_u32(&mut f, 0); // e_flags
    push_u16(&mut f, 52);
    push_u16(&mut f, 32);
    push_u16(&mut f, 2); // e_phnum
    push_u16(&mut f, 40);
    push_u16(&mut f, shnum);
    push_u16(&mut f, shnum - 1); // e_shstrndx
    let phdr = |f: &mut Vec<u8>, off: usize, vaddr: u32, size: usize, flags: u32| {
        for x in [
            PT_LOAD,
            off as u32,
            vaddr,
            vaddr,
            size as u32,
            size as u32,
            flags,
            4,
        ] {
            push_u32(f, x);
        }
    };
    phdr(&mut f, text_off, TEXT, text_bytes.len(), PF_R | PF_X);
    phdr(&mut f, data_off, DATA, data.len(), PF_R | PF_W);
    pad_to(&mut f, text_off);
    f.extend_from_slice(&text_bytes);
    pad_to(&mut f, data_off);
    f.extend_from_slice(&data);
    pad_to(&mut f, symtab_off);
    f.extend_from_slice(&symtab);
    f.extend_from_slice(&strtab);
    f.extend_from_slice(&shstrtab);
    pad_to(&mut f, shoff);
    #[allow(clippy::type_complexity)]
    let shdrs: [(u32, u32, u32, u32, usize, usize, u32, u32, u32); 6] = [
        (0, 0, 0, 0, 0, 0, 0, 0, 0),
        (
            n_text,
            1,
            SHF_ALLOC | SHF_EXECINSTR,
            TEXT,
            text_off,
            text_bytes.len(),
            0,
            4,
            0,
        ),
        (
            n_data,
            1,
            SHF_ALLOC | SHF_WRITE,
            DATA,
            data_off,
            data.len(),
            0,
            4,
            0,
        ),
        (
            n_symtab,
            SHT_SYMTAB,
            0,
            0,
            symtab_off,
            symtab.len(),
            4,
            4,
            16,
        ),
        (n_strtab, 3, 0, 0, strtab_off, strtab.len(), 0, 1, 0),
        (n_shstrtab, 3, 0, 0, shstrtab_off, shstrtab.len(), 0, 1, 0),
    ];
    for (name, ty, flags, addr, off, size, link, align, entsize) in shdrs {
        for x in [
            name,
            ty,
            flags,
            addr,
            off as u32,
            size as u32,
            link,
            if ty == SHT_SYMTAB { 1 } else { 0 }, // sh_info: first global symbol
            align,
            entsize,
        ] {
            push_u32(&mut f, x);
        }
    }
    f
}
const ET_EXEC_: u16 = crate::elf::ET_EXEC;

/// A tiny assembler: instructions (encoded with [`encode`]) and raw words.
#[derive(Default)]
struct Asm {
    words: Vec<u32>,
}

impl Asm {
    fn new() -> Asm {
        Asm::default()
    }
    /// Address of the next instruction.
    fn pc(&self) -> u32 {
        TEXT + 4 * self.words.len() as u32
    }
    fn i(&mut self, inst: Inst) -> &mut Self {
        let w = encode(&inst).unwrap_or_else(|e| panic!("{inst:?}: {e}"));
        self.words.push(w);
        self
    }
    fn word(&mut self, w: u32) -> &mut Self {
        self.words.push(w);
        self
    }
    fn r(&mut self, op: Op, rd: u8, rs1: u8, rs2: u8) -> &mut Self {
        self.i(Inst::new(op, rd, rs1, rs2, 0))
    }
    fn imm(&mut self, op: Op, rd: u8, rs1: u8, imm: i32) -> &mut Self {
        self.i(Inst::new(op, rd, rs1, 0, imm))
    }
    /// `li rd, value` as `lui` + `addi` (always two instructions).
    fn li(&mut self, rd: u8, value: u32) -> &mut Self {
        let (hi, lo) = isa::split_hi_lo(value);
        self.i(Inst::lui(rd, hi << 12)).i(Inst::addi(rd, rd, lo))
    }
    fn mv(&mut self, rd: u8, rs: u8) -> &mut Self {
        self.i(Inst::addi(rd, rs, 0))
    }
    fn ecall(&mut self) -> &mut Self {
        self.i(Inst::new(Op::Ecall, 0, 0, 0, 0))
    }
    /// `li a7, n; ecall`.
    fn sys(&mut self, n: i32) -> &mut Self {
        self.i(Inst::addi(A7, 0, n)).ecall()
    }
    /// Linux exit with the value in a0.
    fn exit(&mut self) -> &mut Self {
        self.sys(93)
    }
    /// Nexus exit with the value in a0.
    fn nexus_exit(&mut self) -> &mut Self {
        self.sys(0x201)
    }
    fn words(&self) -> Vec<u32> {
        self.words.clone()
    }
}

/// The layout [`elf`] describes, written out by hand (the tests do not depend on discovery,
/// and may move `heap_end` to open a guard gap).
fn layout(heap_end: u32) -> Layout {
    Layout {
        memlimit: MEMLIMIT,
        image_start: TEXT,
        image_end: DATA + 0x100,
        heap_start: HEAP_START,
        heap_end,
        stack_bottom: STACK_BOTTOM,
        stack_top: STACK_TOP,
        gp: None,
        shared: false,
        sp_init: SpInit {
            kind: SpKind::NotFound,
            value: None,
            at: TEXT,
            insts: Vec::new(),
            word_addr: None,
            align_mask: None,
            overwrite_ecall: None,
        },
        sources: Vec::new(),
    }
}

/// A guest to run: program, data, ABI and inputs.
struct Guest {
    text: Vec<u32>,
    data: Vec<u8>,
    heap_end: u32,
    cfg: RunConfig,
}

impl Guest {
    fn linux(asm: &Asm) -> Guest {
        Guest {
            text: asm.words(),
            data: Vec::new(),
            heap_end: STACK_BOTTOM,
            cfg: RunConfig {
                abi: Some(Abi::LinuxRv32),
                max_cycles: 100_000,
                ..RunConfig::default()
            },
        }
    }
    fn nexus(asm: &Asm) -> Guest {
        let mut g = Guest::linux(asm);
        g.cfg.abi = Some(Abi::Nexus);
        g
    }
    fn data(mut self, data: &[u8]) -> Guest {
        self.data = data.to_vec();
        self
    }
    fn run(self) -> RunResult {
        let bytes = elf(&self.text, &self.data, self.heap_end);
        let img = Image::parse(bytes).expect("builder output parses");
        Vm::new(&img, &layout(self.heap_end), self.cfg)
            .expect("VM loads the guest")
            .run()
    }
}

/// Run a linux guest that must exit normally; its exit code as u32.
fn exit_value(asm: &Asm) -> u32 {
    exit_value_with(asm, &[])
}

fn exit_value_with(asm: &Asm, data: &[u8]) -> u32 {
    let r = Guest::linux(asm).data(data).run();
    assert_eq!(r.fault, None, "unexpected fault");
    r.exit_code.expect("exit code") as u32
}

/// Run a linux guest that must fault; the fault.
fn fault_of(g: Guest) -> Fault {
    let r = g.run();
    assert_eq!(r.exit_code, None);
    r.fault.expect("a fault")
}

// ---------------------------------------------------------------------------------------------
// The builder itself.
// ---------------------------------------------------------------------------------------------

#[test]
fn builder_output_is_a_valid_guest_with_a_discoverable_layout() {
    let mut a = Asm::new();
    a.imm(Op::Addi, A0, 0, 7).exit();
    let img = Image::parse(elf(&a.words(), b"data", STACK_BOTTOM)).unwrap();
    assert_eq!(img.entry, TEXT);
    assert_eq!(img.loads().count(), 2);
    assert_eq!(
        img.word_at(TEXT),
        Some(encode(&Inst::addi(A0, 0, 7)).unwrap())
    );
    assert_eq!(img.bytes_at(DATA, 4), Some(&b"data"[..]));
    let l = Layout::discover(&img).unwrap();
    assert_eq!(
        (
            l.memlimit,
            l.image_start,
            l.heap_start,
            l.heap_end,
            l.stack_bottom,
            l.stack_top,
            l.shared
        ),
        (
            MEMLIMIT,
            TEXT,
            HEAP_START,
            STACK_BOTTOM,
            STACK_BOTTOM,
            STACK_TOP,
            false
        )
    );
    assert_eq!(l.image_end, DATA + 16);
    // The same program under the discovered layout and the detected ABI.
    let r = Vm::new(&img, &l, RunConfig::default()).unwrap().run();
    assert_eq!(r.abi, Abi::LinuxRv32);
    assert_eq!(r.exit_code, Some(7));
    assert_eq!(r.cycles, 3);
    assert_eq!(r.fault, None);
}

// ---------------------------------------------------------------------------------------------
// Arithmetic: every R-type and I-type operation.
// ---------------------------------------------------------------------------------------------

/// `li t0, a; li t1, b; op a0, t0, t1; exit`.
fn run_r(op: Op, a: u32, b: u32) -> u32 {
    let mut asm = Asm::new();
    asm.li(T0, a).li(T1, b).r(op, A0, T0, T1).exit();
    exit_value(&asm)
}

/// `li t0, a; op a0, t0, imm; exit`.
fn run_i(op: Op, a: u32, imm: i32) -> u32 {
    let mut asm = Asm::new();
    asm.li(T0, a).imm(op, A0, T0, imm).exit();
    exit_value(&asm)
}

const MIN: u32 = i32::MIN as u32;
const MAX: u32 = i32::MAX as u32;
const NEG1: u32 = u32::MAX;

const fn n(x: i32) -> u32 {
    x as u32
}

#[test]
fn r_type_table() {
    #[rustfmt::skip]
    let cases: &[(Op, u32, u32, u32)] = &[
        (Op::Add, 1, 2, 3),
        (Op::Add, MAX, 1, MIN),
        (Op::Add, NEG1, NEG1, n(-2)),
        (Op::Sub, 1, 2, NEG1),
        (Op::Sub, MIN, 1, MAX),
        (Op::Sub, 0, MIN, MIN),
        (Op::Xor, 0xff00_ff00, 0x0ff0_0ff0, 0xf0f0_f0f0),
        (Op::Or, 0xff00_ff00, 0x0ff0_0ff0, 0xfff0_fff0),
        (Op::And, 0xff00_ff00, 0x0ff0_0ff0, 0x0f00_0f00),
        // Shifts: by 0, by 31, and register amounts >= 32 use only the low 5 bits.
        (Op::Sll, 0x8000_0001, 0, 0x8000_0001),
        (Op::Sll, 1, 31, 0x8000_0000),
        (Op::Sll, 1, 32, 1),
        (Op::Sll, 1, 33, 2),
        (Op::Sll, 3, 63, 0x8000_0000),
        (Op::Sll, 1, NEG1, 0x8000_0000),
        (Op::Sll, 1, 0xffff_ffe0, 1),
        (Op::Srl, MIN, 0, MIN),
        (Op::Srl, MIN, 31, 1),
        (Op::Srl, MIN, 32, MIN),
        (Op::Srl, MIN, 36, 0x0800_0000),
        (Op::Srl, NEG1, NEG1, 1),
        (Op::Sra, MIN, 0, MIN),
        (Op::Sra, MIN, 31, NEG1),
        (Op::Sra, MIN, 32, MIN),
        (Op::Sra, MIN, 36, 0xf800_0000),
        (Op::Sra, MAX, 31, 0),
        (Op::Sra, MAX, 30, 1),
        (Op::Sra, n(-16), 0x44, n(-1)),
        // SLT is signed, SLTU unsigned.
        (Op::Slt, NEG1, 0, 1),
        (Op::Sltu, NEG1, 0, 0),
        (Op::Slt, 0, NEG1, 0),
        (Op::Sltu, 0, NEG1, 1),
        (Op::Slt, MIN, MAX, 1),
        (Op::Sltu, MIN, MAX, 0),
        (Op::Slt, 5, 5, 0),
        (Op::Sltu, 5, 5, 0),
        (Op::Slt, n(-2), n(-1), 1),
        (Op::Sltu, n(-2), n(-1), 1),
        // M: MUL keeps the low word; MULH* the high word of signed/unsigned products.
        (Op::Mul, 6, 7, 42),
        (Op::Mul, NEG1, NEG1, 1),
        (Op::Mul, MIN, NEG1, MIN),
        (Op::Mul, 0x1234_5678, 0x9abc_def0, 0x242d_2080),
        (Op::Mulh, NEG1, NEG1, 0),
        (Op::Mulh, MIN, MIN, 0x4000_0000),
        (Op::Mulh, MIN, MAX, 0xc000_0000),
        (Op::Mulh, MIN, NEG1, 0),
        (Op::Mulh, MAX, MAX, 0x3fff_ffff),
        (Op::Mulh, n(-2), 3, NEG1),
        (Op::Mulhu, NEG1, NEG1, 0xffff_fffe),
        (Op::Mulhu, MIN, MIN, 0x4000_0000),
        (Op::Mulhu, MIN, 2, 1),
        (Op::Mulhu, 0x1234_5678, 0x9abc_def0, 0x0b00_ea4e),
        (Op::Mulhsu, NEG1, NEG1, NEG1),
        (Op::Mulhsu, MIN, NEG1, 0x8000_0000),
        (Op::Mulhsu, MIN, MIN, 0xc000_0000),
        (Op::Mulhsu, MAX, NEG1, 0x7fff_fffe),
        (Op::Mulhsu, n(-2), 3, NEG1),
        (Op::Mulhsu, 2, MIN, 1),
        // Division: by zero, and the one overflowing case INT_MIN / -1.
        (Op::Div, 7, 2, 3),
        (Op::Div, n(-7), 2, n(-3)),
        (Op::Div, 7, n(-2), n(-3)),
        (Op::Div, 7, 0, NEG1),
        (Op::Div, n(-7), 0, NEG1),
        (Op::Div, 0, 0, NEG1),
        (Op::Div, MIN, NEG1, MIN),
        (Op::Div, MIN, 1, MIN),
        (Op::Divu, 7, 2, 3),
        (Op::Divu, NEG1, 2, MAX),
        (Op::Divu, 7, 0, NEG1),
        (Op::Divu, 0, 0, NEG1),
        (Op::Divu, MIN, NEG1, 0),
        (Op::Rem, 7, 2, 1),
        (Op::Rem, n(-7), 2, n(-1)),
        (Op::Rem, 7, n(-2), 1),
        (Op::Rem, 7, 0, 7),
        (Op::Rem, n(-7), 0, n(-7)),
        (Op::Rem, MIN, NEG1, 0),
        (Op::Rem, MIN, 0, MIN),
        (Op::Remu, 7, 2, 1),
        (Op::Remu, NEG1, 10, 5),
        (Op::Remu, 7, 0, 7),
        (Op::Remu, MIN, NEG1, MIN),
        (Op::Remu, 0, 0, 0),
    ];
    for &(op, a, b, want) in cases {
        assert_eq!(run_r(op, a, b), want, "{op:?} {a:#x}, {b:#x}");
    }
}

/// An independent reference of each R-type operation, in 64-bit arithmetic.
fn reference(op: Op, a: u32, b: u32) -> u32 {
    let (sa, sb) = (i64::from(a as i32), i64::from(b as i32));
    let (ua, ub) = (u64::from(a), u64::from(b));
    let sh = b % 32;
    let v: i64 = match op {
        Op::Add => sa + sb,
        Op::Sub => sa - sb,
        Op::Sll => (ua << sh) as i64,
        Op::Srl => (ua >> sh) as i64,
        Op::Sra => sa >> sh,
        Op::Slt => (sa < sb) as i64,
        Op::Sltu => (ua < ub) as i64,
        Op::Xor => sa ^ sb,
        Op::Or => sa | sb,
        Op::And => sa & sb,
        Op::Mul => sa * sb,
        Op::Mulh => (sa * sb) >> 32,
        Op::Mulhsu => ((i128::from(sa) * i128::from(ub)) >> 32) as i64,
        Op::Mulhu => ((ua * ub) >> 32) as i64,
        Op::Div if sb == 0 => -1,
        Op::Div => sa / sb, // i64: MIN / -1 = 2^31, truncated to u32 below = MIN
        Op::Divu if ub == 0 => -1,
        Op::Divu => (ua / ub) as i64,
        Op::Rem if sb == 0 => sa,
        Op::Rem => sa % sb,
        Op::Remu if ub == 0 => ua as i64,
        Op::Remu => (ua % ub) as i64,
        _ => unreachable!("{op:?}"),
    };
    v as u32
}

#[test]
fn r_type_matches_a_64_bit_reference_on_extreme_operands() {
    const OPS: [Op; 18] = [
        Op::Add,
        Op::Sub,
        Op::Sll,
        Op::Slt,
        Op::Sltu,
        Op::Xor,
        Op::Srl,
        Op::Sra,
        Op::Or,
        Op::And,
        Op::Mul,
        Op::Mulh,
        Op::Mulhsu,
        Op::Mulhu,
        Op::Div,
        Op::Divu,
        Op::Rem,
        Op::Remu,
    ];
    const VALS: [u32; 10] = [
        0,
        1,
        NEG1,
        n(-2),
        MIN,
        MAX,
        31,
        32,
        0x8000_0001,
        0xdead_beef,
    ];
    for op in OPS {
        for a in VALS {
            for b in VALS {
                assert_eq!(
                    run_r(op, a, b),
                    reference(op, a, b),
                    "{op:?} {a:#x}, {b:#x}"
                );
            }
        }
    }
}

#[test]
fn i_type_table() {
    #[rustfmt::skip]
    let cases: &[(Op, u32, i32, u32)] = &[
        (Op::Addi, 1, -1, 0),
        (Op::Addi, MAX, 1, MIN),
        (Op::Addi, 0, -2048, n(-2048)),
        (Op::Addi, 0, 2047, 2047),
        (Op::Slti, NEG1, 0, 1),
        (Op::Slti, 0, -1, 0),
        (Op::Slti, MIN, -2048, 1),
        (Op::Sltiu, 0, -1, 1), // the immediate is sign-extended, then compared unsigned
        (Op::Sltiu, NEG1, -1, 0),
        (Op::Sltiu, 0xffff_fffe, -1, 1),
        (Op::Sltiu, 5, 6, 1),
        (Op::Sltiu, 6, 6, 0),
        (Op::Xori, 0x1234_5678, -1, !0x1234_5678),
        (Op::Xori, 0xff, 0x0f, 0xf0),
        (Op::Ori, 0x1000_0000, -2048, 0xffff_f800),
        (Op::Ori, 0xf0, 0x0f, 0xff),
        (Op::Andi, NEG1, 0x7ff, 0x7ff),
        (Op::Andi, 0x1234_5678, -16, 0x1234_5670),
        (Op::Slli, 0x8000_0001, 0, 0x8000_0001),
        (Op::Slli, 1, 31, MIN),
        (Op::Slli, 0xffff_ffff, 4, 0xffff_fff0),
        (Op::Srli, MIN, 0, MIN),
        (Op::Srli, MIN, 31, 1),
        (Op::Srli, NEG1, 4, 0x0fff_ffff),
        (Op::Srai, MIN, 0, MIN),
        (Op::Srai, MIN, 31, NEG1),
        (Op::Srai, MIN, 4, 0xf800_0000),
        (Op::Srai, MAX, 31, 0),
    ];
    for &(op, a, imm, want) in cases {
        assert_eq!(run_i(op, a, imm), want, "{op:?} {a:#x}, {imm}");
    }
}

#[test]
fn lui_and_auipc() {
    let mut a = Asm::new();
    a.i(Inst::lui(A0, 0xfffff000)).exit();
    assert_eq!(exit_value(&a), 0xffff_f000);

    let mut a = Asm::new();
    a.i(Inst::lui(A0, 0x8000_0000))
        .imm(Op::Addi, A0, A0, -1)
        .exit();
    assert_eq!(exit_value(&a), MAX);

    let mut a = Asm::new();
    a.i(Inst::NOP).i(Inst::NOP);
    let at = a.pc();
    a.i(Inst::auipc(A0, 0x0012_3000)).exit();
    assert_eq!(at, TEXT + 8);
    assert_eq!(exit_value(&a), TEXT + 8 + 0x0012_3000);

    // A negative upper immediate wraps below the pc.
    let mut a = Asm::new();
    a.i(Inst::auipc(A0, 0xffff_f000)).exit();
    assert_eq!(exit_value(&a), TEXT - 0x1000);
}

#[test]
fn writes_to_x0_are_discarded() {
    for inst in [
        Inst::addi(0, 0, 5),
        Inst::lui(0, 0x1234_5000),
        Inst::auipc(0, 0x1000),
        Inst::new(Op::Add, 0, T0, T0, 0),
        Inst::new(Op::Mul, 0, T0, T0, 0),
        Inst::new(Op::Divu, 0, T0, T1, 0),
        Inst::load(Op::Lw, 0, T2, 0),
        Inst::new(Op::Sltiu, 0, 0, 0, 1),
        Inst::jal(0, 4),
    ] {
        let mut a = Asm::new();
        a.li(T0, 0x55).li(T1, 0).li(T2, DATA);
        a.i(inst);
        // a0 = x0 + x0, and x0 read back through a store/load round trip.
        a.r(Op::Add, A0, 0, 0)
            .i(Inst::store(Op::Sw, 0, T2, 4))
            .i(Inst::load(Op::Lw, A1, T2, 4))
            .r(Op::Or, A0, A0, A1)
            .exit();
        assert_eq!(exit_value_with(&a, &[0xff; 8]), 0, "{inst:?}");
    }
    // jal/jalr with rd = x0 jump without linking.
    let mut a = Asm::new();
    a.li(T0, TEXT + 24); // 2 instructions: the jalr below is at TEXT + 8
    a.i(Inst::new(Op::Jalr, 0, T0, 0, 0));
    a.imm(Op::Addi, A0, 0, 1).exit(); // skipped (TEXT + 12..24)
    a.r(Op::Add, A0, 0, 0).exit(); // TEXT + 24
    assert_eq!(a.words.len(), 9);
    assert_eq!(exit_value(&a), 0);
}

// ---------------------------------------------------------------------------------------------
// Control flow.
// ---------------------------------------------------------------------------------------------

#[test]
fn branches_taken_and_not_taken() {
    #[rustfmt::skip]
    let cases: &[(Op, u32, u32, bool)] = &[
        (Op::Beq, 5, 5, true), (Op::Beq, 5, 6, false),
        (Op::Bne, 5, 6, true), (Op::Bne, 5, 5, false),
        (Op::Blt, NEG1, 0, true), (Op::Blt, 0, NEG1, false), (Op::Blt, 3, 3, false),
        (Op::Blt, MIN, MAX, true),
        (Op::Bge, 0, NEG1, true), (Op::Bge, 3, 3, true), (Op::Bge, NEG1, 0, false),
        (Op::Bltu, 0, NEG1, true), (Op::Bltu, NEG1, 0, false), (Op::Bltu, 3, 3, false),
        (Op::Bltu, MAX, MIN, true),
        (Op::Bgeu, NEG1, 0, true), (Op::Bgeu, 3, 3, true), (Op::Bgeu, 0, NEG1, false),
    ];
    for &(op, x, y, taken) in cases {
        // Forward: skip one instruction.
        let mut a = Asm::new();
        a.li(T0, x).li(T1, y).imm(Op::Addi, A0, 0, 1);
        a.i(Inst::new(op, 0, T0, T1, 8));
        a.imm(Op::Addi, A0, 0, 0).exit();
        assert_eq!(
            exit_value(&a),
            taken as u32,
            "{op:?} {x:#x}, {y:#x} forward"
        );

        // Backward: a loop counting down from 3 that branches back while the condition holds
        // on (x, y); the taken path runs the body once more.
        let mut a = Asm::new();
        a.li(T0, x)
            .li(T1, y)
            .imm(Op::Addi, A0, 0, 0)
            .imm(Op::Addi, S1, 0, 2);
        let top = a.pc();
        a.imm(Op::Addi, A0, A0, 1).imm(Op::Addi, S1, S1, -1);
        a.i(Inst::new(Op::Beq, 0, S1, 0, 8)); // leave after two rounds
        let at = a.pc();
        a.i(Inst::new(op, 0, T0, T1, top as i32 - at as i32));
        a.exit();
        let want = if taken { 2 } else { 1 };
        assert_eq!(exit_value(&a), want, "{op:?} {x:#x}, {y:#x} backward");
    }
}

#[test]
fn jal_links_and_jumps() {
    let mut a = Asm::new();
    a.i(Inst::NOP);
    let at = a.pc();
    a.i(Inst::jal(RA, 12)); // -> at + 12
    a.imm(Op::Addi, A0, 0, 1)
        .i(Inst::new(Op::Ebreak, 0, 0, 0, 0));
    a.mv(A0, RA).exit();
    assert_eq!(exit_value(&a), at + 4);

    // Backward jal.
    let mut a = Asm::new();
    a.i(Inst::jal(0, 16)); // to TEXT + 16
    a.mv(A0, RA).exit(); // TEXT + 4..16: reached from the backward jump
    a.i(Inst::jal(RA, -12)); // TEXT + 16 -> TEXT + 4, ra = TEXT + 20
    assert_eq!(exit_value(&a), TEXT + 20);
}

#[test]
fn jalr_clears_bit_0_and_links() {
    for (offset, imm) in [(1u32, 0), (0, 1), (3, -2), (0, 0)] {
        let mut a = Asm::new();
        let target = TEXT + 4 * 6;
        a.li(T0, target + offset); // 0, 4
        a.i(Inst::new(Op::Jalr, RA, T0, 0, imm)); // 8
        a.imm(Op::Addi, A0, 0, 1).exit(); // 12, 16, 20
        a.mv(A0, RA).exit(); // 24 = target
        assert_eq!(exit_value(&a), TEXT + 12, "{offset} + {imm}");
    }
    // rd = rs1: the target is computed from the old value.
    let mut a = Asm::new();
    a.li(T0, TEXT + 16);
    a.i(Inst::new(Op::Jalr, T0, T0, 0, 0)); // 8
    a.i(Inst::new(Op::Ebreak, 0, 0, 0, 0)); // 12
    a.mv(A0, T0).exit(); // 16
    assert_eq!(exit_value(&a), TEXT + 12);
}

#[test]
fn misaligned_jump_targets_fault() {
    // jalr to target + 2 (bit 1 survives the bit-0 clear).
    let mut a = Asm::new();
    a.li(T0, TEXT + 18);
    let at = a.pc();
    a.i(Inst::new(Op::Jalr, RA, T0, 0, 0));
    a.imm(Op::Addi, A0, 0, 1).exit();
    let f = fault_of(Guest::linux(&a));
    assert_eq!(f.kind, FaultKind::Misaligned);
    assert_eq!((f.pc, f.addr), (at, Some(TEXT + 18)));

    // jal with a 2-byte offset.
    let mut a = Asm::new();
    a.i(Inst::NOP).i(Inst::jal(RA, 6)).exit();
    let f = fault_of(Guest::linux(&a));
    assert_eq!(f.kind, FaultKind::Misaligned);
    assert_eq!((f.pc, f.addr), (TEXT + 4, Some(TEXT + 10)));

    // A taken branch with a 2-byte offset; not taken, it is harmless.
    let mut a = Asm::new();
    a.i(Inst::new(Op::Beq, 0, 0, 0, 6)).exit();
    let f = fault_of(Guest::linux(&a));
    assert_eq!(f.kind, FaultKind::Misaligned);
    assert_eq!((f.pc, f.addr), (TEXT, Some(TEXT + 6)));
    let mut a = Asm::new();
    a.i(Inst::new(Op::Bne, 0, 0, 0, 6))
        .imm(Op::Addi, A0, 0, 9)
        .exit();
    assert_eq!(exit_value(&a), 9);
}

#[test]
fn fence_and_fence_i_are_no_ops() {
    let mut a = Asm::new();
    a.imm(Op::Addi, A0, 0, 3)
        .i(Inst::new(Op::Fence, 0, 0, 0, 0x0ff))
        .word(0x8330_000f) // fence.tso
        .word(0x0000_100f) // fence.i
        .exit();
    let r = Guest::linux(&a).run();
    assert_eq!((r.exit_code, r.cycles), (Some(3), 6));
}

// ---------------------------------------------------------------------------------------------
// Loads and stores.
// ---------------------------------------------------------------------------------------------

const BYTES: [u8; 12] = [
    0x80, 0xff, 0x7f, 0x01, 0x34, 0x12, 0x78, 0x56, 0xfe, 0x7f, 0x00, 0x80,
];

fn run_load(op: Op, offset: i32) -> u32 {
    let mut a = Asm::new();
    a.li(T0, DATA).i(Inst::load(op, A0, T0, offset)).exit();
    exit_value_with(&a, &BYTES)
}

#[test]
fn loads_sign_and_zero_extend() {
    #[rustfmt::skip]
    let cases: &[(Op, i32, u32)] = &[
        (Op::Lb, 0, 0xffff_ff80),
        (Op::Lbu, 0, 0x80),
        (Op::Lb, 1, NEG1),
        (Op::Lbu, 1, 0xff),
        (Op::Lb, 2, 0x7f),
        (Op::Lbu, 2, 0x7f),
        (Op::Lh, 0, 0xffff_ff80),
        (Op::Lhu, 0, 0xff80),
        (Op::Lh, 2, 0x017f),
        (Op::Lhu, 2, 0x017f),
        (Op::Lh, 8, 0x7ffe),
        (Op::Lh, 10, 0xffff_8000),
        (Op::Lhu, 10, 0x8000),
        (Op::Lw, 0, 0x017f_ff80),
        (Op::Lw, 4, 0x5678_1234),
        (Op::Lw, 8, 0x8000_7ffe),
        // Misaligned loads are performed (as qemu-user does).
        (Op::Lw, 1, 0x3401_7fff),
        (Op::Lw, 3, 0x7812_3401),
        (Op::Lh, 1, 0x7fff),
        (Op::Lh, 7, 0xffff_fe56),
        (Op::Lhu, 7, 0xfe56),
        (Op::Lhu, 9, 0x007f),
    ];
    for &(op, off, want) in cases {
        assert_eq!(run_load(op, off), want, "{op:?} at DATA+{off}");
    }
    // Negative offsets from the base register.
    let mut a = Asm::new();
    a.li(T0, DATA + 8).i(Inst::load(Op::Lw, A0, T0, -8)).exit();
    assert_eq!(exit_value_with(&a, &BYTES), 0x017f_ff80);
}

#[test]
fn stores_write_exactly_their_width() {
    #[rustfmt::skip]
    let cases: &[(Op, i32, u32, u32, u32)] = &[
        // (op, offset, value, word at DATA after, word at DATA+4 after)
        (Op::Sb, 0, 0x1234_56ab, 0xaaaa_aaab, 0xaaaa_aaaa),
        (Op::Sb, 3, 0xcd, 0xcdaa_aaaa, 0xaaaa_aaaa),
        (Op::Sh, 0, 0x1234_5678, 0xaaaa_5678, 0xaaaa_aaaa),
        (Op::Sh, 2, 0x1234_5678, 0x5678_aaaa, 0xaaaa_aaaa),
        (Op::Sw, 0, 0x1234_5678, 0x1234_5678, 0xaaaa_aaaa),
        // Misaligned stores straddle the two words.
        (Op::Sh, 3, 0x1234_5678, 0x78aa_aaaa, 0xaaaa_aa56),
        (Op::Sw, 1, 0x1234_5678, 0x3456_78aa, 0xaaaa_aa12),
        (Op::Sw, 2, 0x1234_5678, 0x5678_aaaa, 0xaaaa_1234),
    ];
    for &(op, off, value, w0, w1) in cases {
        for (word_off, want) in [(0, w0), (4, w1)] {
            let mut a = Asm::new();
            a.li(T0, DATA).li(T1, value);
            a.i(Inst::store(op, T1, T0, off));
            a.i(Inst::load(Op::Lw, A0, T0, word_off)).exit();
            assert_eq!(
                exit_value_with(&a, &[0xaa; 8]),
                want,
                "{op:?} {value:#x} at DATA+{off}, word {word_off}"
            );
        }
    }
}

#[test]
fn heap_and_stack_memory_is_zeroed_and_writable() {
    // Heap: a word past the image; stack: just below the top, through sp.
    let mut a = Asm::new();
    a.li(T0, HEAP_START + 0x1000).li(SP, STACK_TOP);
    a.i(Inst::load(Op::Lw, A0, T0, 0)); // 0
    a.li(T1, 0x1111).i(Inst::store(Op::Sw, T1, T0, 0));
    a.li(T1, 0x2222).i(Inst::store(Op::Sw, T1, SP, -4));
    a.i(Inst::load(Op::Lw, A1, T0, 0))
        .i(Inst::load(Op::Lw, A2, SP, -4))
        .r(Op::Add, A0, A0, A1)
        .r(Op::Add, A0, A0, A2)
        .exit();
    let r = Guest::linux(&a).run();
    assert_eq!(r.fault, None);
    assert_eq!(r.exit_code, Some(0x3333));
    assert_eq!(r.peak_stack_bytes, 4);
    assert_eq!(r.peak_heap_bytes, 0x1004);
}

// ---------------------------------------------------------------------------------------------
// Memory faults.
// ---------------------------------------------------------------------------------------------

#[test]
fn stores_into_text_are_seen_by_loads_and_by_execution() {
    // Self-modifying code: patch the instruction at `target` from `addi a0, x0, 1` to
    // `addi a0, x0, 2` (word, halfword and byte stores), then run it / read it back.
    let patched = encode(&Inst::addi(A0, 0, 2)).unwrap();
    assert_eq!(
        patched & 0xffff,
        encode(&Inst::addi(A0, 0, 1)).unwrap() & 0xffff
    );
    for (op, off, value) in [
        (Op::Sw, 0, patched),
        (Op::Sh, 2, patched >> 16), // the immediate is in the upper half
        (Op::Sb, 2, patched >> 16),
    ] {
        for read_back in [false, true] {
            let mut a = Asm::new();
            let target = TEXT + 4 * 5;
            a.li(T0, target).li(T1, value); // TEXT + 0..16
            a.i(Inst::store(op, T1, T0, off)); // TEXT + 16
            a.imm(Op::Addi, A0, 0, 1); // TEXT + 20 = target
            if read_back {
                a.i(Inst::load(Op::Lw, A0, T0, 0));
            }
            a.exit();
            let want = if read_back { patched } else { 2 };
            assert_eq!(exit_value(&a), want, "{op:?}, read back: {read_back}");
        }
    }
    // A misaligned word store spanning two instructions changes (and re-decodes) both: bytes
    // t+2..t+4 become the upper half of `addi a0, x0, 0x123`, bytes t+4..t+6 the lower half
    // of `addi a2, x0, 0x456` (so `addi a1, x0, 7` becomes `addi a2, x0, 7`).
    let t = TEXT + 4 * 5;
    let w1 = encode(&Inst::addi(A0, 0, 0x123)).unwrap();
    let w2 = encode(&Inst::addi(A2, 0, 0x456)).unwrap();
    let mut a = Asm::new();
    a.li(T0, t).li(T1, (w1 >> 16) | (w2 << 16)); // TEXT + 0..16
    a.i(Inst::store(Op::Sw, T1, T0, 2)); // TEXT + 16
    a.imm(Op::Addi, A0, 0, 0); // t: becomes addi a0, x0, 0x123
    a.imm(Op::Addi, A1, 0, 7); // t + 4: becomes addi a2, x0, 7
    a.r(Op::Add, A0, A0, A1).exit();
    assert_eq!(exit_value(&a), 0x123);
}

#[test]
fn a_store_straddling_the_start_of_the_text_is_seen_by_execution() {
    // Under the nexus ABI memory is mapped from 0x80, so a word store at TEXT - 2 writes the
    // low half of the first instruction: `addi a0, x0, 1` becomes `addi a2, x0, 1` (rd is in
    // the low half), and is executed again: a0 keeps 5.
    let mut a = Asm::new();
    a.imm(Op::Addi, A0, 0, 1); // TEXT: patched
    a.i(Inst::new(Op::Bne, 0, S1, 0, 36)); // TEXT + 4: second time round, to the exit
    a.imm(Op::Addi, S1, 0, 1);
    let new_low = encode(&Inst::addi(A2, 0, 1)).unwrap() & 0xffff;
    a.li(T0, TEXT).li(T1, new_low << 16); // TEXT + 12..28
    a.i(Inst::store(Op::Sw, T1, T0, -2)); // TEXT + 28
    a.imm(Op::Addi, A0, 0, 5);
    a.i(Inst::jal(0, -36)); // TEXT + 36 -> TEXT
    a.nexus_exit(); // TEXT + 40
    assert_eq!(a.words.len(), 12);
    let r = Guest::nexus(&a).run();
    assert_eq!(r.fault, None);
    assert_eq!(r.exit_code, Some(5), "the stale first instruction ran");
}

#[test]
fn access_below_the_lowest_mapped_address_is_out_of_bounds() {
    for (op, addr) in [
        (Op::Lw, 0u32),
        (Op::Lw, 0x100),
        (Op::Lb, TEXT - 1),
        (Op::Lw, TEXT - 4),
        (Op::Sw, 0x8000),
    ] {
        let mut a = Asm::new();
        a.li(T0, addr);
        let at = a.pc();
        if op.is_store() {
            a.i(Inst::store(op, 0, T0, 0));
        } else {
            a.i(Inst::load(op, A0, T0, 0));
        }
        a.exit();
        let f = fault_of(Guest::linux(&a));
        assert_eq!(f.kind, FaultKind::OutOfBounds, "{op:?} {addr:#x}");
        assert_eq!((f.pc, f.addr), (at, Some(addr)));
        assert_eq!(f.sufficient_memlimit, None);
        assert!(
            f.message.contains("below the lowest mapped"),
            "{}",
            f.message
        );
    }
}

#[test]
fn access_at_or_above_the_memory_limit_is_out_of_bounds() {
    for (op, base, addr) in [
        (Op::Lw, T0, MEMLIMIT as u32),
        (Op::Lb, T0, MEMLIMIT as u32),
        (Op::Sw, T0, MEMLIMIT as u32 + 0x1000),
        (Op::Lw, T0, MEMLIMIT as u32 - 2), // straddles the limit
        (Op::Lw, T0, 0xffff_fffc),
        (Op::Lw, SP, MEMLIMIT as u32), // through sp: above the stack top
        (Op::Sw, SP, MEMLIMIT as u32 + 8),
    ] {
        let mut a = Asm::new();
        a.li(base, addr);
        let at = a.pc();
        if op.is_store() {
            a.i(Inst::store(op, 0, base, 0));
        } else {
            a.i(Inst::load(op, A0, base, 0));
        }
        a.exit();
        let f = fault_of(Guest::linux(&a));
        assert_eq!(f.kind, FaultKind::OutOfBounds, "{op:?} {addr:#x}");
        assert_eq!((f.pc, f.addr), (at, Some(addr)));
        let want = if u64::from(addr) >= MEMLIMIT {
            "is at or above the memory limit"
        } else {
            "crosses the memory limit"
        };
        assert!(f.message.contains(want), "{}", f.message);
        assert!(
            f.message.contains("a limit of at least 0x"),
            "{}",
            f.message
        );
    }
    // The last word below the limit is fine.
    let mut a = Asm::new();
    a.li(T0, MEMLIMIT as u32 - 4)
        .li(T1, 77)
        .i(Inst::store(Op::Sw, T1, T0, 0))
        .i(Inst::load(Op::Lw, A0, T0, 0))
        .exit();
    assert_eq!(exit_value(&a), 77);
}

#[test]
fn sp_store_below_the_stack_bottom_is_a_stack_overflow() {
    for (sp, off, need) in [
        (STACK_BOTTOM, -4i32, 4u32),
        (STACK_BOTTOM + 16, -2048, 2032),
    ] {
        let mut a = Asm::new();
        a.li(SP, sp);
        let at = a.pc();
        a.i(Inst::store(Op::Sw, RA, SP, off)).exit();
        let f = fault_of(Guest::linux(&a));
        let addr = sp.wrapping_add(off as u32);
        assert_eq!(f.kind, FaultKind::StackOverflow);
        assert_eq!((f.pc, f.addr), (at, Some(addr)));
        assert_eq!(STACK_BOTTOM - addr, need);
        assert_eq!(
            f.sufficient_memlimit,
            Some((MEMLIMIT + u64::from(need)).next_multiple_of(4096))
        );
        assert_eq!(f.sufficient_memlimit, Some(0x40_1000));
    }
    // The same through a load, and a store at exactly the bottom is fine.
    let mut a = Asm::new();
    a.li(SP, STACK_BOTTOM)
        .i(Inst::load(Op::Lw, A0, SP, -1))
        .exit();
    let f = fault_of(Guest::linux(&a));
    assert_eq!(f.kind, FaultKind::StackOverflow);
    assert_eq!(f.addr, Some(STACK_BOTTOM - 1));
    let mut a = Asm::new();
    a.li(SP, STACK_BOTTOM)
        .imm(Op::Addi, T0, 0, 5)
        .i(Inst::store(Op::Sw, T0, SP, 0))
        .i(Inst::load(Op::Lw, A0, SP, 0))
        .exit();
    let r = Guest::linux(&a).run();
    assert_eq!(r.exit_code, Some(5));
    assert_eq!(r.peak_stack_bytes, STACK_TOP - STACK_BOTTOM);
}

/// An `sp`-based access into a heap page already in use (mapped, so the block engine's memory
/// fast path would serve it) is still a stack overflow, through a load and through a store:
/// the block engine gives `sp`-based accesses their own operations, which check the stack
/// region, and no other operation can have `sp` as its base.
#[test]
fn sp_access_into_a_mapped_heap_page_is_a_stack_overflow() {
    for store in [false, true] {
        let addr = STACK_BOTTOM - 8;
        let mut a = Asm::new();
        // A heap store maps the page (no guard gap: the heap ends at the stack bottom).
        a.li(T0, addr)
            .imm(Op::Addi, T1, 0, 7)
            .i(Inst::store(Op::Sw, T1, T0, 0))
            .li(SP, STACK_BOTTOM);
        let at = a.pc();
        a.i(if store {
            Inst::store(Op::Sw, T1, SP, -8)
        } else {
            Inst::load(Op::Lw, A0, SP, -8)
        })
        .exit();
        let mut g = Guest::linux(&a);
        g.heap_end = STACK_BOTTOM;
        let f = fault_of(g);
        assert_eq!(f.kind, FaultKind::StackOverflow, "store {store}");
        assert_eq!((f.pc, f.addr), (at, Some(addr)), "store {store}");
    }
}

#[test]
fn non_sp_store_past_the_heap_end_is_a_heap_overflow() {
    // A guard gap between the heap end and the stack bottom.
    let heap_end = 0x20_0000;
    for addr in [heap_end, heap_end + 0x5_0000, STACK_BOTTOM - 4] {
        let mut a = Asm::new();
        a.li(T0, addr).imm(Op::Addi, T1, 0, 1);
        let at = a.pc();
        a.i(Inst::store(Op::Sw, T1, T0, 0)).exit();
        let mut g = Guest::linux(&a);
        g.heap_end = heap_end;
        let f = fault_of(g);
        assert_eq!(f.kind, FaultKind::HeapOverflow, "{addr:#x}");
        assert_eq!((f.pc, f.addr), (at, Some(addr)));
        let need = u64::from(addr + 4 - heap_end);
        assert_eq!(
            f.sufficient_memlimit,
            Some((MEMLIMIT + need).next_multiple_of(4096))
        );
    }
    // Pinned: 0x250000 is 0x50004 bytes past the heap.
    let mut a = Asm::new();
    a.li(T0, 0x25_0000).i(Inst::store(Op::Sw, 0, T0, 0)).exit();
    let mut g = Guest::linux(&a);
    g.heap_end = heap_end;
    assert_eq!(fault_of(g).sufficient_memlimit, Some(0x45_1000));
    // The same gap through sp is the stack overflowing into the guard.
    let mut a = Asm::new();
    a.li(SP, heap_end + 0x100)
        .i(Inst::store(Op::Sw, 0, SP, 0))
        .exit();
    let mut g = Guest::linux(&a);
    g.heap_end = heap_end;
    let f = fault_of(g);
    assert_eq!(f.kind, FaultKind::StackOverflow);
    assert_eq!(f.addr, Some(heap_end + 0x100));
    // Just below the heap end is fine.
    let mut a = Asm::new();
    a.li(SP, STACK_TOP) // the heap is what lies below sp
        .li(T0, heap_end - 4)
        .imm(Op::Addi, T1, 0, 3)
        .i(Inst::store(Op::Sw, T1, T0, 0))
        .i(Inst::load(Op::Lw, A0, T0, 0))
        .exit();
    let mut g = Guest::linux(&a);
    g.heap_end = heap_end;
    let r = g.run();
    assert_eq!(r.exit_code, Some(3));
    assert_eq!(r.peak_heap_bytes, heap_end - HEAP_START);
}

// ---------------------------------------------------------------------------------------------
// Other faults.
// ---------------------------------------------------------------------------------------------

#[test]
fn ebreak_faults() {
    let mut a = Asm::new();
    a.i(Inst::NOP).i(Inst::new(Op::Ebreak, 0, 0, 0, 0)).exit();
    let r = Guest::linux(&a).run();
    let f = r.fault.unwrap();
    assert_eq!((f.kind, f.pc, f.addr), (FaultKind::Ebreak, TEXT + 4, None));
    assert_eq!(r.cycles, 2);
}

#[test]
fn illegal_words_fault() {
    for word in [
        0xffff_ffffu32, // not an instruction
        0x0000_0000,    // the all-zero word (a compressed illegal instruction)
        0x0000_4501,    // c.li a0, 0: compressed
        0x0000_3003,    // ld: RV64
        0x0205_1513,    // slli a0, a0, 32: RV64 shift amount
        0x0000_0053,    // fadd.s: F, not RV32IM
        0x1000_202f,    // lr.w: A, not RV32IM
        0x0000_005a,    // Nexus keccak-f: decoded but not executed
    ] {
        let mut a = Asm::new();
        a.i(Inst::NOP).word(word).exit();
        let f = fault_of(Guest::linux(&a));
        assert_eq!(f.kind, FaultKind::IllegalInstruction, "{word:#010x}");
        assert_eq!(f.pc, TEXT + 4, "{word:#010x}");
    }
    // Falling off the end of the text.
    let mut a = Asm::new();
    a.i(Inst::NOP);
    let f = fault_of(Guest::linux(&a));
    assert_eq!(f.kind, FaultKind::IllegalInstruction);
    assert_eq!(f.pc, TEXT + 4);
}

#[test]
fn cycle_limit_stops_an_endless_loop() {
    let mut a = Asm::new();
    a.i(Inst::NOP).i(Inst::jal(0, -4));
    let mut g = Guest::linux(&a);
    g.cfg.max_cycles = 1001;
    let r = g.run();
    let f = r.fault.unwrap();
    assert_eq!(f.kind, FaultKind::CycleLimit);
    assert_eq!(r.cycles, 1001);
    assert_eq!(f.pc, TEXT + 4); // 1001 = 1 + 2 * 500: the next is the jal
}

// ---------------------------------------------------------------------------------------------
// linux-rv32 ABI.
// ---------------------------------------------------------------------------------------------

#[test]
fn linux_write_read_brk_and_unknown_calls() {
    // write(1, "hello\n", 6); write(2, "err", 3); write(7, ..) = -EBADF
    let mut a = Asm::new();
    a.imm(Op::Addi, A0, 0, 1)
        .li(A1, DATA)
        .imm(Op::Addi, A2, 0, 6)
        .sys(64);
    a.mv(S1, A0); // 6
    a.imm(Op::Addi, A0, 0, 2)
        .li(A1, DATA + 6)
        .imm(Op::Addi, A2, 0, 3)
        .sys(64);
    a.r(Op::Add, S1, S1, A0); // 9
    a.imm(Op::Addi, A0, 0, 7).sys(64);
    a.mv(S2, A0); // -9
    a.r(Op::Add, A0, S1, S2).exit(); // 0
    let r = Guest::linux(&a).data(b"hello\nerr").run();
    assert_eq!(r.fault, None);
    assert_eq!(r.stdout, b"hello\n");
    assert_eq!(r.stderr, b"err");
    assert_eq!(r.exit_code, Some(0));

    // read(0, DATA, 4) twice from "abcdef": 4 then 2 bytes; echo them; exit with the count.
    let mut a = Asm::new();
    a.imm(Op::Addi, A0, 0, 0)
        .li(A1, DATA)
        .imm(Op::Addi, A2, 0, 4)
        .sys(63);
    a.mv(S1, A0);
    a.imm(Op::Addi, A0, 0, 0)
        .li(A1, DATA + 4)
        .imm(Op::Addi, A2, 0, 4)
        .sys(63);
    a.r(Op::Add, S1, S1, A0);
    a.imm(Op::Addi, A0, 0, 1).li(A1, DATA).mv(A2, S1).sys(64);
    a.mv(A0, S1).exit();
    let mut g = Guest::linux(&a);
    g.cfg.input = b"abcdef".to_vec();
    let r = g.run();
    assert_eq!(r.stdout, b"abcdef");
    assert_eq!(r.exit_code, Some(6));

    // brk(0) reports the break (end of the loaded image, page-rounded); brk(x) moves it.
    let mut a = Asm::new();
    a.imm(Op::Addi, A0, 0, 0).sys(214);
    a.exit();
    assert_eq!(exit_value(&a), DATA + 0x1000);
    let mut a = Asm::new();
    a.li(A0, 0x10_0000).sys(214).exit();
    assert_eq!(exit_value(&a), 0x10_0000);
    // ... but never into the stack.
    let mut a = Asm::new();
    a.li(A0, STACK_BOTTOM + 4).sys(214).exit();
    assert_eq!(exit_value(&a), DATA + 0x1000);

    // An unknown system call returns -ENOSYS; exit_group (94) exits.
    let mut a = Asm::new();
    a.sys(1000).mv(S1, A0).mv(A0, S1).sys(94);
    assert_eq!(exit_value(&a), n(-38));
}

#[test]
fn linux_read_into_the_text_is_seen_by_execution() {
    // read(0, target, 4) with stdin holding `addi a0, x0, 9`, then run the target.
    let mut a = Asm::new();
    let target = TEXT + 4 * 6;
    a.imm(Op::Addi, A0, 0, 0)
        .li(A1, target)
        .imm(Op::Addi, A2, 0, 4); // 0..16
    a.sys(63); // 16, 20
    a.imm(Op::Addi, A0, 0, 1); // 24 = target
    a.exit();
    let mut g = Guest::linux(&a);
    g.cfg.input = encode(&Inst::addi(A0, 0, 9))
        .unwrap()
        .to_le_bytes()
        .to_vec();
    let r = g.run();
    assert_eq!(r.fault, None);
    assert_eq!(r.exit_code, Some(9));
}

#[test]
fn oversized_writes_fault_with_their_own_explanation() {
    // linux write of more than 64 MiB from a mapped buffer.
    let mut a = Asm::new();
    a.imm(Op::Addi, A0, 0, 1)
        .li(A1, DATA)
        .li(A2, 0x0400_0001)
        .sys(64)
        .exit();
    let f = fault_of(Guest::linux(&a));
    assert_eq!((f.kind, f.addr), (FaultKind::OutOfBounds, Some(DATA)));
    assert!(
        f.message.contains("write of 67108865 bytes"),
        "{}",
        f.message
    );
    // Nexus public output past 64 MiB.
    let mut a = Asm::new();
    a.li(T0, 0x0400_0001)
        .i(Inst::new(Op::NexusWrite, 0, T0, 0, 0))
        .nexus_exit();
    let f = fault_of(Guest::nexus(&a));
    assert_eq!(
        (f.kind, f.addr),
        (FaultKind::OutOfBounds, Some(0x0400_0001))
    );
    assert!(f.message.contains("public output offset"), "{}", f.message);
}

#[test]
fn linux_write_from_unmapped_memory_faults() {
    let mut a = Asm::new();
    a.imm(Op::Addi, A0, 0, 1)
        .imm(Op::Addi, A1, 0, 0x100)
        .imm(Op::Addi, A2, 0, 4)
        .sys(64)
        .exit();
    let f = fault_of(Guest::linux(&a));
    assert_eq!(f.kind, FaultKind::OutOfBounds);
    assert_eq!(f.addr, Some(0x100));
}

// ---------------------------------------------------------------------------------------------
// Nexus ABI.
// ---------------------------------------------------------------------------------------------

#[test]
fn nexus_write_exit_and_overwrite_sp() {
    // 0x200 write(1, DATA, 8) returns the length; another fd returns -1.
    let mut a = Asm::new();
    a.imm(Op::Addi, A0, 0, 1)
        .li(A1, DATA)
        .imm(Op::Addi, A2, 0, 8)
        .sys(0x200);
    a.mv(S1, A0);
    a.imm(Op::Addi, A0, 0, 2).sys(0x200);
    a.r(Op::Add, A0, A0, S1).nexus_exit(); // 8 + -1
    let r = Guest::nexus(&a).data(b"hi nexus").run();
    assert_eq!(r.abi, Abi::Nexus);
    assert_eq!(r.fault, None);
    assert_eq!(r.stdout, b"hi nexus");
    assert_eq!(r.exit_code, Some(7));

    // 0x402 sets sp to the layout's stack top.
    let mut a = Asm::new();
    a.imm(Op::Addi, SP, 0, 4).sys(0x402).mv(A0, SP).nexus_exit();
    assert_eq!(Guest::nexus(&a).run().exit_code, Some(STACK_TOP as i32));

    // 0x401, 0x403, 0x405 return 0; an unknown number faults.
    for call in [0x401, 0x403, 0x405] {
        let mut a = Asm::new();
        a.imm(Op::Addi, A0, 0, 9).sys(call).nexus_exit();
        assert_eq!(Guest::nexus(&a).run().exit_code, Some(0), "{call:#x}");
    }
    let mut a = Asm::new();
    a.sys(0x7ff).nexus_exit();
    let f = fault_of(Guest::nexus(&a));
    assert_eq!(f.kind, FaultKind::UnsupportedEcall);
    assert_eq!(f.pc, TEXT + 4);

    // The linux exit number is not a Nexus call.
    let mut a = Asm::new();
    a.exit();
    assert_eq!(fault_of(Guest::nexus(&a)).kind, FaultKind::UnsupportedEcall);
}

#[test]
fn nexus_private_input_is_read_byte_by_byte() {
    // Read three bytes of the private input "AB": 'A', 'B', then -1 (end of input). Each is
    // written to the public output tape at 4, 8, 12 (custom-2).
    let mut a = Asm::new();
    for k in 0..3 {
        a.sys(0x400);
        a.i(Inst::new(Op::NexusWrite, 0, 0, A0, 4 + 4 * k));
    }
    a.imm(Op::Addi, A0, 0, 0).nexus_exit();
    let mut g = Guest::nexus(&a);
    g.cfg.private_input = b"AB".to_vec();
    let r = g.run();
    assert_eq!(r.fault, None);
    assert_eq!(
        r.public_output,
        [0x41, 0, 0, 0, 0x42, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]
    );
}

#[test]
fn nexus_custom_read_sees_the_length_prefixed_input_tape() {
    // Tape: [5, 0, 0, 0, 1, 2, 3, 4, 5]. Read words at tape offsets (through rs1 + imm) and write
    // each to the output tape; word 0 of the output tape is the exit code, not public output.
    let reads: [(u32, i32, u32); 6] = [
        (0, 0, 5),
        (0, 4, 0x0403_0201),
        (4, 4, 5),
        (2, 0, 0x0201_0000),
        (0, 9, 0),
        (0x1000, 0, 0),
    ];
    let mut a = Asm::new();
    for (k, &(base, imm, _)) in reads.iter().enumerate() {
        a.li(T0, base);
        a.i(Inst::new(Op::NexusRead, A0, T0, 0, imm));
        a.li(T1, 4 * (k as u32 + 1));
        a.i(Inst::new(Op::NexusWrite, 0, T1, A0, 0));
    }
    a.i(Inst::new(Op::NexusWrite, 0, 0, 0, 0)); // exit-code word (skipped in the report)
    a.imm(Op::Addi, A0, 0, 0).nexus_exit();
    let mut g = Guest::nexus(&a);
    g.cfg.input = vec![1, 2, 3, 4, 5];
    let r = g.run();
    assert_eq!(r.fault, None);
    let want: Vec<u8> = reads.iter().flat_map(|r| r.2.to_le_bytes()).collect();
    assert_eq!(r.public_output, want);

    // Nexus custom-2 past 64 MiB faults; the words at 0x80 / 0x84 (tape bases) read 0.
    let mut a = Asm::new();
    a.li(T0, 0x0400_0001)
        .i(Inst::new(Op::NexusWrite, 0, T0, 0, 0))
        .nexus_exit();
    let f = fault_of(Guest::nexus(&a));
    assert_eq!(f.kind, FaultKind::OutOfBounds);
    let mut a = Asm::new();
    a.i(Inst::load(Op::Lw, A0, 0, 0x80))
        .i(Inst::load(Op::Lw, A1, 0, 0x84))
        .r(Op::Or, A0, A0, A1)
        .nexus_exit();
    assert_eq!(Guest::nexus(&a).run().exit_code, Some(0));
    // Below 0x80 is not mapped even for nexus.
    let mut a = Asm::new();
    a.i(Inst::load(Op::Lw, A0, 0, 0x7c)).nexus_exit();
    assert_eq!(fault_of(Guest::nexus(&a)).kind, FaultKind::OutOfBounds);
}

#[test]
fn nexus_public_output_without_payload_is_empty() {
    // Only the exit-code word: nothing is reported.
    let mut a = Asm::new();
    a.imm(Op::Addi, T0, 0, 42)
        .i(Inst::new(Op::NexusWrite, 0, 0, T0, 0))
        .mv(A0, T0)
        .nexus_exit();
    let r = Guest::nexus(&a).run();
    assert_eq!(r.exit_code, Some(42));
    assert!(r.public_output.is_empty());
    // Output written out of order is zero-filled.
    let mut a = Asm::new();
    a.imm(Op::Addi, T0, 0, -1)
        .i(Inst::new(Op::NexusWrite, 0, 0, T0, 12))
        .imm(Op::Addi, A0, 0, 0)
        .nexus_exit();
    let r = Guest::nexus(&a).run();
    assert_eq!(
        r.public_output,
        [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]
    );
}

fn with_abi(a: &Asm, abi: Abi) -> Guest {
    let mut g = Guest::linux(a);
    g.cfg.abi = Some(abi);
    g
}

#[test]
fn sp1_precompiles_and_hooks_fault_by_name() {
    // KECCAK_PERMUTE (0x00010109): named with its id.
    let mut a = Asm::new();
    a.li(T0, 0x0001_0109).ecall();
    let f = fault_of(with_abi(&a, Abi::Sp1));
    assert_eq!(f.kind, FaultKind::UnsupportedEcall);
    assert!(
        f.message
            .contains("SP1 system call KECCAK_PERMUTE (t0 = 0x00010109)"),
        "{}",
        f.message
    );
    // A write to a hook descriptor (15: FD_ECRECOVER_HOOK from v4) is refused by fd.
    let mut a = Asm::new();
    a.imm(Op::Addi, T0, 0, 2)
        .imm(Op::Addi, A0, 0, 15)
        .li(A1, DATA)
        .imm(Op::Addi, A2, 0, 4)
        .ecall();
    let f = fault_of(with_abi(&a, Abi::Sp1));
    assert!(f.message.contains("SP1 WRITE to fd 15"), "{}", f.message);
    // COMMIT of a ninth digest word.
    let mut a = Asm::new();
    a.imm(Op::Addi, T0, 0, 0x10).imm(Op::Addi, A0, 0, 8).ecall();
    let f = fault_of(with_abi(&a, Abi::Sp1));
    assert!(f.message.contains("digest has 8 words"), "{}", f.message);
    // Ceno uses SP1's precompile numbers.
    let mut a = Asm::new();
    a.li(T0, 0x0001_0109).ecall();
    let f = fault_of(with_abi(&a, Abi::Ceno));
    assert!(
        f.message.contains("Ceno precompile KECCAK_PERMUTE"),
        "{}",
        f.message
    );
}

#[test]
fn sp1_hint_write_feeds_the_hint_stream() {
    // WRITE of 4 bytes to fd 14 (FD_HINT), then HINT_LEN answers 4 in t0 and exits with it.
    let mut a = Asm::new();
    a.imm(Op::Addi, T0, 0, 2)
        .imm(Op::Addi, A0, 0, 14)
        .li(A1, DATA)
        .imm(Op::Addi, A2, 0, 4)
        .ecall()
        .imm(Op::Addi, T0, 0, 0xf0)
        .ecall()
        .mv(A0, T0)
        .imm(Op::Addi, T0, 0, 0)
        .ecall();
    let r = with_abi(&a, Abi::Sp1).data(b"abcd").run();
    assert_eq!(r.exit_code, Some(4), "{:?}", r.fault);
}

#[test]
fn risc0_panic_and_unknown_software_calls_are_named() {
    let mut data = b"risc0_zkvm_platform::syscall::nr::SYS_PANIC\0".to_vec();
    data.resize(64, 0);
    data.extend_from_slice(b"boom\n");
    data.resize(128, 0);
    data.extend_from_slice(b"risc0_zkvm_platform::syscall::nr::SYS_FORK\0");
    let call = |name_off: u32| {
        let mut a = Asm::new();
        a.imm(Op::Addi, T0, 0, 2)
            .li(A2, DATA + name_off)
            .li(13, DATA + 64)
            .imm(Op::Addi, 14, 0, 5)
            .ecall();
        a
    };
    let f = fault_of(with_abi(&call(0), Abi::Risc0).data(&data));
    assert_eq!(f.kind, FaultKind::GuestPanic);
    assert!(
        f.message.contains("the RISC Zero guest panicked: boom\\n"),
        "{}",
        f.message
    );
    let f = fault_of(with_abi(&call(128), Abi::Risc0).data(&data));
    assert!(
        f.message
            .contains("software ecall risc0_zkvm_platform::syscall::nr::SYS_FORK is not supported"),
        "{}",
        f.message
    );
    // The SHA accelerator.
    let mut a = Asm::new();
    a.imm(Op::Addi, T0, 0, 3).ecall();
    let f = fault_of(with_abi(&a, Abi::Risc0));
    assert!(
        f.message.contains("RISC Zero ecall SHA (t0 = 3)"),
        "{}",
        f.message
    );
}

#[test]
fn openvm_system_instructions_other_than_terminate_are_named() {
    // PHANTOM: custom-0, funct3 3.
    let mut a = Asm::new();
    a.word(0x0000_300b);
    let f = fault_of(with_abi(&a, Abi::OpenVm));
    assert_eq!(f.kind, FaultKind::IllegalInstruction);
    assert!(f.message.contains("OpenVM PHANTOM"), "{}", f.message);
    // Terminate under another ABI says which ABI would run it.
    let mut a = Asm::new();
    a.word(0x0070_000b);
    let f = fault_of(with_abi(&a, Abi::LinuxRv32));
    assert!(f.message.contains("--abi openvm"), "{}", f.message);
    assert_eq!(with_abi(&a, Abi::OpenVm).run().exit_code, Some(7));
}

#[test]
fn nexus_legacy_calls_outside_its_table_are_named() {
    let mut a = Asm::new();
    a.imm(Op::Addi, 18, 0, 9).ecall();
    let f = fault_of(with_abi(&a, Abi::NexusLegacy));
    assert!(
        f.message.contains("ecall with s2 = 0x9") && f.message.contains("before 0.3"),
        "{}",
        f.message
    );
    // Profile cycles (5) answers 5 (a0 - 5 = 0 keeps the next `jalr` at the `unimp`, the
    // halt, which ends the run with success whatever a0 holds).
    let mut a = Asm::new();
    a.imm(Op::Addi, 18, 0, 5).ecall();
    a.imm(Op::Addi, 10, 10, -5);
    a.imm(Op::Auipc, 6, 0, 0);
    a.i(Inst::new(Op::Add, 6, 6, 10, 0));
    a.i(Inst::new(Op::Jalr, 0, 6, 0, 12));
    a.word(0xc000_1073);
    assert_eq!(with_abi(&a, Abi::NexusLegacy).run().exit_code, Some(0));
}

fn detected(a: &Asm) -> crate::abi::Detection {
    let img = Image::parse(elf(&a.words(), &[], STACK_BOTTOM)).expect("builder output parses");
    crate::abi::detect(&img)
}

#[test]
fn unimp_after_a_call_alone_is_not_the_nexus_legacy_halt() {
    // `jal ra, f; unimp` as Rust emits after every call that does not return: no Nexus sign
    // beside it, so nothing is detected (linux-rv32, the default).
    let mut a = Asm::new();
    a.i(Inst::jal(1, 8))
        .word(crate::abi::UNIMP)
        .word(crate::abi::UNIMP);
    assert_eq!(detected(&a).abi, Abi::LinuxRv32);
    // With an s2-numbered call (the Nexus VM before 0.3) it is the legacy halt.
    let mut a = Asm::new();
    a.i(Inst::jal(1, 8))
        .word(crate::abi::UNIMP)
        .imm(Op::Addi, 18, 0, 1)
        .ecall();
    let d = detected(&a);
    assert_eq!(d.abi, Abi::NexusLegacy, "{:?}", d.evidence);
    assert!(
        d.evidence.iter().any(|e| e.contains("unimp")),
        "{:?}",
        d.evidence
    );
    // Far from the entry point, the same pair is not start-up code.
    let mut a = Asm::new();
    for _ in 0..40 {
        a.i(Inst::NOP);
    }
    a.i(Inst::jal(1, 8))
        .word(crate::abi::UNIMP)
        .imm(Op::Addi, 18, 0, 1)
        .ecall();
    let d = detected(&a);
    assert!(
        d.evidence.iter().all(|e| !e.contains("unimp")),
        "{:?}",
        d.evidence
    );
}

#[test]
fn t0_conventions_are_told_apart_by_their_calls() {
    // SP1's HINT_LEN.
    let mut a = Asm::new();
    a.imm(Op::Addi, T0, 0, 0xf0)
        .ecall()
        .imm(Op::Addi, T0, 0, 0)
        .ecall();
    assert_eq!(detected(&a).abi, Abi::Sp1);
    // SP1 precompile ids built with lui + addi.
    let mut a = Asm::new();
    a.li(T0, 0x0001_0109).ecall();
    assert_eq!(detected(&a).abi, Abi::Sp1);
    // RISC Zero's INPUT (1).
    let mut a = Asm::new();
    a.imm(Op::Addi, T0, 0, 1)
        .ecall()
        .imm(Op::Addi, T0, 0, 0)
        .ecall();
    assert_eq!(detected(&a).abi, Abi::Risc0);
    // Only a t0 = 0 halt, on no known memory map: unknown, and the evidence says to choose.
    let mut a = Asm::new();
    a.imm(Op::Addi, T0, 0, 0).ecall();
    let d = detected(&a);
    assert_eq!(d.abi, Abi::Unknown);
    assert!(d.evidence[0].contains("--abi"), "{:?}", d.evidence);
    // a7 wins: a Linux exit with t0 set elsewhere is still linux-rv32.
    let mut a = Asm::new();
    a.imm(Op::Addi, T0, 0, 0xf0).sys(93);
    assert_eq!(detected(&a).abi, Abi::LinuxRv32);
}

/// The fast paths are the checked path, instruction for instruction: on every fixture guest,
/// cut at cycle limits around block sizes and at the end, the block engine ([`Vm::fast_run`],
/// used by `run`) stops at the same cycle with the same result, fault and output as a run
/// that takes every instruction on [`Vm::step`], and the traced fast path
/// ([`Vm::fast_traced`], used by `prove`) records the same rows and accesses.
#[test]
fn fast_paths_and_single_steps_agree_to_the_instruction() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut files = Vec::new();
    for dir in [
        root.clone(),
        root.join("layout"),
        root.join("abi"),
        root.join("bench"),
    ] {
        for e in std::fs::read_dir(&dir).expect("fixtures") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "elf") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut compared = 0;
    for path in &files {
        let Ok(img) = crate::elf::Image::read(path) else {
            continue;
        };
        let Ok(layout) = crate::layout::Layout::discover(&img) else {
            continue;
        };
        for max_cycles in [
            1, 2, 3, 5, 17, 100, 255, 256, 257, 1000, 4099, 65_536, 300_000,
        ] {
            let cfg = RunConfig {
                max_cycles,
                ..RunConfig::default()
            };
            let Ok(vm) = Vm::new(&img, &layout, cfg.clone()) else {
                continue;
            };
            let stepped = |traced: bool| {
                let mut vm = Vm::new(&img, &layout, cfg.clone()).unwrap();
                vm.single_step = true;
                if traced {
                    vm.run_traced()
                } else {
                    (vm.run(), Trace::default())
                }
            };
            let what = format!("{} at max_cycles {max_cycles}", path.display());
            let fast = vm.run();
            let (slow, _) = stepped(false);
            let (traced, trace) = Vm::new(&img, &layout, cfg.clone()).unwrap().run_traced();
            let (slow_traced, slow_trace) = stepped(true);
            for (x, y) in [(&fast, &slow), (&traced, &slow_traced), (&fast, &traced)] {
                assert_eq!(x.cycles, y.cycles, "{what}");
                assert_eq!(x.exit_code, y.exit_code, "{what}");
                assert_eq!(x.fault, y.fault, "{what}");
                assert_eq!(x.stdout, y.stdout, "{what}");
                assert_eq!(x.public_output, y.public_output, "{what}");
                assert_eq!(x.peak_stack_bytes, y.peak_stack_bytes, "{what}");
                assert_eq!(x.peak_heap_bytes, y.peak_heap_bytes, "{what}");
            }
            assert_eq!(trace.rows, slow_trace.rows, "{what}");
            assert_eq!(trace.mem, slow_trace.mem, "{what}");
            compared += 1;
        }
    }
    assert!(compared > 200, "only {compared} runs compared");
}

/// Fused pairs of the block engine (`slli`+`add`, `lui`+`addi`) leave every register as the
/// two instructions do, in each operand order, and pairs that must not fuse (the shifted
/// register read twice, another destination) are not.
#[test]
fn fused_pairs_compute_what_the_two_instructions_do() {
    // (setup, pair, expected a0 = A2 + (T2 << 16) after the pair)
    type Pair = fn(&mut Asm);
    let cases: [(&str, Pair); 6] = [
        ("slli t, a, k; add t, t, b", |a| {
            a.imm(Op::Slli, T2, A0, 2).r(Op::Add, T2, T2, A1);
        }),
        ("slli t, a, k; add t, b, t", |a| {
            a.imm(Op::Slli, T2, A0, 2).r(Op::Add, T2, A1, T2);
        }),
        ("slli t, t, k; add t, t, b", |a| {
            a.mv(T2, A0).imm(Op::Slli, T2, T2, 3).r(Op::Add, T2, T2, A1);
        }),
        ("slli t, a, k; add t, t, t (not fused)", |a| {
            a.imm(Op::Slli, T2, A0, 2).r(Op::Add, T2, T2, T2);
        }),
        ("slli t, a, k; add u, t, b (not fused)", |a| {
            a.imm(Op::Slli, T2, A0, 2).r(Op::Add, A2, T2, A1);
        }),
        ("lui r; addi r, r (fused) then a read of r", |a| {
            a.li(T2, 0x1234_5678).r(Op::Add, A2, T2, A1);
        }),
    ];
    let expected: [(u32, u32); 6] = [
        (0, 5 * 4 + 100),
        (0, 5 * 4 + 100),
        (0, (5 << 3) + 100),
        (0, (5 * 4) * 2),
        (5 * 4 + 100, 5 * 4),
        (0x1234_5678u32.wrapping_add(100), 0x1234_5678),
    ];
    for ((what, pair), (a2, t2)) in cases.into_iter().zip(expected) {
        let mut a = Asm::new();
        a.li(A0, 5).li(A1, 100).li(A2, 0).li(T2, 0);
        pair(&mut a);
        // a0 = a2 + (t2 << 16), then exit
        a.imm(Op::Slli, A0, T2, 16).r(Op::Add, A0, A0, A2).exit();
        let want = t2.wrapping_shl(16).wrapping_add(a2);
        assert_eq!(exit_value(&a), want, "{what}");
    }
}

/// Every operation with a forwarded form (its `rs1` the previous operation's result, read
/// from the block loop's `acc` instead of the register array) computes what the checked path
/// does: straight-line code in which each instruction reads the one before it, of every kind,
/// the symmetric ones with the result as `rs2` too (swapped), loads and stores whose base was
/// just computed, a fused `slli`+`add` and branches on a fresh result; a0 sums every register.
/// The block engine's exit code is the single-stepped run's.
#[test]
fn forwarded_operands_compute_what_the_checked_path_does() {
    let mut a = Asm::new();
    let base = STACK_TOP - 64;
    a.li(9, base).li(5, 0x1234_5678);
    for (op, rd, rs1, imm) in [
        (Op::Addi, 6, 5, 0x123),
        (Op::Xori, 7, 6, 0x5a5),
        (Op::Ori, 28, 7, 0x0f0),
        (Op::Andi, 29, 28, 0x7ff),
        (Op::Slli, 30, 29, 3),
        (Op::Srli, 31, 30, 1),
        (Op::Srai, 6, 31, 2),
        (Op::Slti, 7, 6, 100),
        (Op::Sltiu, 28, 7, 1),
    ] {
        a.imm(op, rd, rs1, imm);
    }
    for (op, rd, rs1, rs2) in [
        (Op::Add, 29, 5, 28), // the result as rs2 of a symmetric operation
        (Op::Sub, 30, 29, 5),
        (Op::Sll, 31, 30, 7),
        (Op::Slt, 6, 31, 5),
        (Op::Sltu, 7, 6, 5),
        (Op::Xor, 28, 5, 7),
        (Op::Srl, 29, 28, 6),
        (Op::Sra, 30, 29, 6),
        (Op::Or, 31, 5, 30),
        (Op::And, 6, 31, 5),
        (Op::Sub, 31, 30, 6), // the result as rs2 of an asymmetric one: read from the array
        (Op::Mul, 7, 5, 31),
        (Op::Add, 28, 7, 7), // both operands the result
    ] {
        a.r(op, rd, rs1, rs2);
    }
    // The registers so far, before the loads overwrite them.
    a.li(A1, 0);
    for r in [6, 7, 28, 29, 30, 31] {
        a.r(Op::Add, A1, A1, r);
    }
    // Loads and stores at a base just computed.
    a.imm(Op::Addi, 29, 9, 0).i(Inst::new(Op::Sw, 0, 29, 28, 0));
    a.imm(Op::Addi, 30, 9, 1)
        .i(Inst::new(Op::Lb, 31, 30, 0, -1));
    a.imm(Op::Addi, 30, 9, 0).i(Inst::new(Op::Lh, 6, 30, 0, 2));
    a.imm(Op::Addi, 30, 9, 0).i(Inst::new(Op::Lw, 7, 30, 0, 0));
    a.imm(Op::Addi, 30, 9, 0)
        .i(Inst::new(Op::Lbu, 28, 30, 0, 3));
    a.imm(Op::Addi, 30, 9, 0)
        .i(Inst::new(Op::Lhu, 29, 30, 0, 0));
    a.imm(Op::Addi, 30, 9, 0).i(Inst::new(Op::Sb, 0, 30, 31, 5));
    a.imm(Op::Addi, 30, 9, 0).i(Inst::new(Op::Sh, 0, 30, 6, 6));
    a.imm(Op::Addi, 30, 9, 4).i(Inst::new(Op::Lw, 30, 30, 0, 0));
    // A fused scaled index whose index was just computed.
    a.imm(Op::Addi, 31, 30, 1)
        .imm(Op::Slli, 6, 31, 2)
        .r(Op::Add, 6, 6, 5);
    // Branches on a fresh result: each skips one `addi a2` when taken.
    a.li(A2, 0);
    for (op, rs2) in [
        (Op::Beq, 6),
        (Op::Bne, 5),
        (Op::Blt, 5),
        (Op::Bge, 5),
        (Op::Bltu, 5),
        (Op::Bgeu, 5),
        (Op::Bne, 31), // the result as rs2 of a symmetric branch
    ] {
        a.imm(Op::Addi, 31, 6, 0)
            .i(Inst::new(op, 0, 31, rs2, 8))
            .imm(Op::Addi, A2, A2, 1);
    }
    a.li(A0, 0);
    for r in [5, 6, 7, 28, 29, 30, 31, A1, A2] {
        a.r(Op::Add, A0, A0, r);
    }
    a.exit();
    let run = |single_step: bool| {
        let g = Guest::linux(&a);
        let img = Image::parse(elf(&g.text, &g.data, g.heap_end)).unwrap();
        let mut vm = Vm::new(&img, &layout(g.heap_end), g.cfg).unwrap();
        vm.single_step = single_step;
        vm.run()
    };
    let (fast, slow) = (run(false), run(true));
    assert_eq!(slow.fault, None);
    assert_eq!((fast.exit_code, fast.cycles), (slow.exit_code, slow.cycles));
}
