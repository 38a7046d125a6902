//! Limits count from the guest's memory base (README, "Memory limits and the memory base"):
//! `--memlimit SIZE` is SIZE bytes from the base, `--memtop ADDR` the absolute top; a guest
//! linked low keeps base 0, so both mean the same there.

mod common;

use nexus_relink::elf::Image;
use nexus_relink::layout::{MemoryBase, MemoryMap};
use std::path::PathBuf;
use std::process::{Command, Output};

fn layout(name: &str) -> PathBuf {
    common::fixtures()
        .join("layout")
        .join(format!("{name}.elf"))
}

fn tool(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nexus-relink"))
        .args(args)
        .output()
        .unwrap()
}

fn stack_top(p: &std::path::Path) -> u32 {
    MemoryMap::discover(&Image::read(p).unwrap())
        .run
        .unwrap()
        .stack_top
}

#[test]
fn the_base_is_the_ram_origin_or_0() {
    let base = |p: PathBuf| MemoryBase::of(&Image::read(&p).unwrap());
    let b = base(layout("high_ram"));
    assert_eq!(b.base, 0x2000_0000);
    assert!(b.source.contains("writable"), "{}", b.source);
    assert_eq!(base(layout("high_jolt")).base, 0x8000_0000);
    assert_eq!(base(layout("picolibc_stock")).base, 0x2000_0000);
    // Linked at 0x10000 (Linux-style), at 0 (Airbender-style), and picolibc's `__ram` defined
    // low (0x110000): base 0.
    for low in [
        common::fixtures().join("linux_hello.elf"),
        common::fixtures().join("nexus_hello.elf"),
        common::fixtures().join("picolibc_malloc.elf"),
        layout("below_heap"),
    ] {
        let b = base(low.clone());
        assert_eq!((b.base, b.source.as_str()), (0, "default"), "{low:?}");
    }
    assert_eq!(
        b.top(16 << 20),
        Ok(0x2100_0000),
        "16 MiB from the base ends at base + 16 MiB"
    );
    let e = base(layout("high_jolt")).top(0xffff_f000).unwrap_err();
    assert!(
        e.contains("0x80000000") && e.contains("at most --memlimit 0x7ffff000"),
        "{e}"
    );
}

#[test]
fn memlimit_counts_from_the_base_and_memtop_is_absolute() {
    let dir = tempfile::tempdir().unwrap();
    for (name, top) in [("high_ram", 0x2100_0000u32), ("high_jolt", 0x8100_0000)] {
        let (a, b) = (dir.path().join("a.elf"), dir.path().join("b.elf"));
        let o = tool(&[
            layout(name).as_os_str(),
            "--memlimit".as_ref(),
            "16M".as_ref(),
            "-o".as_ref(),
            a.as_os_str(),
        ]);
        assert!(o.status.success(), "{name}: {o:?}");
        let report = String::from_utf8_lossy(&o.stdout);
        assert!(
            report.contains("-> 16 MiB from the memory base"),
            "{name}: {report}"
        );
        assert_eq!(stack_top(&a), top, "{name}");
        let o = tool(&[
            layout(name).as_os_str(),
            "--memtop".as_ref(),
            format!("{top:#x}").as_ref(),
            "-o".as_ref(),
            b.as_os_str(),
        ]);
        assert!(o.status.success(), "{name}: {o:?}");
        assert_eq!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "{name}"
        );
        // The rewritten guest runs as the input: same stdout, exit 11.
        for p in [layout(name), a] {
            let r = tool(&["run".as_ref(), p.as_os_str()]);
            assert_eq!(r.status.code(), Some(11), "{name}: {r:?}");
            assert_eq!(r.stdout, b"memory from the RAM origin\n", "{name}");
        }
    }
    // A base-0 guest: --memlimit and --memtop are the same top.
    let (a, b) = (dir.path().join("c.elf"), dir.path().join("d.elf"));
    let hello = common::fixtures().join("linux_hello.elf");
    for (flag, v, out) in [("--memlimit", "16M", &a), ("--memtop", "0x1000000", &b)] {
        let o = tool(&[
            hello.as_os_str(),
            flag.as_ref(),
            v.as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
        ]);
        assert!(o.status.success(), "{o:?}");
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains("memory base"),
            "{o:?}"
        );
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(stack_top(&a), 16 << 20);
}

#[test]
fn errors_and_auto_speak_in_sizes_from_the_base() {
    let ram = layout("high_ram");
    // Too small: the smallest size is said from the base.
    let o = tool(&[
        ram.as_os_str(),
        "--memlimit".as_ref(),
        "16".as_ref(),
        "--dry-run".as_ref(),
    ]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("from the memory base 0x20000000") && e.contains("--memlimit 0x"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
    // Too large: base + SIZE above the last page.
    let o = tool(&[
        layout("high_jolt").as_os_str(),
        "--memlimit".as_ref(),
        "3G".as_ref(),
        "--dry-run".as_ref(),
    ]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("at most --memlimit 0x7ffff000"), "{e}");
    // Both forms at once: a usage error.
    let o = tool(&[
        ram.as_os_str(),
        "--memlimit".as_ref(),
        "16M".as_ref(),
        "--memtop".as_ref(),
        "0x21000000".as_ref(),
        "--dry-run".as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    // auto: a few KiB from the base, not 512 MiB.
    let o = tool(&[
        ram.as_os_str(),
        "--memlimit".as_ref(),
        "auto".as_ref(),
        "--dry-run".as_ref(),
        "--json".as_ref(),
    ]);
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let size = v["measured"]["memlimit"].as_u64().unwrap();
    assert!(size > 0 && size <= 0x10000, "{v}");
    assert_eq!(v["request"]["base"], 0x2000_0000u32);
    assert_eq!(
        v["request"]["memlimit"].as_u64().unwrap(),
        0x2000_0000 + size
    );
}

#[test]
fn inspect_shows_the_base_and_its_source_only_when_not_0() {
    let json = |p: PathBuf| -> serde_json::Value {
        let o = tool(&["inspect".as_ref(), "--json".as_ref(), p.as_os_str()]);
        assert!(o.status.success(), "{o:?}");
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let v = json(layout("high_jolt"));
    assert_eq!(v["memory_base"]["base"], 0x8000_0000u32);
    assert!(v["memory_base"]["source"]
        .as_str()
        .unwrap()
        .contains("0x80000000"));
    assert!(json(layout("below_heap")).get("memory_base").is_none());
    let o = tool(&["inspect".as_ref(), layout("high_ram").as_os_str()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("memory base: 0x20000000 ("), "{text}");
    assert!(
        text.contains("rewrite model: memory limit 32 KiB from the memory base 0x20000000"),
        "{text}"
    );
}
