//! `prove` over every layout family and ABI fixture (fixtures/layout, fixtures/abi) and the
//! ISA-test-style guests (tests/data/isa): each guest that runs to an exit either proves (the
//! proof verifies against its ELF, under the program identity `inspect` prints) or is refused
//! for a reason named here. A guest that the VM does not run to an exit is never proven.

mod common;

use nexus_relink::elf::Image;
use nexus_relink::layout::MemoryMap;
use nexus_relink::prove;
use nexus_relink::vm::{RunConfig, Vm};
use std::path::PathBuf;

/// What `prove` does with a fixture.
#[derive(Debug)]
enum Want {
    /// Proves, with this exit code.
    Proves(i32),
    /// Refused; the message contains this.
    Refused(&'static str),
}

fn cases() -> Vec<(PathBuf, Want)> {
    use Want::*;
    let layout = |n: &str| common::fixtures().join("layout").join(format!("{n}.elf"));
    let abi = |n: &str| common::fixtures().join("abi").join(format!("{n}.elf"));
    let isa = |n: &str| {
        common::root()
            .join("tests/data/isa")
            .join(format!("{n}.elf"))
    };
    vec![
        // Family b: the stack top below the program; one region, as `run` enforces it.
        (layout("below_program"), Proves(42)),
        // Family c: the stack below the heap in one writable segment.
        (layout("below_heap"), Proves(7)),
        // Family d: no stack; `_end` page-aligned past the image (riscv-tests' user mode).
        (layout("no_stack"), Proves(5)),
        (isa("u_nostack"), Proves(0)),
        // riscv-tests' user-mode forms: `sp` is a test register (`la x2, tdat`; `li x2, 1`).
        (layout("rvtest_data"), Proves(0)),
        (layout("rvtest_branch"), Proves(0)),
        (layout("sp_testdata"), Proves(3)),
        (layout("ceno_start"), Proves(9)),
        (layout("nexus_overwrite"), Proves(4)),
        (layout("nexus_vm_sp"), Proves(4)),
        // Memory from a RAM origin (0x20000000 with code in flash at 0x10000000; 0x80000000).
        (layout("high_ram"), Proves(11)),
        (layout("high_jolt"), Proves(11)),
        (isa("p_env_nosmc_pass"), Proves(0)),
        // Family e: the loader's initial stack is part of the statement's image, its sp the
        // statement's initial sp.
        (layout("loader_stack"), Proves(3)),
        (layout("newlib_crt0"), Proves(11)),
        // Family f cannot start.
        (layout("broken_nexus"), Refused("cannot start")),
        // Faults in the VM (a semihosting call): nothing to prove.
        (layout("picolibc_stock"), Refused("did not exit")),
        // SP1 (halt, write, commit, hints) and Ceno's halt prove; RISC Zero's software calls
        // do not, nor the ABIs outside the proof's machine: refused by name.
        (abi("sp1_io"), Proves(0)),
        (abi("ceno_halt"), Proves(42)),
        // SYS_READ (whole words, the tail in a1), SYS_WRITE to stdout and the journal.
        (abi("risc0_halt"), Proves(5)),
        (abi("openvm_exit"), Proves(4)),
        // The Nexus runtime before 0.3: s2-numbered calls, the `unimp` halt.
        (abi("nexus_legacy"), Proves(0)),
        // The late-2024 runtime: 0.3's a7 calls with the `unimp` halt.
        (abi("nexus_mixed"), Proves(0)),
        (
            abi("unknown_ecall"),
            Refused("the unknown ABI is not in the proof's machine"),
        ),
        (abi("custom_insn"), Refused("custom-0 instruction")),
        // Runs that end with a store to `tohost`, or store into their own code.
        (isa("p_env_htif_pass"), Proves(0)),
        (isa("p_env_htif_nosmc_pass"), Proves(0)),
        (isa("p_env_pass"), Proves(0)),
        // Code the run executes outside the ELF's executable sections (in .data and the
        // zero-filled tail of an RWX segment): fetched from memory.
        (layout("data_code"), Proves(42)),
    ]
}

#[test]
fn every_family_and_abi_fixture_proves_or_is_refused_by_name() {
    for (path, want) in cases() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        // The SP1 fixture reads one hint frame, "hello".
        let cfg = RunConfig {
            input: if name == "sp1_io.elf" {
                [5u8, 0, 0, 0, b'h', b'e', b'l', b'l', b'o'].to_vec()
            } else {
                Vec::new()
            },
            ..RunConfig::default()
        };
        let img = Image::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let map = MemoryMap::discover(&img);
        let got = map
            .prove_layout()
            .map_err(|e| e.to_string())
            .and_then(|layout| {
                prove::prove(&img, &layout, cfg.clone(), &|_| {})
                    .map(|(pf, _)| (pf, layout))
                    .map_err(|e| e.to_string())
            });
        match (want, got) {
            (Want::Proves(code), Ok((pf, layout))) => {
                let st = prove::verify(&pf, Some((&img, &layout)))
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(st.exit_code, code, "{name}");
                let id = prove::program_id(&img).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(st.program_id(), id, "{name}: inspect's identity");
                // The VM agrees: the same exit code and cycles.
                let res = Vm::new(&img, &layout, cfg.clone()).unwrap().run();
                assert_eq!(
                    (res.exit_code, res.cycles),
                    (Some(code), st.cycles),
                    "{name}"
                );
            }
            (Want::Refused(why), Err(e)) => {
                assert!(e.contains(why), "{name}: refused with {e:?}, not {why:?}");
                assert_eq!(e.lines().count(), 1, "{name}: one line: {e}");
            }
            (want, got) => panic!(
                "{name}: wanted {want:?}, got {:?}",
                got.map(|(pf, _)| pf.public.statement.exit_code)
            ),
        }
    }
}

