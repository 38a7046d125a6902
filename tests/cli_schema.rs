//! The `--json` contract (README "JSON output"): every command with `--json` prints exactly one
//! JSON object on stdout, on success and on failure, with a `schema` field, and that object
//! validates against the committed schema in `docs/schema/` (generated from the report types:
//! `schemas_in_docs_are_current` in `src/cli/json.rs`).

mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Output};

fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nexus-relink"));
    c.current_dir(root());
    c
}

fn schema(name: &str) -> serde_json::Value {
    let p = root().join(format!("docs/schema/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// The one JSON object on stdout (nothing before or after it).
fn object(o: &Output, what: &str) -> serde_json::Value {
    let text = String::from_utf8_lossy(&o.stdout);
    let mut de = serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>();
    let v = de
        .next()
        .unwrap_or_else(|| {
            panic!(
                "{what}: no JSON on stdout; stderr: {}",
                String::from_utf8_lossy(&o.stderr)
            )
        })
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
    assert!(de.next().is_none(), "{what}: more than one object: {text}");
    assert!(v.is_object(), "{what}: {v}");
    v
}

/// `v` is valid under `docs/schema/NAME.json` and names it.
fn check(v: &serde_json::Value, name: &str, what: &str) {
    let s = schema(name);
    let validator = jsonschema::validator_for(&s).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}\n{v:#}");
    assert_eq!(v["schema"], format!("nexus-relink/{name}/v1"), "{what}");
}

/// Run, and check the one object against the command's schema (success) or the error schema
/// (failure), whose `exit_code` must be the process's.
fn run_checked(c: &mut Command, command: &str, what: &str) -> (Output, serde_json::Value) {
    let o = c.output().unwrap();
    let v = object(&o, what);
    if o.status.success() {
        check(&v, command, what);
    } else {
        check(&v, "error", what);
        assert_eq!(v["command"], command, "{what}");
        assert_eq!(
            v["exit_code"].as_i64(),
            o.status.code().map(i64::from),
            "{what}"
        );
        assert!(!v["error"].as_str().unwrap().is_empty(), "{what}");
    }
    (o, v)
}

#[test]
fn successes_validate_against_their_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // rewrite (dry run and written), inspect of every kind of guest, run.
    run_checked(
        cli().args([
            "fixtures/medlow_fib.elf",
            "--memlimit",
            "16M",
            "--dry-run",
            "--json",
        ]),
        "rewrite",
        "rewrite --dry-run",
    );
    let (_, v) = run_checked(
        cli()
            .args([
                "fixtures/jolt_heap.elf",
                "--memlimit",
                "16M",
                "--json",
                "-o",
            ])
            .arg(d.join("j.elf")),
        "rewrite",
        "rewrite",
    );
    assert!(v["output"].is_string());
    for e in manifest() {
        run_checked(
            cli().args(["inspect", "--json"]).arg(e.elf()),
            "inspect",
            &format!("inspect {}", e.name),
        );
    }
    // A guest's exit is a success of the tool: the run report, with the guest's code.
    for (guest, code) in [
        ("fixtures/linux_exit7.elf", 7),
        ("fixtures/medlow_fib.elf", 0),
    ] {
        let o = cli().args(["run", "--json", guest]).output().unwrap();
        assert_eq!(o.status.code(), Some(code), "{guest}");
        check(&object(&o, guest), "run", guest);
    }
    // prove, verify, plan, prove-segment, join.
    let proof = d.join("p.proof");
    run_checked(
        cli()
            .args(["prove", "--json", "fixtures/linux_exit7.elf", "-o"])
            .arg(&proof),
        "prove",
        "prove",
    );
    let (_, v) = run_checked(
        cli().args(["verify", "--json"]).arg(&proof),
        "verify",
        "verify",
    );
    assert_eq!(v["stdout"], "exiting with 7\n");
    assert_eq!(v["stdout_hex"], hex(b"exiting with 7\n"));
    let jobs = d.join("jobs");
    let (_, plan) = run_checked(
        cli()
            .args([
                "plan",
                "--json",
                "fixtures/linux_exit7.elf",
                "--segment-cycles",
                "1K",
                "-d",
            ])
            .arg(&jobs),
        "plan",
        "plan",
    );
    let mut segs = Vec::new();
    for j in plan["jobs"].as_array().unwrap() {
        let seg = d.join(format!("s{}.proof", j["index"]));
        run_checked(
            cli()
                .args(["prove-segment", "--json", j["path"].as_str().unwrap(), "-o"])
                .arg(&seg),
            "prove-segment",
            "prove-segment",
        );
        segs.push(seg);
    }
    run_checked(
        cli()
            .args(["join", "--json"])
            .arg(jobs.join("statement.bin"))
            .args(&segs)
            .arg("-o")
            .arg(d.join("joined.proof")),
        "join",
        "join",
    );
}

#[test]
fn failures_print_one_error_object_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let not_elf = d.join("not.elf");
    std::fs::write(&not_elf, "hello\n").unwrap();
    let missing = d.join("missing.elf");
    let (x_proof, jobs, s_proof, j_proof) = (
        d.join("x.proof"),
        d.join("jobs"),
        d.join("s.proof"),
        d.join("j.proof"),
    );
    // Each failed without any stdout before (verify, the rewrite, inspect, prove, plan,
    // prove-segment) or with an object of its own shape (run, join).
    let cases: Vec<(&str, Vec<&std::ffi::OsStr>, i32)> = vec![
        (
            "rewrite",
            vec![
                not_elf.as_os_str(),
                "--memlimit".as_ref(),
                "16M".as_ref(),
                "--dry-run".as_ref(),
            ],
            2,
        ),
        (
            "rewrite",
            vec![
                "fixtures/medlow_fib.elf".as_ref(),
                "--memlimit".as_ref(),
                "4K".as_ref(),
                "--dry-run".as_ref(),
            ],
            1,
        ),
        ("inspect", vec!["inspect".as_ref(), missing.as_os_str()], 2),
        ("run", vec!["run".as_ref(), not_elf.as_os_str()], 125),
        (
            "prove",
            vec![
                "prove".as_ref(),
                not_elf.as_os_str(),
                "-o".as_ref(),
                x_proof.as_os_str(),
            ],
            2,
        ),
        ("verify", vec!["verify".as_ref(), not_elf.as_os_str()], 2),
        (
            "verify",
            vec!["verify".as_ref(), "fixtures/medlow_fib.elf".as_ref()],
            2,
        ),
        (
            "plan",
            vec![
                "plan".as_ref(),
                missing.as_os_str(),
                "-d".as_ref(),
                jobs.as_os_str(),
            ],
            2,
        ),
        (
            "prove-segment",
            vec![
                "prove-segment".as_ref(),
                not_elf.as_os_str(),
                "-o".as_ref(),
                s_proof.as_os_str(),
            ],
            2,
        ),
        (
            "join",
            vec![
                "join".as_ref(),
                not_elf.as_os_str(),
                not_elf.as_os_str(),
                "-o".as_ref(),
                j_proof.as_os_str(),
            ],
            2,
        ),
        // A command-line error is the error object too.
        (
            "prove",
            vec![
                "prove".as_ref(),
                "fixtures/medlow_fib.elf".as_ref(),
                "--segment-cycles".as_ref(),
                "-1".as_ref(),
                "-o".as_ref(),
                "x".as_ref(),
            ],
            1,
        ),
        (
            "rewrite",
            vec![
                "fixtures/medlow_fib.elf".as_ref(),
                "--memlimt".as_ref(),
                "16M".as_ref(),
            ],
            1,
        ),
        (
            "run",
            vec![
                "run".as_ref(),
                "fixtures/medlow_fib.elf".as_ref(),
                "--abi".as_ref(),
                "nexsu".as_ref(),
            ],
            125,
        ),
    ];
    for (command, args, code) in cases {
        let what = format!("{command} {args:?}");
        let (o, v) = run_checked(cli().args(&args).arg("--json"), command, &what);
        assert_eq!(o.status.code(), Some(code), "{what}: {v}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(v["error"].as_str().unwrap()),
            "{what}: the same message on stderr: {err}"
        );
    }
}

#[test]
fn bytes_are_hex_under_one_rule_in_run_and_verify() {
    // linux_exit7 writes "exiting with 7\n": text under `stdout`, exact under `stdout_hex`.
    let o = cli()
        .args(["run", "--json", "fixtures/linux_exit7.elf"])
        .output()
        .unwrap();
    let v = object(&o, "run");
    assert_eq!(v["stdout"], "exiting with 7\n");
    assert_eq!(v["stdout_hex"], hex(b"exiting with 7\n"));
    assert_eq!(v["public_output_hex"], "");
    for k in ["public_output", "tool_exit"] {
        assert!(v.get(k).is_none(), "no {k}: {v}");
    }
}

#[test]
fn enum_names_are_the_same_in_text_and_json() {
    let out = |args: &[&str]| {
        let o = cli().args(args).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let text = out(&["fixtures/medlow_fib.elf", "--memlimit", "16M", "--dry-run"]);
    let v: serde_json::Value = serde_json::from_str(&out(&[
        "fixtures/medlow_fib.elf",
        "--memlimit",
        "16M",
        "--dry-run",
        "--json",
    ]))
    .unwrap();
    for s in v["sites"].as_array().unwrap() {
        let (kind, conf) = (
            s["kind"].as_str().unwrap(),
            s["confidence"].as_str().unwrap(),
        );
        assert!(
            text.contains(&format!(" {kind} ")) && text.contains(&format!("[{conf}]")),
            "{kind} [{conf}] in {text}"
        );
    }
    assert!(
        !text.contains("HiLoPair") && !text.contains("[Exact]"),
        "{text}"
    );
}

#[test]
fn inspect_help_names_every_key_of_its_json() {
    let help = String::from_utf8_lossy(&cli().args(["inspect", "--help"]).output().unwrap().stdout)
        .replace(char::is_whitespace, "");
    let v = object(
        &cli()
            .args(["inspect", "--json", "fixtures/picolibc_printf.elf"])
            .output()
            .unwrap(),
        "inspect",
    );
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.extend(
        schema("inspect")["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned(),
    );
    for k in keys {
        assert!(help.contains(&k), "inspect --help does not name '{k}'");
    }
}

#[test]
fn the_committed_schemas_are_json_schemas() {
    for e in std::fs::read_dir(root().join("docs/schema")).unwrap() {
        let p = e.unwrap().path();
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert!(
            jsonschema::meta::is_valid(&s),
            "{}",
            Path::new(&p).display()
        );
    }
}
