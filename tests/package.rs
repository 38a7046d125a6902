//! The crate's own files: what `cargo package` ships, and a `rust-version` no lower than what
//! the locked dependencies declare. Both ask cargo itself (offline: the dependencies are already
//! there when the tests run).

use std::path::Path;
use std::process::Command;

fn cargo(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn version(v: &str) -> Vec<u32> {
    v.split('.').map(|p| p.parse().unwrap()).collect()
}

#[test]
fn rust_version_covers_every_locked_dependency() {
    let meta = cargo(&[
        "metadata",
        "--format-version",
        "1",
        "--offline",
        "--locked",
        "--filter-platform",
        "x86_64-unknown-linux-gnu",
    ]);
    let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
    let in_graph: std::collections::HashSet<&str> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    let packages = meta["packages"].as_array().unwrap();
    let ours = packages
        .iter()
        .find(|p| p["name"] == "nexus-relink")
        .unwrap();
    let declared = ours["rust_version"].as_str().expect("rust-version is set");
    let mut needs: Vec<(Vec<u32>, String)> = packages
        .iter()
        .filter(|p| in_graph.contains(p["id"].as_str().unwrap()))
        .filter_map(|p| {
            let rv = p["rust_version"].as_str()?;
            Some((
                version(rv),
                format!("{} {} ({rv})", p["name"], p["version"]),
            ))
        })
        .collect();
    needs.sort();
    let (highest, who) = needs.last().unwrap();
    // 1.88 and 1.88.0 are the same version.
    let pad = |mut v: Vec<u32>| {
        v.resize(3, 0);
        v
    };
    assert!(
        pad(version(declared)) >= pad(highest.clone()),
        "Cargo.toml says rust-version {declared}, but {who} needs more"
    );
    assert!(
        pad(version(declared)) == pad(highest.clone()),
        "rust-version {declared} is above every dependency's ({who}): say why in Cargo.toml or lower it"
    );
}

#[test]
fn the_package_ships_licenses_and_changelog_but_no_listings_or_outputs() {
    // Outputs the README's commands write to the repository root must not be shipped even when
    // they are there.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let stray = root.join("package-test-output.proof");
    std::fs::write(&stray, b"not shipped").unwrap();
    let list = cargo(&["package", "--list", "--allow-dirty", "--offline"]);
    std::fs::remove_file(&stray).unwrap();
    let files: Vec<&str> = list.lines().collect();
    for want in [
        "LICENSE-MIT",
        "LICENSE-APACHE",
        "CHANGELOG.md",
        "README.md",
        "src/lib.rs",
        "examples/prove_verify.rs",
        "fixtures/jolt_heap.elf",
    ] {
        assert!(files.contains(&want), "{want} is not in the package");
    }
    let bad: Vec<&&str> = files
        .iter()
        .filter(|f| {
            (f.starts_with("fixtures/") && f.ends_with(".objdump"))
                || (!f.contains('/')
                    && (f.ends_with(".elf") || f.ends_with(".proof") || f.ends_with(".ld")))
                || f.starts_with("target/")
        })
        .collect();
    assert!(bad.is_empty(), "shipped but should not be: {bad:?}");
}
