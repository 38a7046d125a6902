//! A corpus of malformed guests, built in the test by mutating `fixtures/linux_hello.elf`: each
//! gets its typed `ElfError`, truncations never panic, and a deterministic fuzz loop over the
//! headers never makes the reader, layout discovery or the VM panic.

use nexus_relink::elf::{ElfError, Image, EHDR_SIZE, MAX_HEADERS, PHDR_SIZE, SHDR_SIZE};
use nexus_relink::layout::Layout;
use nexus_relink::vm::{RunConfig, Vm};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn hello() -> Vec<u8> {
    fixture("linux_hello.elf")
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

// ELF32 header field offsets.
const E_TYPE: usize = 16;
const E_MACHINE: usize = 18;
const E_ENTRY: usize = 24;
const E_PHOFF: usize = 28;
const E_SHOFF: usize = 32;
const E_FLAGS: usize = 36;
const E_PHENTSIZE: usize = 42;
const E_PHNUM: usize = 44;
const E_SHENTSIZE: usize = 46;
const E_SHNUM: usize = 48;
// Program header field offsets.
const P_TYPE: usize = 0;
const P_VADDR: usize = 8;
const P_FILESZ: usize = 16;
const P_MEMSZ: usize = 20;

/// File offset of program header `i`.
fn ph(b: &[u8], i: usize) -> usize {
    u32_at(b, E_PHOFF) as usize + i * PHDR_SIZE
}

/// Index of the `n`-th PT_LOAD program header.
fn load_index(b: &[u8], n: usize) -> usize {
    (0..usize::from(u16_at(b, E_PHNUM)))
        .filter(|&i| u32_at(b, ph(b, i) + P_TYPE) == 1)
        .nth(n)
        .expect("PT_LOAD")
}

fn parse_err(b: Vec<u8>) -> ElfError {
    Image::parse(b).expect_err("malformed file parsed")
}

fn mutated(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = hello();
    f(&mut b);
    b
}

#[test]
fn the_base_file_is_what_the_mutations_assume() {
    let b = hello();
    let img = Image::parse(b.clone()).unwrap();
    assert_eq!(u16_at(&b, E_PHNUM), 4);
    assert_eq!(u32_at(&b, E_PHOFF) as usize, EHDR_SIZE);
    // Two PT_LOADs: R+X text at 0x10000, RW bss/heap/stack at 0x11000.
    let (t, d) = (load_index(&b, 0), load_index(&b, 1));
    assert_eq!((t, d), (1, 2));
    assert_eq!(u32_at(&b, ph(&b, t) + P_VADDR), 0x1_0000);
    assert_eq!(u32_at(&b, ph(&b, d) + P_VADDR), 0x1_1000);
    assert_eq!(img.entry, 0x1_0000);
    // The section header table ends the file.
    let shoff = u32_at(&b, E_SHOFF) as usize;
    assert_eq!(
        shoff + usize::from(u16_at(&b, E_SHNUM)) * SHDR_SIZE,
        b.len()
    );
}

#[test]
fn identification_errors() {
    assert_eq!(parse_err(Vec::new()), ElfError::NotElf);
    assert_eq!(parse_err(b"\x7fEL".to_vec()), ElfError::NotElf);
    assert_eq!(parse_err(mutated(|b| b[0] = 0x7e)), ElfError::NotElf);
    assert_eq!(
        parse_err(mutated(|b| b[1..4].copy_from_slice(b"elf"))),
        ElfError::NotElf
    );
    let mut text = b"#!/bin/sh\necho not an ELF\n".to_vec();
    text.resize(64, b' ');
    assert_eq!(parse_err(text), ElfError::NotElf);
    assert_eq!(parse_err(mutated(|b| b[4] = 2)), ElfError::Elf64);
    assert_eq!(parse_err(mutated(|b| b[4] = 0)), ElfError::BadClass(0));
    assert_eq!(parse_err(mutated(|b| b[4] = 3)), ElfError::BadClass(3));
    assert_eq!(parse_err(mutated(|b| b[5] = 2)), ElfError::BigEndian);
    assert_eq!(parse_err(mutated(|b| b[5] = 0)), ElfError::BigEndian);
}

#[test]
fn header_field_errors() {
    // e_machine: x86 (3), x86-64 (62), AArch64 (183).
    for m in [3u16, 62, 183, 0] {
        assert_eq!(
            parse_err(mutated(|b| put16(b, E_MACHINE, m))),
            ElfError::NotRiscv(m)
        );
    }
    // e_type: ET_REL (1), ET_DYN (3), ET_CORE (4), ET_NONE (0).
    for t in [1u16, 3, 4, 0] {
        assert_eq!(
            parse_err(mutated(|b| put16(b, E_TYPE, t))),
            ElfError::NotExec(t)
        );
    }
    // EF_RISCV_RVC, alone and with the float ABI bits.
    for flags in [0x1u32, 0x5] {
        assert_eq!(
            parse_err(mutated(|b| put32(b, E_FLAGS, flags))),
            ElfError::Compressed(flags)
        );
    }
    // Other e_flags bits (float ABI, RVE, TSO) are accepted.
    assert!(Image::parse(mutated(|b| put32(b, E_FLAGS, 0x2))).is_ok());
    // e_phentsize / e_shentsize.
    for size in [0u16, 31, 33, 56] {
        assert_eq!(
            parse_err(mutated(|b| put16(b, E_PHENTSIZE, size))),
            ElfError::BadField {
                field: "e_phentsize",
                value: size.into(),
                offset: 42,
                why: "must be 32 for ELF32",
            }
        );
    }
    assert_eq!(
        parse_err(mutated(|b| put16(b, E_SHENTSIZE, 64))),
        ElfError::BadField {
            field: "e_shentsize",
            value: 64,
            offset: 46,
            why: "must be 40 for ELF32",
        }
    );
    // e_phnum: none, more than any linker writes, and a count that runs past the file.
    assert_eq!(
        parse_err(mutated(|b| put16(b, E_PHNUM, 0))),
        ElfError::NoLoad
    );
    assert_eq!(
        parse_err(mutated(|b| put16(b, E_PHNUM, 0xffff))),
        ElfError::TooManyHeaders {
            what: "program headers",
            count: 0xffff
        }
    );
    let len = hello().len();
    match parse_err(mutated(|b| put16(b, E_PHNUM, MAX_HEADERS as u16))) {
        ElfError::Truncated {
            start, end, len: l, ..
        } => {
            assert_eq!((start, end), (52, 52 + (MAX_HEADERS * PHDR_SIZE) as u64));
            assert_eq!(l, len);
        }
        e => panic!("e_phnum = {MAX_HEADERS}: {e:?}"),
    }
    // e_phoff / e_shoff past the end of the file.
    assert!(matches!(
        parse_err(mutated(|b| put32(b, E_PHOFF, 0xffff_fff0))),
        ElfError::Truncated {
            start: 0xffff_fff0,
            ..
        }
    ));
    assert!(matches!(
        parse_err(mutated(|b| put32(b, E_SHOFF, len as u32))),
        ElfError::Truncated { .. }
    ));
    assert_eq!(
        parse_err(mutated(|b| put16(b, E_SHNUM, 0xffff))),
        ElfError::TooManyHeaders {
            what: "section headers",
            count: 0xffff
        }
    );
}

#[test]
fn segment_errors() {
    let b = hello();
    let (t, d) = (load_index(&b, 0), load_index(&b, 1));
    let (t_off, d_off) = (ph(&b, t), ph(&b, d));
    let t_memsz = u32_at(&b, t_off + P_MEMSZ);

    // p_filesz > p_memsz.
    assert_eq!(
        parse_err(mutated(|b| put32(b, t_off + P_FILESZ, t_memsz + 4))),
        ElfError::FileszGtMemsz {
            index: t,
            offset: t_off as u64,
            filesz: t_memsz + 4,
            memsz: t_memsz,
        }
    );
    // p_offset + p_filesz past the end of the file.
    assert!(matches!(
        parse_err(mutated(|b| {
            put32(b, t_off + P_MEMSZ, 0x10_0000);
            put32(b, t_off + P_FILESZ, 0x10_0000);
        })),
        ElfError::Truncated { .. }
    ));
    // Two overlapping PT_LOADs: the data segment starts inside the text.
    assert_eq!(
        parse_err(mutated(|b| put32(b, d_off + P_VADDR, 0x1_0100))),
        ElfError::SegmentsOverlap {
            a: t,
            b: d,
            a_off: t_off as u64,
            b_off: d_off as u64,
        }
    );
    // ... or the text grows into the data.
    assert!(matches!(
        parse_err(mutated(|b| put32(b, t_off + P_MEMSZ, 0x1001))),
        ElfError::SegmentsOverlap { .. }
    ));
    // Not sorted by address is accepted (picolibc's stock script puts .bss before .data:
    // fixtures/layout/picolibc_stock.elf), but overlap is still found in an unsorted table:
    // the data segment moved below the text runs into it.
    assert!(matches!(
        parse_err(mutated(|b| put32(b, d_off + P_VADDR, 0x1000))),
        ElfError::SegmentsOverlap { .. }
    ));
    // A PT_LOAD past 4 GiB.
    assert_eq!(
        parse_err(mutated(|b| put32(b, d_off + P_VADDR, 0xffff_0000))),
        ElfError::Past4G {
            index: d,
            offset: d_off as u64,
            vaddr: 0xffff_0000,
            memsz: 0x3e_f000,
        }
    );
    // Entry outside every executable segment: in the data segment, below, past the text.
    for entry in [0x1_1000u32, 0x0, 0xfffc, 0x1_026c, 0xffff_fffc] {
        assert_eq!(
            parse_err(mutated(|b| put32(b, E_ENTRY, entry))),
            ElfError::EntryNotExecutable(entry),
            "{entry:#x}"
        );
    }
    // The text segment without PF_X: no executable segment holds the entry.
    assert_eq!(
        parse_err(mutated(|b| put32(b, t_off + 24, 4))),
        ElfError::EntryNotExecutable(0x1_0000)
    );
    // No PT_LOAD at all.
    assert_eq!(
        parse_err(mutated(|b| {
            put32(b, t_off + P_TYPE, 6);
            put32(b, d_off + P_TYPE, 6);
        })),
        ElfError::NoLoad
    );
}

/// Segments in the last page of the address space parse (they end at or below 4 GiB) but leave
/// no room for a 32-bit end address or a page-rounded break: the VM refuses them, under any
/// layout, instead of overflowing.
#[test]
fn segments_ending_in_the_last_page_are_refused_by_the_vm_not_a_panic() {
    let b = hello();
    let own = Layout::discover(&Image::parse(b.clone()).unwrap()).unwrap();
    let (t, d) = (load_index(&b, 0), load_index(&b, 1));
    let (t_off, d_off) = (ph(&b, t), ph(&b, d));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "text ending at 4 GiB",
            mutated(|b| {
                for (field, v) in [(P_VADDR, 0xffff_fc00), (12, 0xffff_fc00), (P_FILESZ, 0x400)] {
                    put32(b, t_off + field, v);
                }
                put32(b, t_off + P_MEMSZ, 0x400);
                put32(b, d_off + P_TYPE, 6); // the data segment would sort before it
                put32(b, E_ENTRY, 0xffff_fc00);
            }),
        ),
        (
            "bss ending at 0xfffff800",
            mutated(|b| {
                put32(b, d_off + P_VADDR, 0xffff_0000);
                put32(b, d_off + P_MEMSZ, 0xf800);
            }),
        ),
    ];
    for (what, bytes) in cases {
        let img = Image::parse(bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        for memlimit in [own.memlimit, 1 << 32] {
            let mut layout = own.clone();
            layout.memlimit = memlimit;
            let cfg = RunConfig {
                max_cycles: 10_000,
                ..RunConfig::default()
            };
            let r = catch_unwind(AssertUnwindSafe(|| {
                Vm::new(&img, &layout, cfg).map(|v| v.run())
            }));
            match r {
                Ok(Err(_)) => {}
                Ok(Ok(run)) => panic!("{what}, memlimit {memlimit:#x}: ran: {:?}", run.fault),
                Err(_) => panic!("{what}, memlimit {memlimit:#x}: panicked"),
            }
        }
    }
}

