//! Shared helpers of the integration tests: the fixture manifest and tool discovery.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    root().join("fixtures")
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct Entry {
    pub name: String,
    pub abi: String,
    pub form: String,
    #[serde(default)]
    pub stdin: String,
    #[serde(default)]
    pub public_input_hex: String,
    pub expected_stdout: String,
    pub expected_exit: i32,
    #[serde(default)]
    pub expected_public_output_hex: String,
    pub stack_top: u64,
    pub qemu: bool,
}

impl Entry {
    pub fn elf(&self) -> PathBuf {
        fixtures().join(format!("{}.elf", self.name))
    }
    /// The run configuration the manifest describes.
    pub fn config(&self) -> nexus_relink::vm::RunConfig {
        let mut cfg = nexus_relink::vm::RunConfig::default();
        if self.abi == "nexus" {
            cfg.input = unhex(&self.public_input_hex);
            cfg.private_input = self.stdin.as_bytes().to_vec();
        } else {
            cfg.input = self.stdin.as_bytes().to_vec();
        }
        cfg
    }
}

pub fn manifest() -> Vec<Entry> {
    let text =
        std::fs::read_to_string(fixtures().join("manifest.json")).expect("fixtures/manifest.json");
    serde_json::from_str(&text).expect("manifest parses")
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Is an external tool on PATH?
pub fn have(tool: &str) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool} >/dev/null 2>&1"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub fn load(path: &Path) -> (nexus_relink::elf::Image, nexus_relink::layout::Layout) {
    let img =
        nexus_relink::elf::Image::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let layout = nexus_relink::layout::Layout::discover(&img)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (img, layout)
}

/// Is the installed cross toolchain the one the committed binaries and listings were built
/// with (`fixtures/TOOLCHAIN`)? Byte-for-byte rebuild checks only mean something then.
pub fn same_toolchain() -> bool {
    let recorded = std::fs::read_to_string(fixtures().join("TOOLCHAIN")).unwrap_or_default();
    let current = std::process::Command::new("sh")
        .arg(fixtures().join("toolchain.sh"))
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let same = !recorded.is_empty() && current == recorded;
    if !same {
        println!("SKIPPED: built with\n{recorded}this machine has\n{current}");
    }
    same
}
