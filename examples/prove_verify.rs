//! Prove a run and verify the proof through the library, as `nexus-relink prove IN -o PROOF`
//! and `nexus-relink verify PROOF --elf IN` do.
//!
//! `cargo run --release --example prove_verify [IN]` (default: the bundled `linux_hello`
//! guest, a second or two).

use nexus_relink::{
    elf::Image,
    layout::MemoryMap,
    prove::{self, Progress, ProofFile},
    vm::RunConfig,
};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let input = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/fixtures/linux_hello.elf"
            ))
        });
    let image = Image::read(&input)?;
    // Families a, b, c and d prove; the layout is the one `run` enforces.
    let layout = MemoryMap::discover(&image).prove_layout()?;
    let (proof, stats) = prove::prove(&image, &layout, RunConfig::default(), &|p| {
        if let Progress::Stage(stage) = p {
            eprintln!("{stage}");
        }
    })?;
    let bytes = proof.to_bytes();
    println!(
        "proved {} cycles in {} segment(s): {:.2} s, {} bytes",
        stats.cycles,
        stats.segments.len(),
        stats.trace_seconds + stats.prove_seconds,
        bytes.len()
    );

    // A verifier holds only the bytes (and, to check what program they are about, the ELF).
    let statement = prove::verify(&ProofFile::from_bytes(&bytes)?, Some((&image, &layout)))?;
    println!(
        "valid: exit code {:?}, memory limit {:#x}, stdout {:?}",
        statement.exit_code,
        statement.memlimit,
        String::from_utf8_lossy(&statement.stdout)
    );
    Ok(())
}
