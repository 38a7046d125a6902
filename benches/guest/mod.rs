//! A guest ELF generated in memory, laid out like `fixtures/linux_hello.elf`: an R+X PT_LOAD
//! of text whose `_start` sets `sp` with `auipc`+`addi`, then an RW PT_LOAD (no file bytes)
//! covering the NOBITS `.bss`, `.heap` and `.stack` sections, and the boundary symbols
//! `_stack_top`, `_stack_bottom`, `_heap_start`, `_heap_end`.
#![allow(non_snake_case, dead_code)]

/// Where things go.
pub struct Shape {
    pub text: u32,
    pub stack_top: u32,
    pub stack_bottom: u32,
}

fn push16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn push32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

/// The whole ELF file: `words` at `TEXT`, `funcs` as extra function symbols
/// `(name, address, size)`, and the layout `g`.
pub fn elf(g: &Shape, words: &[u32], funcs: &[(String, u32, u32)]) -> Vec<u8> {
    let (TEXT, STACK_TOP, STACK_BOTTOM) = (g.text, g.stack_top, g.stack_bottom);
    let HEAP_END = STACK_BOTTOM;
    let text_size = 4 * words.len() as u32;
    let text_end = TEXT + text_size;
    let heap_start = text_end.next_multiple_of(0x1000);
    assert!(heap_start < HEAP_END);

    // Symbols (all global, defined in their sections as the linker script would).
    // (name, value, size, info, shndx)
    let mut syms: Vec<(String, u32, u32, u8, u16)> = vec![
        ("_start".into(), TEXT, 24, 0x12, 1),
        ("_end".into(), heap_start, 0, 0x10, 2),
        ("_heap_start".into(), heap_start, 0, 0x10, 3),
        ("_heap_end".into(), HEAP_END, 0, 0x10, 3),
        ("_stack_bottom".into(), STACK_BOTTOM, 0, 0x10, 4),
        ("_stack_top".into(), STACK_TOP, 0, 0x10, 4),
    ];
    for (name, addr, size) in funcs {
        syms.push((name.clone(), *addr, *size, 0x12, 1));
    }
    let mut strtab = vec![0u8];
    let mut symtab = vec![0u8; 16];
    for (name, value, size, info, shndx) in &syms {
        push32(&mut symtab, strtab.len() as u32);
        strtab.extend_from_slice(name.as_bytes());
        strtab.push(0);
        push32(&mut symtab, *value);
        push32(&mut symtab, *size);
        symtab.push(*info);
        symtab.push(0);
        push16(&mut symtab, *shndx);
    }
    let mut shstrtab = vec![0u8];
    let mut names = Vec::new();
    for n in [
        ".text",
        ".bss",
        ".heap",
        ".stack",
        ".symtab",
        ".strtab",
        ".shstrtab",
    ] {
        names.push(shstrtab.len() as u32);
        shstrtab.extend_from_slice(n.as_bytes());
        shstrtab.push(0);
    }

    let phnum = 3u16;
    let text_off = 0x1000usize;
    let symtab_off = (text_off + text_size as usize).next_multiple_of(4);
    let strtab_off = symtab_off + symtab.len();
    let shstrtab_off = strtab_off + strtab.len();
    let shoff = (shstrtab_off + shstrtab.len()).next_multiple_of(4);

    let mut f = Vec::with_capacity(shoff + 8 * 40);
    f.extend_from_slice(b"\x7fELF\x01\x01\x01\0");
    f.extend_from_slice(&[0; 8]);
    push16(&mut f, 2); // ET_EXEC
    push16(&mut f, 243); // EM_RISCV
    push32(&mut f, 1);
    push32(&mut f, TEXT);
    push32(&mut f, 52);
    push32(&mut f, shoff as u32);
    push32(&mut f, 0);
    for x in [52u16, 32, phnum, 40, 8, 7] {
        push16(&mut f, x);
    }
    // Program headers: text (R X), bss+heap+stack (RW, no file bytes), GNU_STACK.
    for ph in [
        [
            1,
            text_off as u32,
            TEXT,
            TEXT,
            text_size,
            text_size,
            5,
            0x1000,
        ],
        [
            1,
            0,
            heap_start,
            heap_start,
            0,
            STACK_TOP - heap_start,
            6,
            0x1000,
        ],
        [0x6474_e551, 0, 0, 0, 0, 0, 6, 0x10],
    ] {
        for x in ph {
            push32(&mut f, x);
        }
    }
    f.resize(text_off, 0);
    for x in words {
        push32(&mut f, *x);
    }
    f.resize(symtab_off, 0);
    f.extend_from_slice(&symtab);
    f.extend_from_slice(&strtab);
    f.extend_from_slice(&shstrtab);
    f.resize(shoff, 0);
    let first_global = 1u32;
    #[rustfmt::skip]
    let shdrs: [[u32; 10]; 8] = [
        [0; 10],
        [names[0], 1, 6, TEXT, text_off as u32, text_size, 0, 0, 4, 0],
        [names[1], 8, 3, heap_start, 0x1000, 0, 0, 0, 4, 0],
        [names[2], 8, 3, heap_start, 0x1000, HEAP_END - heap_start, 0, 0, 16, 0],
        [names[3], 8, 3, STACK_BOTTOM, 0x1000, STACK_TOP - STACK_BOTTOM, 0, 0, 1, 0],
        [names[4], 2, 0, 0, symtab_off as u32, symtab.len() as u32, 6, first_global, 4, 16],
        [names[5], 3, 0, 0, strtab_off as u32, strtab.len() as u32, 0, 0, 1, 0],
        [names[6], 3, 0, 0, shstrtab_off as u32, shstrtab.len() as u32, 0, 0, 1, 0],
    ];
    for sh in shdrs {
        for x in sh {
            push32(&mut f, x);
        }
    }
    f
}
