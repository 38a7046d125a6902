//! The ABI fixtures (fixtures/abi/): each runs to its manifest result through the library and
//! the CLI, under the layout `run` discovers (sp1_io's stack is below the program, ceno_halt's
//! `_start` jumps to a callee that opens a frame); detection names each ABI with evidence;
//! faults name the convention; `prove` refuses the ABIs its machine does not encode; `run`'s
//! own exit codes are 124-127.

use nexus_relink::elf::Image;
use nexus_relink::layout::Layout;
use nexus_relink::vm::{Abi, FaultKind, RunConfig, Vm};
use std::path::PathBuf;
use std::process::Command;

#[derive(Debug, Clone, serde::Deserialize)]
struct Entry {
    name: String,
    abi: String,
    input_hex: String,
    private_input_hex: String,
    expected_stdout: String,
    expected_exit: Option<i32>,
    expected_public_output_hex: String,
    expected_fault_kind: Option<String>,
    expected_fault_contains: Option<String>,
    stack_top: u32,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/abi")
}

fn manifest() -> Vec<Entry> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).expect("abi manifest");
    serde_json::from_str(&text).expect("abi manifest parses")
}

fn entry(name: &str) -> Entry {
    manifest()
        .into_iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no manifest entry {name}"))
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn image(name: &str) -> Image {
    Image::read(&dir().join(format!("{name}.elf"))).expect("fixture parses")
}

/// Does discovery find the manifest's stack top?
fn discovered(e: &Entry, img: &Image) -> Option<Layout> {
    nexus_relink::layout::MemoryMap::discover(img)
        .run
        .ok()
        .filter(|l| l.stack_top == e.stack_top && l.memlimit >= u64::from(e.stack_top))
}

/// The layout to run a fixture under: the one the memory map gives, which must have the
/// manifest's stack top (SP1's below the program, Ceno's after `j _start_rust`).
fn layout(e: &Entry, img: &Image) -> Layout {
    discovered(e, img).unwrap_or_else(|| {
        panic!(
            "{}: the map must run it with the stack top {:#x}",
            e.name, e.stack_top
        )
    })
}

fn config(e: &Entry) -> RunConfig {
    RunConfig {
        input: unhex(&e.input_hex),
        private_input: unhex(&e.private_input_hex),
        max_cycles: 1_000_000,
        ..RunConfig::default()
    }
}

fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nexus-relink"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn write_temp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn abi_manifest_covers_every_abi_form() {
    let names: Vec<String> = manifest().into_iter().map(|e| e.abi).collect();
    for abi in [
        "sp1",
        "risc0",
        "ceno",
        "nexus-legacy",
        "nexus",
        "openvm",
        "unknown",
    ] {
        assert!(
            names.iter().any(|n| n == abi),
            "no fixture of the {abi} ABI"
        );
    }
}

#[test]
fn every_abi_fixture_runs_to_its_manifest_result() {
    for e in manifest() {
        let img = image(&e.name);
        let r = Vm::new(&img, &layout(&e, &img), config(&e))
            .unwrap_or_else(|err| panic!("{}: {err}", e.name))
            .run();
        assert_eq!(r.abi.name(), e.abi, "{}: detected ABI", e.name);
        assert_eq!(
            String::from_utf8_lossy(&r.stdout),
            e.expected_stdout,
            "{}: stdout",
            e.name
        );
        assert_eq!(
            hex(&r.public_output),
            e.expected_public_output_hex,
            "{}: public output",
            e.name
        );
        assert_eq!(r.exit_code, e.expected_exit, "{}: exit code", e.name);
        match (&r.fault, &e.expected_fault_kind) {
            (None, None) => {}
            (Some(f), Some(kind)) => {
                assert_eq!(f.kind.name(), kind, "{}: {}", e.name, f.message);
                let want = e.expected_fault_contains.as_deref().unwrap();
                assert!(f.message.contains(want), "{}: {}", e.name, f.message);
                assert!(
                    f.message.contains(&format!("at pc {:#x}", f.pc)),
                    "{}: the fault names its pc: {}",
                    e.name,
                    f.message
                );
            }
            (f, k) => panic!("{}: fault {f:?}, expected {k:?}", e.name),
        }
    }
}

