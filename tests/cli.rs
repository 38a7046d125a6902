//! The command line: exit codes, JSON shapes, help.

mod common;
use common::*;
use std::process::Command;

fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nexus-relink"));
    c.current_dir(root());
    c
}

#[test]
fn run_passes_the_guest_exit_code_and_stdout() {
    let o = cli()
        .args(["run", "fixtures/linux_exit7.elf"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "exiting with 7\n");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cycles"),
        "summary on stderr"
    );
}

#[test]
fn run_fault_exits_nonzero_with_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("depth");
    std::fs::write(&input, "100000").unwrap();
    let o = cli()
        .args(["run", "fixtures/deep_recursion.elf", "--input"])
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(127), "run: a guest fault exits 127");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("fault: stack overflow"), "{err}");
    let o = cli()
        .args(["run", "--json", "fixtures/deep_recursion.elf", "--input"])
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(127));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["exit_code"].is_null());
    assert_eq!(v["fault"]["kind"], "stack_overflow");
    assert!(v["fault"]["pc"].is_u64() && v["fault"]["addr"].is_u64());
    assert!(v["fault"]["message"]
        .as_str()
        .unwrap()
        .contains("needed a memory limit of at least"));
    assert!(v["peak_stack_bytes"].as_u64().unwrap() >= 1 << 20);
}

#[test]
fn run_json_has_the_documented_fields() {
    for e in manifest() {
        let mut c = cli();
        c.args(["run", "--json"]).arg(e.elf());
        let dir = tempfile::tempdir().unwrap();
        let cfg = e.config();
        if !cfg.input.is_empty() {
            std::fs::write(dir.path().join("in"), &cfg.input).unwrap();
            c.arg("--input").arg(dir.path().join("in"));
        }
        if !cfg.private_input.is_empty() {
            std::fs::write(dir.path().join("priv"), &cfg.private_input).unwrap();
            c.arg("--private-input").arg(dir.path().join("priv"));
        }
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(e.expected_exit & 0xff), "{}", e.name);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["exit_code"], e.expected_exit, "{}", e.name);
        assert_eq!(v["stdout"], e.expected_stdout, "{}", e.name);
        assert!(v["fault"].is_null(), "{}", e.name);
        for k in ["cycles", "peak_stack_bytes", "peak_heap_bytes"] {
            assert!(v[k].is_u64(), "{}: {k}", e.name);
        }
    }
}

#[test]
fn inspect_json_has_the_documented_fields() {
    for e in manifest() {
        let o = cli()
            .args(["inspect", "--json"])
            .arg(e.elf())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", e.name);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        for k in [
            "memlimit",
            "stack_top",
            "stack_bottom",
            "heap_start",
            "heap_end",
        ] {
            assert!(v["layout"][k].is_u64(), "{}: layout.{k}", e.name);
        }
        assert_eq!(v["layout"]["stack_top"], e.stack_top, "{}", e.name);
        assert!(
            v["sp_init"]["kind"].is_string() && v["sp_init"]["at"].is_u64(),
            "{}",
            e.name
        );
        assert_eq!(v["sp_init"]["value"], e.stack_top, "{}", e.name);
        let text = cli().args(["inspect"]).arg(e.elf()).output().unwrap();
        let t = String::from_utf8_lossy(&text.stdout);
        assert!(
            t.contains("sp set-up") && t.contains('[') && t.contains("region"),
            "{}: {t}",
            e.name
        );
    }
}

#[test]
fn bad_input_files_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.elf");
    std::fs::write(&f, b"\x7fELF\x02\x01\x01").unwrap();
    // `run` gives the tool's own failures 125 (its 0-123 are the guest's exit codes).
    for (sub, code) in [(&["inspect"][..], 2), (&["run"][..], 125)] {
        let o = cli().args(sub).arg(&f).output().unwrap();
        assert_eq!(o.status.code(), Some(code), "{sub:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("truncated") || err.contains("ELF64"), "{err}");
    }
    let o = cli().args(["run", "no/such/file.elf"]).output().unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no/such/file.elf"));
}

#[test]
fn help_names_every_command() {
    let o = cli().arg("--help").output().unwrap();
    assert!(o.status.success());
    let h = String::from_utf8_lossy(&o.stdout);
    for w in [
        "inspect",
        "run",
        "linker-script",
        "prove",
        "verify",
        "--memlimit",
        "--dry-run",
        "--explain",
        "--force",
        "--in-place",
    ] {
        assert!(h.contains(w), "--help lacks {w}");
    }
    let o = cli().output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "no arguments: help and a usage error"
    );
}

