//! `linker-script` gives the layout a rewrite gives: relink a fixture's sources with the
//! script (when the cross toolchain is installed) and compare with the rewritten fixture.

mod common;
use common::*;
use nexus_relink::layout::Layout;
use nexus_relink::linker_script::{render, ScriptRequest, Style};
use nexus_relink::relink::Relinker;
use std::process::Command;

const PICOLIBC: &str = "/usr/lib/picolibc/riscv64-unknown-elf";

/// Build fixture sources with `script`, flags as fixtures/build.sh uses them.
fn link(script: &str, sources: &[&str], out: &std::path::Path) {
    let dir = tempfile::tempdir().unwrap();
    let ld = dir.path().join("layout.ld");
    std::fs::write(&ld, script).unwrap();
    let o = Command::new("riscv64-unknown-elf-gcc")
        .current_dir(fixtures().join("src"))
        .args([
            "-march=rv32im",
            "-mabi=ilp32",
            "-O2",
            "-static",
            "-ffreestanding",
            "-fno-pic",
            "-fno-pie",
        ])
        .args([
            "-fno-stack-protector",
            "-mcmodel=medany",
            "-nostartfiles",
            "-nodefaultlibs",
        ])
        .args([
            "-Wl,--build-id=none",
            "-Wl,--strip-debug",
            "-Wl,-z,max-page-size=0x1000",
        ])
        .arg(format!("-isystem{PICOLIBC}/include"))
        .arg(format!("-L{PICOLIBC}/lib/rv32im/ilp32"))
        .arg("-T")
        .arg(&ld)
        .args(sources)
        .args(["-Wl,--start-group", "-lc", "-lgcc", "-Wl,--end-group", "-o"])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "link failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn boundaries(l: &Layout) -> (u64, u32, u32, u32, u32, bool) {
    (
        l.memlimit,
        l.heap_start,
        l.heap_end,
        l.stack_bottom,
        l.stack_top,
        l.shared,
    )
}

#[test]
fn relinked_layout_equals_rewritten_layout() {
    let generic = |m| {
        render(&ScriptRequest {
            memlimit: m,
            stack: 1 << 20,
            heap: None,
            guard: 0,
            style: Style::Generic,
        })
        .unwrap()
    };
    let nexus = |m| {
        render(&ScriptRequest {
            memlimit: m,
            stack: 0,
            heap: None,
            guard: 0,
            style: Style::Nexus,
        })
        .unwrap()
    };
    // The scripts state the boundaries whatever the toolchain.
    assert!(generic(16 << 20).contains("_stack_bottom == 0xf00000"));
    assert!(nexus(16 << 20).contains("__memory_top = 0x1000000;"));
    if !have("riscv64-unknown-elf-gcc") || !std::path::Path::new(PICOLIBC).exists() {
        eprintln!("riscv64-unknown-elf-gcc/picolibc not installed: relink comparison skipped");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (fixture, sources, limit, is_nexus) in [
        (
            "linux_hello",
            &["start_auipc.S", "rt_linux.c", "linux_hello.c"][..],
            16u64 << 20,
            false,
        ),
        (
            "linux_fib",
            &["start_auipc.S", "rt_linux.c", "linux_fib.c"][..],
            3_000_000,
            false,
        ),
        (
            "nexus_hello",
            &["start_nexus.S", "rt_nexus.c", "nexus_hello.c"][..],
            16 << 20,
            true,
        ),
    ] {
        let out = tmp.path().join(format!("{fixture}.elf"));
        link(
            &if is_nexus {
                nexus(limit)
            } else {
                generic(limit)
            },
            sources,
            &out,
        );
        let (_, relinked) = load(&out);
        let (img, _) = load(&fixtures().join(format!("{fixture}.elf")));
        let rw = Relinker::new(limit).rewrite(&img).unwrap();
        assert_eq!(
            boundaries(&relinked),
            boundaries(&rw.plan.new),
            "{fixture} at {limit:#x}"
        );
    }
}
