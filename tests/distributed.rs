//! `plan`, `prove-segment` and `join` (issue 21): proving the jobs one by one and joining gives
//! the proof `prove` gives (same statement, same segment metas) and `verify --elf` accepts it;
//! `join` refuses missing, duplicated, foreign and invalid segments by name and writes
//! nothing; `prove-segment` refuses a job of another format or whose start state the guest
//! does not reach.

mod common;

use nexus_relink::prove::{ProofFile, SegmentJob};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// linux_fib runs 352 cycles: 4 segments of 100 (the last 52), about half a second each.
const ELF: &str = "fixtures/linux_fib.elf";
const SEG: &str = "100";

fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nexus-relink"));
    c.current_dir(common::root());
    c
}

fn ok(o: &Output) -> &Output {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON object ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

/// Plan `elf` in segments of `seg` cycles into `dir` and prove every job: the plan's JSON
/// and the segment proofs' paths.
fn plan_and_prove(elf: &str, seg: &str, dir: &Path) -> (serde_json::Value, Vec<PathBuf>) {
    let o = cli()
        .args(["plan", elf, "--segment-cycles", seg, "--json", "-d"])
        .arg(dir)
        .output()
        .unwrap();
    let plan = json(ok(&o));
    let mut proofs = Vec::new();
    for j in plan["jobs"].as_array().unwrap() {
        let job = PathBuf::from(j["path"].as_str().unwrap());
        let out = job.with_extension("proof");
        let o = cli()
            .arg("prove-segment")
            .arg(&job)
            .arg("-o")
            .arg(&out)
            .arg("--json")
            .output()
            .unwrap();
        let v = json(ok(&o));
        assert_eq!(v["index"], j["index"]);
        assert_eq!(v["cycles"], j["cycles"]);
        assert_eq!(
            v["proof_bytes"].as_u64().unwrap(),
            std::fs::metadata(&out).unwrap().len()
        );
        assert!(v["seconds"].as_f64().is_some());
        proofs.push(out);
    }
    (plan, proofs)
}

struct Planned {
    _dir: tempfile::TempDir,
    root: PathBuf,
    plan: serde_json::Value,
    proofs: Vec<PathBuf>,
}

/// linux_fib planned and proven once for all tests here.
fn fib() -> &'static Planned {
    static P: OnceLock<Planned> = OnceLock::new();
    P.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let (plan, proofs) = plan_and_prove(ELF, SEG, &root.join("fib"));
        Planned {
            _dir: dir,
            root,
            plan,
            proofs,
        }
    })
}

fn statement() -> PathBuf {
    PathBuf::from(fib().plan["statement"].as_str().unwrap())
}

/// `join STATEMENT SEGS... -o OUT --json`.
fn join(segs: &[&Path], out: &Path) -> Output {
    cli()
        .arg("join")
        .arg(statement())
        .args(segs)
        .arg("-o")
        .arg(out)
        .arg("--json")
        .output()
        .unwrap()
}

/// A failed join: exit 1, nothing at `out`, the JSON object with its four lists.
fn refused(segs: &[&Path], out: &Path) -> (serde_json::Value, String) {
    let o = join(segs, out);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        !out.exists(),
        "join wrote {} although it failed",
        out.display()
    );
    let v = json(&o);
    for k in ["missing", "duplicated", "invalid", "foreign"] {
        assert!(v[k].is_array(), "the failure object lacks {k}: {v}");
    }
    assert!(v["error"].is_string(), "{v}");
    (v, stderr(&o))
}

#[test]
fn plan_writes_one_job_per_segment_and_says_so_in_json() {
    let p = fib();
    let v = &p.plan;
    assert_eq!(v["segments"], 4);
    assert_eq!(v["cycles"], 352);
    assert_eq!(v["segment_cycles"], 100);
    assert_eq!(v["program_id"].as_str().unwrap().len(), 64);
    assert!(statement().ends_with("statement.bin") && statement().is_file());
    let jobs = v["jobs"].as_array().unwrap();
    for (k, j) in jobs.iter().enumerate() {
        assert_eq!(j["index"], k);
        let path = j["path"].as_str().unwrap();
        assert!(path.ends_with(&format!("segment-{k:05}.job")), "{path}");
        assert_eq!(
            j["bytes"].as_u64().unwrap(),
            std::fs::metadata(path).unwrap().len()
        );
        assert!(j["estimated_peak_bytes"].as_u64().unwrap() > 0);
        assert_eq!(j["cycles"], if k == 3 { 52 } else { 100 });
    }
}