#[test]
fn truncated_headers_are_truncated_or_not_elf() {
    let b = hello();
    let phnum = usize::from(u16_at(&b, E_PHNUM));
    let ph_end = ph(&b, phnum);
    for len in 0..=ph_end {
        let r = catch_unwind(|| Image::parse(b[..len].to_vec()));
        match r {
            Ok(Err(ElfError::NotElf)) => assert!(len < 4, "{len}: NotElf"),
            Ok(Err(ElfError::Truncated { end, len: l, .. })) => {
                assert_eq!(l, len);
                assert!(end > len as u64, "{len}: end {end}");
            }
            Ok(other) => panic!("truncated to {len} bytes: {other:?}"),
            Err(_) => panic!("truncated to {len} bytes: panicked"),
        }
    }
}

#[test]
fn every_truncation_is_an_error_never_a_panic() {
    let b = hello();
    for len in 0..b.len() {
        match catch_unwind(|| Image::parse(b[..len].to_vec())) {
            Ok(Err(_)) => {}
            Ok(Ok(_)) => panic!("truncated to {len} of {} bytes: parsed", b.len()),
            Err(_) => panic!("truncated to {len} bytes: panicked"),
        }
    }
    assert!(Image::parse(b).is_ok());
}

/// Another fixture's truncations, sampled: a file with relocations and more sections.
#[test]
fn truncations_of_a_file_with_relocations_never_panic() {
    let b = fixture("relocs_hello.elf");
    for len in (0..b.len()).step_by(7).chain([b.len() - 1]) {
        let r = catch_unwind(|| Image::parse(b[..len].to_vec()));
        assert!(matches!(r, Ok(Err(_))), "relocs_hello truncated to {len}");
    }
}