#[test]
fn detection_names_each_abi_with_evidence() {
    for e in manifest() {
        let img = image(&e.name);
        let d = nexus_relink::abi::detect(&img);
        assert_eq!(d.abi.name(), e.abi, "{}: {:?}", e.name, d.evidence);
        assert_eq!(Abi::detect(&img), d.abi, "{}", e.name);
        assert!(!d.evidence.is_empty(), "{}: no evidence", e.name);
    }
    let why = |name: &str| nexus_relink::abi::detect(&image(name)).evidence.join("; ");
    assert!(why("sp1_io").contains("SP1 HINT_LEN"), "{}", why("sp1_io"));
    assert!(why("risc0_halt").contains("risc0_zkvm_platform"));
    assert!(why("ceno_halt").contains("_stack_start"));
    assert!(why("nexus_legacy").contains("unimp"));
    assert!(why("openvm_exit").contains("terminate"));
    assert!(why("unknown_ecall").contains("0x5a"));
    // The fixtures of the other families keep their ABI.
    for (name, abi) in [("nexus_io", "nexus"), ("linux_hello", "linux-rv32")] {
        let img = Image::read(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/{name}.elf")),
        )
        .unwrap();
        assert_eq!(Abi::detect(&img).name(), abi, "{name}");
    }
}

#[test]
fn every_abi_fixture_runs_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    for e in manifest() {
        let img = image(&e.name);
        let input = write_temp(&tmp, &format!("{}.in", e.name), &unhex(&e.input_hex));
        let private = write_temp(
            &tmp,
            &format!("{}.priv", e.name),
            &unhex(&e.private_input_hex),
        );
        let elf = dir().join(format!("{}.elf", e.name));
        let o = cli()
            .arg("run")
            .arg(&elf)
            .arg("--input")
            .arg(&input)
            .arg("--private-input")
            .arg(&private)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(discovered(&e, &img).is_some(), "{}", e.name);
        let want = match e.expected_exit {
            Some(c) => c & 0xff,
            None => 127,
        };
        assert_eq!(o.status.code(), Some(want), "{}: {err}", e.name);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            e.expected_stdout,
            "{}",
            e.name
        );
        assert!(
            err.contains(&format!("{} abi (", e.abi)),
            "{}: {err}",
            e.name
        );
        if !e.expected_public_output_hex.is_empty() {
            assert!(
                err.contains(&format!("public output: {}", e.expected_public_output_hex)),
                "{}: {err}",
                e.name
            );
        }
        if let Some(msg) = &e.expected_fault_contains {
            assert!(
                err.contains(&format!(
                    "fault: {}",
                    e.expected_fault_kind.as_deref().unwrap()
                )),
                "{}: {err}",
                e.name
            );
            assert!(err.contains(msg), "{}: {err}", e.name);
        }
        let o = cli()
            .args(["run", "--json"])
            .arg(&elf)
            .arg("--input")
            .arg(&input)
            .arg("--private-input")
            .arg(&private)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(want), "{}", e.name);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["abi"], e.abi, "{}", e.name);
        assert!(
            v["abi_evidence"].as_array().is_some_and(|a| !a.is_empty()),
            "{}: {v}",
            e.name
        );
        assert_eq!(
            v["public_output_hex"], e.expected_public_output_hex,
            "{}",
            e.name
        );
        assert_eq!(
            v["exit_code"].as_i64(),
            e.expected_exit.map(i64::from),
            "{}",
            e.name
        );
    }
}

#[test]
fn nexus_legacy_abort_ends_the_run_with_success_and_its_log_line() {
    // The Nexus VM before 0.3 has no exit code: its run ends at `unimp` with success, also
    // after `abort` (li a0, 1; unimp); a panic shows as its "PANIC" log line.
    let e = entry("nexus_legacy");
    let img = image(&e.name);
    let mut cfg = config(&e);
    cfg.private_input = b"!x".to_vec();
    let r = Vm::new(&img, &layout(&e, &img), cfg).unwrap().run();
    assert_eq!(r.exit_code, Some(0), "{:?}", r.fault);
    assert_eq!(r.stdout, b"PANIC\n");
    // Without the unimp halt, abort's `unimp` is an illegal write to the cycle CSR.
    let mut cfg = config(&e);
    cfg.abi = Some(Abi::LinuxRv32);
    cfg.private_input = b"!x".to_vec();
    let r = Vm::new(&img, &layout(&e, &img), cfg).unwrap().run();
    assert_eq!(r.exit_code, None);
    assert!(r.fault.is_some());
}

