//! The rewriter end to end: every fixture at several limits keeps its behaviour (in the VM and
//! under qemu-riscv32), the new layout is what was asked, rewrites compose, and refusals are
//! clear and write nothing.

mod common;
use common::*;
use nexus_relink::elf::Image;
use nexus_relink::layout::Layout;
use nexus_relink::relink::{RelinkError, Relinker};
use nexus_relink::vm::{FaultKind, RunConfig, Vm};
use nexus_relink::Error;
use std::process::Command;

const LIMITS: [u64; 5] = [64 << 10, 1 << 20, 16 << 20, 256 << 20, 3_000_000];

fn rewrite(img: &Image, limit: u64) -> Result<Vec<u8>, Error> {
    Relinker::new(limit).rewrite(img).map(|r| r.bytes)
}

#[test]
fn every_fixture_at_every_limit_keeps_its_behaviour() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rewritten = 0;
    for e in manifest() {
        let (img, old) = load(&e.elf());
        for limit in LIMITS {
            let out = match rewrite(&img, limit) {
                Ok(b) => b,
                Err(Error::Relink(RelinkError::Plan(p))) => {
                    // Only a limit below what the image needs may be refused here.
                    assert!(
                        limit <= 1 << 20 || e.name == "gp_relax",
                        "{} at {limit:#x}: {p}",
                        e.name
                    );
                    continue;
                }
                Err(Error::Relink(RelinkError::Unpatchable(u))) if e.name == "gp_relax" => {
                    assert!(u[0].why.contains("--no-relax"), "{:?}", u);
                    continue;
                }
                Err(err) => panic!("{} at {limit:#x}: {err}", e.name),
            };
            let new_img = Image::parse(out.clone()).unwrap();
            let new = Layout::discover(&new_img).unwrap();
            assert_eq!(
                u64::from(new.stack_top),
                limit & !15,
                "{} at {limit:#x}",
                e.name
            );
            assert!(
                new.memlimit >= u64::from(new.stack_top) && new.memlimit <= limit,
                "{}",
                e.name
            );
            if !old.shared {
                // Kept; a stack in a PT_LOAD of its own moves by whole pages and may grow.
                let grown = new.stack_size() - old.stack_size();
                let allowed = if e.name == "sep_stack" { 4095 } else { 0 };
                assert!(
                    grown <= allowed,
                    "{}: stack {:#x} -> {:#x}",
                    e.name,
                    old.stack_size(),
                    new.stack_size()
                );
                assert_eq!(
                    new.heap_end + old.guard(),
                    new.stack_bottom,
                    "{}: heap takes the rest",
                    e.name
                );
            }
            // The VM runs it exactly as the original.
            let r0 = Vm::new(&img, &old, e.config()).unwrap().run();
            let r1 = Vm::new(&new_img, &new, e.config()).unwrap().run();
            assert_eq!(r1.fault, None, "{} at {limit:#x}", e.name);
            assert_eq!(
                (r1.stdout.clone(), r1.exit_code, r1.public_output.clone()),
                (r0.stdout, r0.exit_code, r0.public_output),
                "{} at {limit:#x}",
                e.name
            );
            // sp right after the prologue is the new top.
            let mut vm = Vm::new(&new_img, &new, e.config()).unwrap();
            let after = new.sp_init.overwrite_ecall.unwrap_or(new.sp_init.at) + 4;
            assert!(
                vm.run_to(after, 64),
                "{}: prologue end {after:#x} not reached",
                e.name
            );
            assert_eq!(
                vm.reg(2),
                new.stack_top,
                "{} at {limit:#x}: sp after the prologue",
                e.name
            );
            // External tools accept it; qemu runs it identically.
            let path = tmp.path().join(format!("{}-{limit}.elf", e.name));
            std::fs::write(&path, &out).unwrap();
            // qemu-user wants an executable file.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            if have("riscv64-unknown-elf-readelf") {
                let o = Command::new("riscv64-unknown-elf-readelf")
                    .arg("-a")
                    .arg(&path)
                    .output()
                    .unwrap();
                assert!(
                    o.status.success() && o.stderr.is_empty(),
                    "{}: readelf: {}",
                    e.name,
                    String::from_utf8_lossy(&o.stderr)
                );
                let o = Command::new("riscv64-unknown-elf-objdump")
                    .arg("-d")
                    .arg(&path)
                    .output()
                    .unwrap();
                assert!(
                    o.status.success() && o.stderr.is_empty(),
                    "{}: objdump: {}",
                    e.name,
                    String::from_utf8_lossy(&o.stderr)
                );
            }
            if e.qemu && have("qemu-riscv32") {
                let mut child = Command::new("qemu-riscv32")
                    .arg(&path)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(e.stdin.as_bytes())
                    .unwrap();
                let q = child.wait_with_output().unwrap();
                assert_eq!(q.stdout, r1.stdout, "{} at {limit:#x}: qemu stdout", e.name);
                assert_eq!(
                    q.status.code(),
                    r1.exit_code.map(|c| c & 0xff),
                    "{} at {limit:#x}: qemu exit",
                    e.name
                );
            }
            rewritten += 1;
        }
    }
    // 2 nexus fixtures at 5 limits; 15 linux fixtures at 16M, 256M, 3000000 (1 MiB stacks: 64K and
    // 1M are refused as too small); gp_relax never (its gp-relative prologue cannot reach).
    assert_eq!(rewritten, 55);
}

