//! The command line's safety rules: `-o` writes only a regular file or a new path, a killed
//! rewrite leaves no temporary file and no partial output, memory limits stop below the last
//! page, the VM's memory follows what the guest touches, and errors are one line.

mod common;
#[path = "../benches/guest/mod.rs"]
mod guest;

use common::*;
use nexus_relink::isa::{encode, split_hi_lo, Inst, Op};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const TEXT: u32 = 0x1_0000;
const SP: u8 = 2;
const A0: u8 = 10;
const A5: u8 = 15;
const A7: u8 = 17;

fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nexus-relink"));
    c.current_dir(root());
    c
}

/// Run to completion, or fail the test after `secs` (a regression that opens a FIFO for
/// writing would block forever).
fn output_within(mut c: Command, secs: u64) -> Output {
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            panic!("{c:?} did not finish in {secs} s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn w(i: Inst) -> u32 {
    encode(&i).unwrap()
}

/// `_start`: `sp` = the stack top (auipc + addi), then `body`, then `exit(a0)`.
fn guest_elf(stack_top: u32, stack_bottom: u32, body: &[u32]) -> Vec<u8> {
    let (hi, lo) = split_hi_lo(stack_top.wrapping_sub(TEXT));
    let mut t = vec![w(Inst::auipc(SP, hi << 12)), w(Inst::addi(SP, SP, lo))];
    t.extend_from_slice(body);
    t.push(w(Inst::addi(A7, 0, 93)));
    t.push(w(Inst::new(Op::Ecall, 0, 0, 0, 0)));
    let shape = guest::Shape {
        text: TEXT,
        stack_top,
        stack_bottom,
    };
    guest::elf(&shape, &t, &[])
}

/// One store at `_heap_end - 4` (through `lui`/`addi` of `_heap_end`, which a rewrite moves),
/// exit 0. Linked for 16 MiB with a 1 MiB stack.
fn one_store_guest() -> Vec<u8> {
    let heap_end = 0xf0_0000;
    let (hi, lo) = split_hi_lo(heap_end);
    guest_elf(
        0x100_0000,
        heap_end,
        &[
            w(Inst::lui(A5, hi << 12)),
            w(Inst::addi(A5, A5, lo)),
            w(Inst::store(Op::Sw, A0, A5, -4)),
            w(Inst::addi(A0, 0, 0)),
        ],
    )
}

/// A 4 MiB guest (a million ALU instructions): its rewrite takes long enough to be killed
/// while writing.
fn large_guest() -> Vec<u8> {
    let body: Vec<u32> = (0..1_000_000)
        .map(|k: i32| w(Inst::addi(A0 + (k % 4) as u8, A0, k % 1000)))
        .collect();
    guest_elf(0x100_0000, 0xf0_0000, &body)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".nexus-relink"))
        .collect()
}

/// A one-line error naming the path and what is there; exit 1.
fn assert_refused(o: &Output, what: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("refusing to write") && err.contains(what),
        "{what}: {err}"
    );
}

#[test]
fn output_onto_anything_but_a_regular_file_is_refused_and_left_untouched() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fifo = d.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let target = d.join("target.elf");
    std::fs::write(&target, b"the link's target").unwrap();
    let link = d.join("link.elf");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let sub = d.join("subdir");
    std::fs::create_dir(&sub).unwrap();
    let ro = d.join("ro.elf");
    std::fs::write(&ro, b"read-only").unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
    let sock = d.join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let cases: [(&Path, &str); 6] = [
        (&fifo, "a FIFO"),
        (&link, "a symbolic link"),
        (Path::new("/dev/null"), "a character device"),
        (&sub, "a directory"),
        (&ro, "a read-only file"),
        (&sock, "a socket"),
    ];
    for (path, what) in cases {
        let mut c = cli();
        c.args(["fixtures/linux_hello.elf", "--memlimit", "16M", "-o"])
            .arg(path);
        assert_refused(&output_within(c, 60), what);
        let mut c = cli();
        c.args(["prove", "-q", "fixtures/linux_hello.elf", "-o"])
            .arg(path);
        assert_refused(&output_within(c, 60), what);
    }
    // Everything is as it was.
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(std::fs::read_link(&link).unwrap(), target);
    assert_eq!(std::fs::read(&target).unwrap(), b"the link's target");
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    assert_eq!(std::fs::read_dir(&sub).unwrap().count(), 0);
    assert_eq!(std::fs::read(&ro).unwrap(), b"read-only");
    assert!(std::fs::symlink_metadata(&sock)
        .unwrap()
        .file_type()
        .is_socket());
    assert!(temp_files(d).is_empty());
    // A regular file is replaced, a new path created.
    for out in [d.join("new.elf"), target.clone()] {
        let mut c = cli();
        c.args(["fixtures/linux_hello.elf", "--memlimit", "16M", "-o"])
            .arg(&out);
        let o = output_within(c, 60);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(&std::fs::read(&out).unwrap()[..4], b"\x7fELF");
    }
    assert_eq!(std::fs::read_link(&link).unwrap(), target);
}

