//! Errors a user meets first (issue 20, items 1, 2 and 9): each names the file and the argument
//! it was given as, says what the file is when it is not what was expected and what to do, in
//! one line; clap's suggestions survive; numbers out of range say so; exit codes per command.

mod common;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nexus-relink"));
    c.current_dir(common::root());
    c
}

fn run(args: &[&str]) -> Output {
    cli().args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// One line on stderr, containing every one of `want`; the exit code.
fn one_line_with(o: &Output, want: &[&str]) -> i32 {
    let err = stderr(o);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    for w in want {
        assert!(err.contains(w), "missing {w:?} in: {err}");
    }
    o.status.code().expect("an exit code")
}

/// A proof of `linux_exit7` (88 cycles, under a second) in a temporary directory.
fn proof(dir: &Path) -> PathBuf {
    let p = dir.join("exit7.proof");
    let o = cli()
        .args(["prove", "-q", "fixtures/linux_exit7.elf", "-o"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    p
}

/// The first 64 bytes of an ELF: class (1/2), data (1 LE, 2 BE), e_type, e_machine.
fn elf_header(class: u8, data: u8, e_type: u16, machine: u16) -> Vec<u8> {
    let mut b = vec![0u8; 64];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = class;
    b[5] = data;
    b[6] = 1;
    b[16..18].copy_from_slice(&e_type.to_le_bytes());
    b[18..20].copy_from_slice(&machine.to_le_bytes());
    b
}

#[test]
fn a_proof_file_given_as_a_guest_suggests_verify() {
    let dir = tempfile::tempdir().unwrap();
    let p = proof(dir.path());
    let ps = p.to_str().unwrap();
    // `run` gives the tool's failures 125; inspect and the rewrite 2 (a bad input file).
    for (args, code) in [
        (vec!["run", ps], 125),
        (vec!["inspect", ps], 2),
        (vec![ps, "--memlimit", "16M", "--dry-run"], 2),
    ] {
        let o = run(&args);
        let c = one_line_with(
            &o,
            &[
                &format!("{ps}: a nexus-relink proof file, not a guest ELF"),
                &format!("nexus-relink verify {ps}"),
            ],
        );
        assert_eq!(c, code, "{args:?}");
    }
    let o = run(&["prove", ps, "-o", dir.path().join("p2").to_str().unwrap()]);
    assert_eq!(
        one_line_with(&o, &[&format!("{ps}: a nexus-relink proof file"), "verify"]),
        2
    );
    // The files swapped: --elf names its argument and says what it takes.
    let o = run(&["verify", ps, "--elf", ps]);
    let c = one_line_with(
        &o,
        &[
            &format!("--elf {ps}: a nexus-relink proof file, not a guest ELF"),
            "--elf takes the guest ELF the proof is about",
        ],
    );
    assert_eq!(c, 1, "exit 2 is for PROOF not being a proof file");
    // An unusable --elf exits 1, not 2 ("not a proof file").
    let o = run(&["verify", ps, "--elf", "/dev/null"]);
    assert_eq!(
        one_line_with(&o, &["--elf /dev/null: an empty file, not an ELF file"]),
        1
    );
    let o = run(&["verify", ps, "--elf", "no/such.elf"]);
    assert_eq!(
        one_line_with(&o, &["--elf no/such.elf: no such file; check the path"]),
        1
    );
    // And the proof is valid against the right ELF.
    assert_eq!(
        run(&["verify", ps, "--elf", "fixtures/linux_exit7.elf"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn verify_of_what_is_not_a_proof_says_what_it_is_and_exits_2() {
    let o = run(&["verify", "fixtures/linux_exit7.elf"]);
    let c = one_line_with(
        &o,
        &[
            "fixtures/linux_exit7.elf: a RISC-V 32-bit (RV32) ELF32 executable, not a proof file",
            "nexus-relink prove fixtures/linux_exit7.elf -o PROOF",
        ],
    );
    assert_eq!(c, 2);
    let o = run(&["verify", "fixtures/README.md"]);
    assert_eq!(
        one_line_with(&o, &["fixtures/README.md: a text file, not a proof file"]),
        2
    );
    let o = run(&["verify", "no/such.proof"]);
    assert_eq!(one_line_with(&o, &["no/such.proof: no such file"]), 2);
}

#[test]
fn elfs_of_other_machines_and_kinds_are_named() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, what, next) in [
        (
            "ls",
            elf_header(2, 1, 3, 62),
            "an x86-64 ELF64 shared object or PIE (ET_DYN), not a RISC-V RV32 guest ELF",
            "built for RISC-V RV32",
        ),
        (
            "arm",
            elf_header(2, 1, 2, 183),
            "an AArch64 ELF64 executable, not a RISC-V RV32 guest ELF",
            "built for RISC-V RV32",
        ),
        (
            "rv64",
            elf_header(2, 1, 2, 243),
            "a RISC-V 64-bit (RV64) ELF64 executable, not a RISC-V RV32 guest ELF",
            "-march=rv32im -mabi=ilp32",
        ),
        (
            "lib.so",
            elf_header(1, 1, 3, 243),
            "a shared object or position-independent executable (ET_DYN)",
            "link the guest as a static executable",
        ),
        (
            "main.o",
            elf_header(1, 1, 1, 243),
            "an object file (ET_REL)",
            "link the guest first",
        ),
        (
            "notes.txt",
            b"#!/bin/sh\necho this is not a guest\n".to_vec(),
            "a text file, not an ELF file",
            "give the zkVM guest's ELF",
        ),
        (
            "empty",
            Vec::new(),
            "an empty file, not an ELF file",
            "give the zkVM guest's ELF",
        ),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, &bytes).unwrap();
        let ps = p.to_str().unwrap();
        let o = run(&["inspect", ps]);
        assert_eq!(
            one_line_with(&o, &[&format!("{ps}: "), what, next]),
            2,
            "{name}"
        );
    }
}

#[test]
fn input_files_are_named_with_their_argument() {
    let o = run(&["run", "fixtures/linux_fib.elf", "--input", "no/such/in.txt"]);
    assert_eq!(
        one_line_with(
            &o,
            &["--input no/such/in.txt: no such file; check the path"]
        ),
        125
    );
    let o = run(&[
        "prove",
        "fixtures/linux_fib.elf",
        "--private-input",
        "fixtures",
        "-o",
        "/tmp/never-written.proof",
    ]);
    assert_eq!(
        one_line_with(&o, &["--private-input fixtures: a directory, not a file"]),
        2
    );
    let o = run(&["inspect", "no/such/guest.elf"]);
    assert_eq!(one_line_with(&o, &["no/such/guest.elf: no such file"]), 2);
}

#[test]
fn names_from_files_and_paths_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    // A section name garbled into control bytes and invalid UTF-8.
    let mut b = std::fs::read(common::fixtures().join("jolt_heap.elf")).unwrap();
    let at = b.windows(7).position(|w| w == b".stack\0").unwrap();
    b[at..at + 6].copy_from_slice(b"\x1e\x13\xff\xfeck");
    let garbled = dir.path().join("garbled.elf");
    std::fs::write(&garbled, &b).unwrap();
    let o = cli()
        .arg(&garbled)
        .args(["--memlimit", "16M", "--dry-run", "--explain"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).expect("the report is UTF-8");
    assert!(
        out.contains("section \\x1e\\x13\\xff\\xfeck sh_addr"),
        "{out}"
    );
    assert!(!out.contains('\u{1e}'), "{out}");
    // A file name with a newline stays one line.
    let odd = dir.path().join("two\nlines.elf");
    std::fs::write(&odd, b"text").unwrap();
    let o = cli().arg("inspect").arg(&odd).output().unwrap();
    assert_eq!(one_line_with(&o, &["two\\x0alines.elf: a text file"]), 2);
}

#[test]
fn decoder_errors_are_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let p = proof(dir.path());
    let bytes = std::fs::read(&p).unwrap();
    let len = u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
    let edited = dir.path().join("edited.proof");
    let mut decoded = 0;
    // Every third byte of the statement, flipped two ways: damaged, never postcard's words.
    for pos in (20..20 + len.min(300)).step_by(3) {
        for flip in [0xff, 0x80] {
            let mut b = bytes.clone();
            b[pos] ^= flip;
            std::fs::write(&edited, &b).unwrap();
            let o = cli().arg("verify").arg(&edited).output().unwrap();
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(1), "byte {pos}: {err}");
            assert!(
                err.contains(&format!("{}: proof rejected", edited.display())),
                "{err}"
            );
            for internal in [
                "discriminant",
                "Serde",
                "varint",
                "Deserializ",
                "Found a",
                "Some(",
            ] {
                assert!(!err.contains(internal), "byte {pos}: {err}");
            }
            decoded += usize::from(err.contains("the statement cannot be decoded: "));
        }
    }
    assert!(decoded > 10, "flips that break the encoding: {decoded}");
}

#[test]
fn an_output_directory_that_cannot_be_written_is_refused_before_any_work() {
    // sysfs refuses new files even to root (a chmod'ed directory would not stop root).
    let o = run(&["prove", "fixtures/medlow_fib.elf", "-o", "/sys/fib.proof"]);
    let c = one_line_with(
        &o,
        &["refusing to write /sys/fib.proof: no file can be created in the directory /sys"],
    );
    assert_eq!(c, 1);
    assert!(!stderr(&o).contains("proved"), "nothing was proven");
    let o = run(&[
        "fixtures/medlow_fib.elf",
        "--memlimit",
        "16M",
        "-o",
        "/sys/fib.elf",
    ]);
    assert_eq!(
        one_line_with(
            &o,
            &["refusing to write /sys/fib.elf: no file can be created"]
        ),
        1
    );
    // Without root, a directory without write permission is refused the same way.
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let probe = std::fs::File::create(ro.join("probe")).is_ok();
    let out = ro.join("fib.elf");
    let o = cli()
        .args(["fixtures/medlow_fib.elf", "--memlimit", "16M", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    if probe {
        // Root: the mode does not stop it, so the rewrite is written.
        assert!(o.status.success(), "{}", stderr(&o));
    } else {
        assert_eq!(
            one_line_with(
                &o,
                &[
                    "no file can be created in the directory",
                    "permission denied"
                ]
            ),
            1
        );
    }
}

#[test]
fn negative_and_oversized_numbers_are_one_clear_line() {
    let e = "fixtures/linux_exit7.elf";
    for (args, code, want) in [
        (
            vec!["prove", e, "-o", "/tmp/x.proof", "--prover-memory", "-1"],
            1,
            "--prover-memory <SIZE>: invalid size '-1': a size cannot be negative",
        ),
        (
            vec!["prove", e, "-o", "/tmp/x.proof", "--segment-cycles", "-1"],
            1,
            "--segment-cycles <N>: invalid cycle count '-1': it cannot be negative",
        ),
        (
            vec!["run", e, "--max-cycles", "-1"],
            125,
            "--max-cycles <N>: invalid cycle count '-1': it cannot be negative",
        ),
        (
            vec!["run", e, "--max-cycles", "99999999999999999999999"],
            125,
            "--max-cycles <N>: invalid cycle count '99999999999999999999999': too large",
        ),
        (
            vec![e, "--memlimit", "99999999999999999999", "--dry-run"],
            1,
            "--memlimit <SIZE|auto>: size '99999999999999999999' is larger than the 4 GiB RV32 address space",
        ),
        (
            vec![e, "--memlimit", "auto", "--margin", "-5", "--dry-run"],
            1,
            "--margin <PCT>: invalid margin '-5': it cannot be negative",
        ),
        (
            vec!["linker-script", "--memlimit", "16M", "--stack", "-16"],
            1,
            "--stack <SIZE>: invalid size '-16': a size cannot be negative",
        ),
    ] {
        let o = run(&args);
        assert_eq!(one_line_with(&o, &[want]), code, "{args:?}");
        assert!(!stderr(&o).contains("-- -1"), "no clap tip");
    }
}

#[test]
fn clap_suggestions_and_unknown_subcommands() {
    let o = run(&["inspct", "fixtures/medlow_fib.elf"]);
    assert_eq!(
        one_line_with(
            &o,
            &["unknown subcommand 'inspct'; did you mean 'inspect'?"]
        ),
        1
    );
    let o = run(&["verfy", "x.proof"]);
    one_line_with(&o, &["unknown subcommand 'verfy'; did you mean 'verify'?"]);
    let o = run(&["frobnicate"]);
    one_line_with(
        &o,
        &["unknown subcommand 'frobnicate', and no file of that name (the subcommands: inspect, run, linker-script, prove, verify, plan, prove-segment, join, completions, man, help)"],
    );
    // clap's `help` subcommand is a subcommand.
    let o = run(&["help", "prove"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Usage: nexus-relink prove"));
    let o = run(&["fixtures/medlow_fib.elf", "--memlimt", "16M", "-o", "x"]);
    assert_eq!(
        one_line_with(
            &o,
            &["unknown option '--memlimt'; did you mean '--memlimit'? See 'nexus-relink --help'"]
        ),
        1
    );
    let o = run(&["run", "fixtures/medlow_fib.elf", "--max-cycle", "5"]);
    assert_eq!(
        one_line_with(
            &o,
            &["did you mean '--max-cycles'? See 'nexus-relink run --help'"]
        ),
        125
    );
    let o = run(&["run", "fixtures/medlow_fib.elf", "--abi", "linux"]);
    one_line_with(
        &o,
        &[
            "invalid value 'linux' for --abi <ABI>",
            "did you mean 'linux-rv32'?",
        ],
    );
}

#[test]
fn help_is_wrapped_and_says_what_the_readme_says() {
    for sub in [
        &[][..],
        &["inspect"],
        &["run"],
        &["linker-script"],
        &["prove"],
        &["verify"],
    ] {
        let o = cli().args(sub).arg("--help").output().unwrap();
        assert!(o.status.success());
        let h = String::from_utf8(o.stdout).unwrap();
        for l in h.lines() {
            assert!(l.chars().count() <= 100, "{sub:?}: {} chars: {l}", l.len());
        }
        assert!(h.contains("Exit codes:"), "{sub:?}");
    }
    // The help's words, whatever the wrapping.
    let words = |args: &[&str]| {
        let h = String::from_utf8(run(args).stdout).unwrap();
        h.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let h = words(&["prove", "--help"]);
    assert!(h.contains("About 4× the proving time and memory"), "{h}");
    let h = words(&["verify", "--help"]);
    assert!(
        h.contains("2 PROOF is unreadable or not a proof file")
            && h.contains("--elf is unreadable or not"),
        "{h}"
    );
}

#[test]
fn json_help_names_every_key_of_the_output() {
    for (cmd, elf) in [
        ("inspect", "fixtures/jolt_heap.elf"),
        ("inspect", "fixtures/layout/below_program.elf"),
        ("run", "fixtures/linux_exit7.elf"),
    ] {
        let help = String::from_utf8(run(&[cmd, "--help"]).stdout).unwrap();
        let words: Vec<&str> = help
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        let o = run(&[cmd, "--json", elf]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        for key in v.as_object().unwrap().keys() {
            assert!(words.contains(&key.as_str()), "{cmd} --help lacks {key}");
        }
        if let Some(map) = v.get("map").and_then(|m| m.as_object()) {
            for key in map.keys() {
                assert!(
                    words.contains(&key.as_str()),
                    "{cmd} --help lacks map.{key}"
                );
            }
        }
    }
}

/// Memory sizes in prover refusals keep their detail (issue 20 item 6): a 10 MiB budget is not
/// "0.0 GiB", and a budget too small for any segment says so instead of "at most 0 cycles".
#[test]
fn prover_memory_refusals_state_sizes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.proof").display().to_string();
    let o = run(&[
        "prove",
        "-q",
        "fixtures/linux_hello.elf",
        "--prover-memory",
        "10M",
        "-o",
        &out,
    ]);
    let code = one_line_with(
        &o,
        &[
            "fixtures/linux_hello.elf: cannot prove: the 10 MiB of memory available to the prover is too small for a segment of even one cycle",
            "raise --prover-memory",
        ],
    );
    assert_eq!(code, 1);
    let err = stderr(&o);
    assert!(
        !err.contains("0.0 GiB") && !err.contains("at most 0 cycles"),
        "{err}"
    );
    // A budget that holds some segments names the cap and the budget exactly.
    let o = run(&[
        "prove",
        "-q",
        "fixtures/medlow_fib.elf",
        "--prover-memory",
        "300M",
        "-o",
        &out,
    ]);
    let code = one_line_with(
        &o,
        &[
            "a segment of 213951 cycles needs more than the 300 MiB of memory available to the prover; with it a segment holds at most 65535 cycles",
        ],
    );
    assert_eq!(code, 1);
    assert!(!Path::new(&out).exists());
}
