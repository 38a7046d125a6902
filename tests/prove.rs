//! The prover: completeness on the fixtures and soundness (tampered traces and proofs).

mod common;

use nexus_relink::elf::Image;
use nexus_relink::layout::Layout;
use nexus_relink::prove::{self, ProofFile};

fn load(name: &str) -> (Image, Layout, common::Entry) {
    let e = common::manifest().into_iter().find(|e| e.name == name).expect("fixture");
    let bytes = std::fs::read(e.elf()).unwrap();
    let img = Image::parse(bytes).unwrap();
    let layout = Layout::discover(&img).unwrap();
    (img, layout, e)
}

fn prove_fixture(name: &str) -> ProofFile {
    let (img, layout, e) = load(name);
    let (pf, stats) = prove::prove(&img, &layout, e.config(), &|_| {}).expect("proves");
    eprintln!("{name}: {} cycles, heights {:?}, prove {:.2}s", stats.cycles, stats.heights, stats.prove_seconds);
    pf
}

#[test]
fn exit7_proves_and_verifies() {
    let pf = prove_fixture("linux_exit7");
    let (img, layout, _) = load("linux_exit7");
    let st = prove::verify(&pf, Some((&img, &layout))).expect("verifies");
    assert_eq!(st.exit_code, 7);
}

/// Fixtures small enough to prove in the test suite (the others run 130,000 to 8,000,000
/// cycles; see the README's Performance section).
const SMALL: [&str; 10] = [
    "nexus_hello",
    "nexus_io",
    "risc0_word",
    "gp_relax",
    "relocs_hello",
    "linux_hello",
    "linux_fib",
    "linux_exit7",
    "hoisted_bound",
    "medlow_fib_never",
];

#[test]
fn small_fixtures_prove_and_verify() {
    for e in common::manifest().into_iter().filter(|e| SMALL.contains(&e.name.as_str())) {
        let (img, layout, _) = load(&e.name);
        let (pf, stats) = match prove::prove(&img, &layout, e.config(), &|_| {}) {
            Ok(x) => x,
            Err(err) => panic!("{}: {err}", e.name),
        };
        eprintln!("{}: {} cycles, heights {:?}, prove {:.2}s", e.name, stats.cycles, stats.heights, stats.prove_seconds);
        let st = prove::verify(&pf, Some((&img, &layout))).unwrap_or_else(|err| panic!("{}: {err}", e.name));
        assert_eq!(st.exit_code, e.expected_exit, "{}", e.name);
        assert_eq!(String::from_utf8_lossy(&st.stdout), e.expected_stdout, "{}", e.name);
    }
}
