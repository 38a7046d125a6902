//! The rewrite's self-check blames the right party (issue 19, item 5): inputs with defects of
//! their own (mutated headers, section headers and symbols of the fixtures) are rewritten with
//! a warning or refused naming the input, never with "the rewrite broke the output … please
//! report it", "the rewritten layout differs from the plan" or "inconsistent layout".

mod common;

use nexus_relink::elf::Image;
use nexus_relink::relink::Relinker;

/// A small deterministic generator (xorshift32), so a failure reproduces.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() as usize) % n.max(1)
    }
}

/// The 4-byte fields a mutation may change: program header and section header words, and
/// symbol values.
fn fields(img: &Image) -> Vec<usize> {
    let mut v = Vec::new();
    for s in &img.segments {
        v.extend((0..8).map(|k| s.hdr_offset + 4 * k));
    }
    for s in &img.sections {
        v.extend((0..10).map(|k| s.hdr_offset + 4 * k));
    }
    for s in &img.symbols {
        v.push(s.entry_offset + 4);
        v.push(s.entry_offset + 8);
    }
    v
}

fn mutate(rng: &mut Rng, old: u32, boundaries: &[u32]) -> u32 {
    match rng.below(4) {
        0 => old ^ (1 << rng.below(32)),
        1 => old.wrapping_add((rng.below(64) as u32).wrapping_sub(32) & !3),
        2 => boundaries[rng.below(boundaries.len())],
        _ => old.wrapping_add(0x1000),
    }
}

#[test]
fn mutated_inputs_are_never_blamed_on_the_rewrite() {
    let names = [
        "c_bump",
        "jolt_heap",
        "linux_hello",
        "gp_relax",
        "sep_stack",
        "nexus_hello",
        "risc0_word",
        "medlow_fib",
        "relocs_hello",
        // The movable forms of families b, c and e.
        "layout/sp1_heap",
        "layout/airbender_heap",
        "layout/below_heap",
        "layout/newlib_crt0",
    ];
    let mut rng = Rng(0x1234_5678);
    let mut bad = Vec::new();
    let mut outcomes = [0usize; 3];
    for name in names {
        let img = Image::read(&common::fixtures().join(format!("{name}.elf"))).unwrap();
        let fields = fields(&img);
        let boundaries: Vec<u32> = img.symbols.iter().map(|s| s.value).collect();
        for _ in 0..150 {
            let mut bytes = img.bytes.clone();
            let at = fields[rng.below(fields.len())];
            let old = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
            let new = mutate(&mut rng, old, &boundaries);
            bytes[at..at + 4].copy_from_slice(&new.to_le_bytes());
            let Ok(m) = Image::parse(bytes) else {
                outcomes[0] += 1;
                continue;
            };
            match Relinker::new(16 << 20).rewrite(&m) {
                Ok(_) => outcomes[1] += 1,
                Err(e) => {
                    outcomes[2] += 1;
                    let msg = e.to_string();
                    if msg.contains("please report") || msg.contains("inconsistent") {
                        bad.push(format!("{name} @{at:#x} {old:#x}->{new:#x}: {msg}"));
                    }
                }
            }
        }
    }
    eprintln!(
        "unparsable {}, rewritten {}, refused {}",
        outcomes[0], outcomes[1], outcomes[2]
    );
    assert!(
        bad.is_empty(),
        "{} blamed on the rewrite:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// The input's RW PT_LOAD shortened by 16 bytes (as in a fuzzed input): `.stack` already lies
/// outside every PT_LOAD, so the header that should grow with the heap is not found and the
/// output's `.heap` would lie outside too. The refusal names the input's defect.
#[test]
fn a_section_outside_every_pt_load_in_the_input_is_the_inputs_defect() {
    let img = Image::read(&common::fixtures().join("c_bump.elf")).unwrap();
    let seg = img
        .loads()
        .find(|s| s.filesz < s.memsz && s.end() == 0x40_0000)
        .expect("the RW PT_LOAD that ends at the stack top");
    let mut bytes = img.bytes.clone();
    let at = seg.hdr_offset + 20; // p_memsz
    bytes[at..at + 4].copy_from_slice(&(seg.memsz - 16).to_le_bytes());
    let m = Image::parse(bytes).unwrap();
    let e = Relinker::new(16 << 20).rewrite(&m).unwrap_err().to_string();
    assert!(
        e.contains("the input has a defect")
            && e.contains("section .stack (0x300000..0x400000) lies outside every PT_LOAD")
            && !e.contains("please report"),
        "{e}"
    );
    // The unchanged input rewrites.
    assert!(Relinker::new(16 << 20).rewrite(&img).is_ok());
}

/// `--guard` keeps the heap end 16-byte aligned: a guard that is not a multiple of 16 is
/// refused with the two nearest that are, and an aligned one gives an aligned heap end.
#[test]
fn the_guard_keeps_the_heap_end_aligned() {
    let img = Image::read(&common::fixtures().join("jolt_heap.elf")).unwrap();
    let e = Relinker::new(16 << 20)
        .guard(17)
        .rewrite(&img)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--guard 17 B") && e.contains("use 16 or 32"),
        "{e}"
    );
    let rw = Relinker::new(16 << 20).guard(32).rewrite(&img).unwrap();
    assert_eq!(rw.plan.new.heap_end % 16, 0);
    assert_eq!(rw.plan.new.stack_bottom - rw.plan.new.heap_end, 32);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_nexus-relink"))
        .arg(common::fixtures().join("jolt_heap.elf"))
        .args(["--memlimit", "16M", "--dry-run", "--guard", "17"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("multiple of 16") && err.lines().count() == 1,
        "{err}"
    );
}
