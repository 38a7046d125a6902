//! Layout families and prologue forms (fixtures/layout/): for each fixture, the `inspect`
//! report (snapshot), the family, what `run` does, and what a 16 MiB rewrite does (the output
//! runs the same, or a named refusal, or — for a broken layout — a repair that runs).

mod common;

use nexus_relink::elf::Image;
use nexus_relink::layout::{Family, MemoryBase, MemoryMap};
use nexus_relink::relink::Relinker;
use nexus_relink::vm::{RunConfig, Vm};
use std::path::PathBuf;
use std::process::Command;

fn path(name: &str) -> PathBuf {
    common::fixtures()
        .join("layout")
        .join(format!("{name}.elf"))
}

fn image(name: &str) -> Image {
    Image::read(&path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// What running the file gives.
#[derive(Debug, PartialEq)]
enum Run {
    Exit(i32),
    /// The VM refuses to start; the message contains this.
    Refused(&'static str),
    /// The guest faults; the message contains this.
    Fault(&'static str),
}

/// What a rewrite to 16 MiB gives.
#[derive(Debug, PartialEq)]
enum Rewrite {
    /// Written; the output runs to the same exit code.
    Same,
    /// Written; the output runs to this exit code (a repair).
    Repaired(i32),
    /// Refused; the message contains this.
    Refused(&'static str),
}

struct Case {
    name: &'static str,
    family: Family,
    stack_top: Option<u32>,
    run: Run,
    rewrite: Rewrite,
}

fn cases() -> Vec<Case> {
    use Family::*;
    vec![
        Case {
            name: "below_program",
            family: StackBelowProgram,
            stack_top: Some(0x200400),
            run: Run::Exit(42),
            // No heap end in the file (no symbol, no allocator constant): nothing records a
            // memory limit.
            rewrite: Rewrite::Refused(
                "family b (stack below the program) layout: the heap end is not in the file",
            ),
        },
        Case {
            name: "sp1_heap",
            family: StackBelowProgram,
            stack_top: Some(0x200400),
            run: Run::Exit(42),
            // The allocator's MAX_MEMORY moves to 16 MiB; the stack top stays.
            rewrite: Rewrite::Same,
        },
        Case {
            name: "below_heap",
            family: StackBelowHeap,
            stack_top: Some(0x110000),
            run: Run::Exit(7),
            rewrite: Rewrite::Same,
        },
        Case {
            name: "airbender_heap",
            family: StackBelowHeap,
            stack_top: Some(0x110000),
            run: Run::Exit(1),
            rewrite: Rewrite::Same,
        },
        // RISC Zero's v1compat kernel form: machine-mode code at 0xc0000000 that runs a user
        // guest, named instead of run (it would store to 0xffff1000 as linux-rv32).
        Case {
            name: "risc0_kernel",
            family: NoStack,
            stack_top: None,
            run: Run::Refused("this is RISC Zero's v1compat kernel, not a guest"),
            rewrite: Rewrite::Refused("RISC Zero's v1compat kernel, not a guest"),
        },
        Case {
            name: "no_stack",
            family: NoStack,
            stack_top: None,
            run: Run::Exit(5),
            rewrite: Rewrite::Refused("nothing to move"),
        },
        Case {
            name: "loader_stack",
            family: LoaderStack,
            stack_top: Some(0x4000_0000),
            // argc (1) + 2 for finding AT_PAGESZ = 4096 in the auxiliary vector.
            run: Run::Exit(3),
            // Linked with PHDRS and no PT_GNU_STACK: nowhere to record the loader's stack.
            rewrite: Rewrite::Refused("no PT_GNU_STACK program header"),
        },
        Case {
            name: "broken_nexus",
            family: Broken,
            stack_top: None,
            run: Run::Refused("inside the read-only segment 2"),
            rewrite: Rewrite::Repaired(0),
        },
        Case {
            name: "nexus_overwrite",
            family: StackAtTop,
            stack_top: Some(0x8040_0000),
            run: Run::Exit(4),
            rewrite: Rewrite::Refused(
                "no PT_GNU_STACK program header in which a rewrite could record the memory top",
            ),
        },
        Case {
            name: "nexus_vm_sp",
            family: StackAtTop,
            stack_top: Some(0x8040_0000),
            run: Run::Exit(4),
            // The memory top the VM gives sp (ecall 0x402) is recorded in PT_GNU_STACK.
            rewrite: Rewrite::Same,
        },
        Case {
            name: "ceno_start",
            family: StackAtTop,
            stack_top: Some(0xc000_0000),
            run: Run::Exit(9),
            // 16 MiB from the memory base 0x80000000 (it was 2 GiB short as an absolute top).
            rewrite: Rewrite::Same,
        },
        Case {
            name: "picolibc_stock",
            family: StackAtTop,
            stack_top: Some(0x2000_8000),
            run: Run::Fault("a semihosting call (operation a0 = 0x3, console output)"),
            // 16 MiB from the RAM origin 0x20000000: written, and faults as the input does.
            rewrite: Rewrite::Same,
        },
        Case {
            name: "rvtest_data",
            family: NoStack,
            stack_top: None,
            run: Run::Exit(0),
            rewrite: Rewrite::Refused("nothing to move"),
        },
        Case {
            name: "rvtest_branch",
            family: NoStack,
            stack_top: None,
            run: Run::Exit(0),
            rewrite: Rewrite::Refused("nothing to move"),
        },
        Case {
            name: "newlib_crt0",
            family: LoaderStack,
            stack_top: Some(0x4000_0000),
            // argc (1) + 10, after "crt0 ok" on stdout.
            run: Run::Exit(11),
            // The loader's stack top recorded in PT_GNU_STACK.
            rewrite: Rewrite::Same,
        },
        Case {
            name: "sp_testdata",
            family: StackAtTop,
            stack_top: Some(0x15010),
            run: Run::Exit(3),
            rewrite: Rewrite::Same,
        },
        // Memory from a RAM origin: `--memlimit 16M` is 16 MiB from 0x20000000 / 0x80000000.
        Case {
            name: "high_ram",
            family: StackAtTop,
            stack_top: Some(0x2000_8000),
            run: Run::Exit(11),
            rewrite: Rewrite::Same,
        },
        Case {
            name: "high_jolt",
            family: StackAtTop,
            stack_top: Some(0x8010_0000),
            run: Run::Exit(11),
            rewrite: Rewrite::Same,
        },
        // The same memory map with heap and stack apart (symbols _heap_end, _stack_bottom).
        Case {
            name: "high_split",
            family: StackAtTop,
            stack_top: Some(0x2004_0000),
            run: Run::Exit(11),
            rewrite: Rewrite::Same,
        },
    ]
}

/// The memory top of `--memlimit 16M`: 16 MiB from the guest's memory base.
fn top16(img: &Image) -> u64 {
    MemoryBase::of(img).top(16 << 20).unwrap()
}

fn run(img: &Image) -> Result<i32, String> {
    let map = MemoryMap::discover(img);
    let layout = map.run.map_err(|e| e.to_string())?;
    let r = Vm::new(img, &layout, RunConfig::default())
        .map_err(|e| e.to_string())?
        .run();
    match (r.fault, r.exit_code) {
        (None, Some(c)) => Ok(c),
        (Some(f), _) => Err(format!("fault {}", f.message)),
        (None, c) => Err(format!("no exit code: {c:?}")),
    }
}

#[test]
fn every_family_is_mapped_run_and_rewritten_or_refused() {
    for c in cases() {
        let img = image(c.name);
        let map = MemoryMap::discover(&img);
        assert_eq!(map.family, c.family, "{}", c.name);
        if let Some(top) = c.stack_top {
            let run = map.run.as_ref().expect("runnable");
            assert_eq!(run.stack_top, top, "{}: stack top", c.name);
        }
        let text = Command::new(env!("CARGO_BIN_EXE_nexus-relink"))
            .args(["inspect".as_ref(), path(c.name).as_os_str()])
            .output()
            .unwrap();
        assert!(text.status.success(), "{}: inspect failed", c.name);
        let shown = String::from_utf8_lossy(&text.stdout);
        assert!(!shown.contains("inconsistent"), "{}: {shown}", c.name);
        insta::assert_snapshot!(
            format!("inspect__{}", c.name),
            String::from_utf8_lossy(&text.stdout)
        );
        let got = run(&img);
        match &c.run {
            Run::Exit(code) => assert_eq!(got, Ok(*code), "{}", c.name),
            Run::Refused(what) | Run::Fault(what) => {
                let e = got.clone().expect_err("refused");
                assert!(e.contains(what), "{}: {e}", c.name);
            }
        }
        let rw = Relinker::new(top16(&img)).rewrite(&img);
        match (&c.rewrite, rw.map_err(|e| e.to_string())) {
            (Rewrite::Refused(what), Err(e)) => {
                assert!(e.to_string().contains(what), "{}: {e}", c.name)
            }
            (Rewrite::Same, Ok(rw)) => {
                let new = Image::parse(rw.bytes).unwrap();
                assert_eq!(run(&new), got, "{}: the rewrite changed the result", c.name);
                let l = MemoryMap::discover(&new).run.unwrap();
                if c.family == Family::StackAtTop {
                    assert_eq!(u64::from(l.stack_top), top16(&img), "{}", c.name);
                } else {
                    // b and c keep their stack top (under the program, under the heap); e's
                    // loader stack ends at the limit. The memory the VM allows ends there.
                    assert_eq!(l.memlimit, top16(&img), "{}", c.name);
                }
            }
            (Rewrite::Repaired(code), Ok(rw)) => {
                let new = Image::parse(rw.bytes).unwrap();
                let map = MemoryMap::discover(&new);
                assert_eq!(map.family, Family::StackAtTop, "{}: repaired", c.name);
                assert_eq!(map.run.as_ref().unwrap().stack_top, 16 << 20);
                // The repaired guest runs until its halt (`unimp`, the pre-0.3 Nexus exit).
                let layout = map.run.unwrap();
                let r = Vm::new(&new, &layout, RunConfig::default()).unwrap().run();
                let ended = r.exit_code == Some(*code)
                    || r.fault
                        .as_ref()
                        .is_some_and(|f| f.message.contains("unimp"));
                assert!(ended, "{}: {:?} {:?}", c.name, r.exit_code, r.fault);
                assert!(
                    r.peak_stack_bytes > 0,
                    "{}: the repaired stack is used",
                    c.name
                );
            }
            (want, other) => panic!("{}: want {want:?}, got {:?}", c.name, other.map(|_| ())),
        }
    }
}

#[test]
fn cli_run_of_a_broken_layout_names_the_problem_and_writes_nothing_to_stdout() {
    let out = Command::new(env!("CARGO_BIN_EXE_nexus-relink"))
        .args(["run".as_ref(), path("broken_nexus").as_os_str()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("__memory_top = 0x1006c was linked inside the image")
            && err.contains("rewrite with --memlimit"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(out.status.code(), Some(126), "cannot start: 126");
    // With --json the refusal is also on stdout, as JSON.
    let out = Command::new(env!("CARGO_BIN_EXE_nexus-relink"))
        .args([
            "run".as_ref(),
            "--json".as_ref(),
            path("broken_nexus").as_os_str(),
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert!(
        v["error"].as_str().unwrap().contains("read-only segment"),
        "{v}"
    );
    assert_eq!(
        (v["exit_code"].clone(), v["schema"].clone()),
        (126.into(), "nexus-relink/error/v1".into())
    );
    assert_eq!(out.status.code(), Some(126));
}

#[test]
fn prove_refuses_only_a_layout_that_cannot_start() {
    let err = MemoryMap::discover(&image("broken_nexus"))
        .prove_layout()
        .unwrap_err()
        .to_string();
    assert!(err.contains("inside the read-only segment"), "{err}");
    // Families b and c state the one region `run` enforces, e the loader's stack
    // (tests/prove_families.rs).
    for name in [
        "no_stack",
        "ceno_start",
        "sp_testdata",
        "below_program",
        "below_heap",
        "loader_stack",
    ] {
        assert!(
            MemoryMap::discover(&image(name)).prove_layout().is_ok(),
            "{name}"
        );
    }
}

/// The Linux programs among the family fixtures run as under qemu-riscv32: the loader-provided
/// stack is the one Linux builds (also when the crt0 calls functions before reading argc), and
/// the ISA-test forms that keep data in sp run without a stack.
#[test]
fn linux_family_fixtures_match_qemu() {
    if !common::have("qemu-riscv32") {
        eprintln!("qemu-riscv32 not installed: skipping the comparison");
        return;
    }
    for name in [
        "loader_stack",
        "newlib_crt0",
        "rvtest_data",
        "rvtest_branch",
    ] {
        let q = Command::new("qemu-riscv32")
            .arg(path(name))
            .output()
            .unwrap();
        let img = image(name);
        let layout = MemoryMap::discover(&img).run.unwrap();
        let r = Vm::new(&img, &layout, RunConfig::default()).unwrap().run();
        assert!(r.fault.is_none(), "{name}: {:?}", r.fault);
        assert_eq!(r.exit_code, q.status.code(), "{name}");
        assert_eq!(r.stdout, q.stdout, "{name}");
    }
}

/// What is not a stack set-up: a data pointer (`la x2, tdat`, also with a store below it into
/// .data) and a branch operand (`li x2, 1`) are test data, and the map says so; a crt0 that
/// calls functions before reading argc from 0(sp) reads the loader's stack. No gp is taken from
/// a case number kept in it.
#[test]
fn sp_as_data_and_loader_stack_after_calls() {
    for (name, value) in [
        ("rvtest_data", "sp = 0x11000"),
        ("rvtest_branch", "sp = 0x1 "),
    ] {
        let m = MemoryMap::discover(&image(name));
        assert_eq!(m.sp_init.value, None, "{name}");
        assert_eq!(
            m.gp, None,
            "{name}: gp holds the case number, not an address"
        );
        assert!(
            m.notes
                .iter()
                .any(|n| n.contains(value) && n.contains("sp holds data")),
            "{name}: {:?}",
            m.notes
        );
    }
    let m = MemoryMap::discover(&image("rvtest_data"));
    assert!(m.notes[0].contains("inside section .data"), "{:?}", m.notes);
    let m = MemoryMap::discover(&image("newlib_crt0"));
    assert_eq!(m.sp_init.kind, nexus_relink::layout::SpKind::Loader);
    assert!(m.gp.is_some());
    assert_eq!(m.sp_confirmed_by, None);
}

/// What confirms each set-up as a stack: a stack-top symbol, or (without one) the frame the
/// called function opens below it.
#[test]
fn each_set_up_is_confirmed_by_a_symbol_or_its_use() {
    for (name, by) in [
        ("sp_testdata", "symbol _stack_top"),
        ("ceno_start", "symbol _stack_start"),
        ("broken_nexus", "symbol __memory_top"),
        ("picolibc_stock", "symbol __stack"),
        ("below_program", "the frame of the function at"),
        ("below_heap", "end of section .stack"),
    ] {
        let m = MemoryMap::discover(&image(name));
        let got = m.sp_confirmed_by.unwrap_or_default();
        assert!(got.starts_with(by), "{name}: {got}");
    }
}

/// The prologue search: the first write confirmed by a stack-top symbol wins over later test
/// data in sp; a plain jump ends the prologue once sp is set (Ceno); a call into
/// `_overwrite_sp` is seen.
#[test]
fn prologue_forms() {
    let m = MemoryMap::discover(&image("sp_testdata"));
    assert_eq!(m.sp_init.value, Some(0x15010));
    assert_eq!(m.sp_init.insts.len(), 2);
    let m = MemoryMap::discover(&image("ceno_start"));
    assert_eq!(m.sp_init.value, Some(0xc000_0000));
    let m = MemoryMap::discover(&image("nexus_overwrite"));
    assert!(m.sp_init.overwrite_ecall.is_some());
    // With a PT_GNU_STACK, a rewrite records the VM's memory top there: the 0x402 call then
    // gives sp the new limit, and the placeholder stays as it was.
    let img = image("nexus_vm_sp");
    let rw = Relinker::new(16 << 20).rewrite(&img).unwrap();
    let new = Image::parse(rw.bytes).unwrap();
    let m = MemoryMap::discover(&new);
    let l = m.run.clone().unwrap();
    assert_eq!((l.stack_top, l.memlimit), (16 << 20, 16 << 20));
    assert_eq!(m.sp_init.value, MemoryMap::discover(&img).sp_init.value);
    let vm = nexus_relink::vm::Vm::new(&new, &l, nexus_relink::vm::RunConfig::default()).unwrap();
    let (res, _) = vm.run_to_end();
    assert_eq!(res.exit_code, Some(4));
    assert!(res.peak_stack_bytes > 0 && res.peak_stack_bytes <= 64);
    // A rewrite of riscv-tests-style data labels at the stack bottom leaves them where they
    // are: only boundary names move.
    let img = image("sp_testdata");
    let rw = Relinker::new(16 << 20).rewrite(&img).unwrap();
    let new = Image::parse(rw.bytes).unwrap();
    for s in ["begin_signature", "end_signature", "_end"] {
        assert_eq!(
            new.symbol(s).unwrap().value,
            img.symbol(s).unwrap().value,
            "{s}"
        );
    }
    assert_ne!(
        new.symbol("_stack_bottom").unwrap().value,
        img.symbol("_stack_bottom").unwrap().value
    );
}

/// Bounds that contradict each other (a heap-end symbol below the heap start) are shown, not
/// refused: `inspect` maps the file and names the problem, `run` runs it under the outer
/// bounds, and the rewrite refuses naming the contradiction.
#[test]
fn contradicting_bounds_are_a_problem_of_the_map_not_an_error() {
    let img = Image::read(&common::fixtures().join("c_bump.elf")).unwrap();
    let sym = ["_heap_end", "__heap_end"]
        .iter()
        .find_map(|n| img.symbol(n))
        .expect("a heap-end symbol")
        .clone();
    let mut bytes = img.bytes.clone();
    let at = sym.entry_offset + 4;
    bytes[at..at + 4].copy_from_slice(&0x100u32.to_le_bytes());
    let bad = Image::parse(bytes).unwrap();
    let map = MemoryMap::discover(&bad);
    assert_eq!(map.family, Family::StackAtTop);
    assert!(
        map.problems
            .iter()
            .any(|p| p.contains("the bounds found disagree")),
        "{:?}",
        map.problems
    );
    // The contradiction names the values and where each came from, and what to do.
    let err = map.model.as_ref().unwrap_err().to_string();
    assert!(
        err.contains("heap start")
            && err.contains("above heap end 0x100 (symbol _heap_end)")
            && err.contains("relink"),
        "{err}"
    );
    assert!(!err.contains("inconsistent"), "{err}");
    let want = run(&img).unwrap();
    assert_eq!(run(&bad), Ok(want));
    assert!(Relinker::new(16 << 20).rewrite(&bad).is_err());
}

/// Every fixture of fixtures/abi and fixtures/layout: `inspect` works (snapshot), and a 16 MiB
/// rewrite either is refused with a one-line message that names what to do, or writes a file
/// that runs to the same end (exit code, stdout, fault kind) as the input.
#[test]
fn every_abi_and_family_fixture_inspects_and_keeps_its_behaviour_when_rewritten() {
    let mut names = Vec::new();
    for folder in ["abi", "layout"] {
        let dir = common::fixtures().join(folder);
        let mut v: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "elf"))
            .collect();
        v.sort();
        names.extend(v.into_iter().map(|p| (folder, p)));
    }
    assert!(names.len() >= 15, "{}", names.len());
    let end = |img: &Image| -> String {
        let map = MemoryMap::discover(img);
        match map.run {
            Err(e) => format!("cannot start: {e}"),
            Ok(l) => {
                let r = match Vm::new(img, &l, RunConfig::default()) {
                    Ok(vm) => vm.run(),
                    Err(e) => return format!("cannot start: {e}"),
                };
                format!(
                    "exit {:?} fault {:?} stdout {:?}",
                    r.exit_code,
                    r.fault.map(|f| f.kind),
                    String::from_utf8_lossy(&r.stdout)
                )
            }
        }
    };
    for (folder, p) in names {
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        if folder == "abi" {
            let text = Command::new(env!("CARGO_BIN_EXE_nexus-relink"))
                .arg("inspect")
                .arg(&p)
                .output()
                .unwrap();
            assert!(text.status.success(), "{stem}: inspect failed");
            insta::assert_snapshot!(
                format!("inspect_abi__{stem}"),
                String::from_utf8_lossy(&text.stdout)
            );
        }
        let img = Image::read(&p).unwrap();
        match Relinker::new(top16(&img)).rewrite(&img) {
            Err(e) => {
                let m = e.to_string();
                assert!(!m.contains('\n') && !m.contains("Some("), "{stem}: {m}");
                assert!(!m.contains("inconsistent"), "{stem}: {m}");
                assert!(!m.contains("please report"), "{stem}: {m}");
                assert!(m.len() > 40, "{stem}: {m}");
            }
            Ok(rw) => {
                let new = Image::parse(rw.bytes).unwrap();
                let (a, b) = (end(&img), end(&new));
                if MemoryMap::discover(&img).family == Family::Broken {
                    assert!(b.contains("exit Some(0)"), "{stem}: repaired: {b}");
                } else {
                    assert_eq!(a, b, "{stem}: the 16M rewrite changed the behaviour");
                }
            }
        }
    }
}

/// A run with `input` on stdin: exit code and stdout, or the fault.
fn run_in(img: &Image, input: &[u8]) -> Result<(i32, String), String> {
    let layout = MemoryMap::discover(img).run.map_err(|e| e.to_string())?;
    let cfg = RunConfig {
        input: input.to_vec(),
        ..RunConfig::default()
    };
    let r = Vm::new(img, &layout, cfg).map_err(|e| e.to_string())?.run();
    match (r.fault, r.exit_code) {
        (None, Some(c)) => Ok((c, String::from_utf8_lossy(&r.stdout).into_owned())),
        (Some(f), _) => Err(f.message),
        (None, None) => Err("no exit code".into()),
    }
}

fn rewritten(img: &Image, r: Relinker) -> Image {
    Image::parse(r.rewrite(img).unwrap_or_else(|e| panic!("{e}")).bytes).unwrap()
}

/// The rewrite plans of the families b, c and e, and their named refusals (snapshots: the
/// plan, every patch and the instructions before and after).
#[test]
fn rewrite_plans_of_families_b_c_e() {
    use nexus_relink::report::report_text;
    let cases: Vec<(&str, &str, Relinker)> = vec![
        ("sp1_heap", "16M", Relinker::new(16 << 20)),
        // The allocator's lone lui holds whole pages: rounded down to 4 KiB.
        ("sp1_heap", "3000000", Relinker::new(3_000_000)),
        ("sp1_heap", "2M", Relinker::new(2 << 20)),
        (
            "sp1_heap",
            "16M_stack64K",
            Relinker::new(16 << 20).stack(64 << 10),
        ),
        ("below_program", "16M", Relinker::new(16 << 20)),
        ("airbender_heap", "16M", Relinker::new(16 << 20)),
        (
            "airbender_heap",
            "16M_heap1M",
            Relinker::new(16 << 20).heap(1 << 20),
        ),
        ("below_heap", "16M", Relinker::new(16 << 20)),
        (
            "below_heap",
            "16M_stack128K",
            Relinker::new(16 << 20).stack(128 << 10),
        ),
        ("below_heap", "1M", Relinker::new(1 << 20)),
        ("newlib_crt0", "16M", Relinker::new(16 << 20)),
        (
            "newlib_crt0",
            "12M_stack64K",
            Relinker::new(12 << 20).stack(64 << 10),
        ),
        ("newlib_crt0", "8M", Relinker::new(8 << 20)),
        ("loader_stack", "16M", Relinker::new(16 << 20)),
        ("nexus_vm_sp", "16M", Relinker::new(16 << 20)),
        ("nexus_vm_sp", "1M", Relinker::new(1 << 20)),
    ];
    for (name, label, r) in cases {
        let text = match r.rewrite(&image(name)) {
            Ok(rw) => report_text(&rw, true),
            Err(e) => format!("refused: {e}\n"),
        };
        insta::assert_snapshot!(format!("rewrite__{name}__{label}"), text);
    }
}

/// Family b (SP1's map): the allocator's heap end really moves. 24 MiB fit under the linked
/// MAX_MEMORY (0x78000000); after a 16 MiB rewrite the allocator refuses them as SP1's does
/// (exit 101, "Memory limit exceeded") while the default 1 MiB run is unchanged; a 64 MiB
/// rewrite of that file fits them again; rewriting back gives the input's bytes.
#[test]
fn family_b_the_allocators_heap_end_moves() {
    let img = image("sp1_heap");
    let ok = Ok((42, "allocated\n".to_string()));
    assert_eq!(run_in(&img, &[24]), ok);
    let small = rewritten(&img, Relinker::new(16 << 20));
    assert_eq!(run_in(&small, &[]), ok);
    assert_eq!(run_in(&small, &[13]), ok);
    assert_eq!(
        run_in(&small, &[24]),
        Ok((101, "Memory limit exceeded\n".to_string()))
    );
    let map = MemoryMap::discover(&small);
    assert_eq!(map.family, Family::StackBelowProgram);
    assert_eq!(map.sp_init.value, Some(0x200400), "the stack top stays");
    assert_eq!(map.model.as_ref().unwrap().heap_end, 16 << 20);
    assert_eq!(
        map.run.as_ref().unwrap().memlimit,
        16 << 20,
        "the VM's bound"
    );
    let big = rewritten(&small, Relinker::new(64 << 20));
    assert_eq!(run_in(&big, &[24]), ok);
    let back = rewritten(&small, Relinker::new(0x7800_0000));
    assert_eq!(back.bytes, img.bytes, "A -> B -> A");
}

/// Family c (Airbender's map): the writable segment, and the heap with it, ends at the new
/// limit. As linked the heap is 1 MiB, so a word 2 MiB above `_sheap` is out of bounds; after
/// a 16 MiB rewrite it is in, up to the new end. `--stack` moves the stack top and the heap
/// start together where the file states the heap start.
#[test]
fn family_c_the_writable_segment_ends_at_the_new_limit() {
    let img = image("airbender_heap");
    assert_eq!(run_in(&img, &[1]), Ok((1, "heap ok\n".to_string())));
    let e = run_in(&img, &[2]).unwrap_err();
    assert!(e.contains("out of bounds") && e.contains("0x210000"), "{e}");
    let big = rewritten(&img, Relinker::new(16 << 20));
    assert_eq!(run_in(&big, &[2]), Ok((2, "heap ok\n".to_string())));
    assert_eq!(run_in(&big, &[14]), Ok((14, "heap ok\n".to_string())));
    let e = run_in(&big, &[15]).unwrap_err();
    assert!(
        e.contains("out of bounds") && e.contains("0x1000000"),
        "{e}"
    );
    let ram = big
        .loads()
        .find(|s| s.flags & nexus_relink::elf::PF_W != 0)
        .unwrap();
    assert_eq!(ram.end(), 16 << 20);
    let back = rewritten(&big, Relinker::new(0x21_0000));
    assert_eq!(back.bytes, img.bytes, "A -> B -> A");

    let img = image("below_heap");
    let split = rewritten(&img, Relinker::new(16 << 20).stack(128 << 10));
    assert_eq!(run(&split), Ok(7));
    let map = MemoryMap::discover(&split);
    let m = map.model.as_ref().unwrap();
    assert_eq!(
        (m.stack_top, m.heap_start, m.heap_end),
        (0x12_0000, 0x12_0000, 16 << 20)
    );
    assert_eq!(split.symbol("_sstack").unwrap().value, 0x12_0000);
    assert_eq!(split.symbol("_sheap").unwrap().value, 0x12_0000);
    assert_eq!(split.symbol("_heap_end").unwrap().value, 16 << 20);
    let back = rewritten(&split, Relinker::new(0x21_0000).stack(64 << 10));
    assert_eq!(back.bytes, img.bytes, "A -> B -> A");
}

/// Family e (a Linux crt0): the loader's stack is recorded in PT_GNU_STACK, where `run` and
/// `prove` read it: the initial sp lies under the new top, the program runs the same, and
/// qemu-riscv32 (which reads only the header's flags) runs the rewritten file the same too.
#[test]
fn family_e_the_loader_stack_is_recorded_where_run_and_prove_read_it() {
    let img = image("newlib_crt0");
    let new = rewritten(&img, Relinker::new(16 << 20));
    let map = MemoryMap::discover(&new);
    assert_eq!(map.family, Family::LoaderStack);
    let l = map.run.as_ref().unwrap();
    assert_eq!(
        (l.memlimit, l.stack_bottom, l.stack_top),
        (16 << 20, 8 << 20, 16 << 20)
    );
    assert_eq!(map.prove_layout().unwrap().stack_top, 16 << 20);
    let vm = Vm::new(&new, l, RunConfig::default()).unwrap();
    let sp = vm.reg(2);
    assert!(((16 << 20) - 4096..16 << 20).contains(&sp), "{sp:#x}");
    assert_eq!(run_in(&new, &[]), Ok((11, "crt0 ok\n".to_string())));
    assert_ne!(
        nexus_relink::prove::program_id(&new).unwrap(),
        nexus_relink::prove::program_id(&img).unwrap(),
        "the statement binds the new layout"
    );
    let small = rewritten(&new, Relinker::new(12 << 20).stack(64 << 10));
    let l = MemoryMap::discover(&small).run.unwrap();
    assert_eq!((l.stack_bottom, l.stack_top), (0xbf_0000, 0xc0_0000));
    assert_eq!(run_in(&small, &[]), Ok((11, "crt0 ok\n".to_string())));
    let e = Relinker::new(16 << 20)
        .stack(1024)
        .rewrite(&img)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least 4 KiB"), "{e}");
    if common::have("qemu-riscv32") {
        let dir = std::env::temp_dir().join(format!("fam-e-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("crt0_16M.elf");
        std::fs::write(&p, &new.bytes).unwrap();
        // qemu-user loads only executable files.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let q = Command::new("qemu-riscv32").arg(&p).output().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(q.status.code(), Some(11));
        assert_eq!(q.stdout, b"crt0 ok\n");
    }
}

/// `sp1_heap` with the word at `addr` replaced by `lui rd, value`.
fn with_lui(addr: u32, rd: u8, value: u32) -> Image {
    use nexus_relink::isa::{encode, Inst};
    let img = image("sp1_heap");
    let mut bytes = img.bytes.clone();
    let at = img.file_offset(addr, 4).unwrap();
    let w = encode(&Inst::lui(rd, value)).unwrap();
    bytes[at..at + 4].copy_from_slice(&w.to_le_bytes());
    Image::parse(bytes).unwrap()
}

/// Family b never guesses: an allocator that compares the heap pointer against two different
/// constants has no heap end (both are listed, the rewrite is refused), and the heap-end value
/// loaded elsewhere by a lone `lui` is an ambiguity (refused unless `--force`, which leaves it).
#[test]
fn family_b_lists_candidates_and_refuses_unexplained_occurrences() {
    // `and a4, a4, a1` in sys_alloc_aligned becomes `lui a4, 0x70000`, which the next
    // `bltu a2, a4` compares.
    let two = with_lui(0x200840, 14, 0x7000_0000);
    let map = MemoryMap::discover(&two);
    assert_eq!(map.family, Family::StackBelowProgram);
    let e = map.model.as_ref().unwrap_err().to_string();
    assert!(
        e.contains("2 different constants") && e.contains("0x70000000") && e.contains("0x78000000"),
        "{e}"
    );
    assert!(
        map.problems.iter().any(|p| p.contains("none is taken")),
        "{:?}",
        map.problems
    );
    assert!(map.run.is_ok(), "it still runs");
    // `li a0, 0` in main becomes `lui a0, 0x78000`: the same value, outside the allocator.
    let other = with_lui(0x200898, 10, 0x7800_0000);
    let e = Relinker::new(16 << 20)
        .rewrite(&other)
        .unwrap_err()
        .to_string();
    assert!(e.contains("0x200898") && e.contains("--force"), "{e}");
    let rw = Relinker::new(16 << 20).force(true).rewrite(&other).unwrap();
    assert_eq!(rw.forced.len(), 1);
    let new = Image::parse(rw.bytes).unwrap();
    assert_eq!(
        new.word_at(0x200898),
        other.word_at(0x200898),
        "left as it is"
    );
    assert_eq!(MemoryMap::discover(&new).model.unwrap().heap_end, 16 << 20);
}

#[test]
fn an_entry_without_code_is_named_instead_of_decoding_zeros() {
    // Airbender's app.elf form: the entry lies in a NOBITS text section.
    let out = Command::new(env!("CARGO_BIN_EXE_nexus-relink"))
        .args(["run".as_ref(), path("no_code").as_os_str()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(126), "cannot start: {err}");
    assert!(
        err.contains("no code at the entry 0x0")
            && err.contains("section .text.dummy, NOBITS")
            && err.contains("no_code.elf"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(out.stdout.is_empty()); // `inspect` lists it among the map's problems, with the same words.
    let img = nexus_relink::elf::Image::read(&path("no_code")).unwrap();
    let map = nexus_relink::layout::MemoryMap::discover(&img);
    assert!(
        map.problems
            .iter()
            .any(|p| p.starts_with("no code at the entry 0x0: it lies in the zero-filled part")),
        "{:?}",
        map.problems
    );
}

/// Code words in an executable segment outside its executable sections (in .data of an RWX
/// segment, and copied into its zero-filled .bss tail after `fence.i`) are decoded when
/// executed, as qemu-riscv32 runs them (issue 19 item 4).
#[test]
fn code_in_the_data_of_an_executable_segment_runs() {
    let img = image("data_code");
    let layout = MemoryMap::discover(&img).run.unwrap();
    let res = Vm::new(&img, &layout, RunConfig::default()).unwrap().run();
    assert_eq!(res.fault, None);
    assert_eq!(res.exit_code, Some(42));
}

/// A word outside every executable segment still faults, with a reason.
#[test]
fn code_in_a_segment_that_is_not_executable_faults_with_a_reason() {
    let img = image("data_code_nx");
    let layout = MemoryMap::discover(&img).run.unwrap();
    let res = Vm::new(&img, &layout, RunConfig::default()).unwrap().run();
    let f = res.fault.expect("a fault");
    assert_eq!(f.kind, nexus_relink::vm::FaultKind::IllegalInstruction);
    assert_eq!(f.pc, 0x11000);
    assert!(
        f.message.contains("outside the executable segments") && !f.message.ends_with(": "),
        "{}",
        f.message
    );
}
