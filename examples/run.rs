//! Run a guest in the integrated VM under its own layout, as `nexus-relink run IN` does.
//!
//! `cargo run --example run [IN]` (default: the bundled `medlow_fib` guest).

use nexus_relink::{
    elf::Image,
    layout::MemoryMap,
    vm::{RunConfig, Vm},
};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let input = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/fixtures/medlow_fib.elf"
            ))
        });
    let image = Image::read(&input)?;
    // The map knows every layout family; `run` is the layout the VM enforces for it.
    let map = MemoryMap::discover(&image);
    let layout = map.run?;
    let result = Vm::new(&image, &layout, RunConfig::default())?.run();
    print!("{}", String::from_utf8_lossy(&result.stdout));
    println!(
        "{}: {} cycles, exit code {:?}, peak stack {} B, peak heap {} B, memory limit {:#x}",
        input.display(),
        result.cycles,
        result.exit_code,
        result.peak_stack_bytes,
        result.peak_heap_bytes,
        layout.memlimit
    );
    if let Some(fault) = &result.fault {
        println!("fault: {} ({})", fault.message, fault.kind.name());
    }
    Ok(())
}
