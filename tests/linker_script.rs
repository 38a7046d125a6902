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

/// A picolibc program linked with the generic script and picolibc's own crt0
/// (`--specs=picolibc.specs --crt0=hosted`, no start-up code of ours): crt0 sets sp from `__stack`, copies
/// .data, clears .bss and points tp at `__tls_base` (errno and `__thread` variables live
/// there), runs the constructors, and malloc grows through sbrk up to `__heap_end`. It links,
/// and runs in the VM with the layout the script states.
#[test]
fn a_picolibc_program_links_with_picolibc_crt0_and_runs() {
    if !have("riscv64-unknown-elf-gcc") || !std::path::Path::new(PICOLIBC).exists() {
        println!("skipped: riscv64-unknown-elf-gcc with picolibc not installed (Debian: gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("main.c");
    std::fs::write(
        &src,
        r#"#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long sys3(long n, long a, long b, long c) {
	register long a0 __asm__("a0") = a, a1 __asm__("a1") = b, a2 __asm__("a2") = c, a7 __asm__("a7") = n;
	__asm__ volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a7) : "memory");
	return a0;
}
static int put(char c, FILE *f) { (void)f; sys3(64, 1, (long)&c, 1); return (unsigned char)c; }
static FILE io = FDEV_SETUP_STREAM(put, NULL, NULL, _FDEV_SETUP_WRITE);
FILE *const stdout = &io;
FILE *const stderr = &io;
void _exit(int code) { for (;;) sys3(93, code, 0, 0); }

static __thread int initialised = 5;
static __thread int zeroed;
int data_word = 42;
static int constructed;
__attribute__((constructor)) static void init(void) { constructed = 1; }

int main(void) {
	char *p = malloc(1 << 20);
	if (p) memset(p, 1, 1 << 20);
	errno = 0;
	strtol("99999999999999999999", 0, 10);
	printf("tls %d %d data %d constructor %d malloc %s errno %s\n", initialised, zeroed, data_word,
	       constructed, p ? "ok" : "null", errno == ERANGE ? "ERANGE" : "other");
	return 3;
}
"#,
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_nexus-relink"))
        .args(["linker-script", "--memlimit", "16M", "--stack", "64K"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let ld = dir.path().join("gen.ld");
    std::fs::write(&ld, &o.stdout).unwrap();
    let elf = dir.path().join("main.elf");
    let o = Command::new("riscv64-unknown-elf-gcc")
        .args([
            "--specs=picolibc.specs",
            // The crt0 that calls exit(main()); the default one idles in `j .` after main,
            // which the VM reports as a self-loop fault.
            "--crt0=hosted",
            "-march=rv32im",
            "-mabi=ilp32",
            "-O2",
            "-static",
            "-Wl,--build-id=none",
        ])
        .arg("-T")
        .arg(&ld)
        .arg(&src)
        .arg("-o")
        .arg(&elf)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "link failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new(env!("CARGO_BIN_EXE_nexus-relink"))
        .args(["run", "--json"])
        .arg(&elf)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["stdout"], "tls 5 0 data 42 constructor 1 malloc ok errno ERANGE\n",
        "{v:#}"
    );
    assert_eq!(v["exit_code"], 3, "{v:#}");
    // The layout the script states is the one the VM and a rewrite see.
    let (_, l) = load(&elf);
    assert_eq!((l.memlimit, l.stack_top), (16 << 20, 16 << 20));
    assert_eq!(l.stack_top - l.stack_bottom, 64 << 10);
}
