//! Every fixture runs in the VM to its manifest result, and every linux-rv32 fixture behaves
//! identically under qemu-riscv32 (when installed).

mod common;
use common::*;
use nexus_relink::vm::{FaultKind, RunConfig, Vm};
use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn every_fixture_runs_to_its_manifest_result() {
    let m = manifest();
    assert!(m.len() >= 10, "manifest lists {} fixtures", m.len());
    for e in &m {
        let (img, layout) = load(&e.elf());
        let r = Vm::new(&img, &layout, e.config()).unwrap().run();
        assert!(r.fault.is_none(), "{}: fault {:?}", e.name, r.fault);
        assert_eq!(
            String::from_utf8_lossy(&r.stdout),
            e.expected_stdout,
            "{}: stdout",
            e.name
        );
        assert_eq!(r.exit_code, Some(e.expected_exit), "{}: exit code", e.name);
        assert_eq!(r.abi.name(), e.abi, "{}: detected ABI", e.name);
        if e.abi == "nexus" {
            assert_eq!(
                hex(&r.public_output),
                e.expected_public_output_hex,
                "{}: public output",
                e.name
            );
        }
        assert_eq!(
            u64::from(layout.stack_top),
            e.stack_top,
            "{}: discovered stack top",
            e.name
        );
        assert!(
            r.peak_stack_bytes > 0 && r.peak_stack_bytes < layout.stack_top - layout.stack_bottom,
            "{}: peak stack {}",
            e.name,
            r.peak_stack_bytes
        );
    }
}

fn qemu_run(elf: &std::path::Path, stdin: &[u8]) -> (Vec<u8>, Option<i32>) {
    let mut child = Command::new("qemu-riscv32")
        .arg(elf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn qemu-riscv32");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.stdout, out.status.code())
}

#[test]
fn linux_fixtures_match_qemu() {
    if !have("qemu-riscv32") {
        eprintln!("qemu-riscv32 not installed: differential test skipped");
        return;
    }
    let mut compared = 0;
    for e in manifest().iter().filter(|e| e.qemu) {
        let (img, layout) = load(&e.elf());
        let r = Vm::new(&img, &layout, e.config()).unwrap().run();
        let (q_out, q_code) = qemu_run(&e.elf(), e.stdin.as_bytes());
        assert_eq!(r.stdout, q_out, "{}: stdout differs from qemu", e.name);
        assert_eq!(
            r.exit_code.map(|c| c & 0xff),
            q_code,
            "{}: exit code differs from qemu",
            e.name
        );
        compared += 1;
    }
    assert!(compared >= 6, "only {compared} fixtures compared with qemu");
}

#[test]
fn too_deep_recursion_faults_as_stack_overflow() {
    let (img, layout) = load(&fixtures().join("deep_recursion.elf"));
    let cfg = RunConfig {
        input: b"100000".to_vec(),
        ..RunConfig::default()
    };
    let r = Vm::new(&img, &layout, cfg).unwrap().run();
    let f = r.fault.expect("a fault");
    assert_eq!(f.kind, FaultKind::StackOverflow, "{}", f.message);
    assert!(f.message.contains("stack bottom"), "{}", f.message);
    let need = f
        .sufficient_memlimit
        .expect("a limit that would have sufficed");
    assert!(need > layout.memlimit, "{need:#x}");
    assert_eq!(r.exit_code, None);
}

#[test]
fn cycle_limit_stops_a_run() {
    let (img, layout) = load(&fixtures().join("medlow_fib.elf"));
    let cfg = RunConfig {
        max_cycles: 1000,
        ..RunConfig::default()
    };
    let r = Vm::new(&img, &layout, cfg).unwrap().run();
    assert_eq!(r.fault.map(|f| f.kind), Some(FaultKind::CycleLimit));
    assert_eq!(r.cycles, 1000);
}

/// The benchmark guests (`fixtures/bench/`, 50-190 M instructions each): their checksums in
/// the VM, and the same output as qemu-riscv32 (when installed). Run once each here only.
#[test]
fn bench_guests_run_to_their_checksums_as_under_qemu() {
    let guests = [
        (
            "bench_compute",
            "crc32 3029716512\nprimes 246075\nmatmul 4124137691\nmix 1449051545\n",
            152_825_242,
        ),
        ("bench_chase", "chase 55550656 at 0\n", 50_331_869),
        (
            "bench_sort",
            "sorted 1048576 checksum 2337655168\n",
            186_793_614,
        ),
    ];
    let qemu = have("qemu-riscv32");
    for (name, stdout, cycles) in guests {
        let elf = fixtures().join("bench").join(format!("{name}.elf"));
        let (img, layout) = load(&elf);
        let r = Vm::new(&img, &layout, RunConfig::default()).unwrap().run();
        assert!(r.fault.is_none(), "{name}: fault {:?}", r.fault);
        assert_eq!(String::from_utf8_lossy(&r.stdout), stdout, "{name}: stdout");
        assert_eq!(r.exit_code, Some(0), "{name}: exit code");
        assert_eq!(r.cycles, cycles, "{name}: instructions executed");
        if qemu {
            let (q_out, q_code) = qemu_run(&elf, b"");
            assert_eq!(r.stdout, q_out, "{name}: stdout differs from qemu");
            assert_eq!(q_code, Some(0), "{name}: qemu exit code");
        }
    }
}
