//! The disassembler against GNU objdump.
//!
//! Every instruction line of an `objdump -d` listing must equal `disasm_word(word, addr)` after
//! `normalize_objdump`, and every word that `decode` accepts must re-`encode` to itself.
//! Listings: `tests/data/disasm/*.objdump` (generated from `*.S` by `regen.sh`), every
//! `fixtures/*.objdump` present at test time, and the extra listings named in the environment
//! variable `DISASM_LISTINGS` (`:`-separated paths; for ad-hoc differential runs).
//!
//! When `riscv64-unknown-elf-objdump` is on PATH the committed listings are also regenerated and
//! compared, so that they cannot go stale; without it those checks are skipped with a note.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use nexus_relink::isa::disasm::{disasm_word, normalize_objdump};
use nexus_relink::isa::{decode, encode};

const OBJDUMP: &str = "riscv64-unknown-elf-objdump";

/// One instruction line of an objdump listing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    addr: u32,
    /// The hex column as printed (`00a50533`, `4501`, `0000003f 00000000`).
    hex: String,
    /// The text after the hex column, trailing whitespace trimmed.
    text: String,
}

/// Instruction lines (`    1000:\t00a50533          \tadd\ta0,a0,a0`) of an objdump -d listing.
fn parse_listing(listing: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    for raw in listing.lines() {
        let Some((addr, rest)) = raw.split_once(":\t") else {
            continue;
        };
        let addr = addr.trim_start();
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let Ok(addr) = u32::from_str_radix(addr, 16) else {
            continue;
        };
        let (hex, text) = rest.split_once('\t').unwrap_or((rest, ""));
        lines.push(Line {
            addr,
            hex: hex.trim().to_string(),
            text: text.trim_end().to_string(),
        });
    }
    lines
}

#[derive(Debug, Default)]
struct Counts {
    compared: usize,
    round_trips: usize,
    /// Data (`.word`, `.short`, `.byte` from `$d` mapping symbols) and instructions longer than
    /// 32 bits, which have no single-word counterpart.
    skipped: usize,
}

/// Compare every instruction line of `listing` (named `name` in messages). Returns the counts and
/// the mismatches, one message each.
fn check_listing(name: &str, listing: &str) -> (Counts, Vec<String>) {
    let mut counts = Counts::default();
    let mut failures = Vec::new();
    for line in parse_listing(listing) {
        let single = !line.hex.contains(' ') && (line.hex.len() == 8 || line.hex.len() == 4);
        let data = [".word", ".short", ".byte", ".dword"]
            .iter()
            .any(|d| line.text.starts_with(d));
        if !single || data {
            counts.skipped += 1;
            continue;
        }
        let word = u32::from_str_radix(&line.hex, 16).expect("hex column");
        let want = normalize_objdump(&line.text);
        let got = disasm_word(word, line.addr);
        counts.compared += 1;
        if got != want {
            failures.push(format!(
                "{name}: {:x}: {word:08x}: objdump {want:?}, disasm {got:?}",
                line.addr
            ));
        }
        if line.hex.len() == 8 {
            if let Ok(inst) = decode(word) {
                counts.round_trips += 1;
                match encode(&inst) {
                    Ok(w) if w == word => {}
                    other => failures.push(format!(
                        "{name}: {:x}: {word:08x} decodes to {inst:?}, which encodes to {other:x?}",
                        line.addr
                    )),
                }
            }
        }
    }
    (counts, failures)
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn data_dir() -> PathBuf {
    manifest_dir().join("tests/data/disasm")
}

/// `dir/*.ext`, sorted; empty when `dir` does not exist.
fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

fn run_listings(paths: &[PathBuf]) -> Counts {
    let mut total = Counts::default();
    let mut failures = Vec::new();
    for path in paths {
        let listing =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.display().to_string();
        let (counts, mut f) = check_listing(&name, &listing);
        println!(
            "{name}: {} instructions compared, {} decode/encode round trips, {} lines skipped",
            counts.compared, counts.round_trips, counts.skipped
        );
        total.compared += counts.compared;
        total.round_trips += counts.round_trips;
        total.skipped += counts.skipped;
        failures.append(&mut f);
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    total
}

#[test]
fn parser_reads_objdump_lines() {
    let listing = "\n\
        all.elf:     file format elf32-littleriscv\n\
        \n\
        Disassembly of section .text:\n\
        \n\
        00001000 <_start>:\n    \
            1000:\t00a50533          \tadd\ta0,a0,a0\n    \
            1004:\tffdff06f          \tj\t1000 <_start>\n    \
            1008:\t4501                \t.2byte\t0x4501\n    \
            100a:\t0000003f 00000000 \t.8byte\t0x3f\n\t...\n";
    let lines = parse_listing(listing);
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0],
        Line {
            addr: 0x1000,
            hex: "00a50533".into(),
            text: "add\ta0,a0,a0".into()
        }
    );
    assert_eq!(lines[1].text, "j\t1000 <_start>");
    assert_eq!(lines[2].hex, "4501");
    assert_eq!(lines[3].hex, "0000003f 00000000");
    let (counts, failures) = check_listing("inline", listing);
    assert_eq!(failures, Vec::<String>::new());
    assert_eq!((counts.compared, counts.skipped), (3, 1));
}