#[test]
fn rewrites_compose_and_invert() {
    // A is an odd limit: a round one (16M) also appears as a constant in picolibc's printf,
    // which a second rewrite from it would rightly call ambiguous (see below).
    const A: u64 = 0x123_4560;
    for e in manifest().iter().filter(|e| e.name != "gp_relax") {
        let (img, _) = load(&e.elf());
        let a = Image::parse(rewrite(&img, A).unwrap()).unwrap();
        let b_direct = rewrite(&img, 3_000_000).unwrap();
        let b_via_a = rewrite(&a, 3_000_000).unwrap();
        assert!(b_direct == b_via_a, "{}: A then B differs from B", e.name);
        let back = rewrite(&a, Layout::discover(&img).unwrap().memlimit).unwrap();
        assert_eq!(
            back, img.bytes,
            "{}: A then original limit is not the original",
            e.name
        );
        // Same limit: nothing changes.
        assert!(rewrite(&a, A).unwrap() == a.bytes, "{}: idempotent", e.name);
    }
    // From 16M, the constants 0x1000000 in picolibc's formatting code equal the stack top:
    // a further rewrite refuses rather than patch numbers that may not be addresses.
    let (img, _) = load(&fixtures().join("picolibc_malloc.elf"));
    let at16 = Image::parse(rewrite(&img, 16 << 20).unwrap()).unwrap();
    match Relinker::new(3_000_000).rewrite(&at16) {
        Err(Error::Relink(RelinkError::Ambiguous(a))) => {
            assert!(a.iter().all(|x| x.value == 16 << 20))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn only_planned_bytes_change() {
    let (img, _) = load(&fixtures().join("jolt_heap.elf"));
    let rw = Relinker::new(16 << 20).rewrite(&img).unwrap();
    let planned: std::collections::BTreeSet<usize> = rw
        .sites
        .sites
        .iter()
        .flat_map(|s| s.edits.iter().flat_map(|e| e.offset..e.offset + 4))
        .collect();
    let changed: Vec<usize> = (0..img.bytes.len())
        .filter(|&i| img.bytes[i] != rw.bytes[i])
        .collect();
    assert!(!changed.is_empty());
    assert!(changed.iter().all(|i| planned.contains(i)));
    // Both bound checks inside functions (heap end with lo != 0, stack bottom with lo == 0).
    let pairs: Vec<_> = rw
        .sites
        .sites
        .iter()
        .filter(|s| format!("{:?}", s.kind) == "HiLoPair")
        .map(|s| s.boundary.as_str())
        .collect();
    assert!(
        pairs.contains(&"heap_end")
            && pairs.contains(&"stack_bottom")
            && pairs.contains(&"stack_top/memlimit"),
        "{pairs:?}"
    );
}

#[test]
fn hoisted_lui_and_pointer_words_are_followed() {
    let (img, _) = load(&fixtures().join("hoisted_bound.elf"));
    let rw = Relinker::new(16 << 20).rewrite(&img).unwrap();
    let fill = img.symbol("fill_heap").unwrap().value;
    // The lui at the top of fill_heap pairs with the mv inside the loop (another block).
    let pair = rw
        .sites
        .sites
        .iter()
        .find(|s| s.addr == Some(fill))
        .expect("a site at fill_heap");
    assert_eq!(format!("{:?}", pair.kind), "HiLoPair");
    assert!(pair.location.contains('+'), "{}", pair.location);
    assert_eq!((pair.old, pair.new), (0x30_0000, 0xf0_0000));
    // The unnamed .rodata word holding _heap_end, read by heap_limit's auipc + lw.
    let word = rw
        .sites
        .sites
        .iter()
        .find(|s| format!("{:?}", s.kind) == "DataWord")
        .expect("a data word site");
    assert!(word.why.contains("loads"), "{}", word.why);
    let new = Image::parse(rw.bytes).unwrap();
    let l = Layout::discover(&new).unwrap();
    let r = Vm::new(&new, &l, RunConfig::default()).unwrap().run();
    assert_eq!(l.heap_end, 0xf0_0000);
    assert_eq!(
        String::from_utf8_lossy(&r.stdout),
        "sum 500500\nheap end agrees\n"
    );
}

#[test]
fn bigger_stack_lets_deep_recursion_run() {
    let (img, old) = load(&fixtures().join("deep_recursion.elf"));
    let cfg = || RunConfig {
        input: b"40000".to_vec(),
        ..RunConfig::default()
    };
    let r = Vm::new(&img, &old, cfg()).unwrap().run();
    assert_eq!(
        r.fault.as_ref().map(|f| f.kind),
        Some(FaultKind::StackOverflow)
    );
    let out = Relinker::new(16 << 20)
        .stack(4 << 20)
        .rewrite(&img)
        .unwrap();
    let new_img = Image::parse(out.bytes).unwrap();
    let new = Layout::discover(&new_img).unwrap();
    assert_eq!(new.stack_size(), 4 << 20);
    let r = Vm::new(&new_img, &new, cfg()).unwrap().run();
    assert_eq!(r.fault, None);
    assert_eq!(r.exit_code, Some(0));
    assert!(
        String::from_utf8_lossy(&r.stdout).contains("depth 40000"),
        "{}",
        String::from_utf8_lossy(&r.stdout)
    );
    // A tight limit: the same recursion overflows and the fault names the stack.
    let tight = Image::parse(Relinker::new(2 << 20).rewrite(&img).unwrap().bytes).unwrap();
    let tl = Layout::discover(&tight).unwrap();
    let f = Vm::new(&tight, &tl, cfg()).unwrap().run().fault.unwrap();
    assert_eq!(f.kind, FaultKind::StackOverflow);
    assert!(f.message.contains("stack"), "{}", f.message);
}

#[test]
fn refusals_are_typed() {
    let (img, _) = load(&fixtures().join("linux_hello.elf"));
    match Relinker::new(64 << 10).rewrite(&img) {
        Err(Error::Relink(RelinkError::Plan(p))) => {
            let m = p.to_string();
            assert!(
                m.contains("too small") && m.contains("smallest limit"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    let (gp, _) = load(&fixtures().join("gp_relax.elf"));
    assert!(matches!(
        Relinker::new(16 << 20).rewrite(&gp),
        Err(Error::Relink(RelinkError::Unpatchable(_)))
    ));
    // A stray data word equal to the stack top, named by nothing: ambiguous.
    let mut bytes = img.bytes.clone();
    let ro = img.section(".rodata").expect(".rodata");
    let off = (ro.offset as usize).next_multiple_of(4);
    bytes[off..off + 4].copy_from_slice(&0x40_0000u32.to_le_bytes());
    let stray = Image::parse(bytes).unwrap();
    match Relinker::new(16 << 20).rewrite(&stray) {
        Err(Error::Relink(RelinkError::Ambiguous(a))) => assert_eq!(a.len(), 1, "{a:?}"),
        other => panic!("{other:?}"),
    }
    // A lui that loads exactly a boundary value with nothing added (a constant that equals
    // the stack top, passed to a call): ambiguous, never patched silently.
    let mut code_bytes = img.bytes.clone();
    let call = img
        .code_words()
        .filter(|&(a, _)| a > img.entry + 0x40)
        .find(|&(_, w)| matches!(nexus_relink::isa::decode(w), Ok(i) if i.op == nexus_relink::isa::Op::Jal && i.rd == 1))
        .expect("a call")
        .0;
    let code_off = img.file_offset(call - 4, 4).unwrap();
    let lui = nexus_relink::isa::encode(&nexus_relink::isa::Inst::lui(10, 0x40_0000)).unwrap();
    code_bytes[code_off..code_off + 4].copy_from_slice(&lui.to_le_bytes());
    match Relinker::new(16 << 20).rewrite(&Image::parse(code_bytes).unwrap()) {
        Err(Error::Relink(RelinkError::Ambiguous(a))) => {
            assert!(
                a.iter().any(|x| x.why.contains("constant that equals")),
                "{a:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    // A bound materialised as an offset from a boundary (`_heap_end - 16`): ambiguous.
    let (jolt, _) = load(&fixtures().join("jolt_heap.elf"));
    let mut jb = jolt.bytes.clone();
    let (at, inst) = jolt
        .code_words()
        .filter_map(|(a, w)| nexus_relink::isa::decode(w).ok().map(|i| (a, i)))
        .find(|(_, i)| i.op == nexus_relink::isa::Op::Addi && i.imm == -128 && i.rd == i.rs1)
        .expect("the addi of __heap_end's low part");
    let o = jolt.file_offset(at, 4).unwrap();
    let shifted = nexus_relink::isa::encode(&inst.with_imm(-144)).unwrap();
    jb[o..o + 4].copy_from_slice(&shifted.to_le_bytes());
    match Relinker::new(16 << 20).rewrite(&Image::parse(jb).unwrap()) {
        Err(Error::Relink(RelinkError::Ambiguous(a))) => {
            assert!(
                a.iter()
                    .any(|x| x.value == 0x2f_ff70 && x.why.contains("-16 bytes")),
                "{a:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    // --force rewrites and leaves the stray word alone.
    let forced = Relinker::new(16 << 20).force(true).rewrite(&stray).unwrap();
    assert_eq!(forced.forced.len(), 1);
    assert_eq!(&forced.bytes[off..off + 4], &0x40_0000u32.to_le_bytes());
}

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nexus-relink"))
}

#[test]
fn cli_refusals_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.elf");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "fixtures/linux_hello.elf".into(),
                "--memlimit".into(),
                "64K".into(),
            ],
            "too small",
        ),
        (
            vec![
                "fixtures/gp_relax.elf".into(),
                "--memlimit".into(),
                "16M".into(),
            ],
            "--no-relax",
        ),
        (
            vec![
                "fixtures/linux_hello.elf".into(),
                "--memlimit".into(),
                "16Q".into(),
            ],
            "invalid size",
        ),
        (
            vec![
                "fixtures/nexus_hello.elf".into(),
                "--memlimit".into(),
                "16M".into(),
                "--stack".into(),
                "1M".into(),
            ],
            "share one region",
        ),
        (
            vec!["Cargo.toml".into(), "--memlimit".into(), "16M".into()],
            "not an ELF",
        ),
    ];
    for (args, want) in cases {
        let o = cli()
            .current_dir(root())
            .args(&args)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(
            err.lines().count(),
            err.lines().filter(|l| !l.is_empty()).count()
        );
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    }
    // Output = input is refused without --in-place.
    let copy = tmp.path().join("in.elf");
    std::fs::copy(root().join("fixtures/linux_hello.elf"), &copy).unwrap();
    let o = cli()
        .arg(&copy)
        .args(["--memlimit", "16M", "-o"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--in-place"));
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(root().join("fixtures/linux_hello.elf")).unwrap()
    );
    let o = cli()
        .arg(&copy)
        .args(["--memlimit", "16M", "--in-place"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, l) = load(&copy);
    assert_eq!(l.stack_top, 16 << 20);
}

#[test]
fn cli_rewrite_then_inspect_json_reports_the_new_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.elf");
    let o = cli()
        .current_dir(root())
        .args(["fixtures/jolt_heap.elf", "--memlimit", "2M", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = cli()
        .args(["inspect", "--json"])
        .arg(&out)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["layout"]["stack_top"], 2 << 20);
    assert_eq!(v["layout"]["memlimit"], 2 << 20);
    assert_eq!(v["layout"]["stack_bottom"], 1 << 20);
    assert_eq!(v["sp_init"]["value"], 2 << 20);
    let o = cli().args(["run", "--json"]).arg(&out).output().unwrap();
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["exit_code"], 0);
    assert!(r["fault"].is_null());
    assert!(r["stdout"].as_str().unwrap().contains("checksum"));
}

#[test]
fn memlimit_auto_measures_and_fits() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("auto.elf");
    let o = cli()
        .current_dir(root())
        .args([
            "fixtures/jolt_heap.elf",
            "--memlimit",
            "auto",
            "--json",
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let limit = v["measured"]["memlimit"].as_u64().unwrap();
    assert_eq!(limit % 4096, 0);
    assert!(limit < 4 << 20 && limit > 204_800, "{limit:#x}");
    let (img, l) = load(&out);
    assert_eq!(u64::from(l.stack_top), limit);
    let r = Vm::new(&img, &l, RunConfig::default()).unwrap().run();
    assert_eq!((r.fault, r.exit_code), (None, Some(0)));
}

#[test]
fn heap_bound_checks_in_compiled_c_follow_the_new_limit() {
    // 400000 nodes of 8 bytes need 3.2 MB: more than the 4 MiB layout's heap, less than 16M's.
    let cfg = || RunConfig {
        input: b"400000".to_vec(),
        ..RunConfig::default()
    };
    for name in ["c_bump", "c_bump_medlow"] {
        let (img, old) = load(&fixtures().join(format!("{name}.elf")));
        let r = Vm::new(&img, &old, cfg()).unwrap().run();
        assert_eq!(
            r.exit_code,
            Some(3),
            "{name}: {}",
            String::from_utf8_lossy(&r.stdout)
        );
        for (limit, want) in [(16u64 << 20, 0), (2 << 20, 3)] {
            let new_img = Image::parse(rewrite(&img, limit).unwrap()).unwrap();
            let l = Layout::discover(&new_img).unwrap();
            let r = Vm::new(&new_img, &l, cfg()).unwrap().run();
            assert_eq!(
                r.exit_code,
                Some(want),
                "{name} at {limit:#x}: {}",
                String::from_utf8_lossy(&r.stdout)
            );
        }
    }
}

#[test]
fn a_lone_lui_prologue_gets_a_page_aligned_top() {
    // medlow_fib's prologue is `lui sp, 0x400; mv sp, sp`: make the mv a nop.
    let (img, old) = load(&fixtures().join("medlow_fib.elf"));
    let mv = old.sp_init.insts[1];
    let mut bytes = img.bytes.clone();
    let o = img.file_offset(mv, 4).unwrap();
    bytes[o..o + 4].copy_from_slice(
        &nexus_relink::isa::encode(&nexus_relink::isa::Inst::NOP)
            .unwrap()
            .to_le_bytes(),
    );
    let lone = Image::parse(bytes).unwrap();
    assert_eq!(
        format!("{:?}", Layout::discover(&lone).unwrap().sp_init.kind),
        "Lui"
    );
    let rw = Relinker::new(3_000_000).rewrite(&lone).unwrap();
    assert_eq!(rw.plan.new.stack_top, 0x2d_c000);
    assert!(
        rw.plan.notes.iter().any(|n| n.contains("lone lui")),
        "{:?}",
        rw.plan.notes
    );
    let new = Image::parse(rw.bytes).unwrap();
    let l = Layout::discover(&new).unwrap();
    let r = Vm::new(&new, &l, RunConfig::default()).unwrap().run();
    assert_eq!(r.exit_code, Some(0));
}

#[test]
fn the_smallest_limit_reported_is_the_smallest_that_works() {
    for (name, stack, heap, guard) in [
        ("linux_hello", None, None, None),
        ("jolt_heap", None, Some(64 << 10), None),
        ("deep_recursion", Some(4u32 << 20), None, Some(4096)),
        ("nexus_hello", None, None, None),
    ] {
        let (img, _) = load(&fixtures().join(format!("{name}.elf")));
        let with = |limit: u64| {
            let mut r = Relinker::new(limit);
            r.request.stack = stack;
            r.request.heap = heap;
            r.request.guard = guard;
            r.rewrite(&img)
        };
        let min = match with(16) {
            Err(Error::Relink(RelinkError::Plan(nexus_relink::plan::PlanError::TooSmall {
                min,
                ..
            }))) => min,
            Err(other) => panic!("{name}: {other}"),
            Ok(_) => panic!("{name}: a 16-byte memory accepted"),
        };
        let rw = with(min)
            .unwrap_or_else(|e| panic!("{name}: the reported minimum {min:#x} is refused: {e}"));
        if let Some(h) = heap {
            assert_eq!(rw.plan.new.heap_size(), h, "{name}");
        }
        if let Some(g) = guard {
            assert_eq!(rw.plan.new.guard(), g, "{name}");
        }
        assert!(
            with(min - 16).is_err(),
            "{name}: {:#x} also works",
            min - 16
        );
    }
}

#[test]
fn a_stack_below_the_image_is_refused_clearly() {
    // risc0_word with its stack-top word pointing under the program, as RISC Zero's map does.
    let (img, layout) = load(&fixtures().join("risc0_word.elf"));
    let word = layout.sp_init.word_addr.unwrap();
    let mut bytes = img.bytes.clone();
    let o = img.file_offset(word, 4).unwrap();
    bytes[o..o + 4].copy_from_slice(&0x8000u32.to_le_bytes());
    let low = Image::parse(bytes).unwrap();
    let err = Layout::discover(&low).unwrap_err().to_string();
    assert!(
        err.contains("family b (stack below the program)") && err.contains("`run` runs it"),
        "{err}"
    );
    // The map still reads it, and the VM runs it (its stack below the image is allowed).
    let map = nexus_relink::layout::MemoryMap::discover(&low);
    assert_eq!(map.family, nexus_relink::layout::Family::StackBelowProgram);
    let run = map.run.expect("a stack below the program runs");
    let r = nexus_relink::vm::Vm::new(&low, &run, Default::default())
        .unwrap()
        .run();
    assert_eq!(r.fault, None, "{:?}", r.fault);
    assert_eq!(r.exit_code, Some(0));
}
