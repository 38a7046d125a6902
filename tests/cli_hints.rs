//! Overflow hints name the option that fixes them, sized so that following the hint once makes
//! the run pass (issue 20 item 3).

use std::path::Path;
use std::process::Command;

fn nexus(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nexus-relink"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
        .display()
        .to_string()
}

/// The options after `nexus-relink IN` in the hint line, up to `-o OUT`.
fn hinted_options(stderr: &str, input: &str) -> Vec<String> {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("nexus-relink: hint:"))
        .unwrap_or_else(|| panic!("no hint in: {stderr}"));
    let cmd = line
        .split_once(&format!("nexus-relink {input} "))
        .unwrap_or_else(|| panic!("the hint does not name the command and file: {line}"))
        .1;
    let opts = cmd
        .strip_suffix(" -o OUT")
        .expect("the hint ends with -o OUT");
    opts.split(' ').map(String::from).collect()
}

#[test]
fn a_4k_stack_overflow_hints_the_stack_size_that_makes_the_run_pass() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("deep_4k.elf").display().to_string();
    // deep_recursion's stack peaks near 80 KB: a 4 KiB stack overflows.
    let (code, _, err) = nexus(&[
        &fixture("deep_recursion.elf"),
        "--memlimit",
        "4M",
        "--stack",
        "4K",
        "-o",
        &small,
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = nexus(&["run", &small]);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("stack overflow"), "{err}");
    let opts = hinted_options(&err, &small);
    // The knob is --stack, not only a memory limit that would keep the 4 KiB stack.
    assert_eq!(opts, ["--memlimit", "4M", "--stack", "80K"], "{err}");

    // Following the hint once: the run passes, with the original's output.
    let fixed = dir.path().join("deep_fixed.elf").display().to_string();
    let mut args: Vec<&str> = vec![&small];
    args.extend(opts.iter().map(String::as_str));
    args.extend(["-o", &fixed]);
    let (code, _, err) = nexus(&args);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = nexus(&["run", &fixed]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("hint"), "{err}");
    let (_, want, _) = nexus(&["run", &fixture("deep_recursion.elf")]);
    assert_eq!(out, want);

    // --json carries the same fix.
    let (code, out, _) = nexus(&["run", &small, "--json"]);
    assert_eq!(code, 127);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["fix"]["args"], "--memlimit 4M --stack 80K");
    assert_eq!(v["fix"]["stack"], 80 * 1024);
    assert_eq!(v["fix"]["heap"], serde_json::Value::Null);
    assert!(v["fix"]["peak_stack_bytes"].as_u64().unwrap() > 4096);
}

#[test]
fn a_stack_that_no_longer_fits_the_limit_also_raises_the_memory_limit() {
    // A 64 KiB memory with a 4 KiB stack: an 80 KiB stack cannot fit without a larger limit.
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("deep_64k.elf").display().to_string();
    let (code, _, err) = nexus(&[
        &fixture("deep_recursion.elf"),
        "--memlimit",
        "128K",
        "--stack",
        "4K",
        "-o",
        &small,
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = nexus(&["run", &small]);
    assert_eq!(code, 127, "{err}");
    let opts = hinted_options(&err, &small);
    assert_eq!(opts[0], "--memlimit");
    assert_ne!(opts[1], "128K", "{err}");
    assert_eq!(opts[2], "--stack", "{err}");
    // At least the 79972 bytes the stack needs (more when the measuring run met the image:
    // the size is then raised until the rewritten guest runs).
    assert!(
        nexus_relink::size::parse_size(&opts[3]).unwrap() >= 79972,
        "{err}"
    );
    assert_eq!(opts.len(), 4, "{err}");
    let fixed = dir.path().join("deep_fixed.elf").display().to_string();
    let mut args: Vec<&str> = vec![&small];
    args.extend(opts.iter().map(String::as_str));
    args.extend(["-o", &fixed]);
    let (code, _, err) = nexus(&args);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = nexus(&["run", &fixed]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_run_that_does_not_overflow_has_no_fix() {
    let (code, out, _) = nexus(&["run", &fixture("linux_hello.elf"), "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["fix"], serde_json::Value::Null);
}

/// A guest whose memory starts at 0x20000000 (`layout/high_split`, heap and stack apart;
/// `--memlimit` counts from there): the hint gives
/// the size from the memory base, and following it once makes the run pass.
#[test]
fn a_hint_for_a_guest_with_a_high_memory_base_counts_from_the_base() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("high_small.elf").display().to_string();
    let src = fixture("layout/high_split.elf");
    // Its recursion peaks near 16 KB of stack: 4 KiB overflow.
    let (code, _, err) = nexus(&[&src, "--memlimit", "16M", "--stack", "4K", "-o", &small]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = nexus(&["run", &small]);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("stack overflow"), "{err}");
    let opts = hinted_options(&err, &small);
    assert_eq!(opts, ["--memlimit", "16M", "--stack", "16K"], "{err}");
    let fixed = dir.path().join("high_fixed.elf").display().to_string();
    let mut args: Vec<&str> = vec![&small];
    args.extend(opts.iter().map(String::as_str));
    args.extend(["-o", &fixed]);
    let (code, _, err) = nexus(&args);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = nexus(&["run", &fixed]);
    let (want_code, want, _) = nexus(&["run", &src]);
    assert_eq!((code, &out), (want_code, &want), "{err}");
    let (_, out, _) = nexus(&["run", &small, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["fix"]["args"], "--memlimit 16M --stack 16K");
}
