//! Pictures: `inspect --svg` (the memory map), the rewrite's `--svg` (before and after),
//! `run --profile` (memory over the run), and what `--memlimit auto` says it shrank.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn tool(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nexus-relink"))
        .args(args)
        .output()
        .unwrap()
}

fn fixture(name: &str) -> std::path::PathBuf {
    common::fixtures().join(name)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn inspect_draws_the_map_it_prints() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("map.svg");
    let out = tool(&[
        "inspect".as_ref(),
        fixture("jolt_heap.elf").as_os_str(),
        "--svg".as_ref(),
        svg.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let s = read(&svg);
    assert!(s.starts_with("<svg"), "{s}");
    // The regions `inspect` lists, with the limit and the stack bounds it prints.
    for want in [
        "segment 1 (R-X)",
        "heap",
        "guard gap",
        "stack",
        "memory limit 0x400000",
        "0x300000",
        "0x400000 (end)",
    ] {
        assert!(s.contains(want), "{want} in {s}");
    }
    // A path that cannot be written: refused, nothing left behind, the text report not lost.
    let bad = dir.path().join("no/such/dir/map.svg");
    let out = tool(&[
        "inspect".as_ref(),
        fixture("jolt_heap.elf").as_os_str(),
        "--svg".as_ref(),
        bad.as_os_str(),
    ]);
    // Exit 1: "output path refused" (`inspect --help`).
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    assert!(!bad.exists());
}

#[test]
fn a_rewrite_draws_before_and_after_and_auto_says_what_it_shrank() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("rw.svg");
    let elf = dir.path().join("out.elf");
    let out = tool(&[
        fixture("jolt_heap.elf").as_os_str(),
        "--memlimit".as_ref(),
        "16M".as_ref(),
        "-o".as_ref(),
        elf.as_os_str(),
        "--svg".as_ref(),
        svg.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let s = read(&svg);
    assert!(s.contains("before: memory limit 0x400000"), "{s}");
    assert!(s.contains("after: memory limit 0x1000000"), "{s}");
    assert_eq!(s.matches("class=\"column\"").count(), 2);
    // `--memlimit auto` keeps only what the run used (plus the margin): it says so, and warns
    // where a region shrinks by more than 4x (jolt_heap's 1 MiB stack holds 24 bytes).
    let out = tool(&[
        fixture("jolt_heap.elf").as_os_str(),
        "--memlimit".as_ref(),
        "auto".as_ref(),
        "-o".as_ref(),
        elf.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--memlimit auto: stack 1 MiB -> 256 B"),
        "{err}"
    );
    assert!(
        err.contains("warning: the stack shrank 4096x") && err.contains("give --stack SIZE"),
        "{err}"
    );
}

#[test]
fn run_profile_plots_the_run_and_ends_as_run_does() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("profile.svg");
    let plain = tool(&["run".as_ref(), fixture("deep_recursion.elf").as_os_str()]);
    let out = tool(&[
        "run".as_ref(),
        fixture("deep_recursion.elf").as_os_str(),
        "--profile".as_ref(),
        svg.as_os_str(),
    ]);
    assert_eq!(out.status.code(), plain.status.code());
    assert_eq!(out.stdout, plain.stdout);
    let s = read(&svg);
    assert_eq!(s.matches("<polyline").count(), 3, "{s}");
    // deep_recursion's peak stack is what `run` reports (78.1 KiB), the heap unused.
    assert!(s.contains("stack depth: peak 78"), "{s}");
    assert!(s.contains("heap used: peak 0 B"), "{s}");
    assert!(s.contains("the run ended with exit code 0"), "{s}");
    // A fault ends the profile as it ends the run.
    let out = tool(&[
        "run".as_ref(),
        common::root()
            .join("tests/data/isa/p_env_fail.elf")
            .as_os_str(),
        "--profile".as_ref(),
        svg.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some((7 << 1) | 1));
    assert!(read(&svg).contains("exit code 15"));
}
