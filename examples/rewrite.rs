//! Rewrite a guest for another memory limit through the library, as
//! `nexus-relink IN --memlimit SIZE -o OUT` does.
//!
//! `cargo run --example rewrite [IN] [LIMIT] [OUT]` (default: the bundled `jolt_heap` guest,
//! 16M, `jolt_heap.16M.elf` in the current directory).

use nexus_relink::{elf::Image, output, relink::Relinker, size};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let input = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/jolt_heap.elf"
        ))
    });
    let limit = size::parse_size(&args.next().unwrap_or_else(|| "16M".into()))?;
    let out = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("jolt_heap.16M.elf"));

    let image = Image::read(&input)?;
    let rewrite = Relinker::new(limit).rewrite(&image)?;
    println!(
        "{}: stack top {:#x} -> {:#x}, {} patched sites",
        input.display(),
        rewrite.plan.old.stack_top,
        rewrite.plan.new.stack_top,
        rewrite.sites.sites.len()
    );
    for w in &rewrite.warnings {
        println!("warning: {w}");
    }
    output::write_atomic(&out, &rewrite.bytes, Some(&input))?;
    println!("wrote {}", out.display());
    Ok(())
}