/// Kill rewrites of a large guest at spread-out moments: the output is always either the
/// previous file or the whole new one, and after the next complete run no temporary file of
/// this tool is left in the directory.
fn kill_loop(named_temp_files: bool) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = d.join("large.elf");
    std::fs::write(&input, large_guest()).unwrap();
    let out = d.join("out.elf");
    let rewrite = || {
        let mut c = cli();
        c.arg(&input)
            .args(["--memlimit", "64M", "-o"])
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if named_temp_files {
            c.env("NEXUS_RELINK_TMPFILE", "named");
        }
        c
    };
    // The shortest of three runs: on a loaded machine one run can take many times another, and
    // the kill schedule below must start early enough to catch runs in the act.
    let mut full = std::time::Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        assert!(rewrite().status().unwrap().success());
        full = full.min(start.elapsed());
    }
    let want = std::fs::read(&out).unwrap();
    let previous = b"a previous, different output".to_vec();
    let (mut killed, mut complete, mut left_behind) = (0, 0, 0);
    for k in 0..20u32 {
        // Half the runs replace a file, half create the path.
        if k % 2 == 0 {
            std::fs::write(&out, &previous).unwrap();
        } else {
            let _ = std::fs::remove_file(&out);
        }
        let mut child = rewrite().spawn().unwrap();
        // From the start-up to past the end of the write.
        std::thread::sleep(full * (k + 1) / 18);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
        match std::fs::read(&out) {
            Ok(b) if b == want => complete += 1,
            Ok(b) => assert_eq!(b, previous, "run {k}: a partial output"),
            Err(_) => assert!(k % 2 == 1, "run {k}: the previous output vanished"),
        }
        left_behind += temp_files(d).len();
    }
    eprintln!("kill loop (named: {named_temp_files}): full run {full:?}, {killed} killed, {complete} complete, {left_behind} temporary files seen between runs");
    assert!(killed >= 3, "only {killed} of 20 runs were killed");
    assert!(rewrite().status().unwrap().success());
    assert_eq!(std::fs::read(&out).unwrap(), want);
    assert_eq!(
        temp_files(d),
        Vec::<String>::new(),
        "after the next run ({killed} killed, {complete} complete, {left_behind} temporary files seen between runs)"
    );
    if !named_temp_files {
        // O_TMPFILE: only a kill in the instant between the link to the temporary name and
        // the rename can leave a name behind.
        assert!(left_behind <= 1, "{left_behind} temporary files seen");
    }
}

#[test]
fn a_killed_rewrite_leaves_no_temporary_file_and_no_partial_output() {
    kill_loop(false);
}

#[test]
fn a_killed_rewrite_with_named_temporary_files_leaves_none_after_the_next_run() {
    kill_loop(true);
}

