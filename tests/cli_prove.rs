//! `prove` and `verify` from the command line: a guest that does not exit, or a segment
//! larger than the memory budget allows, is refused before anything is proven; damaged proof files are invalid proofs (exit 1),
//! only an unreadable header is "not a proof file" (exit 2); failures are one line in words.

mod common;
#[path = "../benches/guest/mod.rs"]
mod guest;

use nexus_relink::isa::{encode, Inst, Op};
use std::process::Command;

fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nexus-relink"));
    c.current_dir(common::root());
    c
}

const SHAPE: guest::Shape = guest::Shape {
    text: 0x1_0000,
    stack_top: 0x40_0000,
    stack_bottom: 0x30_0000,
};

fn one_line(s: &str) -> bool {
    s.trim_end().lines().count() == 1
}

#[test]
fn an_endless_guest_stops_at_the_cycle_limit_before_anything_is_proven() {
    // A loop with no exit: `addi t0, t0, 1; jal x0, -4`.
    let words = [
        encode(&Inst::addi(5, 5, 1)).unwrap(),
        encode(&Inst::new(Op::Jal, 0, 0, 0, -4)).unwrap(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let elf = dir.path().join("endless.elf");
    std::fs::write(&elf, guest::elf(&SHAPE, &words, &[])).unwrap();
    let proof = dir.path().join("endless.proof");
    let o = cli()
        .args(["prove", "-q", "--max-cycles", "3000000"])
        .arg(&elf)
        .arg("-o")
        .arg(&proof)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("did not exit"), "{err}");
    assert!(err.contains("cycle limit of 3000000"), "{err}");
    assert!(one_line(&err), "{err}");
    assert!(!proof.exists());
}

#[test]
fn a_segment_larger_than_the_memory_budget_is_refused_before_proving() {
    // 3,000,004 cycles: `li t0, 1500000; addi t0, t0, -1; bne t0, x0, -4; exit`.
    let (hi, lo) = nexus_relink::isa::split_hi_lo(1_500_000);
    let words = [
        encode(&Inst::lui(5, hi << 12)).unwrap(),
        encode(&Inst::addi(5, 5, lo)).unwrap(),
        encode(&Inst::addi(5, 5, -1)).unwrap(),
        encode(&Inst::new(Op::Bne, 0, 5, 0, -4)).unwrap(),
        encode(&Inst::addi(17, 0, 93)).unwrap(),
        encode(&Inst::new(Op::Ecall, 0, 0, 0, 0)).unwrap(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let elf = dir.path().join("long.elf");
    std::fs::write(&elf, guest::elf(&SHAPE, &words, &[])).unwrap();
    let proof = dir.path().join("long.proof");
    let refused = |mem: &str| {
        let o = cli()
            .args([
                "prove",
                "-q",
                "--segment-cycles",
                "4M",
                "--prover-memory",
                mem,
            ])
            .arg(&elf)
            .arg("-o")
            .arg(&proof)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("a segment of 3000004 cycles"), "{err}");
        assert!(err.contains("lower --segment-cycles"), "{err}");
        assert!(one_line(&err), "{err}");
        assert!(!proof.exists());
        err
    };
    let err = refused("2G");
    // The cap follows the budget: a smaller budget gives a smaller cap, named in the message.
    let small = refused("512M");
    let cap = |s: &str| -> u64 {
        s.split("at most ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap()
    };
    assert!(cap(&small) < cap(&err), "{small} / {err}");
    // A segment size of zero, past 2^25, or not a number is a usage error (exit 1).
    for bad in ["0", "64M", "lots"] {
        let o = cli()
            .args(["prove", "-q", "--segment-cycles", bad])
            .arg(&elf)
            .arg("-o")
            .arg(&proof)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{bad}: {err}");
        assert!(err.contains("--segment-cycles") && one_line(&err), "{err}");
    }
}

#[test]
fn damaged_proofs_are_invalid_and_headers_are_not_proof_files() {
    let dir = tempfile::tempdir().unwrap();
    let proof = dir.path().join("exit7.proof");
    let o = cli()
        .args(["prove", "-q", "fixtures/linux_exit7.elf", "-o"])
        .arg(&proof)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let bytes = std::fs::read(&proof).unwrap();
    let verify = |b: &[u8], elf: bool| {
        let p = dir.path().join("edited.proof");
        std::fs::write(&p, b).unwrap();
        let mut c = cli();
        c.arg("verify").arg(&p);
        if elf {
            c.args(["--elf", "fixtures/linux_exit7.elf"]);
        }
        let o = c.output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    assert_eq!(verify(&bytes, true).0, Some(0));
    // Bytes of the STARK part: an invalid proof (exit 1), never "not a proof file", never a
    // Rust debug dump.
    let n = bytes.len();
    for k in 0..24 {
        let pos = n / 2 + k * (n / 2 - 1) / 24;
        let mut b = bytes.clone();
        b[pos] ^= 0x10;
        let (code, err) = verify(&b, false);
        assert_eq!(code, Some(1), "byte {pos}: {err}");
        assert!(one_line(&err), "{err}");
        assert!(
            !err.contains("Some(") && !err.contains("InputError"),
            "{err}"
        );
    }
    // The header: exit 2.
    let mut b = bytes.clone();
    b[0] = b'X';
    let (code, err) = verify(&b, false);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not a proof file"), "{err}");
    // A version 1 file: refused by name.
    let mut b = bytes.clone();
    b[8..12].copy_from_slice(&1u32.to_le_bytes());
    let (code, err) = verify(&b, false);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("version 1"), "{err}");
    // The ABI is compared with the one detected from the ELF: a guest whose calls read as
    // Nexus (two `0x201` exits before a linux `exit(1)`), proven as linux-rv32.
    let ecall = encode(&Inst::new(Op::Ecall, 0, 0, 0, 0)).unwrap();
    let li = |rd: u8, v: i32| encode(&Inst::addi(rd, 0, v)).unwrap();
    let words = [
        li(17, 0x201),
        li(10, 0),
        ecall,
        li(17, 0x201),
        ecall,
        li(17, 93),
        li(10, 1),
        ecall,
    ];
    let elf = dir.path().join("two_abis.elf");
    std::fs::write(&elf, guest::elf(&SHAPE, &words, &[])).unwrap();
    let run = cli().arg("run").arg(&elf).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "detected as nexus: exit 0");
    let other = dir.path().join("linux.proof");
    let o = cli()
        .args(["prove", "-q", "--abi", "linux-rv32"])
        .arg(&elf)
        .arg("-o")
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = cli().arg("verify").arg(&other).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "valid as a statement about linux-rv32"
    );
    let o = cli()
        .arg("verify")
        .arg(&other)
        .arg("--elf")
        .arg(&elf)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("linux-rv32 ABI, the ELF's is nexus"), "{err}");
}