/// The hand-written corpus (`all.S`) and the generated random one (`random.S`).
#[test]
fn committed_corpus_matches_objdump() {
    let listings = files_with_ext(&data_dir(), "objdump");
    assert!(
        listings.iter().any(|p| p.ends_with("all.objdump")),
        "tests/data/disasm/all.objdump is missing: run tests/data/disasm/regen.sh"
    );
    let counts = run_listings(&listings);
    println!(
        "corpus total: {} instructions compared, {} round trips",
        counts.compared, counts.round_trips
    );
    assert!(counts.compared > 300, "corpus too small: {counts:?}");
}

/// `fixtures/*.objdump`, whatever exists at test time (none is fine).
#[test]
fn fixture_listings_match_objdump() {
    let listings = files_with_ext(&manifest_dir().join("fixtures"), "objdump");
    if listings.is_empty() {
        println!("no fixtures/*.objdump yet: nothing to compare");
        return;
    }
    let counts = run_listings(&listings);
    println!(
        "fixtures total: {} instructions compared, {} round trips",
        counts.compared, counts.round_trips
    );
}

/// Ad-hoc listings named in `DISASM_LISTINGS` (e.g. a large random differential corpus).
#[test]
fn extra_listings_from_env() {
    let Ok(paths) = std::env::var("DISASM_LISTINGS") else {
        return;
    };
    let paths: Vec<PathBuf> = std::env::split_paths(&paths).collect();
    let counts = run_listings(&paths);
    println!(
        "DISASM_LISTINGS total: {} instructions compared, {} round trips",
        counts.compared, counts.round_trips
    );
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// First line of `tool --version`, for failure messages.
fn version(tool: &str) -> String {
    Command::new(tool)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_default()
}

/// Re-run objdump on each `fixtures/NAME.elf` and compare with the committed `NAME.objdump`.
#[test]
fn fixture_listings_are_not_stale() {
    if !have(OBJDUMP) {
        println!("{OBJDUMP} not on PATH: skipping the fixture listing freshness check");
        return;
    }
    if !common::same_toolchain() {
        return;
    }
    let fixtures = manifest_dir().join("fixtures");
    let mut checked = 0;
    for elf in files_with_ext(&fixtures, "elf") {
        let listing = elf.with_extension("objdump");
        let Ok(committed) = std::fs::read_to_string(&listing) else {
            continue;
        };
        let out = Command::new(OBJDUMP)
            .arg("-d")
            .arg(&elf)
            .output()
            .expect("run objdump");
        assert!(
            out.status.success(),
            "{OBJDUMP} -d {} failed",
            elf.display()
        );
        let fresh = String::from_utf8(out.stdout).expect("utf-8 listing");
        assert_eq!(
            parse_listing(&committed),
            parse_listing(&fresh),
            "{} is stale: regenerate it from {} (checked with {})",
            listing.display(),
            elf.display(),
            version(OBJDUMP)
        );
        checked += 1;
    }
    println!("{checked} fixture listings re-checked against {OBJDUMP}");
}

/// Re-run `regen.sh` into a temporary directory and compare with the committed listings.
#[test]
fn corpus_listings_are_not_stale() {
    let tools = [
        OBJDUMP,
        "riscv64-unknown-elf-as",
        "riscv64-unknown-elf-ld",
        "riscv64-unknown-elf-objcopy",
    ];
    if let Some(missing) = tools.iter().find(|t| !have(t)) {
        println!("{missing} not on PATH: skipping the corpus listing freshness check");
        return;
    }
    if !common::same_toolchain() {
        return;
    }
    let out_dir = tempfile::tempdir().expect("temp dir");
    let status = Command::new("sh")
        .arg(data_dir().join("regen.sh"))
        .arg(out_dir.path())
        .status()
        .expect("run regen.sh");
    assert!(status.success(), "regen.sh failed");
    let committed = files_with_ext(&data_dir(), "objdump");
    assert!(!committed.is_empty());
    for listing in committed {
        let fresh_path = out_dir.path().join(listing.file_name().unwrap());
        let fresh = std::fs::read_to_string(&fresh_path)
            .unwrap_or_else(|e| panic!("{}: {e}", fresh_path.display()));
        let committed_text = std::fs::read_to_string(&listing).unwrap();
        assert_eq!(
            committed_text,
            fresh,
            "{} is stale: run tests/data/disasm/regen.sh (checked with {})",
            listing.display(),
            version(OBJDUMP)
        );
    }
}