fn write_guest(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn a_rewrite_to_the_largest_limit_runs_in_a_few_pages_and_4g_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_guest(dir.path(), "one_store.elf", &one_store_guest());
    let out = dir.path().join("top.elf");
    let o = cli()
        .arg(&input)
        .args(["--memlimit", "0xfffff000", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(
        report.contains("warning: the heap") && report.contains("over 2 GiB"),
        "{report}"
    );
    // It runs: one store at the new heap end - 4, under the new limit.
    let o = cli().args(["run", "--json"]).arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["peak_heap_bytes"], 0xffef_f000u64 - 0x1_1000);
    let resident = v["resident_bytes"].as_u64().unwrap();
    let rss = v["peak_rss_bytes"].as_u64().unwrap();
    eprintln!("one store at the heap end under 0xfffff000: {resident} bytes of guest memory, peak resident set {rss} bytes");
    assert!(resident <= 4 * 4096, "{resident} bytes of guest memory");
    assert!(rss < 100 << 20, "peak resident set {rss} bytes");
    // It proves, and the prover's memory does not follow the span either.
    let proof = dir.path().join("top.proof");
    let o = cli()
        .args(["prove", "--json"])
        .arg(&out)
        .arg("-o")
        .arg(&proof)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let prove_rss = v["peak_rss_bytes"].as_u64().unwrap();
    eprintln!("prove of the same: peak resident set {prove_rss} bytes");
    assert!(
        prove_rss < 256 << 20,
        "prove: peak resident set {prove_rss} bytes"
    );
    // The same layout without a rewrite: the 16 MiB original.
    let o = cli().args(["run"]).arg(&input).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Above the largest: refused at parse time, one line, nothing written.
    for limit in ["4G", "0xfffff001", "4294967295"] {
        let refused = dir.path().join("refused.elf");
        let o = cli()
            .arg(&input)
            .args(["--memlimit", limit, "-o"])
            .arg(&refused)
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("the largest memory limit is 0xfffff000"),
            "{limit}: {err}"
        );
        assert!(!refused.exists());
    }
    let o = cli()
        .args(["linker-script", "--memlimit", "4G"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("the largest memory limit is 0xfffff000"));
    let o = cli()
        .args(["linker-script", "--memlimit", "0xfffff000"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn memlimit_auto_on_a_guest_using_a_4_gib_heap_says_what_it_measured() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_guest(dir.path(), "one_store.elf", &one_store_guest());
    let top = dir.path().join("top.elf");
    assert!(cli()
        .arg(&input)
        .args(["--memlimit", "0xfffff000", "-o"])
        .arg(&top)
        .output()
        .unwrap()
        .status
        .success());
    let out = dir.path().join("auto.elf");
    let o = cli()
        .arg(&top)
        .args(["--memlimit", "auto", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("--memlimit auto: the run used")
            && err.contains("above the largest, 0xfffff000")
            && !err.contains("larger than the 4 GiB"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn negative_and_too_small_sizes_are_one_line_errors() {
    for args in [
        &["fixtures/linux_hello.elf", "--memlimit", "-1", "--dry-run"][..],
        &[
            "fixtures/linux_hello.elf",
            "--memlimit",
            "16M",
            "--stack",
            "-16",
            "--dry-run",
        ],
        &["linker-script", "--memlimit", "-1"],
        &["run", "fixtures/linux_hello.elf", "--max-cycles", "-1"],
    ] {
        let o = cli().args(args).output().unwrap();
        let err = stderr(&o);
        // `run` reports its own usage errors with 125, out of the guests' exit codes.
        let want = if args[0] == "run" { 125 } else { 1 };
        assert_eq!(o.status.code(), Some(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("-- -1") && !err.contains("tip"), "{err}");
    }
    let o = cli()
        .args(["fixtures/linux_hello.elf", "--memlimit", "-1", "--dry-run"])
        .output()
        .unwrap();
    assert!(stderr(&o).contains("cannot be negative"), "{}", stderr(&o));
    for (flag, value, want) in [
        ("--stack", "0", "at least 16 bytes"),
        ("--stack", "1", "at least 16 bytes"),
        ("--stack", "17", "use 16 or 32"),
        ("--heap", "8", "at least 16 bytes"),
        ("--heap", "100", "use 96 or 112"),
    ] {
        let o = cli()
            .args(["fixtures/linux_hello.elf", "--memlimit", "16M", "--dry-run"])
            .args([flag, value])
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{flag} {value}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{flag} {value}: {err}");
    }
    let o = cli()
        .args(["linker-script", "--memlimit", "16M", "--stack", "17"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("multiple of 16"), "{}", stderr(&o));
    // The smallest accepted stack works.
    let o = cli()
        .args([
            "fixtures/linux_hello.elf",
            "--memlimit",
            "16M",
            "--dry-run",
            "--stack",
            "16",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_defect_the_input_already_has_is_a_warning_not_a_failed_validation() {
    // linux_hello with its text PT_LOAD's p_align raised so that p_offset and p_vaddr no
    // longer agree modulo it: the file still parses, runs and inspects; the rewrite does not
    // touch that header.
    let (img, _) = load(&fixtures().join("linux_hello.elf"));
    let seg = img
        .loads()
        .find(|s| s.filesz > 0 && s.offset % 0x2_0000 != s.vaddr % 0x2_0000)
        .expect("a segment to misalign");
    let mut bytes = img.bytes.clone();
    let at = seg.hdr_offset + 28; // p_align
    bytes[at..at + 4].copy_from_slice(&0x2_0000u32.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let input = write_guest(dir.path(), "odd_align.elf", &bytes);
    assert!(cli()
        .arg("inspect")
        .arg(&input)
        .output()
        .unwrap()
        .status
        .success());
    let out = dir.path().join("out.elf");
    let o = cli()
        .arg(&input)
        .args(["--memlimit", "16M", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(
        report.contains("warning: the input already has this defect")
            && report.contains("differ modulo p_align"),
        "{report}"
    );
    let o = cli().arg("run").arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn errors_name_no_temporary_path() {
    // A write that fails in the output directory (read-only directory; root ignores the
    // mode, so use a path under /proc, which refuses new files).
    let o = cli()
        .args([
            "fixtures/linux_hello.elf",
            "--memlimit",
            "16M",
            "-o",
            "/proc/out.elf",
        ])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // Refused before any work: the directory cannot hold a new file.
    assert!(
        err.contains(
            "refusing to write /proc/out.elf: no file can be created in the directory /proc (the file system refuses new files there)"
        ),
        "{err}"
    );
    assert!(!err.contains(".nexus-relink"), "{err}");
}