/// `prove --zk`: the summary and `verify` (text and JSON) say zero-knowledge; without `--zk`
/// they say it is not; damaged zk proofs are invalid proofs in one line.
#[test]
fn prove_zk_is_reported_by_prove_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let run = |zk: bool| {
        let proof = dir.path().join(format!("exit7-{zk}.proof"));
        let mut c = cli();
        c.args(["prove", "--json", "fixtures/linux_exit7.elf", "-o"])
            .arg(&proof);
        if zk {
            c.arg("--zk");
        }
        let o = c.output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["zk"], serde_json::json!(zk), "{v}");
        let o = cli()
            .args(["verify", "--json"])
            .arg(&proof)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            (v["zk"].clone(), v["valid"].clone()),
            (serde_json::json!(zk), serde_json::json!(true))
        );
        let o = cli()
            .arg("verify")
            .arg(&proof)
            .args(["--elf", "fixtures/linux_exit7.elf"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0));
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        let want = if zk {
            "zero-knowledge: yes"
        } else {
            "zero-knowledge: no"
        };
        assert!(err.contains(want), "{err}");
        std::fs::read(&proof).unwrap()
    };
    let plain = run(false);
    let zk = run(true);
    assert!(zk.len() > plain.len());
    let p = dir.path().join("edited.proof");
    let n = zk.len();
    for k in 0..6 {
        let pos = n / 2 + k * (n / 2 - 1) / 6;
        let mut b = zk.clone();
        b[pos] ^= 0x10;
        std::fs::write(&p, &b).unwrap();
        let o = cli().arg("verify").arg(&p).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(1), "byte {pos}: {err}");
        assert!(one_line(&err), "{err}");
    }
}