/// A family-d statement states one shared region from the image start to `_end` (past the
/// loaded bytes), exactly the memory `run` allows; an access beyond it has no MEM row.
#[test]
fn a_stackless_guest_states_the_memory_run_allows() {
    let path = common::root().join("tests/data/isa/u_nostack.elf");
    let img = Image::read(&path).unwrap();
    let layout = MemoryMap::discover(&img).prove_layout().unwrap();
    let public = prove::public_from_elf(&img, &layout, None).unwrap();
    let st = &public.statement;
    assert!(st.shared);
    assert_eq!(st.memlimit, 0x11000, "`_end`, page-aligned past the image");
    assert_eq!(st.regions, [(0x10000, 0x11000), (0x10000, 0x11000)]);
    let vm = Vm::new(&img, &layout, RunConfig::default()).unwrap();
    assert_eq!(
        vm.allowed_ranges(),
        st.regions,
        "the VM's regions are the statement's"
    );
}

/// Family e: the loader's initial `sp` is stated, and REG starts `sp` there. A modified
/// prover that states another initial `sp` (16 bytes lower, still in the stack) for the
/// honest run is rejected by the STARK; the honest proof verifies.
#[test]
fn a_loader_stack_s_initial_sp_is_bound() {
    let path = common::fixtures().join("layout/loader_stack.elf");
    let img = Image::read(&path).unwrap();
    let layout = MemoryMap::discover(&img).prove_layout().unwrap();
    let (public, trace) = prove::trace_run(&img, &layout, RunConfig::default()).unwrap();
    let sp = public.statement.initial_sp;
    assert!(sp != 0 && sp % 16 == 0, "the loader's sp {sp:#x}");
    assert!(
        public.image.iter().any(|(a, _)| *a == sp),
        "the initial stack (argc, argv, auxv) is part of the image"
    );
    let (tables, traces) = prove::witness::build(&public, &trace).unwrap();
    let honest = prove::prove_traces(public.clone(), &tables, &traces).unwrap();
    prove::verify(&honest, Some((&img, &layout))).unwrap();
    let mut forged = public;
    forged.statement.initial_sp = sp - 16;
    forged.statement.check_consistency().unwrap();
    let (tables, traces) = prove::witness::build_unchecked(&forged, &trace).unwrap();
    let pf = prove::prove_traces(forged, &tables, &traces).unwrap();
    let why = prove::verify(&pf, None)
        .expect_err("another initial sp")
        .to_string();
    assert!(why.contains("STARK"), "{why}");
    let why = prove::verify(&pf, Some((&img, &layout)))
        .expect_err("not the ELF's")
        .to_string();
    assert!(why.contains("program identity"), "{why}");
}