#[test]
fn jobs_proven_one_by_one_and_joined_equal_prove_and_verify() {
    let p = fib();
    let out = p.root.join("joined.proof");
    // Any order: each file carries its index.
    let mut segs: Vec<&Path> = p.proofs.iter().map(|p| p.as_path()).collect();
    segs.reverse();
    segs.swap(0, 2);
    let o = join(&segs, &out);
    let v = json(ok(&o));
    assert_eq!(v["segments"], 4);
    assert_eq!(v["proof"], out.display().to_string());
    assert_eq!(v["program_id"], p.plan["program_id"]);
    assert_eq!(
        v["proof_bytes"].as_u64().unwrap(),
        std::fs::metadata(&out).unwrap().len()
    );
    ok(&cli()
        .arg("verify")
        .arg(&out)
        .args(["--elf", ELF])
        .output()
        .unwrap());
    // `prove` with the same segment size: the same statement and segment metas.
    let direct = p.root.join("direct.proof");
    ok(&cli()
        .args(["prove", ELF, "-q", "--segment-cycles", SEG, "-o"])
        .arg(&direct)
        .output()
        .unwrap());
    let a = ProofFile::from_bytes(&std::fs::read(&out).unwrap()).unwrap();
    let b = ProofFile::from_bytes(&std::fs::read(&direct).unwrap()).unwrap();
    assert_eq!(a.public, b.public);
    let metas = |pf: &ProofFile| {
        pf.segments
            .iter()
            .map(|s| s.meta.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(metas(&a), metas(&b));
}

#[test]
fn join_names_a_missing_segment_and_writes_nothing() {
    let p = fib();
    let out = p.root.join("missing.proof");
    let segs = [&p.proofs[0], &p.proofs[1], &p.proofs[3]].map(|p| p.as_path());
    let (v, err) = refused(&segs, &out);
    assert_eq!(v["missing"], serde_json::json!([2]), "{v}");
    assert!(err.contains("missing segment 2 of 4"), "{err}");
    assert!(err.contains("nothing written"), "{err}");
}

#[test]
fn join_names_a_duplicated_segment() {
    let p = fib();
    let out = p.root.join("dup.proof");
    let mut segs: Vec<&Path> = p.proofs.iter().map(|p| p.as_path()).collect();
    segs.push(&p.proofs[1]);
    let (v, err) = refused(&segs, &out);
    assert_eq!(v["duplicated"], serde_json::json!([1]), "{v}");
    assert_eq!(v["missing"], serde_json::json!([]), "{v}");
    assert!(err.contains("given more than once: 1"), "{err}");
}

#[test]
fn join_names_foreign_segments_by_path() {
    let p = fib();
    // The same program with another segment size, and another program.
    let (_, other_size) = plan_and_prove(ELF, "120", &p.root.join("fib120"));
    let (_, other_prog) = plan_and_prove("fixtures/linux_hello.elf", SEG, &p.root.join("hello"));
    let out = p.root.join("foreign.proof");
    let segs = [
        &p.proofs[0],
        &other_size[1],
        &p.proofs[1],
        &p.proofs[2],
        &p.proofs[3],
        &other_prog[0],
    ]
    .map(|p| p.as_path());
    let (v, err) = refused(&segs, &out);
    let foreign: Vec<String> = v["foreign"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(foreign.len(), 2, "{v}");
    let name = |p: &Path| nexus_relink::escape::path(p);
    assert!(
        foreign[0].contains(&name(&other_size[1])) && foreign[0].contains("120 cycles"),
        "{foreign:?}"
    );
    assert!(
        foreign[1].contains(&name(&other_prog[0])) && foreign[1].contains("another statement"),
        "{foreign:?}"
    );
    assert!(err.contains("foreign segment proofs"), "{err}");
    assert_eq!(v["missing"], serde_json::json!([]), "{v}");
}

#[test]
fn join_names_a_corrupted_segment_as_invalid() {
    let p = fib();
    let bad = p.root.join("bad-1.proof");
    let mut b = std::fs::read(&p.proofs[1]).unwrap();
    // Bytes in the STARK part (the file's second half), not the header.
    let at = b.len() * 3 / 4;
    for x in &mut b[at..at + 8] {
        *x ^= 0x55;
    }
    std::fs::write(&bad, &b).unwrap();
    let out = p.root.join("corrupt.proof");
    let segs = [&p.proofs[0], &bad, &p.proofs[2], &p.proofs[3]].map(|p| p.as_path());
    let (v, err) = refused(&segs, &out);
    assert_eq!(v["invalid"], serde_json::json!([1]), "{v}");
    assert!(err.contains("invalid segment 1 of 4"), "{err}");
}

#[test]
fn join_refuses_a_job_given_as_a_segment_proof() {
    let p = fib();
    let job = PathBuf::from(p.plan["jobs"][0]["path"].as_str().unwrap());
    let out = p.root.join("job.proof");
    let o = join(&[&job], &out);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("a segment job file") && err.contains("prove-segment"),
        "{err}"
    );
    assert!(!out.exists());
}

fn job_bytes(k: usize) -> Vec<u8> {
    std::fs::read(fib().plan["jobs"][k]["path"].as_str().unwrap()).unwrap()
}

/// `prove-segment JOB -o OUT`, for a job given as bytes.
fn prove_segment(name: &str, job: &[u8]) -> (Output, PathBuf) {
    let p = fib();
    let path = p.root.join(format!("{name}.job"));
    std::fs::write(&path, job).unwrap();
    let out = p.root.join(format!("{name}.proof"));
    let o = cli()
        .arg("prove-segment")
        .arg(&path)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    (o, out)
}

#[test]
fn prove_segment_refuses_another_format_by_name() {
    let mut b = job_bytes(1);
    b[0] ^= 0xff;
    let (o, out) = prove_segment("magic", &b);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not a segment job file"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
    let mut b = job_bytes(1);
    b[8..12].copy_from_slice(&99u32.to_le_bytes());
    let (o, out) = prove_segment("version", &b);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("format version 99"), "{}", stderr(&o));
    assert!(!out.exists());
    // A segment proof given as a job.
    let seg = std::fs::read(&fib().proofs[0]).unwrap();
    let (o, _) = prove_segment("a-proof", &seg);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("a segment proof file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn prove_segment_refuses_a_start_the_guest_does_not_reach() {
    // A segment after the first that touches memory (the first starts from the image).
    let job = (1..4)
        .map(|k| SegmentJob::from_bytes(&job_bytes(k)).unwrap())
        .find(|j| !j.memory.is_empty())
        .expect("a segment that touches memory");
    let tampered = |name: &str, f: &dyn Fn(&mut SegmentJob)| {
        let mut j = job.clone();
        f(&mut j);
        let (o, out) = prove_segment(name, &j.to_bytes());
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        assert!(!out.exists(), "{name}");
        stderr(&o)
    };
    let err = tampered("reg", &|j| j.regs[8] ^= 4);
    assert!(
        err.contains("starts with x8 =") && err.contains("re-executing the guest has x8"),
        "{err}"
    );
    let err = tampered("pc", &|j| j.pc += 4);
    assert!(err.contains("re-executing the guest reaches pc"), "{err}");
    let err = tampered("clk", &|j| j.clk0 = 10_000);
    assert!(
        err.contains("re-executing the guest stops at cycle"),
        "{err}"
    );
    let err = tampered("mem", &|j| {
        for w in &mut j.memory {
            w.1 ^= 0x0101_0101;
        }
    });
    assert!(err.contains("its start memory"), "{err}");
    let err = tampered("digest", &|j| j.statement.exit_code ^= 1);
    assert!(err.contains("statement digest"), "{err}");
    // The untampered job proves.
    let (o, out) = prove_segment("honest", &job.to_bytes());
    ok(&o);
    assert!(out.exists());
}

#[test]
fn plan_refuses_private_input_in_several_segments_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"hello").unwrap();
    let o = cli()
        .args([
            "plan",
            "fixtures/nexus_io.elf",
            "--segment-cycles",
            "127",
            "--no-zk",
        ])
        .arg("--private-input")
        .arg(&secret)
        .arg("-d")
        .arg(dir.path().join("j"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("private input is proven in one segment only"),
        "{}",
        stderr(&o)
    );
    let o = cli()
        .args([
            "plan",
            "fixtures/nexus_io.elf",
            "--segment-cycles",
            "127",
            "--zk",
        ])
        .arg("-d")
        .arg(dir.path().join("k"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("a zero-knowledge proof of 4 segments"));
}