/// With `--private-input` the proof is zero-knowledge unless `--no-zk` says otherwise.
#[test]
fn a_private_input_makes_the_proof_zero_knowledge_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"hello").unwrap();
    let zk_of = |extra: &[&str]| {
        let proof = dir.path().join("io.proof");
        let o = cli()
            .args(["prove", "--json", "fixtures/nexus_io.elf", "-o"])
            .arg(&proof)
            .arg("--private-input")
            .arg(&secret)
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["zk"].as_bool().expect("zk field")
    };
    assert!(zk_of(&[]));
    assert!(!zk_of(&["--no-zk"]));
    assert!(zk_of(&["--zk"]));
    let o = cli()
        .args([
            "prove",
            "fixtures/nexus_io.elf",
            "-o",
            "/nonexistent/x",
            "--zk",
            "--no-zk",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "--zk and --no-zk conflict");
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(one_line(&err) && err.contains("--no-zk"), "{err}");
}

/// One program identity (64 hex digits) across `inspect`, `prove` and `verify`: `verify`
/// without `--elf` prints it first and says it is the value to compare.
#[test]
fn the_program_identity_is_one_value_across_inspect_prove_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let proof = dir.path().join("exit7.proof");
    let json = |args: &[&str], extra: &std::path::Path| -> serde_json::Value {
        let o = cli().args(args).arg(extra).output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let elf = std::path::Path::new("fixtures/linux_exit7.elf");
    let id = json(&["inspect", "--json"], elf)["program_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 64);
    let o = cli()
        .args(["prove", "--json", "fixtures/linux_exit7.elf", "-o"])
        .arg(&proof)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["program_id"].as_str(), Some(id.as_str()));
    assert_eq!(
        json(&["verify", "--json"], &proof)["program_id"].as_str(),
        Some(id.as_str())
    );
    let o = cli().arg("verify").arg(&proof).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let first = err.lines().next().unwrap();
    assert!(first.contains(&id), "{err}");
    assert!(err.contains("compare that identity"), "{err}");
    for field in ["tohost", "regions", "initial break", "stderr"] {
        assert!(err.contains(field), "the summary states {field}: {err}");
    }
    let text = cli().arg("inspect").arg(elf).output().unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains(&format!("program identity: {id}")));
}

/// Self-modifying code: `verify` states the instruction words the run wrote, in its summary and
/// in `--json` (`code_written`); a proof without them says nothing of the kind.
#[test]
fn verify_states_the_instruction_words_the_run_wrote() {
    let dir = tempfile::tempdir().unwrap();
    for (elf, written) in [
        ("tests/data/isa/p_env_pass.elf", Some(0x8000_013cu64)),
        ("tests/data/isa/p_env_nosmc_pass.elf", None),
    ] {
        let proof = dir.path().join("p.proof");
        let o = cli()
            .args(["prove", elf, "-o"])
            .arg(&proof)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{elf}");
        let o = cli()
            .args(["verify", "--json"])
            .arg(&proof)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let listed: Vec<u64> = v["code_written"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_u64().unwrap())
            .collect();
        assert_eq!(listed, written.into_iter().collect::<Vec<_>>(), "{elf}");
        let o = cli().arg("verify").arg(&proof).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            err.contains("instruction words written (self-modifying code): 0x8000013c"),
            written.is_some(),
            "{elf}: {err}"
        );
    }
}