/// xorshift32: a tiny deterministic PRNG.
struct XorShift(u32);

impl XorShift {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() as usize) % n
    }
}

#[derive(Debug, Clone, Copy)]
enum Mutation {
    Byte { offset: usize, value: u8 },
    Word { offset: usize, value: u32 },
}

impl Mutation {
    fn apply(self, b: &mut [u8]) {
        match self {
            Mutation::Byte { offset, value } => b[offset] = value,
            Mutation::Word { offset, value } => {
                let end = (offset + 4).min(b.len());
                b[offset..end].copy_from_slice(&value.to_le_bytes()[..end - offset]);
            }
        }
    }
}

/// Parse, discover and run a (possibly malformed) file: every stage may refuse it, none may
/// panic. Returns how far it got.
fn exercise(bytes: Vec<u8>) -> &'static str {
    let Ok(img) = Image::parse(bytes) else {
        return "parse error";
    };
    let Ok(layout) = Layout::discover(&img) else {
        return "layout error";
    };
    let cfg = RunConfig {
        max_cycles: 10_000,
        ..RunConfig::default()
    };
    match Vm::new(&img, &layout, cfg).map(|v| v.run()) {
        Ok(r) if r.fault.is_none() => "ran to exit",
        Ok(_) => "ran to a fault",
        Err(_) => "vm refused",
    }
}