#[test]
fn sp1_hints_are_frames_of_the_input() {
    let e = entry("sp1_io");
    let img = image(&e.name);
    let l = layout(&e, &img);
    // No frame: HINT_LEN faults naming the exhausted stream.
    let mut cfg = config(&e);
    cfg.input = Vec::new();
    let r = Vm::new(&img, &l, cfg).unwrap().run();
    let f = r.fault.expect("an empty hint stream faults");
    assert_eq!(f.kind, FaultKind::InputExhausted, "{}", f.message);
    assert!(
        f.message.contains("SP1 HINT_LEN") && f.message.contains("0 frame"),
        "{}",
        f.message
    );
    assert_eq!(String::from_utf8_lossy(&r.stdout), "sp1: hello\n");
    // Another frame: another sum.
    let mut cfg = config(&e);
    cfg.input = [&3u32.to_le_bytes()[..], b"abc"].concat();
    let r = Vm::new(&img, &l, cfg).unwrap().run();
    assert_eq!(r.exit_code, Some(0), "{:?}", r.fault);
    assert!(String::from_utf8_lossy(&r.stdout).ends_with("hint of 3 bytes, sum 294\n"));
    assert_eq!(hex(&r.public_output), "26010000");
    // Bytes that are not frames: refused before the run, by the library and by `run` (125).
    let mut cfg = config(&e);
    cfg.input = vec![9, 0, 0, 0, b'x'];
    let err = Vm::new(&img, &l, cfg).err().expect("refused").to_string();
    assert!(
        err.contains("hint frames") && err.contains("says 9 bytes"),
        "{err}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let bad = write_temp(&tmp, "bad.in", &[9, 0, 0, 0, b'x']);
    let o = cli()
        .arg("run")
        .arg(dir().join("sp1_io.elf"))
        .arg("--input")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("hint frames"));
}

#[test]
fn t0_halts_under_other_abis_name_the_convention() {
    let e = entry("ceno_halt");
    let img = image(&e.name);
    let l = layout(&e, &img);
    // Not chosen: the t0 = 0 halt is named, with what to pass.
    let cfg = RunConfig {
        abi: Some(Abi::Unknown),
        ..config(&e)
    };
    let f = Vm::new(&img, &l, cfg)
        .unwrap()
        .run()
        .fault
        .expect("a fault");
    assert_eq!(f.kind, FaultKind::UnsupportedEcall);
    assert!(
        f.message
            .contains("ecall with t0 = 0 (a0 = 0x2a): the RISC Zero/SP1/Ceno halt convention"),
        "{}",
        f.message
    );
    // Under linux-rv32 the ecall answers -ENOSYS, as Linux would; the fault that follows
    // says so and names the convention instead of leaving a misleading linux-rv32 fault.
    let cfg = RunConfig {
        abi: Some(Abi::LinuxRv32),
        ..config(&e)
    };
    let f = Vm::new(&img, &l, cfg)
        .unwrap()
        .run()
        .fault
        .expect("a fault");
    assert!(
        f.message.contains("returned -ENOSYS under linux-rv32")
            && f.message
                .contains("t0 = 0 is the RISC Zero/SP1/Ceno halt convention"),
        "{}",
        f.message
    );
    // RISC Zero packs the halt type in a0's low byte, the exit code above it: a0 = 42 is
    // no halt type RISC Zero defines.
    let cfg = RunConfig {
        abi: Some(Abi::Risc0),
        ..config(&e)
    };
    let f = Vm::new(&img, &l, cfg)
        .unwrap()
        .run()
        .fault
        .expect("a fault");
    assert!(
        f.message.contains("RISC Zero halt (t0 = 0) of type 42"),
        "{}",
        f.message
    );
}

#[test]
fn ceno_input_is_placed_at_its_hints_region() {
    let e = entry("ceno_halt");
    let img = image(&e.name);
    let mut cfg = config(&e);
    cfg.input = 5u32.to_le_bytes().to_vec();
    let r = Vm::new(&img, &layout(&e, &img), cfg).unwrap().run();
    assert_eq!(r.exit_code, Some(47), "{:?}", r.fault);
    // Through the CLI as well.
    let tmp = tempfile::tempdir().unwrap();
    let input = write_temp(&tmp, "hint", &7u32.to_le_bytes());
    let o = cli()
        .arg("run")
        .arg(dir().join("ceno_halt.elf"))
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(49),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A Ceno guest without a hints region refuses input by name (125 from `run`).
    let risc0 = entry("risc0_halt");
    let img = image(&risc0.name);
    let cfg = RunConfig {
        abi: Some(Abi::Ceno),
        ..config(&risc0)
    };
    let err = Vm::new(&img, &layout(&risc0, &img), cfg)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("_hints_start"), "{err}");
}