/// Families b, c and e rewritten to 16 MiB prove under their new limit: the statement's
/// memory top is the moved bound (b: the allocator's heap end; c: the writable segment's end;
/// e: the loader's stack top recorded in PT_GNU_STACK), and the run needs it (c touches the heap
/// 2 MiB above `_sheap`, beyond the 1 MiB it had).
#[test]
fn rewritten_families_b_c_e_prove_under_their_new_limit() {
    for (name, input, code) in [
        ("sp1_heap", vec![], 42),
        ("airbender_heap", vec![2u8], 2),
        ("newlib_crt0", vec![], 11),
    ] {
        let path = common::fixtures().join(format!("layout/{name}.elf"));
        let img = Image::read(&path).unwrap();
        let rw = nexus_relink::relink::Relinker::new(16 << 20)
            .rewrite(&img)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let new = Image::parse(rw.bytes).unwrap();
        let layout = MemoryMap::discover(&new).prove_layout().unwrap();
        assert_eq!(layout.memlimit, 16 << 20, "{name}");
        let cfg = RunConfig {
            input,
            ..RunConfig::default()
        };
        let (pf, _) =
            prove::prove(&new, &layout, cfg, &|_| {}).unwrap_or_else(|e| panic!("{name}: {e}"));
        let st =
            prove::verify(&pf, Some((&new, &layout))).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(st.exit_code, code, "{name}");
        assert_eq!(st.memlimit, 16 << 20, "{name}: the stated memory top");
    }
}

/// The statement holds the input the run read: SP1's hint frames the guest saw (here its one
/// frame), not the frames after them; a frame left unread in `--input` is not stated.
#[test]
fn an_sp1_statement_states_the_hint_frames_the_guest_saw() {
    let path = common::fixtures().join("abi/sp1_io.elf");
    let img = Image::read(&path).unwrap();
    let layout = MemoryMap::discover(&img).prove_layout().unwrap();
    let frame = [5u8, 0, 0, 0, b'h', b'e', b'l', b'l', b'o'];
    let mut input = frame.to_vec();
    input.extend([3, 0, 0, 0, b'x', b'y', b'z']);
    let cfg = RunConfig {
        input,
        ..RunConfig::default()
    };
    let (pf, _) = prove::prove(&img, &layout, cfg, &|_| {}).unwrap();
    let st = prove::verify(&pf, Some((&img, &layout))).unwrap();
    assert_eq!(st.public_input, frame);
    assert_eq!(st.input_len, frame.len() as u64);
    assert_eq!(st.stdout, b"sp1: hello\nsp1: hint of 5 bytes, sum 532\n");
}

/// A Ceno guest's `--input` is placed in memory at `_hints_start` before the run: the
/// statement states where and the bytes, which are initial memory beside the image. The
/// guest adds the first hint word to its exit code. A modified prover stating another input
/// byte (the transcript has no input reads, so the replay accepts it) is rejected by the
/// STARK: IMAGE holds the stated bytes and the run loaded the others.
#[test]
fn a_ceno_guest_s_input_is_initial_memory() {
    let path = common::fixtures().join("abi/ceno_halt.elf");
    let img = Image::read(&path).unwrap();
    let layout = MemoryMap::discover(&img).prove_layout().unwrap();
    let cfg = RunConfig {
        input: vec![5, 0, 0, 0],
        ..RunConfig::default()
    };
    let (pf, _) = prove::prove(&img, &layout, cfg.clone(), &|_| {}).unwrap();
    let st = prove::verify(&pf, Some((&img, &layout))).unwrap();
    assert_eq!(st.exit_code, 47);
    assert_eq!(st.input_at, img.symbol("_hints_start").map(|s| s.value));
    assert_eq!(st.public_input, [5, 0, 0, 0]);
    let (public, trace) = prove::trace_run(&img, &layout, cfg).unwrap();
    let mut forged = public;
    forged.statement.public_input[0] = 6;
    prove::statement::replay(&forged).expect("no input reads to contradict");
    let (tables, traces) = prove::witness::build_unchecked(&forged, &trace).unwrap();
    let pf = prove::prove_traces(forged, &tables, &traces).unwrap();
    let why = prove::verify(&pf, None).expect_err("a forged input byte");
    assert!(why.to_string().contains("STARK"), "{why}");
}
