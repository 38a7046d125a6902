//! The guest fixtures in `fixtures/` are built from `fixtures/src/` by `fixtures/build.sh`.
//! These tests check that the checked-in files are complete and well formed, and, when the
//! RISC-V cross toolchain is installed, that rebuilding them gives the same bytes.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TOOLCHAIN: &str = "riscv64-unknown-elf-gcc";
const PICOLIBC_LIB: &str = "/usr/lib/picolibc/riscv64-unknown-elf/lib/rv32im/ilp32";

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Names of the manifest entries, found without a JSON parser: every `"name": "…"` value.
fn manifest_names() -> Vec<String> {
    manifest_names_in(&fixtures_dir())
}

/// The same for the manifest of another fixture directory (`fixtures/abi`).
fn manifest_names_in(dir: &Path) -> Vec<String> {
    let path = dir.join("manifest.json");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let key = "\"name\": \"";
    let mut names = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find(key) {
        rest = &rest[at + key.len()..];
        let end = rest
            .find('"')
            .unwrap_or_else(|| panic!("unterminated \"name\" value in {}", path.display()));
        names.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    names
}

/// File names in `dir` ending in `.elf` or `.objdump`, sorted.
fn built_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".elf") || name.ends_with(".objdump"))
        .collect();
    files.sort();
    files
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

#[test]
fn manifest_entries_have_well_formed_files() {
    let dir = fixtures_dir();
    let names = manifest_names();
    assert!(
        names.len() >= 12,
        "manifest.json lists {} fixtures, expected at least 12",
        names.len()
    );
    check_well_formed(&dir, &names);
}

#[test]
fn abi_manifest_entries_have_well_formed_files() {
    let dir = fixtures_dir().join("abi");
    let names = manifest_names_in(&dir);
    assert!(
        names.len() >= 7,
        "abi/manifest.json lists {} fixtures, expected at least 7",
        names.len()
    );
    check_well_formed(&dir, &names);
}

/// Every entry has an ELF32 RISC-V file and a path-independent objdump; every built file has
/// an entry.
fn check_well_formed(dir: &Path, names: &[String]) {
    for name in names {
        let elf_path = dir.join(format!("{name}.elf"));
        let elf = fs::read(&elf_path).unwrap_or_else(|e| {
            panic!(
                "manifest entry {name}: cannot read {}: {e}",
                elf_path.display()
            )
        });
        assert!(
            elf.len() >= 52,
            "{name}.elf is too short for an ELF32 header ({} bytes)",
            elf.len()
        );
        assert_eq!(
            &elf[..4],
            b"\x7fELF",
            "{name}.elf does not start with the ELF magic"
        );
        assert_eq!(
            elf[4], 1,
            "{name}.elf is not ELFCLASS32 (EI_CLASS = {})",
            elf[4]
        );
        assert_eq!(
            elf[5], 1,
            "{name}.elf is not little endian (EI_DATA = {})",
            elf[5]
        );
        let machine = u16::from_le_bytes([elf[18], elf[19]]);
        assert_eq!(
            machine, 243,
            "{name}.elf is not EM_RISCV (e_machine = {machine})"
        );

        let dump_path = dir.join(format!("{name}.objdump"));
        // The listings are for reviewers of the repository; the published crate leaves them out
        // (Cargo.toml `exclude`), and has no `.git`.
        if !dump_path.exists() && !Path::new(env!("CARGO_MANIFEST_DIR")).join(".git").exists() {
            continue;
        }
        let dump = fs::read_to_string(&dump_path).unwrap_or_else(|e| {
            panic!(
                "manifest entry {name}: cannot read {}: {e}",
                dump_path.display()
            )
        });
        let header = format!("{name}.elf:     file format elf32-littleriscv");
        assert!(
            dump.lines().take(3).any(|line| line == header),
            "{name}.objdump does not name its file path-independently (expected a line {header:?})"
        );
    }

    for file in built_files(dir) {
        let stem = file.rsplit_once('.').map(|(stem, _)| stem).unwrap_or(&file);
        assert!(
            names.iter().any(|name| name == stem),
            "fixtures/{file} has no entry in manifest.json"
        );
    }
}

#[test]
fn rebuilt_fixtures_are_byte_identical() {
    if !on_path(TOOLCHAIN) || !Path::new(PICOLIBC_LIB).is_dir() {
        println!(
            "SKIPPED: {TOOLCHAIN} or picolibc ({PICOLIBC_LIB}) not installed; \
             the fixtures were not rebuilt"
        );
        return;
    }

    // Byte identity only holds for the toolchain the fixtures were built with.
    if !common::same_toolchain() {
        return;
    }

    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixtures_rebuild");
    if out.exists() {
        fs::remove_dir_all(&out).unwrap_or_else(|e| panic!("cannot clear {}: {e}", out.display()));
    }
    fs::create_dir_all(&out).unwrap_or_else(|e| panic!("cannot create {}: {e}", out.display()));

    let dir = fixtures_dir();
    let result = Command::new("sh")
        .arg(dir.join("build.sh"))
        .arg(&out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cannot run fixtures/build.sh");
    assert!(
        result.status.success(),
        "fixtures/build.sh failed ({}):\n{}{}",
        result.status,
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );

    // fixtures/ itself and every sub-folder with a build.sh of its own (fixtures/build.sh
    // calls them with OUTDIR/<folder>).
    let mut folders = vec![String::new()];
    for e in fs::read_dir(&dir).expect("fixtures/").flatten() {
        if e.path().join("build.sh").is_file() {
            folders.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    let mut count = 0;
    for folder in &folders {
        let (dir, out) = (dir.join(folder), out.join(folder));
        let committed = built_files(&dir);
        let rebuilt = built_files(&out);
        assert_eq!(
            committed, rebuilt,
            "the rebuild produced a different set of files than fixtures/{folder} holds"
        );
        count += committed.len();
        for file in &committed {
            let old = fs::read(dir.join(file)).expect("committed fixture");
            let new = fs::read(out.join(file)).expect("rebuilt fixture");
            if old != new {
                let at = old
                    .iter()
                    .zip(&new)
                    .position(|(a, b)| a != b)
                    .unwrap_or(old.len().min(new.len()));
                panic!(
                    "fixtures/{folder}/{file} differs from its rebuild {} (first difference at byte {at}; \
                     sizes {} and {}); run fixtures/build.sh and commit the result if the change is intended",
                    out.join(file).display(),
                    old.len(),
                    new.len()
                );
            }
        }
    }
    println!("rebuilt {count} fixture files, all byte-identical");
}