/// `iterations` random single-byte and 4-byte mutations of the headers (the first 0x200 bytes
/// and the section header table). Returns the panicking mutations and a tally of outcomes.
fn fuzz(
    base: &[u8],
    seed: u32,
    iterations: usize,
) -> (Vec<String>, std::collections::BTreeMap<&'static str, usize>) {
    let shoff = u32_at(base, E_SHOFF) as usize;
    let shend = (shoff + usize::from(u16_at(base, E_SHNUM)) * SHDR_SIZE).min(base.len());
    let head = 0x200.min(base.len());
    let mut rng = XorShift(seed);
    let mut panics = Vec::new();
    let mut tally = std::collections::BTreeMap::new();
    for iteration in 0..iterations {
        let offset = if rng.next() & 1 == 0 || shend <= shoff {
            rng.below(head)
        } else {
            shoff + rng.below(shend - shoff)
        };
        let m = if rng.next() & 1 == 0 {
            Mutation::Byte {
                offset,
                value: rng.next() as u8,
            }
        } else {
            // Favour interesting words: small, boundary-like and all-ones values.
            let value = match rng.below(4) {
                0 => rng.next(),
                1 => rng.next() & 0xff,
                2 => [0, 1, 0xffff_ffff, 0x8000_0000, 0x7fff_ffff, 0x40_0000][rng.below(6)],
                _ => rng.next() & 0xffff_f000,
            };
            Mutation::Word { offset, value }
        };
        let mut b = base.to_vec();
        m.apply(&mut b);
        match catch_unwind(AssertUnwindSafe(|| exercise(b))) {
            Ok(outcome) => *tally.entry(outcome).or_insert(0) += 1,
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panics.push(format!("iteration {iteration}: {m:x?}: {msg}"));
            }
        }
    }
    (panics, tally)
}

#[test]
fn fuzzed_headers_never_panic() {
    // BAD_ELF_FUZZ_ITERS / BAD_ELF_FUZZ_SEED run a longer or different campaign.
    let iterations = std::env::var("BAD_ELF_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let seed = std::env::var("BAD_ELF_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x2545_f491);
    let (panics, tally) = fuzz(&hello(), seed, iterations);
    eprintln!("linux_hello: {tally:?}");
    assert!(
        panics.is_empty(),
        "{} panics:\n{}",
        panics.len(),
        panics.join("\n")
    );
    // The loop exercises every stage, not only the reader's refusals.
    assert!(
        tally.get("ran to exit").copied().unwrap_or(0) > 100,
        "{tally:?}"
    );
    assert!(
        tally.get("parse error").copied().unwrap_or(0) > 100,
        "{tally:?}"
    );
}

#[test]
fn fuzzed_headers_of_every_fixture_never_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.ends_with(".elf").then_some(name)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 10);
    let mut all = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let (panics, _) = fuzz(&fixture(name), 0x9e37_79b9 ^ k as u32, 500);
        all.extend(panics.into_iter().map(|p| format!("{name}: {p}")));
    }
    assert!(all.is_empty(), "{} panics:\n{}", all.len(), all.join("\n"));
}
