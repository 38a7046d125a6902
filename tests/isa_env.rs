//! Bare-metal guests in the style of the RISC-V ISA tests' "p" environment run in the VM:
//! machine CSR set-up, `mret`, self-modifying code after `fence.i`, data stores into the image,
//! and the `li a7, 93; ecall` pass/fail convention.

mod common;
use common::*;
use nexus_relink::relink::Relinker;
use nexus_relink::vm::{RunConfig, Vm};

fn dir() -> std::path::PathBuf {
    root().join("tests/data/isa")
}

#[test]
fn pass_exits_zero_and_fail_names_the_test() {
    // `li a7, 93; ecall` gives a0; an odd word stored to `tohost` (HTIF) gives word >> 1.
    for (name, code) in [
        ("p_env_pass", 0),
        ("p_env_fail", (7 << 1) | 1),
        ("p_env_htif_pass", 0),
        ("p_env_htif_fail", 7),
    ] {
        let (img, layout) = load(&dir().join(format!("{name}.elf")));
        let r = Vm::new(&img, &layout, RunConfig::default()).unwrap().run();
        assert_eq!(r.fault, None, "{name}");
        assert_eq!(r.exit_code, Some(code), "{name}");
    }
}

#[test]
fn a_guest_without_a_stack_cannot_be_rewritten() {
    let (img, layout) = load(&dir().join("p_env_pass.elf"));
    assert_eq!(layout.sp_init.value, None);
    let err = Relinker::new(16 << 20)
        .rewrite(&img)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no stack set-up"), "{err}");
}

#[test]
fn committed_binaries_match_their_source() {
    if !have("riscv64-unknown-elf-gcc") {
        eprintln!("riscv64-unknown-elf-gcc not installed: rebuild check skipped");
        return;
    }
    if !same_toolchain() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let st = std::process::Command::new("sh")
        .arg(dir().join("build.sh"))
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(st.success());
    for name in [
        "p_env_pass",
        "p_env_fail",
        "p_env_htif_pass",
        "p_env_htif_fail",
        "p_env_nosmc_pass",
        "p_env_nosmc_fail",
        "p_env_htif_nosmc_pass",
        "p_env_htif_nosmc_fail",
        "p_env_ma_data_pass",
        "p_env_ma_data_fail",
        "p_env_fence_i_pass",
        "p_env_fence_i_fail",
    ] {
        let built = std::fs::read(tmp.path().join(format!("{name}.elf"))).unwrap();
        let committed = std::fs::read(dir().join(format!("{name}.elf"))).unwrap();
        assert!(
            built == committed,
            "{name}.elf differs from a rebuild of p_env.S"
        );
    }
}
