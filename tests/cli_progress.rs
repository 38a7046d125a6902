//! `-q` and `-v` on every command, and `run`'s progress line: shown on a terminal after about
//! a second, never when stderr is not a terminal or with `-q`.

mod common;
#[path = "../benches/guest/mod.rs"]
mod guest;

use common::*;
use nexus_relink::isa::{encode, Inst, Op};
use std::process::Command;

fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nexus-relink"));
    c.current_dir(root());
    c
}

const SHAPE: guest::Shape = guest::Shape {
    text: 0x1_0000,
    stack_top: 0x40_0000,
    stack_bottom: 0x30_0000,
};

/// A guest that loops until the cycle limit: `addi t0, t0, 1; jal x0, -4`.
fn endless(dir: &std::path::Path) -> std::path::PathBuf {
    let words = [
        encode(&Inst::addi(5, 5, 1)).unwrap(),
        encode(&Inst::new(Op::Jal, 0, 0, 0, -4)).unwrap(),
    ];
    let elf = dir.join("endless.elf");
    std::fs::write(&elf, guest::elf(&SHAPE, &words, &[])).unwrap();
    elf
}

#[test]
fn every_command_takes_q_and_v() {
    for sub in [
        "inspect",
        "run",
        "linker-script",
        "prove",
        "verify",
        "plan",
        "prove-segment",
        "join",
    ] {
        let help = cli().args([sub, "--help"]).output().unwrap();
        let h = String::from_utf8_lossy(&help.stdout);
        assert!(
            h.contains("-q, --quiet") && h.contains("-v, --verbose"),
            "{sub}: {h}"
        );
    }
    let h = cli().arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&h.stdout).contains("-q, --quiet"));
}

#[test]
fn quiet_drops_the_summary_and_keeps_the_result() {
    let o = cli()
        .args(["run", "-q", "fixtures/linux_exit7.elf"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "exiting with 7\n");
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Errors stay.
    let o = cli()
        .args(["run", "-q", "fixtures/missing.elf"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("error"));
    // -v on the rewrite shows the instructions, as --explain.
    let plain = cli()
        .args([
            "fixtures/medlow_fib.elf",
            "--memlimit",
            "16M",
            "-o",
            "/dev/null",
        ])
        .output()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let v = cli()
        .args(["fixtures/medlow_fib.elf", "--memlimit", "16M", "-v", "-o"])
        .arg(dir.path().join("o.elf"))
        .output()
        .unwrap();
    let v = String::from_utf8_lossy(&v.stdout);
    assert!(v.contains(" -> ") && v.len() > plain.stdout.len(), "{v}");
    let _ = plain;
}

#[test]
fn run_shows_cycles_and_rate_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let elf = endless(dir.path());
    // Not a terminal: the summary only.
    let o = cli()
        .args(["run", "--max-cycles", "400000000"])
        .arg(&elf)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(124));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("running:"), "{err}");
    if !have("script") {
        println!("skipped the terminal half: no `script` (util-linux) to give it a terminal");
        return;
    }
    // On a terminal (script(1) gives one): the running line appears after a second (the run
    // lasts several: about 3 s at the block engine's 500 M instructions/s on this loop).
    let bin = env!("CARGO_BIN_EXE_nexus-relink");
    let run = |extra: &str| {
        let o = Command::new("script")
            .args(["-qec"])
            .arg(format!(
                "{bin} run {extra} --max-cycles 1500000000 {}",
                elf.display()
            ))
            .arg("/dev/null")
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let t = run("");
    assert!(
        t.contains("running: ") && t.contains(" M/s"),
        "no progress line on a terminal: {t}"
    );
    let t = run("-q");
    assert!(!t.contains("running:"), "-q: {t}");
}

#[test]
fn prove_shows_the_segment_and_its_stage_on_a_terminal() {
    if !have("script") {
        println!("skipped: no `script` (util-linux) to give prove a terminal");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let proof = dir.path().join("fib.proof");
    let bin = env!("CARGO_BIN_EXE_nexus-relink");
    // medlow_fib: 213,951 cycles, two segments of 131071; -v adds a line per segment.
    let o = Command::new("script")
        .current_dir(root())
        .args(["-qec"])
        .arg(format!(
            "{bin} prove -v --segment-cycles 131071 fixtures/medlow_fib.elf -o {}",
            proof.display()
        ))
        .arg("/dev/null")
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(proof.exists(), "{t}");
    assert!(t.contains("segment 1 of 2: "), "{t}");
    assert!(
        ["trace", "commit", "quotient", "FRI/open"]
            .iter()
            .any(|s| t.contains(&format!("of 2: {s}"))),
        "no stage: {t}"
    );
    assert!(
        t.contains("segment 1 of 2 proven") && t.contains("segment 2 of 2 proven"),
        "-v: {t}"
    );
    for wrong in ["segment 0/", "segment 3 of 2", "proving segment 3"] {
        assert!(!t.contains(wrong), "{wrong}: {t}");
    }
}
