//! The Ray driver (`scripts/ray_prove.py`) on a local Ray cluster on this machine: a
//! multi-segment run proven as one Ray task per segment verifies and states what `prove`
//! states; a worker killed in the middle of a segment is retried; a corrupted segment proof is
//! found by `join` and proven again; private input is refused; nothing is written at `-o`
//! unless the joined proof verified.
//!
//! Needs Python with the pinned requirements (`pip install -r scripts/requirements.txt`).
//! Without them the tests say so and pass, unless `NEXUS_RELINK_REQUIRE_RAY=1` (CI sets it):
//! then they fail. `NEXUS_RELINK_PYTHON` names the interpreter (default `python3`).
//!
//! The cluster is started with `ray start --head` on a free port, usage statistics and token
//! authentication off (it serves this machine only), and stopped by a guard (`ray stop`), also
//! when a test fails. Each test has its own and they run one at a time.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

fn tool() -> &'static str {
    env!("CARGO_BIN_EXE_nexus-relink")
}

fn python() -> String {
    std::env::var("NEXUS_RELINK_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The environment every Ray process of these tests gets.
fn ray_env(c: &mut Command) -> &mut Command {
    c.env("RAY_USAGE_STATS_ENABLED", "0")
        .env("RAY_AUTH_MODE", "disabled")
        .env("PYTHONUNBUFFERED", "1")
}

/// Whether Python has Ray and tqdm; when not, whether that is a failure (CI) or a skip.
fn have_ray() -> bool {
    let ok = Command::new(python())
        .args(["-c", "import ray, tqdm"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("NEXUS_RELINK_REQUIRE_RAY").as_deref() != Ok("1"),
            "NEXUS_RELINK_REQUIRE_RAY=1 but `{} -c 'import ray, tqdm'` fails: pip install -r scripts/requirements.txt",
            python()
        );
        eprintln!(
            "skipped: Ray is not installed for {} (pip install -r scripts/requirements.txt)",
            python()
        );
    }
    ok
}

/// A `ray start --head` cluster of 2 CPUs, stopped on drop.
struct Cluster {
    address: String,
    ray: PathBuf,
}

impl Cluster {
    fn start() -> Cluster {
        let ray = which_ray();
        let port = free_port();
        let o = ray_env(&mut Command::new(&ray))
            .args([
                "start",
                "--head",
                "--port",
                &port.to_string(),
                "--num-cpus",
                "2",
                "--node-ip-address",
                "127.0.0.1",
                "--include-dashboard=false",
                "--disable-usage-stats",
            ])
            .output()
            .expect("ray start");
        let c = Cluster {
            address: format!("127.0.0.1:{port}"),
            ray,
        };
        assert!(
            o.status.success(),
            "ray start failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        c
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = ray_env(&mut Command::new(&self.ray))
            .args(["stop", "--force"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The `ray` command beside the interpreter that has the package.
fn which_ray() -> PathBuf {
    let o = Command::new(python())
        .args([
            "-c",
            "import sys, os; print(os.path.join(os.path.dirname(sys.executable), 'ray'))",
        ])
        .output()
        .expect("python");
    let p = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
    if p.is_file() {
        p
    } else {
        PathBuf::from("ray")
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The tests of this file run one at a time, each with its own cluster (stopped when the
/// test ends, also on failure).
fn cluster() -> (MutexGuard<'static, ()>, Cluster) {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    (guard, Cluster::start())
}

fn fixture(name: &str) -> PathBuf {
    common::fixtures().join(format!("{name}.elf"))
}

/// `scripts/ray_prove.py` with this build's binary, `--json -q`.
fn driver(args: &[&str]) -> Command {
    let mut c = Command::new(python());
    ray_env(&mut c)
        .arg(common::root().join("scripts/ray_prove.py"))
        .args(["--binary", tool(), "--json", "-q"])
        .args(args);
    c
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "one JSON object on stdout ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// `verify PROOF --elf ELF --json`, which must accept.
fn verified(proof: &Path, elf: &Path) -> Value {
    let o = Command::new(tool())
        .arg("verify")
        .arg(proof)
        .arg("--elf")
        .arg(elf)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "verify {}: {}",
        proof.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    json(&o)
}

/// The guest of these tests: 8,214 cycles, 9 segments of 1,024.
const GUEST: &str = "hoisted_bound";

#[test]
fn a_ray_cluster_proves_a_multi_segment_run_as_prove_does() {
    if !have_ray() {
        return;
    }
    let (_one_at_a_time, c) = cluster();
    let dir = tempfile::tempdir().unwrap();
    let elf = fixture(GUEST);
    let out = dir.path().join("ray.proof");
    let o = driver(&["--address", &c.address, "--segment-cycles", "1024", "-o"])
        .arg(&out)
        .arg(&elf)
        .output()
        .unwrap();
    let v = json(&o);
    assert!(
        o.status.success(),
        "{v}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let n = v["segments"].as_u64().unwrap();
    assert!(n >= 8, "{v}");
    assert_eq!(v["ray_tasks"], n, "one Ray task per segment: {v}");
    assert_eq!(v["retries"], 0, "{v}");
    assert_eq!(
        v["proof_bytes"].as_u64().unwrap(),
        std::fs::metadata(&out).unwrap().len()
    );
    // The same statement as `prove`'s for the same segment size.
    let plain = dir.path().join("plain.proof");
    let p = Command::new(tool())
        .args(["prove", "-q", "--segment-cycles", "1024"])
        .arg(&elf)
        .arg("-o")
        .arg(&plain)
        .output()
        .unwrap();
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let (ray, plain) = (verified(&out, &elf), verified(&plain, &elf));
    assert_eq!(ray, plain, "the Ray proof states what prove states");
    assert_eq!(ray["segments"], n);
    assert_eq!(ray["program_id"], v["program_id"]);
}

/// The processes of `prove-segment` started by the driver's tasks (the binary cached by
/// the worker), with their parent: the Ray worker.
fn segment_provers() -> Vec<(u32, u32)> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmd.split(|&b| b == 0).collect();
        let is_prover = args
            .first()
            .is_some_and(|a| String::from_utf8_lossy(a).contains("nexus-relink-ray"))
            && args.iter().any(|a| *a == b"prove-segment");
        if !is_prover {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: the fields after the last ')'.
        let rest = &stat[stat.rfind(')').unwrap_or(0) + 1..];
        let mut f = rest.split_whitespace();
        let state = f.next().unwrap_or("");
        if state == "Z" {
            continue;
        }
        if let Some(ppid) = f.next().and_then(|p| p.parse().ok()) {
            found.push((pid, ppid));
        }
    }
    found
}

/// Start the driver, SIGKILL the Ray worker of the first segment prover seen, and return
/// the driver's output.
fn kill_a_worker_during(mut c: Command) -> Output {
    let child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let mut killed = false;
    while t0.elapsed() < Duration::from_secs(120) {
        if let Some(&(_, worker)) = segment_provers().first() {
            let s = Command::new("kill")
                .args(["-9", &worker.to_string()])
                .status();
            killed = s.is_ok_and(|s| s.success());
            if killed {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = child.wait_with_output().unwrap();
    assert!(
        killed,
        "no segment prover was seen running: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn a_worker_killed_in_the_middle_of_a_segment_is_retried() {
    if !have_ray() {
        return;
    }
    let (_one_at_a_time, c) = cluster();
    let dir = tempfile::tempdir().unwrap();
    let elf = fixture(GUEST);
    let out = dir.path().join("p.proof");
    // Without retries, the run fails, names the segment, and writes nothing.
    let mut d = driver(&["--address", &c.address, "--segment-cycles", "2048"]);
    d.args(["--max-retries", "0", "-o"]).arg(&out).arg(&elf);
    let o = kill_a_worker_during(d);
    let v = json(&o);
    assert_eq!(o.status.code(), Some(1), "{v}");
    let err = v["error"].as_str().unwrap();
    assert!(err.contains("segment ") && err.contains("retries"), "{err}");
    assert!(!out.exists(), "nothing is written when a segment failed");
    // With retries (the default), the task runs again and the proof verifies.
    let mut d = driver(&["--address", &c.address, "--segment-cycles", "2048", "-o"]);
    d.arg(&out).arg(&elf);
    let o = kill_a_worker_during(d);
    let v = json(&o);
    assert!(
        o.status.success(),
        "{v}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(v["retries"].as_u64().unwrap() >= 1, "{v}");
    assert!(
        v["ray_tasks"].as_u64().unwrap() > v["segments"].as_u64().unwrap(),
        "{v}"
    );
    verified(&out, &elf);
}

#[test]
fn a_corrupted_segment_proof_is_found_at_join_and_proven_again() {
    if !have_ray() {
        return;
    }
    let (_one_at_a_time, c) = cluster();
    let dir = tempfile::tempdir().unwrap();
    let elf = fixture(GUEST);
    let out = dir.path().join("p.proof");
    let o = driver(&[
        "--address",
        &c.address,
        "--segment-cycles",
        "2048",
        "--inject-corrupt-segment",
        "1",
        "-o",
    ])
    .arg(&out)
    .arg(&elf)
    .output()
    .unwrap();
    let v = json(&o);
    assert!(
        o.status.success(),
        "{v}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(v["reproved"], serde_json::json!([1]), "{v}");
    assert_eq!(v["retries"], 1, "{v}");
    assert_eq!(v["ray_tasks"], v["segments"].as_u64().unwrap() + 1, "{v}");
    verified(&out, &elf);
}

#[test]
fn private_input_is_refused_by_name_before_any_cluster() {
    if !have_ray() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.bin");
    std::fs::write(&secret, [1, 2, 3, 4]).unwrap();
    let out = dir.path().join("p.proof");
    let o = driver(&["--private-input"])
        .arg(&secret)
        .arg("-o")
        .arg(&out)
        .arg(fixture(GUEST))
        .output()
        .unwrap();
    let v = json(&o);
    assert_eq!(o.status.code(), Some(1), "{v}");
    let err = v["error"].as_str().unwrap();
    assert!(
        err.contains("--private-input") && err.contains("nexus-relink prove"),
        "{err}"
    );
    assert!(!out.exists());
}