#[test]
fn prove_refuses_abis_outside_its_machine_by_name() {
    for e in manifest() {
        let img = image(&e.name);
        let abi = Abi::detect(&img);
        if abi.provable() {
            continue;
        }
        let err = nexus_relink::prove::public_from_elf(&img, &layout(&e, &img), None)
            .err()
            .unwrap_or_else(|| panic!("{}: the statement was built", e.name))
            .to_string();
        assert_eq!(
            err,
            format!(
                "the {} ABI is not in the proof's machine; it holds nexus, nexus-legacy, nexus-mixed, linux-rv32, sp1 (halt, write, commit, hints), risc0 (halt and software calls), the halt of ceno, and openvm's terminate",
                e.abi
            )
        );
    }
    // RISC Zero's software calls prove (`prove_families`); its precompiles are refused by
    // name (`soundness::g_a_risc0_software_call_s_second_word_is_bound`).
}

/// Patch an ELF32 program header field of the `n`-th PT_LOAD.
fn patch_load(bytes: &mut [u8], n: usize, field: usize, v: u32) {
    let rd = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as usize;
    let (phoff, phnum) = (rd(bytes, 28), u16::from_le_bytes([bytes[44], bytes[45]]));
    let ph = (0..usize::from(phnum))
        .map(|i| phoff + 32 * i)
        .filter(|&o| rd(bytes, o) == 1)
        .nth(n)
        .expect("PT_LOAD");
    bytes[ph + field..ph + field + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn run_exit_codes_tell_the_tool_from_the_guest() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let code = |args: &[&str]| cli().args(args).output().unwrap().status.code();
    // The guest's own exit code.
    assert_eq!(code(&["run", "fixtures/linux_exit7.elf"]), Some(7));
    // 124: the cycle limit.
    assert_eq!(
        code(&[
            "run",
            "fixtures/linux_fib.elf",
            "--max-cycles",
            "50",
            "--input",
            "/dev/null"
        ]),
        Some(124)
    );
    // 125: usage errors, unreadable or invalid ELF files.
    assert_eq!(
        code(&["run", "fixtures/linux_hello.elf", "--abi", "cobol"]),
        Some(125)
    );
    assert_eq!(code(&["run", "no/such.elf"]), Some(125));
    assert_eq!(code(&["run", "README.md"]), Some(125));
    // Other commands keep their codes (1 usage, 2 bad input file).
    assert_eq!(code(&["inspect", "no/such.elf"]), Some(2));
    assert_eq!(code(&["inspect", "--no-such-flag"]), Some(1));
    // 126: the VM refuses the guest's segments (bss ending in the last page).
    let mut b = std::fs::read(root.join("fixtures/linux_hello.elf")).unwrap();
    patch_load(&mut b, 1, 8, 0xffff_0000);
    patch_load(&mut b, 1, 12, 0xffff_0000);
    patch_load(&mut b, 1, 20, 0xf800);
    let tmp = tempfile::tempdir().unwrap();
    let elf = write_temp(&tmp, "lastpage.elf", &b);
    let o = cli().arg("run").arg(&elf).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(126),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // 127: a guest fault.
    assert_eq!(code(&["run", "fixtures/abi/custom_insn.elf"]), Some(127));
    // --help documents them.
    let h = cli().args(["run", "--help"]).output().unwrap();
    let h = String::from_utf8_lossy(&h.stdout);
    for w in ["Exit codes", "124", "125", "126", "127"] {
        assert!(h.contains(w), "run --help lacks {w}");
    }
}

#[test]
fn every_abi_name_is_accepted_by_the_cli() {
    for abi in [
        "nexus",
        "linux-rv32",
        "nexus-legacy",
        "sp1",
        "risc0",
        "ceno",
        "openvm",
    ] {
        let o = cli()
            .args(["run", "--json", "--max-cycles", "5000", "--abi", abi])
            .arg(dir().join("unknown_ecall.elf"))
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|_| panic!("{abi}: {}", String::from_utf8_lossy(&o.stderr)));
        assert_eq!(v["abi"], abi);
        assert_eq!(v["abi_evidence"][0], "chosen with --abi");
    }
}