#[test]
fn dry_run_and_explain_write_nothing_and_list_patches() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.elf");
    let o = cli()
        .args([
            "fixtures/medlow_fib.elf",
            "--memlimit",
            "16M",
            "--dry-run",
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(!out.exists());
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(
        t.contains("lui\tsp,0x400") && t.contains("lui\tsp,0x1000") && t.contains("dry run"),
        "{t}"
    );
    let o = cli()
        .args([
            "fixtures/medlow_fib.elf",
            "--memlimit",
            "16M",
            "--json",
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["new"]["stack_top"], 16 << 20);
    assert!(v["sites"].as_array().unwrap().len() >= 5);
    assert!(out.exists());
}

#[test]
fn an_unwritable_output_is_a_usage_error() {
    let o = cli()
        .args([
            "fixtures/linux_hello.elf",
            "--memlimit",
            "16M",
            "-o",
            "/nonexistent-dir/out.elf",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "refusing to write /nonexistent-dir/out.elf: the directory /nonexistent-dir does not exist"
        ),
        "{err}"
    );
}

#[test]
fn run_reads_standard_input_when_no_input_file_is_given() {
    use std::io::Write;
    let mut child = cli()
        .args(["run", "fixtures/linux_fib.elf"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"30\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("fib(30) = 832040"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn prove_then_verify_rewritten_guest() {
    let dir = tempfile::tempdir().unwrap();
    let elf = dir.path().join("fib.2M.elf");
    let proof = dir.path().join("fib.proof");
    let o = cli()
        .args(["fixtures/linux_fib.elf", "--memlimit", "2M", "-o"])
        .arg(&elf)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let input = dir.path().join("in");
    std::fs::write(&input, "30\n").unwrap();
    let o = cli()
        .args(["prove"])
        .arg(&elf)
        .arg("--input")
        .arg(&input)
        .arg("-o")
        .arg(&proof)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("kHz") && err.contains("proof") && err.contains("peak memory"),
        "{err}"
    );
    // The JSON summary.
    let proof2 = dir.path().join("fib2.proof");
    let o = cli()
        .args(["prove", "--json", "--segment-cycles", "128"])
        .arg(&elf)
        .arg("--input")
        .arg(&input)
        .arg("-o")
        .arg(&proof2)
        .output()
        .unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for k in [
        "cycles",
        "seconds",
        "khz",
        "proof_bytes",
        "peak_rss_bytes",
        "table_rows",
        "memlimit",
    ] {
        assert!(!v[k].is_null(), "prove --json lacks {k}");
    }
    assert_eq!(v["memlimit"], 2 << 20);
    assert_eq!(v["proof_bytes"], std::fs::metadata(&proof2).unwrap().len());
    // In segments of 128 cycles: the count, and per segment its cycles and times.
    let cycles = v["cycles"].as_u64().unwrap();
    assert_eq!(v["segment_cycles"], 128);
    assert_eq!(v["segments"].as_u64().unwrap(), cycles.div_ceil(128));
    let per = v["per_segment"].as_array().unwrap();
    assert_eq!(per.len() as u64, cycles.div_ceil(128));
    assert_eq!(
        per.iter()
            .map(|s| s["cycles"].as_u64().unwrap())
            .sum::<u64>(),
        cycles
    );
    assert!(per
        .iter()
        .all(|s| s["prove_seconds"].as_f64().unwrap() > 0.0
            && s["proof_bytes"].as_u64().unwrap() > 0));
    let o = cli()
        .args(["verify", "--json"])
        .arg(&proof2)
        .arg("--elf")
        .arg(&elf)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let w: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(w["segments"], v["segments"]);
    assert_eq!(w["cycles"].as_u64(), Some(cycles));
    // Valid, with and without the ELF.
    let o = cli()
        .arg("verify")
        .arg(&proof)
        .arg("--elf")
        .arg(&elf)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("valid proof") && err.contains("0x200000"),
        "{err}"
    );
    let o = cli()
        .args(["verify", "--json"])
        .arg(&proof)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["memlimit"], 2 << 20);
    assert_eq!(v["valid"], true);
    // Against the original (4 MiB) ELF: another memory limit.
    let o = cli()
        .arg("verify")
        .arg(&proof)
        .args(["--elf", "fixtures/linux_fib.elf"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("memory limit"), "{err}");
    // A flipped byte: rejected, one line.
    let mut b = std::fs::read(&proof).unwrap();
    let k = b.len() / 2;
    b[k] ^= 0x10;
    let bad = dir.path().join("bad.proof");
    std::fs::write(&bad, &b).unwrap();
    let o = cli().arg("verify").arg(&bad).output().unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&o.stderr).lines().count(), 1);
    // Not a proof file at all: a bad input (exit 2).
    let o = cli()
        .args(["verify", "fixtures/linux_fib.elf"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a proof file"));
}

#[test]
fn prove_refuses_a_faulting_run_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("depth");
    std::fs::write(&input, "100000").unwrap();
    let proof = dir.path().join("p.proof");
    let o = cli()
        .args(["prove", "-q", "fixtures/deep_recursion.elf", "--input"])
        .arg(&input)
        .arg("-o")
        .arg(&proof)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot prove") && err.contains("stack overflow"),
        "{err}"
    );
    assert!(!proof.exists());
}

#[test]
fn sizes_in_sentences_keep_their_detail() {
    // 0x80400000 is 2052 MiB, not "2.0 GiB".
    let o = cli()
        .args([
            "fixtures/medlow_fib.elf",
            "--memlimit",
            "0x80400000",
            "--dry-run",
        ])
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(t.contains("0x80400000 (2052 MiB)"), "{t}");
    assert!(!t.contains("2.0 GiB"), "{t}");
    // A run's peaks: in the largest exact unit, or with the bytes.
    let o = cli()
        .args(["run", "fixtures/medlow_fib.elf"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("peak stack ") && !e.contains(" B B"), "{e}");
}
